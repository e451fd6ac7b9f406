// forced-gc: a batch handler that calls runtime.GC() after every batch "to
// keep memory low" -- an explicit collection on the hot path, ~10 times per
// second, each one a full stop-the-world-terminated cycle over a ~24 MiB heap.
// gctrace marks these cycles "(forced)".
package main

import (
	"expvar"
	"runtime"
	"time"

	"gorx.dev/patients/internal/serve"
)

type record struct {
	next *record
	data [96]byte
}

var (
	table   []*record
	batches = expvar.NewInt("batches")
)

func processBatch(n int) {
	var head *record
	for i := 0; i < n; i++ {
		head = &record{next: head}
		head.data[0] = byte(i)
	}
	_ = head
	// The anti-pattern: force a full collection after every batch.
	runtime.GC()
	batches.Add(1)
}

func main() {
	serve.Start("forced-gc", "runtime.GC() called after every batch on the hot path")
	go func() {
		// A live table so every forced cycle has real marking to do.
		for i := 0; i < 200000; i++ {
			table = append(table, &record{})
		}
		for i, tick := 0, time.NewTicker(100*time.Millisecond); ; <-tick.C {
			processBatch(5000)
			i++
			if i == 20 {
				serve.Ready()
			}
		}
	}()
	serve.Forever()
}
