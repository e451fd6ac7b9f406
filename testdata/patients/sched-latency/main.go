// sched-latency: run with GOMAXPROCS=2. Sixteen CPU-bound goroutines (a
// "batch scoring" pool sized for a big machine) keep both Ps busy, so a
// latency-sensitive goroutine that should wake every 5 ms waits behind them in
// the run queues for tens of milliseconds. The execution trace shows long
// runnable-to-running delays; expvar shows the heartbeat's lateness.
package main

import (
	"expvar"
	"runtime"
	"sync/atomic"
	"time"

	"gorx.dev/patients/internal/serve"
)

var (
	beats      = expvar.NewInt("heartbeats")
	lateMaxNs  int64
	lateSumNs  int64
	scoreTotal uint64
)

func init() {
	expvar.Publish("heartbeat_late_max_ns", expvar.Func(func() interface{} { return atomic.LoadInt64(&lateMaxNs) }))
	expvar.Publish("heartbeat_late_sum_ns", expvar.Func(func() interface{} { return atomic.LoadInt64(&lateSumNs) }))
	expvar.Publish("gomaxprocs", expvar.Func(func() interface{} { return runtime.GOMAXPROCS(0) }))
}

// score is pure CPU work with no blocking; only preemption takes it off a P.
func score(seed uint64) uint64 {
	x := seed
	for i := 0; i < 1<<20; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func heartbeat() {
	const period = 5 * time.Millisecond
	next := time.Now().Add(period)
	for {
		time.Sleep(time.Until(next))
		late := int64(time.Since(next))
		if late > atomic.LoadInt64(&lateMaxNs) {
			atomic.StoreInt64(&lateMaxNs, late)
		}
		atomic.AddInt64(&lateSumNs, late)
		beats.Add(1)
		next = next.Add(period)
		if time.Until(next) < 0 {
			next = time.Now().Add(period)
		}
	}
}

func main() {
	serve.Start("sched-latency", "16 CPU-bound goroutines on GOMAXPROCS=2 starve a 5 ms heartbeat goroutine")
	go heartbeat()
	for i := 0; i < 16; i++ {
		go func(seed uint64) {
			for {
				atomic.AddUint64(&scoreTotal, score(seed))
				seed++
			}
		}(uint64(i + 1))
	}
	serve.Ready()
	serve.Forever()
}
