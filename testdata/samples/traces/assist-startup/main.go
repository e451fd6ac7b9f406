// Start-up assists (GOMAXPROCS=4 GOGC=50 ./warm > trace): tracing from init, four goroutines build a 40 MB pointer-rich
// working set in the first ~150 ms (the heap grows from the 4 MiB minimum goal), then
// the process idles until the trace stops at 1 s.
package main

import (
	"os"
	"runtime/trace"
	"sync"
	"time"
)

type node struct {
	next *node
	val  [4]*int
}

var keep [4][]*node

func init() {
	if err := trace.Start(os.Stdout); err != nil {
		panic(err)
	}
}

func main() {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 150_000; i++ {
				keep[g] = append(keep[g], &node{next: &node{}})
			}
		}(g)
	}
	wg.Wait()
	time.Sleep(time.Second)
	trace.Stop()
}
