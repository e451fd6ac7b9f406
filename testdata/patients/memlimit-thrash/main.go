// memlimit-thrash: run with GOMEMLIMIT=64MiB. The service keeps ~54 MiB live
// (an index of small pointerful nodes plus byte blobs) and keeps allocating
// short-lived garbage. The heap goal is pinned to the memory limit, just above
// the live heap, so GC cycles run back to back (a GC death spiral held off
// only by the GC CPU limiter).
package main

import (
	"expvar"
	"time"

	"gorx.dev/patients/internal/serve"
)

type node struct {
	next *node
	key  int
	val  [48]byte
}

var (
	index *node
	blobs [][]byte
	reqs  = expvar.NewInt("requests")
)

func main() {
	serve.Start("memlimit-thrash", "live heap ~54 MiB under GOMEMLIMIT=64MiB: GC runs back to back")
	go func() {
		// ~14 MiB of pointerful nodes: marking them is real work every cycle.
		for i := 0; i < 220000; i++ {
			index = &node{next: index, key: i}
		}
		// ~40 MiB of blobs.
		for i := 0; i < 40; i++ {
			b := make([]byte, 1<<20)
			b[0] = byte(i)
			blobs = append(blobs, b)
		}
		serve.Ready()
		var sink []byte
		for {
			// A request: a few KiB of garbage per iteration, as fast as possible.
			for j := 0; j < 64; j++ {
				sink = make([]byte, 8<<10)
				sink[0] = byte(j)
			}
			reqs.Add(1)
			time.Sleep(200 * time.Microsecond)
		}
	}()
	serve.Forever()
}
