// offheap: a block cache kept in anonymous mmap'd memory (as a cgo allocator
// or an mmap-backed arena would), outside the Go heap. Every page is written,
// so RSS climbs to ~320 MiB while the Go heap stays at a few MiB: the heap
// profile "looks normal" and the memory is invisible to the Go runtime.
//
// GORX_OFFHEAP_DELAY (a Go duration, default 0) waits that long before the first
// mapping, so a probe attached after start-up sees every one (gorx probe's live test).
package main

import (
	"expvar"
	"fmt"
	"os"
	"syscall"
	"time"

	"gorx.dev/patients/internal/serve"
)

const (
	chunkBytes = 16 << 20
	chunks     = 20 // 320 MiB
)

var (
	arenas      [][]byte
	mappedBytes = expvar.NewInt("offheap_mapped_bytes")
)

func main() {
	serve.Start("offheap", "320 MiB of written anonymous mmap memory outside the Go heap")
	var delay time.Duration
	if v := os.Getenv("GORX_OFFHEAP_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "offheap: GORX_OFFHEAP_DELAY: %v\n", err)
			os.Exit(2)
		}
		delay = d
	}
	go func() {
		time.Sleep(delay)
		for tick := time.NewTicker(250 * time.Millisecond); len(arenas) < chunks; <-tick.C {
			b, err := syscall.Mmap(-1, 0, chunkBytes, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
			if err != nil {
				fmt.Fprintf(os.Stderr, "offheap: mmap: %v\n", err)
				os.Exit(1)
			}
			// Touch every page so it is resident, not just reserved.
			for i := 0; i < len(b); i += 4096 {
				b[i] = byte(i >> 12)
			}
			arenas = append(arenas, b)
			mappedBytes.Add(chunkBytes)
		}
		serve.Ready()
		// A small, steady Go-heap workload next to the cache.
		var keep [][]byte
		for tick := time.NewTicker(10 * time.Millisecond); ; <-tick.C {
			keep = append(keep, make([]byte, 16<<10))
			if len(keep) > 128 {
				keep = keep[:0]
			}
			// Read from the cache so it stays in use.
			_ = arenas[len(keep)%chunks][len(keep)*4096]
		}
	}()
	serve.Forever()
}
