// heap-leak: a request cache that is never evicted. Every simulated request
// makes short-lived garbage (so GC cycles often) and stores a 512-byte record in a
// global map that nothing ever deletes from, so the live heap after each GC
// cycle is higher than after the previous one.
package main

import (
	"expvar"
	"fmt"
	"time"

	"gorx.dev/patients/internal/serve"
)

type session struct {
	id      int
	user    string
	payload []byte
	tags    []string
}

// sessions is the leak: entries are added per request and never removed.
var sessions = map[int]*session{}

var (
	cached = expvar.NewInt("sessions_cached")
	// lastBody keeps the most recent request body for debugging; it also makes
	// each body a heap allocation (garbage once the next request replaces it).
	lastBody []byte
)

func handle(id int) int {
	// Per-request garbage: decoded body, scratch buffers.
	scratch := make([]byte, 32<<10)
	for i := range scratch {
		scratch[i] = byte(id + i)
	}
	s := &session{
		id:      id,
		user:    fmt.Sprintf("user-%d", id%1000),
		payload: make([]byte, 512),
		tags:    []string{"a", "b"},
	}
	copy(s.payload, scratch)
	lastBody = scratch
	sessions[id] = s
	cached.Set(int64(len(sessions)))
	return int(scratch[len(scratch)-1])
}

func main() {
	serve.Start("heap-leak", "session cache without eviction: live heap grows every GC cycle")
	go func() {
		id := 0
		sink := 0
		// ~1200 requests/s: ~0.8 MiB/s retained, ~40 MiB/s of garbage, so GC
		// cycles every fraction of a second and each one finds more live heap.
		for tick := time.NewTicker(10 * time.Millisecond); ; <-tick.C {
			for j := 0; j < 12; j++ {
				sink += handle(id)
				id++
			}
			if id == 6000 {
				serve.Ready()
			}
		}
	}()
	serve.Forever()
}
