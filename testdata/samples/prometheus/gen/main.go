// Command gen serves client_golang's default /metrics (go_* and process_* collectors)
// from a process in one planted state, scrapes itself once and prints the exposition.
// It makes the samples in ../ (see ../README.md):
//
//	go run . -state=healthy > ../healthy.prom
//	go run . -state=unreturned -vars=../unreturned.vars.json > ../unreturned.prom
//	go run . -state=block-then-idle -block-dir=.. > ../block-then-idle.prom
package main

import (
	"expvar"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var sink [][]byte

func main() {
	vars := flag.String("vars", "", "also write /debug/vars (expvar) of the same moment to this file")
	serve := flag.Duration("serve", 0, "keep serving /metrics and /debug/vars this long after the scrape (for gorx inspect)")
	blockDir := flag.String("block-dir", "", "block-then-idle: where to write block-1.pb.gz and block-2.pb.gz")
	state := flag.String("state", "healthy", "healthy|goroutine-leak|fd-limit|offheap|unreturned|long-pause|block-then-idle|churn")
	flag.Parse()
	var keep []any
	switch *state {
	case "healthy":
		// A little steady allocation, as a quiet service would do.
		for i := 0; i < 2000; i++ {
			sink = append(sink, make([]byte, 4096))
			if len(sink) > 200 {
				sink = sink[:0]
			}
		}
		runtime.GC()
	case "goroutine-leak":
		// 20,000 goroutines blocked forever on a channel nobody sends on, each with a
		// stack grown past the minimum by a little recursion.
		block := make(chan struct{})
		for i := 0; i < 20000; i++ {
			go func() { deep(8); <-block }()
		}
		time.Sleep(500 * time.Millisecond)
	case "fd-limit":
		// A low soft RLIMIT_NOFILE and files opened and never closed.
		lim := syscall.Rlimit{Cur: 256, Max: 256}
		must(syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
		for i := 0; i < 235; i++ {
			f, err := os.Open("/dev/null")
			must(err)
			keep = append(keep, f)
		}
	case "offheap":
		// 256 MiB of anonymous mmap, touched so it is resident: RSS the Go runtime does
		// not account for (what cgo or an mmap'd buffer pool does).
		b, err := syscall.Mmap(-1, 0, 256<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		must(err)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	case "unreturned":
		// A 512 MiB burst of heap that is then dropped. With the scavenger's background
		// pace (and no GOMEMLIMIT) the idle heap stays resident for a while.
		debug.SetGCPercent(400)
		for i := 0; i < 512; i++ {
			sink = append(sink, make([]byte, 1<<20))
			for j := 0; j < 1<<20; j += 4096 {
				sink[i][j] = 1
			}
		}
		sink = nil
		runtime.GC()
	case "long-pause":
		// Run with GODEBUG=asyncpreemptoff=1: busy loops without calls cannot be stopped,
		// so every GC's stop-the-world waits for a loop to end.
		for i := 0; i < runtime.GOMAXPROCS(0); i++ {
			go func() {
				for {
					spin(30_000_000)
					// The only preemption point: a stop-the-world waits here.
					runtime.Gosched()
				}
			}()
		}
		for i := 0; i < 20; i++ {
			runtime.GC()
		}
	case "churn":
		// A steady 48 MiB live heap with garbage churning through it for 6 s: run with
		// GOGC=20 GODEBUG=gctrace=1 to get a log whose small goal headroom is GOGC's,
		// not a memory limit's.
		live := make([][]byte, 768)
		for i := range live {
			live[i] = make([]byte, 64<<10)
		}
		end := time.Now().Add(6 * time.Second)
		for i := 0; time.Now().Before(end); i++ {
			live[i%len(live)] = make([]byte, 64<<10)
			if i%4 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		keep = append(keep, live)
	case "block-then-idle":
		// 64 producers block on an unbuffered channel drained every 10 ms for 3 s (block
		// profile 1), then stop; 3 s later the cumulative profile still holds their
		// waits (block profile 2), though nothing blocks any more.
		runtime.SetBlockProfileRate(1)
		ch := make(chan int)
		done := make(chan struct{})
		for i := 0; i < 64; i++ {
			go func() {
				for {
					select {
					case ch <- i:
					case <-done:
						return
					}
				}
			}()
		}
		stop := time.After(3 * time.Second)
	drain:
		for {
			select {
			case <-ch:
				time.Sleep(10 * time.Millisecond)
			case <-stop:
				break drain
			}
		}
		writeBlock(filepath.Join(*blockDir, "block-1.pb.gz"))
		close(done)
		time.Sleep(3 * time.Second)
		writeBlock(filepath.Join(*blockDir, "block-2.pb.gz"))
	default:
		fmt.Fprintln(os.Stderr, "unknown state", *state)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	mux.Handle("/debug/vars", expvar.Handler())
	go http.Serve(ln, mux)
	fetch := func(path string, w io.Writer) {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		must(err)
		_, err = io.Copy(w, resp.Body)
		must(err)
		resp.Body.Close()
	}
	fetch("/metrics", os.Stdout)
	if *vars != "" {
		f, err := os.Create(*vars)
		must(err)
		fetch("/debug/vars", f)
		must(f.Close())
	}
	if *serve > 0 {
		fmt.Fprintln(os.Stderr, "serving on", ln.Addr())
		time.Sleep(*serve)
	}
	runtime.KeepAlive(keep)
}

func writeBlock(path string) {
	f, err := os.Create(path)
	must(err)
	must(pprof.Lookup("block").WriteTo(f, 0))
	must(f.Close())
}

//go:noinline
func deep(n int) int {
	var pad [512]byte
	pad[n] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[n])
}

// spin is a loop without function calls or allocation (no cooperative preemption point).
//
//go:noinline
func spin(n int) int {
	x := 0
	for i := 0; i < n; i++ {
		x += i ^ (x >> 3)
	}
	return x
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
