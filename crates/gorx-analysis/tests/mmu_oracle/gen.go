package main

import (
	"os"
	"runtime"
	rtrace "runtime/trace"
	"sync"
	"sync/atomic"
	"time"
)

var sink atomic.Pointer[[]byte]

// generate writes a GC-heavy execution trace to path: tracing starts while a GC cycle
// is likely running (so ranges are found already active), GOMAXPROCS changes several
// times (so per-P series end and restart), and it spans more than one generation.
func generate(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GOMAXPROCS(4)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var keep [][]byte
			for n := 0; !stop.Load(); n++ {
				b := make([]byte, 512+(n%64)*256)
				if n%32 == 0 {
					keep = append(keep, b)
					if len(keep) > 4096 {
						keep = keep[:0]
					}
				}
				sink.Store(&b)
			}
		}(i)
	}
	go runtime.GC()
	time.Sleep(2 * time.Millisecond)
	if err := rtrace.Start(f); err != nil {
		return err
	}
	for _, procs := range []int{2, 3, 1, 4} {
		time.Sleep(300 * time.Millisecond)
		runtime.GOMAXPROCS(procs)
	}
	time.Sleep(100 * time.Millisecond)
	rtrace.Stop()
	stop.Store(true)
	wg.Wait()
	return nil
}
