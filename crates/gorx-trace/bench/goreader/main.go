// Reads every event of a trace with golang.org/x/exp/trace (the Go side of the benchmark).
package main

import (
	"fmt"
	"io"
	"os"
	"bufio"
	"time"

	"golang.org/x/exp/trace"
)

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil { panic(err) }
	st, _ := f.Stat()
	t0 := time.Now()
	r, err := trace.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(2) }
	n := 0
	for {
		_, err := r.ReadEvent()
		if err == io.EOF { break }
		if err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(2) }
		n++
	}
	s := time.Since(t0).Seconds()
	fmt.Printf("events=%d bytes=%d seconds=%.3f MB/s=%.1f events/s=%.0f\n", n, st.Size(), s, float64(st.Size())/1e6/s, float64(n)/s)
}
