//! The runtime's own view over HTTP: `net/http/pprof` and `expvar` handlers.
//!
//! Discovery only ever probes loopback: the pid's listening TCP sockets (matched by inode
//! against its fds) that are bound to a loopback or wildcard address are tried on
//! 127.0.0.1 / [::1]. Timeouts are short; bodies are capped.

use crate::LiveError;
use gorx_analysis::diagnosis::InputSummary;
use gorx_analysis::process::{ProcessSnapshot, RuntimeMemory};
use gorx_formats::procfs::{self, FdBreakdown, TCP_LISTEN};
use std::net::IpAddr;
use std::time::Duration;

/// Largest body read from an endpoint (goroutine dumps of big servers are tens of MiB).
pub const MAX_BODY_BYTES: u64 = 256 << 20;

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // Loopback only: never route through a proxy from the environment.
        .proxy(None)
        .build()
        .into()
}

/// GET `url` as text (invalid UTF-8 replaced); non-2xx is an error naming the status.
pub fn get(url: &str, timeout: Duration) -> Result<String, LiveError> {
    get_bytes(url, timeout).map(|b| match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// GET `url` as bytes (profiles, traces); non-2xx is an error naming the status.
pub fn get_bytes(url: &str, timeout: Duration) -> Result<Vec<u8>, LiveError> {
    let err = |m: String| LiveError::Http {
        url: url.to_string(),
        message: m,
    };
    let why = |e: ureq::Error| match e {
        ureq::Error::Timeout(_) => format!("no answer within {:.1} s", timeout.as_secs_f64()),
        e => e.to_string(),
    };
    let mut resp = agent(timeout).get(url).call().map_err(|e| err(why(e)))?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
        .map_err(|e| err(why(e)))?;
    if !status.is_success() {
        let msg = String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string();
        return Err(err(format!("HTTP {status}: {msg}")));
    }
    Ok(body)
}

/// Loopback base URLs the pid listens on, from `/proc/PID/net/tcp{,6}` matched against
/// its socket fds.
pub fn listening_loopback_urls(pid: u32, fds: &FdBreakdown) -> Vec<String> {
    let mut out = Vec::new();
    for (file, v6) in [("tcp", false), ("tcp6", true)] {
        let path = format!("/proc/{pid}/net/{file}");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(socks) = procfs::parse_net_tcp(&path, &text) else {
            continue;
        };
        for s in socks {
            if s.state != TCP_LISTEN || !fds.socket_inodes.contains(&s.inode) {
                continue;
            }
            let host = match s.local {
                IpAddr::V4(a) if a.is_loopback() || a.is_unspecified() => "127.0.0.1".to_string(),
                IpAddr::V6(a) if a.is_loopback() || (a.is_unspecified() && v6) => {
                    "[::1]".to_string()
                }
                IpAddr::V6(a) if a.to_ipv4_mapped().is_some_and(|m| m.is_loopback()) => {
                    "127.0.0.1".to_string()
                }
                _ => continue, // Bound to a non-loopback address: not ours to probe.
            };
            let url = format!("http://{host}:{}", s.local_port);
            if !out.contains(&url) {
                out.push(url);
            }
        }
    }
    out
}

/// The base URL (`http://host:port[/prefix]`) of what a user passes as `--pprof`: the
/// index URL (`http://h:p/debug/pprof/`), the base URL (`http://h:p`), `host:port`, or any
/// endpoint URL under them (`…/debug/pprof/heap?debug=1`, `…/metrics`, `…/debug/vars`).
pub fn normalize_base(given: &str) -> Result<String, String> {
    let s = given.trim();
    if s.is_empty() {
        return Err("empty URL".into());
    }
    let with_scheme = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let (scheme, rest) = with_scheme
        .split_once("://")
        .ok_or_else(|| format!("{given:?}: not a URL"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "{given:?}: only http:// and https:// are supported"
        ));
    }
    // Drop the query and fragment, then any known endpoint path and what follows it.
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() {
        return Err(format!("{given:?}: no host"));
    }
    let mut path = path.to_string();
    for marker in ["/debug/pprof", "/debug/vars", "/metrics"] {
        if let Some(i) = path.find(marker) {
            path.truncate(i);
            break;
        }
    }
    Ok(format!("{scheme}://{host}{}", path.trim_end_matches('/')))
}

/// The runtime endpoints a process serves, each a full URL. Any may be on a different
/// listener (a debug port for pprof, the service port for /metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Endpoints {
    /// Base URL of net/http/pprof (`{pprof}/debug/pprof/...`).
    pub pprof: Option<String>,
    /// `/debug/vars` (expvar).
    pub vars: Option<String>,
    /// A Prometheus `/metrics` page with the Go collector.
    pub metrics: Option<String>,
}

impl Endpoints {
    pub fn is_empty(&self) -> bool {
        self.pprof.is_none() && self.vars.is_none() && self.metrics.is_none()
    }

    /// `pprof http://…, expvar http://…/debug/vars, metrics http://…/metrics`.
    pub fn describe(&self) -> String {
        let mut v = Vec::new();
        if let Some(p) = &self.pprof {
            v.push(format!("pprof {p}/debug/pprof/"));
        }
        if let Some(p) = &self.vars {
            v.push(format!("expvar {p}"));
        }
        if let Some(p) = &self.metrics {
            v.push(format!("metrics {p}"));
        }
        v.join(", ")
    }
}

/// Whether a body is what the endpoint at `path` serves (a 200 from a catch-all handler
/// or an SPA is not a pprof index).
fn looks_like(path: &str, body: &str) -> bool {
    match path {
        "/debug/pprof/" => body.contains("/debug/pprof") || body.contains("profiles"),
        "/debug/vars" => body.trim_start().starts_with('{') && body.contains("\"memstats\""),
        _ => body.contains("go_memstats_") || body.contains("go_goroutines"),
    }
}

const PROBES: [&str; 3] = ["/debug/pprof/", "/debug/vars", "/metrics"];

fn probe_into(base: &str, timeout: Duration, e: &mut Endpoints, errors: &mut Vec<String>) {
    for path in PROBES {
        let have = match path {
            "/debug/pprof/" => e.pprof.is_some(),
            "/debug/vars" => e.vars.is_some(),
            _ => e.metrics.is_some(),
        };
        if have {
            continue;
        }
        let url = format!("{base}{path}");
        match get(&url, timeout) {
            Ok(b) if looks_like(path, &b) => match path {
                "/debug/pprof/" => e.pprof = Some(base.to_string()),
                "/debug/vars" => e.vars = Some(url),
                _ => e.metrics = Some(url),
            },
            Ok(_) => errors.push(format!("{url}: HTTP 200 but not a Go {path} page")),
            Err(err) => {
                // Not HTTP at all (a raw TCP or TLS-only port, a timeout): the other
                // paths would fail the same way, each after its timeout.
                let http_status =
                    matches!(&err, LiveError::Http { message, .. } if message.starts_with("HTTP "));
                errors.push(err.to_string());
                if !http_status {
                    return;
                }
            }
        }
    }
}

/// The endpoints under one base URL (what the user passed as `--pprof`). When none
/// answers, the error names every URL tried and its HTTP status.
pub fn probe_base(given: &str) -> Result<Endpoints, LiveError> {
    let base = normalize_base(given).map_err(|m| LiveError::Http {
        url: given.to_string(),
        message: m,
    })?;
    let mut e = Endpoints::default();
    let mut errors = Vec::new();
    probe_into(&base, Duration::from_secs(5), &mut e, &mut errors);
    if e.is_empty() {
        return Err(LiveError::Http {
            url: base,
            message: format!(
                "no Go runtime endpoint answered (tried /debug/pprof/, /debug/vars, /metrics): {}",
                errors.join("; ")
            ),
        });
    }
    Ok(e)
}

/// Probe `/debug/pprof/`, `/debug/vars` and `/metrics` on every loopback listener of the
/// pid; the first listener serving each wins.
pub fn discover(pid: u32, fds: &FdBreakdown) -> Endpoints {
    let mut e = Endpoints::default();
    for base in listening_loopback_urls(pid, fds) {
        probe_into(&base, Duration::from_millis(800), &mut e, &mut Vec::new());
        if e.pprof.is_some() && e.vars.is_some() && e.metrics.is_some() {
            break;
        }
    }
    e
}

/// Where runtime heap/GC data was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RuntimeSource {
    /// `/debug/vars` (expvar's `memstats`).
    Expvar,
    /// The `# runtime.MemStats` trailer of `/debug/pprof/heap?debug=1`.
    HeapTrailer,
    /// client_golang's `go_memstats_*` on `/metrics`.
    Metrics,
}

impl RuntimeSource {
    /// In the order they are tried: expvar is cheapest and complete; the heap trailer
    /// carries PauseNs/PauseEnd and GCCPUFraction; /metrics has the memstats gauges.
    pub const ORDER: [RuntimeSource; 3] = [
        RuntimeSource::Expvar,
        RuntimeSource::HeapTrailer,
        RuntimeSource::Metrics,
    ];

    /// Short name for plain lines and the TUI: `expvar`, `heap?debug=1`, `metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeSource::Expvar => "expvar",
            RuntimeSource::HeapTrailer => "heap?debug=1",
            RuntimeSource::Metrics => "metrics",
        }
    }

    fn url(self, e: &Endpoints) -> Option<String> {
        match self {
            RuntimeSource::Expvar => e.vars.clone(),
            RuntimeSource::HeapTrailer => e
                .pprof
                .as_ref()
                .map(|b| format!("{b}/debug/pprof/heap?debug=1")),
            RuntimeSource::Metrics => e.metrics.clone(),
        }
    }
}

/// Runtime heap/GC data from one endpoint.
#[derive(Debug, Clone)]
pub struct RuntimeReading {
    pub source: RuntimeSource,
    pub url: String,
    pub memory: RuntimeMemory,
    /// The full MemStats (PauseNs/PauseEnd where the source has them).
    pub memstats: gorx_formats::memstats::MemStats,
    /// `GCCPUFraction` (expvar, heap trailer, or `go_memstats_gc_cpu_fraction`).
    pub gc_cpu_fraction: Option<f64>,
    /// GOMAXPROCS as the process reports it (`go_sched_gomaxprocs_threads`, or an expvar
    /// variable named `gomaxprocs`/`GOMAXPROCS`).
    pub gomaxprocs: Option<u32>,
    /// `go_goroutines` (metrics only).
    pub goroutines: Option<u64>,
    /// The raw body, for bundles and offline analysis.
    pub body: Vec<u8>,
}

/// Parse one source's body into a reading.
pub fn parse_runtime(
    source: RuntimeSource,
    url: &str,
    body: Vec<u8>,
) -> Result<RuntimeReading, LiveError> {
    let parts = runtime_parts(source, url, &body)?;
    Ok(parts.into_reading(source, url, body))
}

/// What a runtime source's body says, before it is tied to its body.
struct RuntimeParts {
    memstats: gorx_formats::memstats::MemStats,
    gomaxprocs: Option<u32>,
    goroutines: Option<u64>,
}

impl RuntimeParts {
    fn into_reading(self, source: RuntimeSource, url: &str, body: Vec<u8>) -> RuntimeReading {
        RuntimeReading {
            source,
            url: url.to_string(),
            memory: RuntimeMemory::from(&self.memstats),
            gc_cpu_fraction: self.memstats.gc_cpu_fraction,
            memstats: self.memstats,
            gomaxprocs: self.gomaxprocs,
            goroutines: self.goroutines,
            body,
        }
    }
}

fn runtime_parts(source: RuntimeSource, url: &str, body: &[u8]) -> Result<RuntimeParts, LiveError> {
    match source {
        RuntimeSource::Expvar => {
            // Invalid UTF-8 replaced, as for the heap trailer (borrowed when valid).
            let v = gorx_formats::expvar::parse(url, String::from_utf8_lossy(body).as_bytes())?;
            let gomaxprocs = ["gomaxprocs", "GOMAXPROCS"]
                .iter()
                .find_map(|k| v.other.get(*k)?.as_u64())
                .and_then(|n| u32::try_from(n).ok());
            let memstats = v.memstats.ok_or_else(|| {
                gorx_formats::FormatError::whole(
                    url,
                    "no \"memstats\" object (expvar not imported?)",
                )
            })?;
            Ok(RuntimeParts {
                memstats,
                gomaxprocs,
                goroutines: None,
            })
        }
        RuntimeSource::HeapTrailer => {
            use gorx_formats::pprof::legacy::{TextProfile, parse};
            let text = String::from_utf8_lossy(body);
            match parse(url, text.as_bytes())? {
                TextProfile::Heap(h) if h.memstats.is_some() => Ok(RuntimeParts {
                    memstats: *h.memstats.unwrap_or_default(),
                    gomaxprocs: None,
                    goroutines: None,
                }),
                _ => Err(gorx_formats::FormatError::whole(
                    url,
                    "no '# runtime.MemStats' trailer (not a heap?debug=1 profile?)",
                )
                .into()),
            }
        }
        RuntimeSource::Metrics => {
            let e = gorx_formats::prometheus::parse(url, body)?;
            let v = gorx_analysis::metrics::MetricsView::from_exposition(&e);
            metrics_parts(url, &e, v)
        }
    }
}

/// The MemStats of a parsed `/metrics` page (its view built from `e`).
fn metrics_parts(
    url: &str,
    e: &gorx_formats::prometheus::Exposition,
    v: gorx_analysis::metrics::MetricsView,
) -> Result<RuntimeParts, LiveError> {
    let mut memstats = v.memstats.ok_or_else(|| {
        gorx_formats::FormatError::whole(
            url,
            "no go_memstats_* metrics (not client_golang's Go collector?)",
        )
    })?;
    if memstats.gc_cpu_fraction.is_none() {
        memstats.gc_cpu_fraction = e
            .value("go_memstats_gc_cpu_fraction")
            .filter(|f| f.is_finite() && (0.0..=1.0).contains(f));
    }
    Ok(RuntimeParts {
        memstats,
        gomaxprocs: v.gomaxprocs,
        goroutines: v.goroutines,
    })
}

/// What the runtime endpoints gave `gorx inspect`, for the report's inputs and the
/// snapshot.
pub struct Fetched {
    pub endpoints: Endpoints,
    pub inputs: Vec<InputSummary>,
    /// (url, body) of every endpoint that answered, for the offline analyses.
    pub bodies: Vec<(String, Vec<u8>)>,
    pub goroutines: Option<u64>,
    /// Which endpoint the MemStats in the snapshot came from.
    pub runtime_from: Option<(RuntimeSource, String)>,
    pub notes: Vec<String>,
}

/// Fetch what the endpoints serve, each body once and parsed once. MemStats: the heap
/// profile's trailer (it carries PauseNs/PauseEnd and is taken with the profile), else
/// expvar, else /metrics.
pub fn fetch_runtime(e: &Endpoints, snap: &mut ProcessSnapshot) -> Fetched {
    use RuntimeSource as Src;
    let t = Duration::from_secs(5);
    let mut f = Fetched {
        endpoints: e.clone(),
        inputs: Vec::new(),
        bodies: Vec::new(),
        goroutines: None,
        runtime_from: None,
        notes: Vec::new(),
    };
    let mut urls: Vec<(String, &str)> = Vec::new();
    if let Some(b) = &e.pprof {
        urls.push((format!("{b}/debug/pprof/heap?debug=1"), "pprof-heap-debug1"));
    }
    if let Some(u) = &e.vars {
        urls.push((u.clone(), "expvar"));
    }
    if let Some(b) = &e.pprof {
        urls.push((
            format!("{b}/debug/pprof/goroutine?debug=2"),
            "goroutine-dump",
        ));
    }
    if let Some(u) = &e.metrics {
        urls.push((u.clone(), "prometheus"));
    }
    let mut readings: Vec<(Src, String, RuntimeParts)> = Vec::new();
    for (url, kind) in urls {
        let b = match get_bytes(&url, t) {
            Ok(b) => b,
            Err(e) => {
                f.notes.push(e.to_string());
                continue;
            }
        };
        let parsed = match kind {
            "pprof-heap-debug1" => {
                Some((Src::HeapTrailer, runtime_parts(Src::HeapTrailer, &url, &b)))
            }
            "expvar" => Some((Src::Expvar, runtime_parts(Src::Expvar, &url, &b))),
            "prometheus" => Some((
                Src::Metrics,
                match gorx_formats::prometheus::parse(&url, &b) {
                    Ok(x) => {
                        // The limit the runtime really runs with (debug.SetMemoryLimit
                        // overrides the environment) and the process start.
                        let v = gorx_analysis::metrics::MetricsView::from_exposition(&x);
                        snap.gomemlimit_observed_bytes = v.gomemlimit_bytes;
                        snap.start_time_s = v.start_time_s;
                        metrics_parts(&url, &x, v)
                    }
                    Err(e) => Err(e.into()),
                },
            )),
            _ => None,
        };
        match parsed {
            Some((src, Ok(p))) => readings.push((src, url.clone(), p)),
            Some((_, Err(e))) => f.notes.push(e.to_string()),
            None => {}
        }
        if kind == "goroutine-dump" {
            let text = String::from_utf8_lossy(&b);
            f.goroutines =
                Some(text.lines().filter(|l| l.starts_with("goroutine ")).count() as u64);
        }
        f.inputs.push(InputSummary {
            path: url.clone(),
            kind: kind.into(),
        });
        f.bodies.push((url, b));
    }
    for src in [Src::HeapTrailer, Src::Expvar, Src::Metrics] {
        if let Some((_, url, p)) = readings.iter().find(|r| r.0 == src) {
            snap.runtime = Some(RuntimeMemory::from(&p.memstats));
            f.runtime_from = Some((src, url.clone()));
            break;
        }
    }
    if snap.gomaxprocs_observed.is_none() {
        snap.gomaxprocs_observed = readings.iter().find_map(|r| r.2.gomaxprocs);
    }
    if f.goroutines.is_none() {
        f.goroutines = readings.iter().find_map(|r| r.2.goroutines);
    }
    f
}

/// Runtime data from the first source in `order` that the endpoints serve and that
/// parses. Errors: every source tried, with why it failed.
pub fn read_runtime(
    e: &Endpoints,
    order: &[RuntimeSource],
    timeout: Duration,
) -> Result<RuntimeReading, Vec<String>> {
    let mut errors = Vec::new();
    for &src in order {
        let Some(url) = src.url(e) else { continue };
        match get_bytes(&url, timeout).and_then(|b| parse_runtime(src, &url, b)) {
            Ok(r) => return Ok(r),
            Err(err) => errors.push(err.to_string()),
        }
    }
    if errors.is_empty() {
        errors.push("no runtime endpoint (expvar, pprof or /metrics) is served".into());
    }
    Err(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memstats_from_vars(input: &str, vars: &str) -> Result<RuntimeMemory, LiveError> {
        parse_runtime(RuntimeSource::Expvar, input, vars.as_bytes().to_vec()).map(|r| r.memory)
    }

    fn memstats_from_heap_debug1(input: &str, text: &str) -> Result<RuntimeMemory, LiveError> {
        parse_runtime(RuntimeSource::HeapTrailer, input, text.as_bytes().to_vec()).map(|r| r.memory)
    }

    #[test]
    fn memstats_from_expvar() {
        let vars = r#"{"cmdline":["x"],"memstats":{"Alloc":10,"Sys":7000000,"HeapAlloc":10,"HeapSys":4000000,"HeapIdle":3000000,"HeapInuse":1000000,"HeapReleased":2500000,"StackInuse":300000,"StackSys":300000,"MSpanSys":50000,"MCacheSys":15000,"BuckHashSys":4000,"GCSys":2000000,"OtherSys":600000,"NextGC":4194304,"NumGC":3}}"#;
        let m = memstats_from_vars("vars.json", vars).unwrap();
        assert_eq!(m.sys_bytes, 7_000_000);
        assert_eq!(m.accounted_bytes(), 4_500_000);
        assert_eq!(m.idle_not_released_bytes(), 500_000);
        assert_eq!(m.num_gc, 3);
        assert!(
            memstats_from_vars("v", "{}")
                .unwrap_err()
                .to_string()
                .contains("memstats")
        );
        assert!(
            memstats_from_vars("v", "{")
                .unwrap_err()
                .to_string()
                .starts_with("v:")
        );
    }

    #[test]
    fn memstats_from_heap_trailer() {
        let t = "heap profile: 1: 2 [3: 4] @ heap/1048576\n\n# runtime.MemStats\n# Alloc = 170000\n# Sys = 6900000\n# HeapAlloc = 170000\n# HeapSys = 3700000\n# HeapIdle = 2900000\n# HeapInuse = 800000\n# HeapReleased = 2800000\n# Stack = 360448 / 360448\n# MSpan = 60000 / 65280\n# MCache = 14400 / 15600\n# BuckHashSys = 4000\n# GCSys = 1900000\n# OtherSys = 800000\n# NextGC = 4194304\n# PauseNs = [0 0]\n# NumGC = 0\n";
        let m = memstats_from_heap_debug1("heap", t).unwrap();
        assert_eq!(m.sys_bytes, 6_900_000);
        assert_eq!(m.heap_released_bytes, 2_800_000);
        assert_eq!(m.stack_sys_bytes, 360448);
        assert_eq!(m.mspan_sys_bytes, 65280);
        assert_eq!(m.mcache_sys_bytes, 15600);
        assert!(memstats_from_heap_debug1("heap", "heap profile: 0\n").is_err());
    }

    #[test]
    fn base_url_forms() {
        for (given, want) in [
            (
                "http://127.0.0.1:9100/debug/pprof/",
                "http://127.0.0.1:9100",
            ),
            ("http://127.0.0.1:9100/debug/pprof", "http://127.0.0.1:9100"),
            ("http://127.0.0.1:9100", "http://127.0.0.1:9100"),
            ("http://127.0.0.1:9100/", "http://127.0.0.1:9100"),
            ("127.0.0.1:9100", "http://127.0.0.1:9100"),
            (
                "localhost:6060/debug/pprof/heap?debug=1",
                "http://localhost:6060",
            ),
            ("http://[::1]:2379/metrics", "http://[::1]:2379"),
            ("http://h:1/admin/debug/pprof/", "http://h:1/admin"),
            ("http://h:1/debug/vars", "http://h:1"),
        ] {
            assert_eq!(normalize_base(given).as_deref(), Ok(want), "{given}");
        }
        assert!(normalize_base("").is_err());
        assert!(normalize_base("ftp://h:1").is_err());
        assert!(normalize_base("http:///x").is_err());
    }

    /// A port that does not speak HTTP is tried once, not once per path.
    #[test]
    fn probe_stops_at_a_non_http_port() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port(); // released: connections are refused
        let e = probe_base(&format!("127.0.0.1:{port}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/debug/pprof/"), "{e}");
        assert!(!e.contains("/metrics:"), "{e}");
    }

    #[test]
    fn runtime_from_metrics() {
        let t = "# TYPE go_memstats_sys_bytes gauge\ngo_memstats_sys_bytes 7e+07\ngo_memstats_heap_inuse_bytes 2.5e+07\ngo_memstats_next_gc_bytes 4e+07\ngo_memstats_gc_cpu_fraction 0.012\ngo_gc_duration_seconds_count 7\ngo_goroutines 42\ngo_sched_gomaxprocs_threads 1\n";
        let r = parse_runtime(RuntimeSource::Metrics, "m", t.as_bytes().to_vec()).unwrap();
        assert_eq!(r.memory.heap_inuse_bytes, 25_000_000);
        assert_eq!(r.memory.num_gc, 7);
        assert_eq!(r.gc_cpu_fraction, Some(0.012));
        assert_eq!(r.gomaxprocs, Some(1));
        assert_eq!(r.goroutines, Some(42));
        assert!(parse_runtime(RuntimeSource::Metrics, "m", b"up 1\n".to_vec()).is_err());
    }
}
