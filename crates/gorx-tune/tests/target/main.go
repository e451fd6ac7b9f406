// tune-target: the service `gorx tune` is tested on. It holds a large live heap (-live-mib,
// a map of byte slices built at start) and every request allocates short-lived garbage
// (-garbage-kib), so GOGC trades GC cycles and CPU against memory: a higher GOGC lets
// the heap grow further past the live heap before the next cycle. Listens on -addr
// (or 127.0.0.1:$PORT). -crash-after exits with status 3 after that many requests.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
)

var (
	liveMiB    = flag.Int("live-mib", 64, "live heap held for the whole run, MiB")
	garbageKiB = flag.Int("garbage-kib", 256, "short-lived allocation per request, KiB")
	addr       = flag.String("addr", "", "listen address (default 127.0.0.1:$PORT)")
	crashAfter = flag.Int64("crash-after", 0, "exit with status 3 after this many requests (0: never)")
	live       = map[int][]byte{}
	served     int64
	sink       []byte
)

func handler(w http.ResponseWriter, r *http.Request) {
	n := atomic.AddInt64(&served, 1)
	if *crashAfter > 0 && n > *crashAfter {
		fmt.Fprintln(os.Stderr, "tune-target: crashing as asked")
		os.Exit(3)
	}
	// Garbage in 8 KiB pieces, touched so it is really allocated.
	var sum byte
	for i := 0; i < *garbageKiB/8; i++ {
		b := make([]byte, 8<<10)
		b[0], b[4096] = byte(i), byte(i)
		sum += b[0]
		sink = b
	}
	fmt.Fprintf(w, "{\"ok\":true,\"n\":%d,\"sum\":%d}\n", n, sum)
}

func main() {
	flag.Parse()
	for i := 0; i < *liveMiB*16; i++ {
		b := make([]byte, 64<<10)
		for j := 0; j < len(b); j += 4096 { // resident, not just reserved
			b[j] = byte(i)
		}
		live[i] = b
	}
	a := *addr
	if a == "" {
		a = "127.0.0.1:" + os.Getenv("PORT")
	}
	http.HandleFunc("/", handler)
	if err := http.ListenAndServe(a, nil); err != nil {
		fmt.Fprintln(os.Stderr, "tune-target:", err)
		os.Exit(1)
	}
}
