// keepalive: a net/http server holding idle keep-alive connections, the case of issue 13
// (caddy with 150 idle keep-alive clients was called a goroutine leak).
//
//	go run . -out DIR
//
// starts a server with an HTTP/1.1 listener and an HTTP/2 (TLS) listener, runs itself
// as a client process that makes 150 concurrent HTTP/1.1 requests on one Transport
// (150 idle keep-alive connections) and 5 HTTP/2 requests on 5 Transports, then idles.
// A GC every 5 s stamps the waits (the runtime records when a goroutine began waiting
// when a GC scans it, as in a server running for a while). After 75 s
// (goroutine dumps print wait minutes from 1 minute on) the server writes
// DIR/keepalive-server.debug2.txt (pprof goroutine debug=2), after a 1 s execution trace
// DIR/keepalive-server.trace taken 5 s before, and the client writes
// DIR/keepalive-client.debug2.txt.
package main

import (
	"crypto/tls"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"sync"
	"time"
)

const conns = 150
const h2conns = 5
const idle = 75 * time.Second

func dump(path string) {
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	pprof.Lookup("goroutine").WriteTo(f, 2)
	f.Close()
}

// collect runs a GC every 5 s.
func collect() {
	for range time.Tick(5 * time.Second) {
		runtime.GC()
	}
}

func main() {
	out := flag.String("out", ".", "output directory")
	client := flag.String("client", "", "run as the client of these two URLs (h1,h2)")
	flag.Parse()
	if *client != "" {
		runClient(*client, *out)
		return
	}
	var inflight sync.WaitGroup
	inflight.Add(conns)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			// Hold the first requests until all 150 are in, so they use 150 connections.
			inflight.Done()
			inflight.Wait()
		}
		io.WriteString(w, "ok\n")
	})
	h1 := httptest.NewServer(h)
	h2 := httptest.NewUnstartedServer(h)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	self, _ := os.Executable()
	cmd := exec.Command(self, "-client", h1.URL+","+h2.URL, "-out", *out)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	go collect()
	time.Sleep(idle - 5*time.Second)
	tf, err := os.Create(filepath.Join(*out, "keepalive-server.trace"))
	if err != nil {
		panic(err)
	}
	trace.Start(tf)
	time.Sleep(time.Second)
	trace.Stop()
	tf.Close()
	time.Sleep(4 * time.Second)
	dump(filepath.Join(*out, "keepalive-server.debug2.txt"))
	cmd.Wait()
}

func runClient(urls, out string) {
	var u1, u2 string
	for i := range urls {
		if urls[i] == ',' {
			u1, u2 = urls[:i], urls[i+1:]
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: conns + 10, MaxIdleConns: conns + 10, IdleConnTimeout: 10 * time.Minute}
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(u1 + "/hold")
			if err != nil {
				panic(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	var keep []*http.Client
	for i := 0; i < h2conns; i++ {
		t2 := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true, IdleConnTimeout: 10 * time.Minute}
		c2 := &http.Client{Transport: t2}
		resp, err := c2.Get(u2 + "/")
		if err != nil {
			panic(err)
		}
		if resp.ProtoMajor != 2 {
			panic("not HTTP/2: " + resp.Proto)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		keep = append(keep, c2)
	}
	go collect()
	time.Sleep(idle)
	dump(filepath.Join(out, "keepalive-client.debug2.txt"))
	_ = keep
}
