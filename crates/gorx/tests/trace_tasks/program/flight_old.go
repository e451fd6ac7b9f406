//go:build !go1.25

package main

// Before Go 1.25 there is no flight recorder: a region begun before trace.Start is not
// traced at all (StartRegion is a no-op while tracing is off).
func flightRecorder() (stop func()) { return func() {} }
