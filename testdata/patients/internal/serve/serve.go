// Package serve is what every patient shares: a loopback debug server with
// net/http/pprof and expvar, profiling rates high enough that mutex and block
// profiles have data, a one-line port announcement on stdout, and a bounded
// lifetime so no patient runs forever.
package serve

import (
	"expvar"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/* on http.DefaultServeMux
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	duration = flag.Duration("duration", 80*time.Second, "exit after this long (bounded run time)")
	ready    int32
	start    = time.Now()
)

// Addr is the debug server's address once Start has returned.
var Addr string

// Start parses flags, configures profiling, starts the debug server and
// announces its port. It returns once the server is accepting connections.
func Start(patient, pathology string) {
	flag.Parse()
	// Sample 1 in 5 mutex contention events and every blocking event of 10 µs
	// or more, so the mutex and block profiles are populated.
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(10000)

	expvar.NewString("patient").Set(patient)
	expvar.NewString("pathology").Set(pathology)
	expvar.Publish("patient_ready", expvar.Func(func() interface{} {
		return atomic.LoadInt32(&ready) == 1
	}))
	expvar.Publish("uptime_seconds", expvar.Func(func() interface{} {
		return time.Since(start).Seconds()
	}))
	expvar.Publish("goroutines", expvar.Func(func() interface{} {
		return runtime.NumGoroutine()
	}))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "gorx-patient: listen: %v\n", err)
		os.Exit(1)
	}
	Addr = ln.Addr().String()
	go func() {
		srv := &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
		if err := srv.Serve(ln); err != nil {
			fmt.Fprintf(os.Stderr, "gorx-patient: serve: %v\n", err)
			os.Exit(1)
		}
	}()
	fmt.Fprintf(os.Stdout, "gorx-patient: listening on %s\n", Addr)
	_ = os.Stdout.Sync()

	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-sig:
		case <-time.After(*duration):
		}
		close(done)
		os.Exit(0)
	}()
}

// Ready marks the planted pathology as fully developed (expvar patient_ready).
func Ready() { atomic.StoreInt32(&ready, 1) }

// done is a package-level channel (a GC root) so a goroutine waiting on it is
// never reported by the goroutineleak profile as leaked.
var done = make(chan struct{})

// Forever blocks until the process exits (via the duration timer or a signal).
func Forever() { <-done }
