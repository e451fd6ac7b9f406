// busy: 8 goroutine pairs ping-pong over unbuffered channels for N ms, writing an
// execution trace to stdout (millions of block/unblock/start events per second).
package main

import (
	"os"
	"runtime/trace"
	"sync"
	"time"
	"strconv"
)

func main() {
	d, _ := strconv.Atoi(os.Args[1])
	trace.Start(os.Stdout)
	defer trace.Stop()
	stop := time.Now().Add(time.Duration(d) * time.Millisecond)
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		a, b := make(chan int), make(chan int)
		wg.Add(2)
		go func() { defer wg.Done(); for time.Now().Before(stop) { a <- 1; <-b }; close(a) }()
		go func() { defer wg.Done(); for range a { b <- 1 } }()
	}
	wg.Wait()
}
