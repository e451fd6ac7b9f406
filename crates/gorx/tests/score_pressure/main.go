// score_pressure: a service whose GC health drops on a timer, for the canary gate's live
// test (crates/gorx/tests/score_cli.rs). It serves expvar on 127.0.0.1:0 and prints
// "listening on ADDR". It keeps ~14 MiB of pointerful nodes live and, for -pressure-after, allocates a
// little garbage (a few cycles a second: healthy). Then it switches GC pressure on: the
// memory limit drops to just above the live heap and garbage is allocated as fast as the
// loop runs, so GC runs back to back (GC CPU share and cycle rate jump).
package main

import (
	_ "expvar"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"
)

type node struct {
	next *node
	val  [48]byte
}

// ~14 MiB of pointerful nodes: marking them is real work every cycle.
var index *node

func main() {
	after := flag.Duration("pressure-after", 8*time.Second, "switch GC pressure on after this long")
	duration := flag.Duration("duration", 60*time.Second, "exit after this long")
	flag.Parse()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() { _ = http.Serve(l, nil) }()
	for i := 0; i < 220000; i++ {
		index = &node{next: index}
	}
	fmt.Printf("listening on %s\n", l.Addr())
	start := time.Now()
	go func() {
		time.Sleep(*duration)
		os.Exit(0)
	}()
	var sink []byte
	pressure := false
	for {
		if !pressure && time.Since(start) >= *after {
			pressure = true
			debug.SetMemoryLimit(18 << 20)
		}
		for j := 0; j < 64; j++ {
			sink = make([]byte, 8<<10)
			sink[0] = byte(j)
		}
		if !pressure {
			time.Sleep(50 * time.Millisecond)
		}
	}
}
