// chan-block: a pipeline whose single consumer is slow. 64 producers send
// jobs on an unbuffered channel; the consumer takes one job every 10 ms, so
// producers spend nearly all their time blocked in chan send. Another 16
// goroutines wait in a select on result channels that are fed just as slowly.
// The block profile shows large totals at the send and the select.
package main

import (
	"expvar"
	"time"

	"gorx.dev/patients/internal/serve"
)

type job struct {
	id      int
	payload []byte
}

var (
	jobs    = make(chan job) // unbuffered
	results = make(chan int) // unbuffered
	quit    = make(chan struct{})
	done    = expvar.NewInt("jobs_done")
)

func producer(id int) {
	for i := 0; ; i++ {
		jobs <- job{id: id*1000000 + i, payload: make([]byte, 512)}
	}
}

func waiter() {
	for {
		select {
		case <-results:
		case <-quit:
			return
		}
	}
}

func consumer() {
	for tick := time.NewTicker(10 * time.Millisecond); ; <-tick.C {
		j := <-jobs
		done.Add(1)
		// Every other job hands a result to one of the waiters.
		if j.id%2 == 0 {
			results <- j.id
		}
	}
}

func main() {
	serve.Start("chan-block", "64 producers blocked on an unbuffered channel fed to one slow consumer")
	for i := 0; i < 64; i++ {
		go producer(i)
	}
	for i := 0; i < 16; i++ {
		go waiter()
	}
	go consumer()
	serve.Ready()
	serve.Forever()
}
