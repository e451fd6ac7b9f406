// Writes an assist-heavy execution trace to stdout, for gc.assist-heavy
// (crates/gorx/tests/trace_assist.rs): a live heap of two million small pointer-holding
// objects keeps the mark phase long, GOGC=10 leaves a short runway, and four goroutines
// allocate linked lists in main.churn as fast as they can, so they must pay for marking
// with assists while the background worker (a quarter of GOMAXPROCS=2) falls behind.
package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/trace"
	"sync"
	"sync/atomic"
	"time"
)

type node struct {
	next *node
	val  [2]*int
}

var live []*node
var sink atomic.Pointer[node]

//go:noinline
func churn() {
	var head *node
	for i := 0; i < 256; i++ {
		head = &node{next: head}
	}
	sink.Store(head)
}

func main() {
	runtime.GOMAXPROCS(2)
	debug.SetGCPercent(10)
	live = make([]*node, 1<<20)
	for i := range live {
		live[i] = &node{next: &node{}}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				churn()
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	trace.Start(os.Stdout)
	time.Sleep(500 * time.Millisecond)
	trace.Stop()
	close(stop)
	wg.Wait()
	runtime.KeepAlive(live)
}
