// A server-like process whose in-memory index fills at start-up and then saturates:
// requests name keys from a fixed key space (like series in a TSDB head or entries in
// a write cache); each new key stores a ~120-byte record, each request also allocates
// short-lived garbage. Distinct keys grow as N(1 - e^{-t/tau}), so the live heap rises
// fast and then levels off: warm-up, not a leak.
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"time"
)

type record struct {
	key   uint64
	label string
	vals  [8]float64
}

var sink []byte

func main() {
	keys := flag.Int("keys", 120000, "key space")
	rate := flag.Int("rate", 8000, "requests per second")
	dur := flag.Duration("duration", 150*time.Second, "run time")
	flag.Parse()
	index := make(map[uint64]*record)
	r := rand.New(rand.NewSource(1))
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(*dur)
	perTick := *rate / 100
	for time.Now().Before(end) {
		<-tick.C
		for i := 0; i < perTick; i++ {
			k := uint64(r.Intn(*keys))
			if _, ok := index[k]; !ok {
				index[k] = &record{key: k, label: fmt.Sprintf("series-%08d", k)}
			}
			sink = make([]byte, 2048) // request garbage
		}
	}
	fmt.Fprintf(os.Stderr, "keys %d\n", len(index))
}
