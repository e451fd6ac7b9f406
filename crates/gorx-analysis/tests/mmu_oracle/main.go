// Oracle for gorx's MMU port (driven by ../mmu_oracle.rs): runs Go's own
// internal/trace reader, gc.go and mud.go, copied at test time from a Go 1.27 GOROOT
// into ./trace with only their import paths rewritten, over each trace named on the
// command line (or, with -gen FILE, writes a GC-heavy trace: gen.go). Prints one config line (windows, quantiles, Examples count), then one
// JSON object per (trace, flag set). Floats are strings in the shortest exact form so
// the Rust side can measure |diff| exactly.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"gorxmmuoracle/trace"
)

type flagSet struct {
	Name  string
	Flags trace.UtilFlags
}

var flagSets = []flagSet{
	{"stw", trace.UtilSTW},
	{"stw,background,assist", trace.UtilSTW | trace.UtilBackground | trace.UtilAssist},
	{"stw,background,assist,sweep", trace.UtilSTW | trace.UtilBackground | trace.UtilAssist | trace.UtilSweep},
	{"stw,background,assist,sweep,perproc", trace.UtilSTW | trace.UtilBackground | trace.UtilAssist | trace.UtilSweep | trace.UtilPerProc},
	{"assist,sweep", trace.UtilAssist | trace.UtilSweep},
	{"background,perproc", trace.UtilBackground | trace.UtilPerProc},
}

// Windows in ns: log-spaced, a few odd sizes, and one longer than any corpus trace.
var windows = []int64{
	0, 1, 1000, 10_000, 100_000, 1_000_000, 2_500_000, 10_000_000, 37_000_000,
	100_000_000, 1_000_000_000, 100_000_000_000,
}

var exampleWindows = []int64{1_000_000, 10_000_000, 100_000_000}

const nExamples = 5

var mudWindows = []int64{1_000_000, 10_000_000}
var quantiles = []float64{0, 0.001, 0.01, 0.1, 0.5}

type example struct {
	Time int64  `json:"time"`
	Util string `json:"util"`
}

// Floats travel as strings ('g', shortest exact) so the reader parses them exactly.
type result struct {
	File     string        `json:"file"`
	Flags    string        `json:"flags"`
	Series   [][][2]string `json:"series"`
	MMU      []string      `json:"mmu"`
	Examples [][]example   `json:"examples"`
	MUD      [][]string    `json:"mud"`
	Error    string        `json:"error,omitempty"`
}

// config tells the Rust side which windows, quantiles and Examples count were used.
type config struct {
	Windows        []int64   `json:"windows"`
	ExampleWindows []int64   `json:"example_windows"`
	NExamples      int       `json:"n_examples"`
	MUDWindows     []int64   `json:"mud_windows"`
	Quantiles      []float64 `json:"quantiles"`
}

func num(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-gen" {
		if err := generate(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.Encode(config{windows, exampleWindows, nExamples, mudWindows, quantiles})
	for _, path := range os.Args[1:] {
		events, err := readAll(path)
		if err != nil {
			enc.Encode(result{File: path, Error: err.Error()})
			continue
		}
		for _, fs := range flagSets {
			enc.Encode(analyze(path, events, fs))
		}
	}
}

func readAll(path string) ([]trace.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := trace.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	var events []trace.Event
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
}

func analyze(path string, events []trace.Event, fs flagSet) (res result) {
	res = result{File: path, Flags: fs.Name}
	// Go panics on some degenerate series (e.g. one point); report it instead of dying.
	defer func() {
		if r := recover(); r != nil {
			res.Error = fmt.Sprint("panic: ", r)
		}
	}()
	util := trace.MutatorUtilizationV2(events, fs.Flags)
	for _, s := range util {
		ser := make([][2]string, len(s))
		for i, u := range s {
			ser[i] = [2]string{strconv.FormatInt(u.Time, 10), num(u.Util)}
		}
		res.Series = append(res.Series, ser)
	}
	curve := trace.NewMMUCurve(util)
	for _, w := range windows {
		res.MMU = append(res.MMU, num(curve.MMU(time.Duration(w))))
	}
	for _, w := range exampleWindows {
		ex := []example{}
		for _, u := range curve.Examples(time.Duration(w), nExamples) {
			ex = append(ex, example{u.Time, num(u.MutatorUtil)})
		}
		res.Examples = append(res.Examples, ex)
	}
	for _, w := range mudWindows {
		var q []string
		for _, v := range curve.MUD(time.Duration(w), quantiles) {
			q = append(q, num(v))
		}
		res.MUD = append(res.MUD, q)
	}
	return res
}
