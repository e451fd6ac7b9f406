// finalizer-blocked: a connection wrapper whose finalizer "returns the
// connection to the pool" by sending on a channel nobody reads. The first
// finalizer to run blocks the single finalizer goroutine forever in user code;
// every later unreachable conn (and its 16 KiB buffer) waits in the finalizer
// queue, so finalizable objects and their memory pile up.
package main

import (
	"expvar"
	"runtime"
	"sync/atomic"
	"time"

	"gorx.dev/patients/internal/serve"
)

type conn struct {
	id  int
	buf []byte
}

var (
	// pool is never drained: nothing receives from it.
	pool      = make(chan *conn)
	created   = expvar.NewInt("conns_created")
	finalized int64
)

func init() {
	expvar.Publish("conns_finalized", expvar.Func(func() interface{} {
		return atomic.LoadInt64(&finalized)
	}))
}

func (c *conn) release() {
	atomic.AddInt64(&finalized, 1)
	// Blocks forever: the finalizer goroutine is now stuck in user code.
	pool <- &conn{id: c.id}
}

func newConn(id int) *conn {
	c := &conn{id: id, buf: make([]byte, 16<<10)}
	runtime.SetFinalizer(c, (*conn).release)
	created.Add(1)
	return c
}

func main() {
	serve.Start("finalizer-blocked", "finalizer blocks forever on a channel send; finalizable objects pile up")
	go func() {
		// Garbage to keep GC cycling so unreachable conns are queued promptly.
		var scratch []byte
		for i, tick := 0, time.NewTicker(5*time.Millisecond); ; <-tick.C {
			for j := 0; j < 2; j++ {
				c := newConn(i)
				c.buf[0] = 1
				i++
			}
			scratch = make([]byte, 64<<10)
			scratch[0] = byte(i)
			if i == 2000 {
				serve.Ready()
			}
		}
	}()
	serve.Forever()
}
