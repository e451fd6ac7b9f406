//! Minimum mutator utilization (MMU): a port of Go 1.27's `internal/trace/gc.go` and
//! `mud.go` (`MutatorUtilizationV2`, `NewMMUCurve`, `MMU`, `Examples`, `MUD`).
//!
//! [`MutatorUtilBuilder`] consumes trace events one at a time (Go walks its event slice
//! once in the same order) and keeps only the utilization series, which Go holds too,
//! plus per-goroutine flags. [`MmuCurve`] then answers MMU / worst-window / MUD queries
//! with Go's band algorithm. Floating-point operations are done in Go's order, and the
//! heaps follow `container/heap` step for step, so results (and which worst windows are
//! picked) match Go's; `tests/mmu_oracle.rs` checks that against Go's own code.
//!
//! Go's quirks are kept: a series ends where utilization last changed, so a trace whose
//! tail sits at 0 gives a curve shorter than the trace; and with `BACKGROUND`, a
//! "GC (dedicated|fractional)" label on a worker already counted by its start adds a
//! count its stop does not remove, so after a few GC cycles Ps stay "in GC" for good.
//!
//! Where Go would panic (an event on a P index outside GOMAXPROCS, a series of a single
//! instant), this port skips the offending item instead; see [`MutatorUtilBuilder::anomalies`].

use gorx_trace::goutil::{FxHashMap as HashMap, FxHashSet as HashSet};
use gorx_trace::{Event, EventKind, GoId, GoState, NO_GOROUTINE, Resource};
use serde::Serialize;

/// What counts against mutator utilization (Go's `UtilFlags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UtilFlags(pub u8);

impl UtilFlags {
    /// Stop-the-world pauses whose reason mentions GC.
    pub const STW: UtilFlags = UtilFlags(1);
    /// Background mark workers (fractional and, unless per-proc, dedicated).
    pub const BACKGROUND: UtilFlags = UtilFlags(2);
    /// Mark assists.
    pub const ASSIST: UtilFlags = UtilFlags(4);
    /// Incremental sweeping.
    pub const SWEEP: UtilFlags = UtilFlags(8);
    /// One series per P instead of one averaged over GOMAXPROCS.
    pub const PER_PROC: UtilFlags = UtilFlags(16);
    /// What `go tool trace`'s MMU page checks by default: STW, background workers and
    /// mark assist (sweep is off; Go calls it very slow).
    pub const DEFAULT: UtilFlags = UtilFlags(1 | 2 | 4);

    const NAMES: [(&'static str, UtilFlags); 5] = [
        ("stw", Self::STW),
        ("background", Self::BACKGROUND),
        ("assist", Self::ASSIST),
        ("sweep", Self::SWEEP),
        ("perproc", Self::PER_PROC),
    ];

    pub fn has(self, f: UtilFlags) -> bool {
        self.0 & f.0 != 0
    }

    /// Parse a comma-separated list of `stw`, `background`, `assist`, `sweep`, `perproc`.
    pub fn parse(s: &str) -> Result<UtilFlags, String> {
        let mut f = UtilFlags(0);
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match Self::NAMES.iter().find(|(n, _)| *n == part) {
                Some((_, v)) => f.0 |= v.0,
                None => {
                    return Err(format!(
                        "unknown MMU flag {part:?}: want stw, background, assist, sweep or perproc"
                    ));
                }
            }
        }
        Ok(f)
    }

    /// The comma-separated names, in a fixed order.
    pub fn names(self) -> String {
        let v: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(_, f)| self.has(*f))
            .map(|(n, _)| *n)
            .collect();
        v.join(",")
    }
}

impl std::ops::BitOr for UtilFlags {
    type Output = UtilFlags;
    fn bitor(self, o: UtilFlags) -> UtilFlags {
        UtilFlags(self.0 | o.0)
    }
}

/// A change in mutator utilization: from `time_ns` on, the mean utilization is `util`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MutatorUtil {
    pub time_ns: i64,
    pub util: f64,
}

#[derive(Debug, Clone, Copy)]
struct PerP {
    /// > 0 while GC work runs on this P.
    gc: i64,
    /// Index of this P's series in the output (Ps removed and re-added get new ones).
    series: usize,
}

#[derive(Debug, Clone, Copy)]
struct ProcsCount {
    time: i64,
    n: usize,
}

/// GOMAXPROCS values above this are not believed (Go would allocate them; we won't).
const MAX_GOMAXPROCS: u64 = 1 << 20;

/// Streaming `MutatorUtilizationV2`: feed every event with [`observe`](Self::observe),
/// then [`finish`](Self::finish).
#[derive(Debug, Clone)]
pub struct MutatorUtilBuilder {
    flags: UtilFlags,
    out: Vec<Vec<MutatorUtil>>,
    stw: i64,
    ps: Vec<PerP>,
    in_gc: HashSet<GoId>,
    /// Goroutine states; a goroutine that stops existing is dropped, which reads the
    /// same as Go's map entry `GoNotExist` (neither is executing).
    states: HashMap<GoId, GoState>,
    bg_mark: HashSet<GoId>,
    procs: Vec<ProcsCount>,
    n_sync: u64,
    first_time: Option<i64>,
    last_time: Option<i64>,
    anomalies: u64,
}

fn is_gc_stw(name: &[u8]) -> bool {
    name.starts_with(b"stop-the-world") && name.windows(2).any(|w| w == b"GC")
}

fn is_gc_mark_assist(name: &[u8]) -> bool {
    name == b"GC mark assist"
}

fn is_gc_sweep(name: &[u8]) -> bool {
    name == b"GC incremental sweep"
}

/// Go's `addUtil`: drop no-change points, keep the lowest value at one instant.
fn add_util(util: &mut Vec<MutatorUtil>, mu: MutatorUtil) {
    if let Some(last) = util.last_mut() {
        if mu.util == last.util {
            return;
        }
        if mu.time_ns == last.time_ns {
            if mu.util < last.util {
                *last = mu;
            }
            return;
        }
    }
    util.push(mu);
}

impl MutatorUtilBuilder {
    pub fn new(flags: UtilFlags) -> Self {
        MutatorUtilBuilder {
            flags,
            out: Vec::new(),
            stw: 0,
            ps: Vec::new(),
            in_gc: HashSet::default(),
            states: HashMap::default(),
            bg_mark: HashSet::default(),
            procs: Vec::new(),
            n_sync: 0,
            first_time: None,
            last_time: None,
            anomalies: 0,
        }
    }

    pub fn flags(&self) -> UtilFlags {
        self.flags
    }

    /// Time of the first event seen.
    pub fn first_time_ns(&self) -> Option<i64> {
        self.first_time
    }

    /// Time of the last event seen.
    pub fn last_time_ns(&self) -> Option<i64> {
        self.last_time
    }

    /// Events Go's code would have panicked on (a P outside GOMAXPROCS, an absurd
    /// GOMAXPROCS); they were skipped.
    pub fn anomalies(&self) -> u64 {
        self.anomalies
    }

    fn per_proc(&self) -> bool {
        self.flags.has(UtilFlags::PER_PROC)
    }

    /// `ps[ev.Proc()].gc += d`, skipping (and counting) what would be Go's index panic.
    fn proc_gc(&mut self, ev: &Event, d: i64) {
        match usize::try_from(ev.proc())
            .ok()
            .and_then(|p| self.ps.get_mut(p))
        {
            Some(p) => p.gc += d,
            None => self.anomalies += 1,
        }
    }

    pub fn observe(&mut self, ev: &Event) {
        let t = ev.time();
        self.first_time.get_or_insert(t);
        self.last_time = Some(t);
        let per_proc = self.per_proc();
        let kind = ev.kind();

        match kind {
            EventKind::Sync => self.n_sync = ev.sync_n().unwrap_or(0),
            EventKind::Metric => {
                if let Some(("/sched/gomaxprocs:threads", v)) = ev.metric() {
                    if v > MAX_GOMAXPROCS {
                        self.anomalies += 1;
                    } else {
                        self.set_gomaxprocs(t, v as usize);
                    }
                }
            }
            _ => {}
        }
        if self.ps.is_empty() {
            // Nothing can be said until GOMAXPROCS is known.
            return;
        }

        match kind {
            // After a full generation, active events only repeat what is known.
            EventKind::RangeActive if self.n_sync <= 1 => {
                if let Some((name, _)) = ev.range() {
                    self.fix_up_active(ev, &name);
                }
                self.range_begin(ev);
            }
            EventKind::RangeBegin => self.range_begin(ev),
            EventKind::RangeEnd => {
                if let Some((name, scope)) = ev.range() {
                    if self.handle_stw(&name) {
                        self.stw -= 1;
                    } else if self.handle_sweep(&name) {
                        self.proc_gc(ev, -1);
                    } else if self.handle_mark_assist(&name) {
                        self.proc_gc(ev, -1);
                        if let Resource::Goroutine(g) = scope
                            && g != NO_GOROUTINE
                        {
                            self.in_gc.remove(&g);
                        }
                    }
                }
            }
            EventKind::StateTransition => {
                if let Some(st) = ev.state_transition()
                    && let Resource::Goroutine(g) = st.resource
                {
                    let (old, new) = st.go_states();
                    if self.in_gc.contains(&g) || self.bg_mark.contains(&g) {
                        if !old.executing() && new.executing() {
                            self.proc_gc(ev, 1);
                        } else if old.executing() && !new.executing() {
                            self.proc_gc(ev, -1);
                        }
                    }
                    if new == GoState::NotExist {
                        self.states.remove(&g);
                    } else {
                        self.states.insert(g, new);
                    }
                }
            }
            EventKind::Label => {
                if let Some((label, _)) = ev.label()
                    && self.flags.has(UtilFlags::BACKGROUND)
                    && label.starts_with(b"GC ")
                    && label != b"GC (idle)"
                    // Dedicated workers push every goroutine off their P, so per P they
                    // do not delay goroutines directly.
                    && !(per_proc && label == b"GC (dedicated)")
                {
                    self.bg_mark.insert(ev.goroutine());
                    self.proc_gc(ev, 1);
                }
            }
            _ => {}
        }

        if !per_proc {
            let gc_ps = if self.stw > 0 {
                self.ps.len()
            } else {
                self.ps.iter().filter(|p| p.gc > 0).count()
            };
            let mu = MutatorUtil {
                time_ns: t,
                util: 1.0 - gc_ps as f64 / self.ps.len() as f64,
            };
            add_util(&mut self.out[0], mu);
        } else {
            for p in &self.ps {
                let util = if self.stw > 0 || p.gc > 0 { 0.0 } else { 1.0 };
                add_util(&mut self.out[p.series], MutatorUtil { time_ns: t, util });
            }
        }
    }

    fn handle_stw(&self, name: &[u8]) -> bool {
        self.flags.has(UtilFlags::STW) && is_gc_stw(name)
    }
    fn handle_mark_assist(&self, name: &[u8]) -> bool {
        self.flags.has(UtilFlags::ASSIST) && is_gc_mark_assist(name)
    }
    fn handle_sweep(&self, name: &[u8]) -> bool {
        self.flags.has(UtilFlags::SWEEP) && is_gc_sweep(name)
    }

    fn set_gomaxprocs(&mut self, t: i64, n: usize) {
        if self.ps.len() > n {
            if self.per_proc() {
                // End each removed P's series.
                for p in &self.ps[n..] {
                    add_util(
                        &mut self.out[p.series],
                        MutatorUtil {
                            time_ns: t,
                            util: 0.0,
                        },
                    );
                }
            }
            self.ps.truncate(n);
        }
        while self.ps.len() < n {
            let mut series = 0;
            if self.per_proc() || self.out.is_empty() {
                series = self.out.len();
                self.out.push(vec![MutatorUtil {
                    time_ns: t,
                    util: 1.0,
                }]);
            }
            self.ps.push(PerP { gc: 0, series });
        }
        if self.procs.last().is_none_or(|p| p.n != n) {
            self.procs.push(ProcsCount { time: t, n });
        }
    }

    /// A range found active at the start of the trace was running since the start:
    /// take 1/GOMAXPROCS off everything recorded so far (the averaged series only).
    fn fix_up_active(&mut self, ev: &Event, name: &[u8]) {
        let applies = if self.handle_mark_assist(name) {
            // Only counts if the assisting goroutine was on its P.
            self.states
                .get(&ev.goroutine())
                .is_some_and(|s| s.executing())
        } else {
            self.handle_sweep(name)
        };
        if !applies || self.per_proc() {
            return;
        }
        let procs = &self.procs;
        let out0 = &mut self.out[0];
        let (mut mi, mut pi) = (0usize, 0usize);
        while mi < out0.len() {
            if pi + 1 < procs.len() && procs[pi + 1].time < out0[mi].time_ns {
                pi += 1;
                continue;
            }
            out0[mi].util -= 1.0 / procs[pi].n as f64;
            if out0[mi].util < 0.0 {
                out0[mi].util = 0.0;
            }
            mi += 1;
        }
    }

    fn range_begin(&mut self, ev: &Event) {
        let Some((name, scope)) = ev.range() else {
            return;
        };
        if self.handle_stw(&name) {
            self.stw += 1;
        } else if self.handle_sweep(&name) {
            self.proc_gc(ev, 1);
        } else if self.handle_mark_assist(&name) {
            self.proc_gc(ev, 1);
            if let Resource::Goroutine(g) = scope
                && g != NO_GOROUTINE
            {
                self.in_gc.insert(g);
            }
        }
    }

    /// The utilization functions: one, or one per P with `PER_PROC`. Each ends with a
    /// 0 at the last event's time. Empty if there were no events.
    pub fn finish(mut self) -> Vec<Vec<MutatorUtil>> {
        let Some(last) = self.last_time else {
            return Vec::new();
        };
        let mu = MutatorUtil {
            time_ns: last,
            util: 0.0,
        };
        for p in &self.ps {
            add_util(&mut self.out[p.series], mu);
        }
        self.out
    }
}

/// Go's `math.Min`: NaN wins, and -0 is below +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y { x } else { y }
}

/// Go's `math.Max`.
fn go_max(x: f64, y: f64) -> f64 {
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y { x } else { y }
}

// container/heap, step for step: which element sits where decides which bands are
// refined and which worst windows survive, so the order must be Go's.
fn heap_up<T>(h: &mut [T], mut j: usize, less: &impl Fn(&T, &T) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down<T>(h: &mut [T], i0: usize, n: usize, less: &impl Fn(&T, &T) -> bool) -> bool {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(&h[j2], &h[j1]) {
            j = j2;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

fn heap_init<T>(h: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let n = h.len();
    for i in (0..n / 2).rev() {
        heap_down(h, i, n, less);
    }
}

fn heap_push<T>(h: &mut Vec<T>, x: T, less: &impl Fn(&T, &T) -> bool) {
    h.push(x);
    let j = h.len() - 1;
    heap_up(h, j, less);
}

fn heap_pop<T>(h: &mut Vec<T>, less: &impl Fn(&T, &T) -> bool) -> Option<T> {
    let n = h.len().checked_sub(1)?;
    h.swap(0, n);
    heap_down(h, 0, n, less);
    h.pop()
}

fn heap_remove<T>(h: &mut Vec<T>, i: usize, less: &impl Fn(&T, &T) -> bool) -> Option<T> {
    let n = h.len().checked_sub(1)?;
    if n != i {
        h.swap(i, n);
        if !heap_down(h, i, n, less) {
            heap_up(h, i, less);
        }
    }
    h.pop()
}

#[derive(Debug, Clone, Copy)]
struct MmuBand {
    /// Lowest instantaneous utilization in the band.
    min_util: f64,
    /// Integral of utilization from the series start to the band's left edge (ns).
    cum_util: f64,
    /// Integrator position at the band's left edge.
    integrator_pos: usize,
}

#[derive(Debug, Clone)]
struct MmuSeries {
    util: Vec<MutatorUtil>,
    /// sums[j] is the integral of util[..j] (ns).
    sums: Vec<f64>,
    bands: Vec<MmuBand>,
    band_dur: i64,
}

/// Tracks a position in a utilization function and integrates it.
#[derive(Debug, Clone, Copy)]
struct Integrator {
    /// Index of the current time's non-strict predecessor.
    pos: usize,
}

impl Integrator {
    /// Integral from the start to `time`; `time` must not decrease between calls.
    fn advance(&mut self, util: &[MutatorUtil], sums: &[f64], time: i64) -> f64 {
        const MAX_SEQ: usize = 8;
        let mut pos = self.pos;
        if pos + MAX_SEQ < util.len() && util[pos + MAX_SEQ].time_ns > time {
            while pos + 1 < util.len() && util[pos + 1].time_ns <= time {
                pos += 1;
            }
        } else {
            let (mut l, mut r) = (pos, util.len());
            while l < r {
                let h = (l + r) >> 1;
                if util[h].time_ns <= time {
                    l = h + 1;
                } else {
                    r = h;
                }
            }
            // Go indexes -1 (and panics) only for a time before the series start.
            pos = l.saturating_sub(1);
        }
        self.pos = pos;
        let mut partial = 0.0;
        if time != util[pos].time_ns {
            partial = util[pos].util * (time - util[pos].time_ns) as f64;
        }
        sums[pos] + partial
    }

    /// The first change in utilization strictly after `time`.
    fn next(&self, util: &[MutatorUtil], time: i64) -> i64 {
        util[self.pos.min(util.len())..]
            .iter()
            .find(|u| u.time_ns > time)
            .map_or(i64::MAX, |u| u.time_ns)
    }
}

impl MmuSeries {
    fn new(util: Vec<MutatorUtil>, bands_per_series: usize) -> MmuSeries {
        let mut sums = Vec::with_capacity(util.len());
        let mut prev = MutatorUtil {
            time_ns: 0,
            util: 0.0,
        };
        let mut sum = 0.0;
        for u in &util {
            sum += prev.util * (u.time_ns - prev.time_ns) as f64;
            sums.push(sum);
            prev = *u;
        }
        if util.is_empty() {
            return MmuSeries {
                util,
                sums,
                bands: Vec::new(),
                band_dur: 1,
            };
        }
        // Few events need few bands.
        let num_bands = bands_per_series.min(util.len()).max(1);
        let dur = util[util.len() - 1].time_ns - util[0].time_ns;
        let band_dur = ((dur + num_bands as i64 - 1) / num_bands as i64).max(1);
        // numBands+1 bands: the last records the final cumulative sum.
        let mut bands = Vec::with_capacity(num_bands + 1);
        let mut left = Integrator { pos: 0 };
        for i in 0..=num_bands {
            let start = i as i64 * band_dur + util[0].time_ns;
            let end = start + band_dur;
            let cum_util = left.advance(&util, &sums, start);
            let mut min_util = 1.0;
            for u in util[left.pos..].iter().take_while(|u| u.time_ns < end) {
                min_util = go_min(min_util, u.util);
            }
            bands.push(MmuBand {
                min_util,
                cum_util,
                integrator_pos: left.pos,
            });
        }
        MmuSeries {
            util,
            sums,
            bands,
            band_dur,
        }
    }

    fn band_time(&self, i: usize) -> (i64, i64) {
        let start = i as i64 * self.band_dur + self.util[0].time_ns;
        (start, start + self.band_dur)
    }

    fn duration(&self) -> i64 {
        match (self.util.first(), self.util.last()) {
            (Some(a), Some(b)) => b.time_ns - a.time_ns,
            _ => 0,
        }
    }

    /// Per band, a lower bound of the mean utilization of every window starting in it.
    fn mk_band_util(&self, series: usize, window: i64, out: &mut Vec<BandUtil>) {
        let bd = self.band_dur;
        let min_bands = ((window + bd - 1) / bd) as usize;
        let max_bands = ((window + 2 * (bd - 1)) / bd) as usize;
        let tail_dur = window % bd;
        let n_util = (self.bands.len() + 1).saturating_sub(max_bands);
        for i in 0..n_util {
            let mut util = 0.0;
            // Partially covered bands count at their minimum, fully covered ones at
            // their mean.
            let l = self.bands[i].min_util;
            let r1 = self.bands[i + min_bands - 1].min_util;
            let r2 = self.bands[i + max_bands - 1].min_util;
            let min_band = go_min(l, go_min(r1, r2));
            if min_bands == 1 {
                util += min_band * window as f64;
            } else {
                util += min_band * bd as f64;
                let mid_band = if min_band == l {
                    go_min(r1, r2)
                } else if min_band == r1 {
                    go_min(l, r2)
                } else if min_band == r2 {
                    go_min(l, r1)
                } else {
                    0.0
                };
                util += mid_band * tail_dur as f64;
            }
            if min_bands > 2 {
                util += self.bands[i + min_bands - 1].cum_util - self.bands[i + 1].cum_util;
            }
            out.push(BandUtil {
                series,
                i,
                util_bound: util / window as f64,
            });
        }
    }

    /// The exact windowed utilization for windows whose left edge lies in `band_idx`.
    fn band_mmu(&self, band_idx: usize, window: i64, acc: &mut Accumulator) {
        let util = &self.util[..];
        let sums = &self.sums[..];
        // The windowed utilization is piecewise linear with breaks where either edge
        // meets a change, so only those positions need evaluating.
        let mut left = Integrator {
            pos: self.bands[band_idx].integrator_pos,
        };
        let mut right = left;
        let (mut time, mut end_time) = self.band_time(band_idx);
        let util_end = util[util.len() - 1].time_ns - window;
        if util_end < end_time {
            end_time = util_end;
        }
        acc.reset_time();
        loop {
            let r = right.advance(util, sums, time + window);
            let l = left.advance(util, sums, time);
            let mu = (r - l) / window as f64;
            if acc.add_mu(time, mu, window) {
                break;
            }
            if time == end_time {
                break;
            }
            // The windowed function's slope is at most 1/window, so it cannot drop
            // below the bound sooner than this.
            let min_time = time + ((mu - acc.bound) * window as f64) as i64;
            let t1 = left.next(util, time);
            let t2 = right.next(util, time + window) - window;
            time = if t1 < t2 { t1 } else { t2 };
            if time < min_time {
                time = min_time;
            }
            if time >= end_time {
                // Span the whole band (MUD needs it).
                time = end_time;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct BandUtil {
    series: usize,
    i: usize,
    /// Lower bound of the utilization of any window starting in this band.
    util_bound: f64,
}

/// A window of the MMU examples: start time and its mean utilization.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UtilWindow {
    pub time_ns: i64,
    pub mutator_util: f64,
}

/// utilHeap's Less: a max-heap on utilization (then time), so the root is the least bad.
fn util_heap_less(a: &UtilWindow, b: &UtilWindow) -> bool {
    if a.mutator_util != b.mutator_util {
        return a.mutator_util > b.mutator_util;
    }
    a.time_ns > b.time_ns
}

fn band_less(a: &BandUtil, b: &BandUtil) -> bool {
    a.util_bound < b.util_bound
}

struct Accumulator {
    mmu: f64,
    /// Utilization above this cannot change the result.
    bound: f64,
    n_worst: usize,
    w_heap: Vec<UtilWindow>,
    mud: Option<Box<Mud>>,
    last_time: i64,
    last_mu: f64,
}

impl Accumulator {
    fn new(n_worst: usize, mud: Option<Box<Mud>>) -> Accumulator {
        Accumulator {
            mmu: 1.0,
            bound: 1.0,
            n_worst,
            w_heap: Vec::new(),
            mud,
            last_time: 0,
            last_mu: 0.0,
        }
    }

    fn reset_time(&mut self) {
        self.last_time = i64::MAX;
    }

    /// Add a point of the windowed utilization function; true when more are pointless.
    fn add_mu(&mut self, time: i64, mu: f64, window: i64) -> bool {
        if mu < self.mmu {
            self.mmu = mu;
        }
        self.bound = self.mmu;

        if self.n_worst == 0 {
            // Zero cannot be beaten. (Go returns here for MUD accumulators too, so
            // their distribution stays empty; kept for fidelity.)
            return mu == 0.0;
        }

        if self.w_heap.len() < self.n_worst || mu < self.w_heap[0].mutator_util {
            // Among overlapping windows keep the worse one.
            let mut keep = false;
            for i in 0..self.w_heap.len() {
                let ui = self.w_heap[i];
                if time + window > ui.time_ns && ui.time_ns + window > time {
                    if ui.mutator_util <= mu {
                        keep = true;
                    } else {
                        heap_remove(&mut self.w_heap, i, &util_heap_less);
                    }
                    break;
                }
            }
            if !keep {
                heap_push(
                    &mut self.w_heap,
                    UtilWindow {
                        time_ns: time,
                        mutator_util: mu,
                    },
                    &util_heap_less,
                );
                if self.w_heap.len() > self.n_worst {
                    heap_pop(&mut self.w_heap, &util_heap_less);
                }
            }
        }

        if self.w_heap.len() < self.n_worst {
            self.bound = 1.0;
        } else {
            self.bound = go_max(self.bound, self.w_heap[0].mutator_util);
        }

        if let Some(mud) = self.mud.as_mut() {
            if self.last_time != i64::MAX {
                mud.add(self.last_mu, mu, (time - self.last_time) as f64);
            }
            self.last_time = time;
            self.last_mu = mu;
            match mud.approx_inv_cumulative_sum() {
                Some((_, mud_bound)) => self.bound = go_max(self.bound, mud_bound),
                None => self.bound = 1.0,
            }
            return false;
        }

        self.w_heap.len() == self.n_worst && self.w_heap[0].mutator_util == 0.0
    }
}

/// Go's default number of bands per series.
pub const BANDS_PER_SERIES: usize = 1000;

/// The MMU curve over one or more utilization series (Go's `MMUCurve`).
#[derive(Debug, Clone)]
pub struct MmuCurve {
    series: Vec<MmuSeries>,
}

impl MmuCurve {
    pub fn new(utils: Vec<Vec<MutatorUtil>>) -> MmuCurve {
        Self::with_bands(utils, BANDS_PER_SERIES)
    }

    /// With a chosen band count (Go's tests change `bandsPerSeries`).
    pub fn with_bands(utils: Vec<Vec<MutatorUtil>>, bands_per_series: usize) -> MmuCurve {
        MmuCurve {
            series: utils
                .into_iter()
                .map(|u| MmuSeries::new(u, bands_per_series))
                .collect(),
        }
    }

    /// The utilization series the curve was built from.
    pub fn series(&self) -> impl Iterator<Item = &[MutatorUtil]> {
        self.series.iter().map(|s| &s.util[..])
    }

    /// Start and end of the series (min first time, max last time), if any.
    pub fn span_ns(&self) -> Option<(i64, i64)> {
        let start = self
            .series
            .iter()
            .filter_map(|s| s.util.first())
            .map(|u| u.time_ns)
            .min()?;
        let end = self
            .series
            .iter()
            .filter_map(|s| s.util.last())
            .map(|u| u.time_ns)
            .max()?;
        Some((start, end))
    }

    /// The minimum mean utilization over all windows of `window_ns`, in [0, 1].
    pub fn mmu(&self, window_ns: i64) -> f64 {
        let mut acc = Accumulator::new(0, None);
        self.run(window_ns, &mut acc);
        acc.mmu
    }

    /// Up to `n` disjoint windows of the lowest utilization, worst first.
    pub fn examples(&self, window_ns: i64, n: usize) -> Vec<UtilWindow> {
        let mut acc = Accumulator::new(n, None);
        self.run(window_ns, &mut acc);
        let mut w = acc.w_heap;
        // sort.Reverse(utilHeap): ascending utilization, then ascending time.
        w.sort_by(|a, b| {
            if util_heap_less(b, a) {
                std::cmp::Ordering::Less
            } else if util_heap_less(a, b) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        w
    }

    /// Quantiles of the mutator utilization distribution over windows of `window_ns`
    /// (Go's `MUD`; Go 1.27's accumulator never fills the distribution, so every
    /// quantile comes out as the MMU, and so it does here).
    pub fn mud(&self, window_ns: i64, quantiles: &[f64]) -> Vec<f64> {
        if quantiles.is_empty() {
            return Vec::new();
        }
        let mut max_q = quantiles[0];
        for &q in quantiles {
            if q > max_q {
                max_q = q;
            }
        }
        let mut duration: i64 = 0;
        for s in &self.series {
            let d1 = s.duration();
            if d1 >= window_ns {
                duration += d1 - window_ns;
            }
        }
        let q_mass = duration as f64 * max_q;
        let mut mud = Box::new(Mud::new());
        mud.set_track_mass(q_mass);
        let mut acc = Accumulator::new(0, Some(mud));
        self.run(window_ns, &mut acc);
        let mut mud = acc.mud.take().expect("set above");
        quantiles
            .iter()
            .map(|q| {
                let (mu, _) = mud.inv_cumulative_sum(duration as f64 * q);
                if mu.is_nan() { acc.mmu } else { mu }
            })
            .collect()
    }

    fn run(&self, window: i64, acc: &mut Accumulator) {
        if window <= 0 {
            acc.mmu = 0.0;
            return;
        }
        let mut band_u: Vec<BandUtil> = Vec::new();
        let mut windows = Vec::with_capacity(self.series.len());
        for (i, s) in self.series.iter().enumerate() {
            let w = window.min(s.duration());
            windows.push(w);
            // A series of one instant holds no window (Go indexes out of range here).
            if w > 0 {
                s.mk_band_util(i, w, &mut band_u);
            }
        }
        heap_init(&mut band_u, &band_less);
        // Refine bands from the lowest bound up until none can matter.
        while let Some(b) = band_u.first().copied().filter(|b| b.util_bound < acc.bound) {
            self.series[b.series].band_mmu(b.i, windows[b.series], acc);
            heap_pop(&mut band_u, &band_less);
        }
    }
}

const MUD_DEGREE: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Edge {
    /// At x the density rises by delta, plus a Dirac delta of area dirac.
    x: f64,
    delta: f64,
    dirac: f64,
}

/// An updatable mutator utilization distribution (Go's `mud`): duration over
/// utilization, as uniform pieces and Dirac deltas, with a coarse histogram.
#[derive(Debug, Clone)]
struct Mud {
    sorted: Vec<Edge>,
    unsorted: Vec<Edge>,
    track_mass: f64,
    track_bucket: usize,
    track_sum: f64,
    hist: Box<[f64; MUD_DEGREE]>,
}

/// Go's `math.Modf` for the finite values used here.
fn modf(f: f64) -> (f64, f64) {
    if f < 1.0 {
        if f < 0.0 {
            let (i, fr) = modf(-f);
            return (-i, -fr);
        }
        if f == 0.0 {
            return (f, f);
        }
        return (0.0, f);
    }
    let i = f.trunc();
    (i, f - i)
}

/// Bucket index of a utilization, as Go's `int(float64)` then the top clamp; values
/// below 0 (Go would index out of range) go to bucket 0.
fn mud_bucket(v: f64) -> (usize, f64) {
    let (bf, f) = modf(v * MUD_DEGREE as f64);
    let b = bf as i64;
    if b >= MUD_DEGREE as i64 {
        (MUD_DEGREE - 1, 1.0)
    } else {
        (b.max(0) as usize, f)
    }
}

impl Mud {
    fn new() -> Mud {
        Mud {
            sorted: Vec::new(),
            unsorted: Vec::new(),
            track_mass: 0.0,
            track_bucket: 0,
            track_sum: 0.0,
            hist: Box::new([0.0; MUD_DEGREE]),
        }
    }

    /// Add a uniform over [l, r] of total `area` (a Dirac delta if l == r).
    fn add(&mut self, mut l: f64, mut r: f64, area: f64) {
        if area == 0.0 {
            return;
        }
        if r < l {
            std::mem::swap(&mut l, &mut r);
        }
        if l == r {
            self.unsorted.push(Edge {
                x: l,
                delta: 0.0,
                dirac: area,
            });
        } else {
            let delta = area / (r - l);
            self.unsorted.push(Edge {
                x: l,
                delta,
                dirac: 0.0,
            });
            self.unsorted.push(Edge {
                x: r,
                delta: -delta,
                dirac: 0.0,
            });
        }

        let h = &mut self.hist;
        let (lb, lf) = mud_bucket(l);
        if l == r {
            h[lb] += area;
        } else {
            let (rb, rf) = mud_bucket(r);
            if lb == rb {
                h[lb] += area;
            } else {
                let per_bucket = area / (r - l) / MUD_DEGREE as f64;
                h[lb] += per_bucket * (1.0 - lf);
                h[rb] += per_bucket * rf;
                for v in &mut h[lb + 1..rb] {
                    *v += per_bucket;
                }
            }
        }

        let thresh = self.track_bucket as f64 / MUD_DEGREE as f64;
        if l < thresh {
            if r < thresh {
                self.track_sum += area;
            } else {
                self.track_sum += area * (thresh - l) / (r - l);
            }
            if self.track_sum >= self.track_mass {
                self.set_track_mass(self.track_mass);
            }
        }
    }

    fn set_track_mass(&mut self, mass: f64) {
        self.track_mass = mass;
        let mut sum = 0.0;
        for (i, &val) in self.hist.iter().enumerate() {
            let new_sum = sum + val;
            if new_sum > mass {
                self.track_bucket = i;
                self.track_sum = sum;
                return;
            }
            sum = new_sum;
        }
        self.track_bucket = MUD_DEGREE;
        self.track_sum = sum;
    }

    /// Bounds [lower, upper) of the tracked mass's inverse cumulative sum.
    fn approx_inv_cumulative_sum(&self) -> Option<(f64, f64)> {
        if self.track_bucket == MUD_DEGREE {
            return None;
        }
        Some((
            self.track_bucket as f64 / MUD_DEGREE as f64,
            (self.track_bucket + 1) as f64 / MUD_DEGREE as f64,
        ))
    }

    /// x such that the mass at or below x is y; (max, false) if the total is below y.
    fn inv_cumulative_sum(&mut self, y: f64) -> (f64, bool) {
        if self.sorted.is_empty() && self.unsorted.is_empty() {
            return (f64::NAN, false);
        }
        let mut edges = std::mem::take(&mut self.unsorted);
        // cmp.Compare: NaN sorts first.
        edges.sort_by(|a, b| match (a.x.is_nan(), b.x.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            _ => a.x.partial_cmp(&b.x).unwrap_or(std::cmp::Ordering::Equal),
        });
        if self.sorted.is_empty() {
            self.sorted = edges;
        } else {
            let old = std::mem::take(&mut self.sorted);
            let mut merged = Vec::with_capacity(old.len() + edges.len());
            let (mut i, mut j) = (0, 0);
            while i < old.len() || j < edges.len() {
                if i >= old.len() {
                    merged.extend_from_slice(&edges[j..]);
                    break;
                } else if j >= edges.len() {
                    merged.extend_from_slice(&old[i..]);
                    break;
                } else if old[i].x < edges[j].x {
                    merged.push(old[i]);
                    i += 1;
                } else {
                    merged.push(edges[j]);
                    j += 1;
                }
            }
            self.sorted = merged;
        }

        let (mut csum, mut rate, mut prev_x) = (0.0, 0.0, 0.0);
        for e in &self.sorted {
            let mut new_csum = csum + (e.x - prev_x) * rate;
            if new_csum >= y {
                if rate == 0.0 {
                    return (e.x, true);
                }
                return ((y - csum) / rate + prev_x, true);
            }
            new_csum += e.dirac;
            if new_csum >= y {
                return (e.x, true);
            }
            csum = new_csum;
            prev_x = e.x;
            rate += e.delta;
        }
        (prev_x, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(i64, f64)]) -> Vec<Vec<MutatorUtil>> {
        vec![
            points
                .iter()
                .map(|&(time_ns, util)| MutatorUtil { time_ns, util })
                .collect(),
        ]
    }

    /// Go's `aeq`: equal to 8 digits.
    fn aeq(mut x: f64, mut y: f64) -> bool {
        if x < 0.0 && y < 0.0 {
            x = -x;
            y = -y;
        }
        let factor = 1.0 - 10f64.powi(-8 + 1);
        x * factor <= y && y * factor <= x
    }

    /// Go's TestMMU: a hand-made square wave with hand-worked MMUs and worst windows.
    #[test]
    fn go_test_mmu() {
        const S: i64 = 1_000_000_000;
        let util = series(&[
            (0, 1.0),
            (S, 0.0),
            (2 * S, 1.0),
            (3 * S, 0.0),
            (4 * S, 1.0),
            (5 * S, 0.0),
        ]);
        let c = MmuCurve::new(util);
        let cases: &[(i64, f64, &[f64])] = &[
            (0, 0.0, &[]),
            (1_000_000, 0.0, &[0.0, 0.0]),
            (S, 0.0, &[0.0, 0.0]),
            (2 * S, 0.5, &[0.5, 0.5]),
            (3 * S, 1.0 / 3.0, &[1.0 / 3.0]),
            (4 * S, 0.5, &[0.5]),
            (5 * S, 3.0 / 5.0, &[3.0 / 5.0]),
            (6 * S, 3.0 / 5.0, &[3.0 / 5.0]),
        ];
        for &(window, want, worst) in cases {
            let got = c.mmu(window);
            assert!(aeq(want, got), "window {window}: want {want}, got {got}");
            let ex = c.examples(window, 2);
            let utils: Vec<f64> = ex.iter().map(|w| w.mutator_util).collect();
            assert_eq!(utils, worst, "window {window}: worst windows {ex:?}");
            // Worst windows never overlap.
            for (i, a) in ex.iter().enumerate() {
                for b in &ex[i + 1..] {
                    assert!((a.time_ns - b.time_ns).abs() >= window, "{ex:?}");
                }
            }
        }
    }

    /// Go's mmuSlow: every left- and right-aligned window, integrated directly.
    fn mmu_slow(util: &[MutatorUtil], mut window: i64) -> f64 {
        let max = util[util.len() - 1].time_ns - util[0].time_ns;
        if window > max {
            window = max;
        }
        let mut mmu: f64 = 1.0;
        let mu_in_window = |util: &[MutatorUtil], end: i64| {
            let mut total = 0.0;
            let mut prev = MutatorUtil {
                time_ns: 0,
                util: 0.0,
            };
            for u in util {
                if u.time_ns > end {
                    total += prev.util * (end - prev.time_ns) as f64;
                    break;
                }
                total += prev.util * (u.time_ns - prev.time_ns) as f64;
                prev = *u;
            }
            total / (end - util[0].time_ns) as f64
        };
        let mut update = |util: &[MutatorUtil]| {
            for (i, u) in util.iter().enumerate() {
                if u.time_ns + window > util[util.len() - 1].time_ns {
                    break;
                }
                mmu = go_min(mmu, mu_in_window(&util[i..], u.time_ns + window));
            }
        };
        update(util);
        assert_eq!(util[util.len() - 1].util, 0.0, "irreversible series");
        let rutil: Vec<MutatorUtil> = (0..util.len())
            .rev()
            .map(|i| MutatorUtil {
                time_ns: -util[i].time_ns,
                util: if i == 0 { 0.0 } else { util[i - 1].util },
            })
            .collect();
        update(&rutil);
        mmu
    }

    /// A deterministic xorshift generator for the randomized checks.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn float(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Go's TestMMUTrace check on random series: the band algorithm equals the direct
    /// one, at Go's default band count and at one band.
    #[test]
    fn band_algorithm_matches_slow_mmu() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..40 {
            let n = 2 + (rng.next() % 300) as usize;
            let mut t = (rng.next() % 1000) as i64;
            let mut pts = Vec::new();
            for i in 0..n {
                t += 1 + (rng.next() % 5000) as i64;
                let u = if i == n - 1 {
                    0.0
                } else {
                    [0.0, 0.25, 0.5, 1.0, rng.float()][(rng.next() % 5) as usize]
                };
                pts.push((t, u));
            }
            let util = series(&pts);
            for bands in [BANDS_PER_SERIES, 1, 7] {
                let c = MmuCurve::with_bands(util.clone(), bands);
                let mut w = 1;
                while w < 10_000_000 {
                    let want = mmu_slow(&util[0], w);
                    let got = c.mmu(w);
                    assert!(
                        aeq(want, got),
                        "round {round} bands {bands} window {w}: want {want}, got {got}"
                    );
                    let ex = c.examples(w, 3);
                    assert!(!ex.is_empty());
                    assert!(aeq(ex[0].mutator_util, got), "{ex:?} vs {got}");
                    w *= 7;
                }
            }
        }
    }

    #[test]
    fn mud_mass_and_inverse() {
        let mut rng = Rng(42);
        let mut mass = 0.0;
        let mut mud = Mud::new();
        for _ in 0..100 {
            let (area, l) = (rng.float(), rng.float());
            let r = if rng.next().is_multiple_of(10) {
                l
            } else {
                rng.float()
            };
            mud.add(l, r, area);
            mass += area;
            let hmass: f64 = mud.hist.iter().sum();
            assert!(aeq(mass, hmass), "mass {mass} vs {hmass}");
            let mut j = 0.0;
            while j < mass {
                mud.set_track_mass(j);
                let (lo, hi) = mud.approx_inv_cumulative_sum().expect("mass present");
                let (inv, ok) = mud.inv_cumulative_sum(j);
                assert!(ok);
                assert!(
                    lo <= inv && inv < hi,
                    "inverse({j}) = {inv} not in [{lo}, {hi})"
                );
                j += mass * 0.099;
            }
        }
    }

    #[test]
    fn add_util_keeps_lowest_at_one_instant() {
        let mut v = Vec::new();
        add_util(
            &mut v,
            MutatorUtil {
                time_ns: 1,
                util: 1.0,
            },
        );
        add_util(
            &mut v,
            MutatorUtil {
                time_ns: 1,
                util: 0.5,
            },
        );
        add_util(
            &mut v,
            MutatorUtil {
                time_ns: 1,
                util: 0.75,
            },
        );
        add_util(
            &mut v,
            MutatorUtil {
                time_ns: 2,
                util: 0.5,
            },
        );
        add_util(
            &mut v,
            MutatorUtil {
                time_ns: 3,
                util: 0.0,
            },
        );
        assert_eq!(
            v,
            vec![
                MutatorUtil {
                    time_ns: 1,
                    util: 0.5
                },
                MutatorUtil {
                    time_ns: 3,
                    util: 0.0
                }
            ]
        );
    }

    #[test]
    fn flags_parse_and_print() {
        let f = UtilFlags::parse("stw, sweep,perproc").unwrap();
        assert_eq!(f, UtilFlags::STW | UtilFlags::SWEEP | UtilFlags::PER_PROC);
        assert_eq!(f.names(), "stw,sweep,perproc");
        assert!(UtilFlags::parse("stw,bogus").is_err());
    }

    #[test]
    fn degenerate_series_do_not_panic() {
        let c = MmuCurve::new(series(&[(5, 0.0)]));
        assert_eq!(c.mmu(10), 1.0);
        assert!(c.examples(10, 3).is_empty());
        let c = MmuCurve::new(vec![]);
        assert_eq!(c.mmu(10), 1.0);
        assert_eq!(c.mud(10, &[0.5]), vec![1.0]);
    }
}
