// healthy: the no-findings control. A small JSON API served over HTTP and
// driven by a bounded in-process client at a steady ~100 requests/s with
// keep-alive. Allocation is modest and short-lived, nothing grows, nothing
// blocks for long.
package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"gorx.dev/patients/internal/serve"
)

type item struct {
	ID    int      `json:"id"`
	Name  string   `json:"name"`
	Price float64  `json:"price"`
	Tags  []string `json:"tags"`
}

var (
	served = expvar.NewInt("requests_served")
	failed = expvar.NewInt("requests_failed")
)

func itemsHandler(w http.ResponseWriter, r *http.Request) {
	items := make([]item, 20)
	for i := range items {
		items[i] = item{ID: i, Name: fmt.Sprintf("item-%d", i), Price: float64(i) * 1.5, Tags: []string{"x", "y"}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(items)
	served.Add(1)
}

func load(url string) {
	client := &http.Client{Timeout: 5 * time.Second}
	// Paced with time.Sleep so the load loop itself does not sit in the block profile.
	for i := 0; ; i++ {
		resp, err := client.Get(url)
		if err != nil {
			failed.Add(1)
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		if i == 100 {
			serve.Ready()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func main() {
	http.HandleFunc("/api/items", itemsHandler)
	serve.Start("healthy", "steady HTTP server under light bounded load (no pathology)")
	if serve.Addr == "" {
		fmt.Fprintln(os.Stderr, "healthy: no address")
		os.Exit(1)
	}
	go load("http://" + serve.Addr + "/api/items")
	serve.Forever()
}
