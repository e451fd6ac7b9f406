// fd-leak: an HTTP-ish client that opens a connection (and a log file) per
// request and never closes them. The leaked files and sockets are kept in a
// slice, so finalizers never close them either. Run under RLIMIT_NOFILE=256
// (soft and hard, so the Go runtime cannot raise it); the patient stops
// leaking at ~90% of the soft limit so it gets close without crashing.
package main

import (
	"expvar"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"gorx.dev/patients/internal/serve"
)

var (
	leakedFiles []*os.File
	leakedConns []net.Conn
	leaked      = expvar.NewInt("fds_leaked")
	limit       = expvar.NewInt("rlimit_nofile_soft")
)

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func main() {
	serve.Start("fd-leak", "files and sockets opened per request and never closed; fds approach RLIMIT_NOFILE")
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		fmt.Fprintf(os.Stderr, "fd-leak: getrlimit: %v\n", err)
		os.Exit(1)
	}
	limit.Set(int64(rl.Cur))
	// Stop at 90% of the limit, and never open more than 1000 however high it is.
	target := int(rl.Cur) * 9 / 10
	if target > 1000 {
		target = 1000
	}
	// A backend to leak connections to; it reads until the peer closes (never).
	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "fd-leak: listen: %v\n", err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := backend.Accept()
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			go func(c net.Conn) { _, _ = io.Copy(io.Discard, c) }(c)
		}
	}()
	go func() {
		for tick := time.NewTicker(200 * time.Millisecond); ; <-tick.C {
			if openFDs() >= target-3 {
				break
			}
			c, err := net.Dial("tcp", backend.Addr().String())
			if err == nil {
				_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: backend\r\n\r\n"))
				leakedConns = append(leakedConns, c) // never closed
				leaked.Add(2)                        // client and server side
			}
			f, err := os.Open("/proc/self/status")
			if err == nil {
				leakedFiles = append(leakedFiles, f) // never closed
				leaked.Add(1)
			}
		}
		serve.Ready()
	}()
	serve.Forever()
}
