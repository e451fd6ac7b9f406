// syscall-blocking: workers that read from pipes with raw, blocking
// syscall.Read (bypassing the netpoller) and others that sleep in
// syscall.Nanosleep. Each blocked goroutine pins an OS thread in the kernel, so
// the runtime keeps creating threads (threadcreate profile, /proc status
// Threads) and goroutines spend most of their time in syscalls.
package main

import (
	"expvar"
	"fmt"
	"os"
	"syscall"
	"time"

	"gorx.dev/patients/internal/serve"
)

const (
	pipeReaders = 32
	sleepers    = 16
)

var (
	reads   = expvar.NewInt("pipe_reads")
	naps    = expvar.NewInt("nanosleeps")
	writeFD []int
)

func reader(fd int) {
	buf := make([]byte, 64)
	for {
		// A blocking read on a blocking fd: the thread waits in the kernel.
		n, err := syscall.Read(fd, buf)
		if err != nil || n == 0 {
			return
		}
		reads.Add(1)
	}
}

func sleeper() {
	for {
		ts := syscall.NsecToTimespec(int64(300 * time.Millisecond))
		_ = syscall.Nanosleep(&ts, nil)
		naps.Add(1)
	}
}

func main() {
	serve.Start("syscall-blocking", "48 goroutines blocked in raw blocking syscalls (pipe reads, nanosleep) pin OS threads")
	for i := 0; i < pipeReaders; i++ {
		var p [2]int
		if err := syscall.Pipe(p[:]); err != nil {
			fmt.Fprintf(os.Stderr, "syscall-blocking: pipe: %v\n", err)
			os.Exit(1)
		}
		writeFD = append(writeFD, p[1])
		go reader(p[0])
	}
	for i := 0; i < sleepers; i++ {
		go sleeper()
	}
	// Feed the pipes slowly, one byte to one pipe every 50 ms, so each reader
	// wakes about every 1.6 s and its syscalls complete (and are timed).
	go func() {
		for i, tick := 0, time.NewTicker(50*time.Millisecond); ; <-tick.C {
			_, _ = syscall.Write(writeFD[i%len(writeFD)], []byte{'x'})
			i++
			if i == 2*pipeReaders {
				serve.Ready()
			}
		}
	}()
	serve.Forever()
}
