// goroutine-leak: the classic timeout leak. Each request starts a worker that
// sends its result on an unbuffered channel; the caller gives up after a short
// timeout and returns, so the worker blocks on the send forever and the channel
// becomes unreachable. 2000 such workers leak in the first seconds and stay
// blocked for the rest of the run (debug=2 dumps show "N minutes" after 60 s).
package main

import (
	"expvar"
	"time"

	"gorx.dev/patients/internal/serve"
)

var leaked = expvar.NewInt("requests_timed_out")

func lookup(key int) int {
	// The backend is slower than the caller's timeout.
	time.Sleep(50 * time.Millisecond)
	return key * 2
}

func fetchWithTimeout(key int) (int, bool) {
	result := make(chan int) // unbuffered: the send blocks once the caller has gone
	go func() {
		result <- lookup(key)
	}()
	select {
	case v := <-result:
		return v, true
	case <-time.After(time.Millisecond):
		leaked.Add(1)
		return 0, false
	}
}

func main() {
	serve.Start("goroutine-leak", "2000 goroutines blocked forever sending on unbuffered channels whose receiver timed out")
	go func() {
		for i := 0; i < 2000; i++ {
			fetchWithTimeout(i)
		}
		serve.Ready()
		// Keep a little allocation going so GC cycles run and record when the
		// leaked goroutines were first seen blocked (the "N minutes" in dumps).
		var keep [][]byte
		for tick := time.NewTicker(20 * time.Millisecond); ; <-tick.C {
			keep = append(keep, make([]byte, 64<<10))
			if len(keep) > 64 {
				keep = keep[:0]
			}
		}
	}()
	serve.Forever()
}
