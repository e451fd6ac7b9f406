// A workload for the trace dump tests (trace_dump.rs, trace_dump_v1.rs): CPU samples,
// user tasks, regions and logs, Gosched, mutexes, selects and raw syscalls, so a dump
// shows what the corpus patients do not. Builds with Go 1.19 and later.
package main

import (
	"context"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func burn(d time.Duration) int {
	t := time.Now()
	x := 0
	for time.Since(t) < d {
		for i := 0; i < 1000; i++ {
			x += i * i
		}
	}
	return x
}

// Arguments: how long to run (ms, default 1200) and how many workers (default 24).
func main() {
	runMS, workers := 1200, 24
	if len(os.Args) == 3 {
		runMS, _ = strconv.Atoi(os.Args[1])
		workers, _ = strconv.Atoi(os.Args[2])
	}
	pprof.StartCPUProfile(io.Discard)
	defer pprof.StopCPUProfile()
	trace.Start(os.Stdout)
	defer trace.Stop()
	ctx, task := trace.NewTask(context.Background(), "work")
	defer task.End()
	trace.Log(ctx, "phase", "start \"quoted\" é\x01")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ch := make(chan int)
	stop := time.Now().Add(time.Duration(runMS) * time.Millisecond)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			trace.WithRegion(ctx, "loop", func() {
				var sink [][]byte
				for time.Now().Before(stop) {
					switch i % 5 {
					case 0:
						ts := syscall.Timespec{Nsec: 1_000_000}
						syscall.Nanosleep(&ts, nil)
					case 1:
						mu.Lock()
						burn(100 * time.Microsecond)
						mu.Unlock()
					case 2:
						sink = append(sink, make([]byte, 64<<10))
						if len(sink) > 40 {
							sink = nil
						}
					case 3:
						burn(500 * time.Microsecond)
						runtime.Gosched()
					case 4:
						select {
						case ch <- i:
						case <-time.After(time.Millisecond):
						}
					}
				}
			})
		}(i)
	}
	go func() {
		for range ch {
		}
	}()
	wg.Wait()
}
