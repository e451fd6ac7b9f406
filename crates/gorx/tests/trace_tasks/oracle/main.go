// The oracle for `gorx trace tasks`: reads a trace with golang.org/x/exp/trace and
// computes the same per-type summary the straightforward way (every task kept, every
// duration kept and sorted), printing it as the JSON `gorx trace tasks --json` puts
// under "report". Semantics: Go's internal/trace/summary.go (see trace_tasks.rs).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

	"golang.org/x/exp/trace"
)

type durations struct {
	Count uint64 `json:"count"`
	Sum   uint64 `json:"sum_ns"`
	Min   uint64 `json:"min_ns"`
	P50   uint64 `json:"p50_ns"`
	P99   uint64 `json:"p99_ns"`
	Max   uint64 `json:"max_ns"`
	Exact bool   `json:"exact"`
}

func summarize(d []uint64) durations {
	if len(d) == 0 {
		return durations{Exact: true}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	rank := func(p uint64) uint64 {
		n := uint64(len(d))
		r := (p*n + 99) / 100
		if r == 0 {
			r = 1
		}
		return d[r-1]
	}
	var sum uint64
	for _, x := range d {
		sum += x
	}
	return durations{uint64(len(d)), sum, d[0], rank(50), rank(99), d[len(d)-1], true}
}

type task struct {
	typ        string
	parent     trace.TaskID
	hasParent  bool
	start, end trace.Time
	hasStart   bool
	hasEnd     bool
	gs         map[trace.GoID]bool
	regions    uint64
	logs       uint64
}

type openRegion struct {
	typ   string
	start trace.Time
}

type regionAcc struct {
	count, completed, before, exit, open uint64
	d                                    []uint64
	gs                                   map[trace.GoID]bool
}

type taskOut struct {
	Type          string            `json:"type"`
	Count         uint64            `json:"count"`
	Completed     uint64            `json:"completed"`
	Before        uint64            `json:"began_before_trace"`
	Unfinished    uint64            `json:"unfinished"`
	RefOnly       uint64            `json:"referenced_only"`
	Duration      durations         `json:"duration"`
	UnfinishedAge uint64            `json:"unfinished_max_age_ns"`
	Goroutines    uint64            `json:"goroutines"`
	MaxGs         uint64            `json:"max_goroutines_per_task"`
	Regions       uint64            `json:"regions"`
	Logs          uint64            `json:"logs"`
	Parents       map[string]uint64 `json:"parent_types"`
}

type regionOut struct {
	Type       string    `json:"type"`
	Count      uint64    `json:"count"`
	Completed  uint64    `json:"completed"`
	Before     uint64    `json:"began_before_trace"`
	Exit       uint64    `json:"ended_by_goroutine_exit"`
	Open       uint64    `json:"open_at_end"`
	Duration   durations `json:"duration"`
	Goroutines uint64    `json:"goroutines"`
}

type logOut struct {
	Category string `json:"category"`
	Count    uint64 `json:"count"`
	InTasks  uint64 `json:"in_tasks"`
}

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	r, err := trace.NewReader(bufio.NewReader(f))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	tasks := map[trace.TaskID]*task{}
	get := func(id trace.TaskID) *task {
		t := tasks[id]
		if t == nil {
			t = &task{gs: map[trace.GoID]bool{}}
			tasks[id] = t
		}
		return t
	}
	open := map[trace.GoID][]openRegion{}
	regions := map[string]*regionAcc{}
	region := func(typ string) *regionAcc {
		a := regions[typ]
		if a == nil {
			a = &regionAcc{gs: map[trace.GoID]bool{}}
			regions[typ] = a
		}
		return a
	}
	logs := map[string]*logOut{}
	var bgRegions, bgLogs uint64
	attach := func(id trace.TaskID, g trace.GoID) {
		if id == trace.BackgroundTask {
			bgRegions++
			return
		}
		t := get(id)
		t.regions++
		t.gs[g] = true
	}
	var first, last trace.Time
	seen := false
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		now := ev.Time()
		if !seen {
			first, seen = now, true
		}
		if now > last {
			last = now
		}
		g := ev.Goroutine()
		switch ev.Kind() {
		case trace.EventTaskBegin, trace.EventTaskEnd:
			ti := ev.Task()
			t := get(ti.ID)
			t.typ = ti.Type
			t.gs[g] = true
			if ev.Kind() == trace.EventTaskBegin {
				t.start, t.hasStart = now, true
			} else {
				t.end, t.hasEnd = now, true
			}
			if ti.Parent != trace.NoTask && !t.hasParent {
				t.parent, t.hasParent = ti.Parent, true
				get(ti.Parent)
			}
		case trace.EventRegionBegin:
			ri := ev.Region()
			attach(ri.Task, g)
			a := region(ri.Type)
			a.count++
			a.gs[g] = true
			open[g] = append(open[g], openRegion{ri.Type, now})
		case trace.EventRegionEnd:
			ri := ev.Region()
			if st := open[g]; len(st) > 0 {
				o := st[len(st)-1]
				open[g] = st[:len(st)-1]
				a := region(o.typ)
				a.completed++
				a.d = append(a.d, uint64(now-o.start))
			} else {
				attach(ri.Task, g)
				a := region(ri.Type)
				a.count++
				a.before++
				a.gs[g] = true
			}
		case trace.EventLog:
			li := ev.Log()
			l := logs[li.Category]
			if l == nil {
				l = &logOut{Category: li.Category}
				logs[li.Category] = l
			}
			l.Count++
			if li.Task != trace.BackgroundTask {
				t := get(li.Task)
				t.logs++
				t.gs[g] = true
				l.InTasks++
			} else {
				bgLogs++
			}
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				break
			}
			id := st.Resource.Goroutine()
			from, to := st.Goroutine()
			if from != to && (to == trace.GoNotExist || (to == trace.GoWaiting && st.Reason == "forever")) {
				for _, o := range open[id] {
					region(o.typ).exit++
				}
				delete(open, id)
			}
		}
	}
	for _, st := range open {
		for _, o := range st {
			region(o.typ).open++
		}
	}

	type tacc struct {
		out taskOut
		d   []uint64
		gs  map[trace.GoID]bool
	}
	byType := map[string]*tacc{}
	for id, t := range tasks {
		if id == trace.BackgroundTask {
			continue
		}
		a := byType[t.typ]
		if a == nil {
			a = &tacc{out: taskOut{Type: t.typ, Parents: map[string]uint64{}}, gs: map[trace.GoID]bool{}}
			byType[t.typ] = a
		}
		a.out.Count++
		switch {
		case t.hasStart && t.hasEnd:
			a.out.Completed++
			a.d = append(a.d, uint64(t.end-t.start))
		case t.hasEnd:
			a.out.Before++
		case t.hasStart:
			a.out.Unfinished++
			if age := uint64(last - t.start); age > a.out.UnfinishedAge {
				a.out.UnfinishedAge = age
			}
		default:
			a.out.RefOnly++
		}
		for g := range t.gs {
			a.gs[g] = true
		}
		if n := uint64(len(t.gs)); n > a.out.MaxGs {
			a.out.MaxGs = n
		}
		a.out.Regions += t.regions
		a.out.Logs += t.logs
		if t.hasParent {
			a.out.Parents[tasks[t.parent].typ]++
		}
	}
	out := struct {
		Start     int64       `json:"start_ns"`
		End       int64       `json:"end_ns"`
		Tasks     []taskOut   `json:"tasks"`
		Regions   []regionOut `json:"regions"`
		Logs      []logOut    `json:"logs"`
		BgRegions uint64      `json:"background_regions"`
		BgLogs    uint64      `json:"background_logs"`
	}{Start: int64(first), End: int64(last), Tasks: []taskOut{}, Regions: []regionOut{}, Logs: []logOut{}, BgRegions: bgRegions, BgLogs: bgLogs}
	for _, a := range byType {
		a.out.Duration = summarize(a.d)
		a.out.Goroutines = uint64(len(a.gs))
		out.Tasks = append(out.Tasks, a.out)
	}
	sort.Slice(out.Tasks, func(i, j int) bool { return out.Tasks[i].Type < out.Tasks[j].Type })
	for typ, a := range regions {
		out.Regions = append(out.Regions, regionOut{typ, a.count, a.completed, a.before, a.exit, a.open, summarize(a.d), uint64(len(a.gs))})
	}
	sort.Slice(out.Regions, func(i, j int) bool { return out.Regions[i].Type < out.Regions[j].Type })
	for _, l := range logs {
		out.Logs = append(out.Logs, *l)
	}
	sort.Slice(out.Logs, func(i, j int) bool { return out.Logs[i].Category < out.Logs[j].Category })
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
}
