//go:build go1.25

package main

import "runtime/trace"

// flightRecorder keeps the tracer running before trace.Start (Go ≥ 1.25 allows both at
// once), so a region begun before trace.Start emits its begin into a generation the
// trace.Start output does not hold: its end is then a region that began before the trace.
func flightRecorder() (stop func()) {
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{})
	if err := fr.Start(); err != nil {
		panic(err)
	}
	return func() { fr.Stop() }
}
