// Writes an execution trace to stdout from a program using every runtime/trace
// annotation with known nesting, for `gorx trace tasks` (crates/gorx/tests/trace_tasks.rs):
//   - "early": a task begun before trace.Start and ended inside the trace (its type is
//     not in the trace), with one region "in-early";
//   - "pre": another such task, with a region "pre-region" begun before trace.Start and
//     ended inside: traced only under Go ≥ 1.25, where a flight recorder runs first;
//   - 20 "request" tasks, each: a log "route", regions "decode" and "handle" with
//     "encode" nested in "handle", and two child goroutines that each log "fan-out" in
//     the request's task and run a subtask "fetch" (region "fetch.io", log "fetch");
//   - a background region "abandoned" left open by a goroutine that exits, a background
//     region "idle" and a background log "startup";
//   - a "long-poll" task and its region "waiting" on another goroutine, both still open
//     when the trace stops.
package main

import (
	"context"
	"os"
	"runtime/trace"
	"sync"
	"time"
)

func spin(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
	}
}

func main() {
	ctx := context.Background()
	stopFlight := flightRecorder()
	preCtx, preTask := trace.NewTask(ctx, "pre")
	preRegion := trace.StartRegion(preCtx, "pre-region")
	early, earlyTask := trace.NewTask(ctx, "early")
	time.Sleep(time.Millisecond)
	if err := trace.Start(os.Stdout); err != nil {
		panic(err)
	}
	preRegion.End()
	preTask.End()
	trace.WithRegion(early, "in-early", func() { time.Sleep(time.Millisecond) })
	earlyTask.End()

	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rctx, task := trace.NewTask(ctx, "request")
			defer task.End()
			trace.Log(rctx, "route", "/orders")
			trace.WithRegion(rctx, "decode", func() { spin(time.Duration(20+i) * time.Microsecond) })
			handle := trace.StartRegion(rctx, "handle")
			var cwg sync.WaitGroup
			for j := 0; j < 2; j++ {
				cwg.Add(1)
				go func(j int) {
					defer cwg.Done()
					trace.Log(rctx, "fan-out", "child")
					sctx, sub := trace.NewTask(rctx, "fetch")
					trace.WithRegion(sctx, "fetch.io", func() { time.Sleep(time.Duration(100*(j+1)) * time.Microsecond) })
					trace.Logf(sctx, "fetch", "shard %d", j)
					sub.End()
				}(j)
			}
			cwg.Wait()
			encode := trace.StartRegion(rctx, "encode")
			spin(10 * time.Microsecond)
			encode.End()
			handle.End()
		}(i)
	}
	wg.Wait()

	done := make(chan struct{})
	go func() {
		trace.StartRegion(ctx, "abandoned") // never ended: the goroutine exits
		close(done)
	}()
	<-done
	trace.Log(ctx, "startup", "ready")
	trace.WithRegion(ctx, "idle", func() { time.Sleep(200 * time.Microsecond) })

	lctx, longPoll := trace.NewTask(ctx, "long-poll")
	started := make(chan struct{})
	release := make(chan struct{})
	go func() {
		r := trace.StartRegion(lctx, "waiting")
		close(started)
		<-release
		r.End()
	}()
	<-started
	time.Sleep(2 * time.Millisecond)
	trace.Stop()
	stopFlight()
	close(release)
	longPoll.End()
}
