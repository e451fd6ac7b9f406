// mutex-contention: 32 workers share one sync.Mutex that guards a stats map,
// and each holds it for over a millisecond (it sleeps while holding it, as code
// doing I/O under a lock does). Nearly all worker time is spent waiting for
// the lock; the mutex profile points at the Unlock in (*stats).record.
package main

import (
	"expvar"
	"sync"
	"time"

	"gorx.dev/patients/internal/serve"
)

type stats struct {
	mu     sync.Mutex
	counts map[string]int
}

var (
	global = &stats{counts: map[string]int{}}
	ops    = expvar.NewInt("ops")
)

func (s *stats) record(key string) {
	s.mu.Lock()
	s.counts[key]++
	// Slow work done while holding the lock: a bit of CPU and a "flush".
	x := 0
	for i := 0; i < 20000; i++ {
		x += i * i
	}
	if x == 42 {
		s.counts["never"]++
	}
	time.Sleep(time.Millisecond)
	s.mu.Unlock()
	ops.Add(1)
}

func worker(id int) {
	keys := []string{"get", "put", "del", "scan"}
	for i := 0; ; i++ {
		global.record(keys[(id+i)%len(keys)])
	}
}

func main() {
	serve.Start("mutex-contention", "32 goroutines contend for one sync.Mutex held >1 ms per call")
	for i := 0; i < 32; i++ {
		go worker(i)
	}
	serve.Ready()
	serve.Forever()
}
