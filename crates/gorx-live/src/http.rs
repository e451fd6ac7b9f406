//! The runtime's own view over HTTP: `net/http/pprof` and `expvar` handlers.
//!
//! Discovery only ever probes loopback: the pid's listening TCP sockets (matched by inode
//! against its fds) that are bound to a loopback or wildcard address are tried on
//! 127.0.0.1 / [::1]. Timeouts are short; bodies are capped.

use crate::LiveError;
use gorx_analysis::process::RuntimeMemory;
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
    let mut resp = agent(timeout)
        .get(url)
        .call()
        .map_err(|e| err(e.to_string()))?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
        .map_err(|e| err(e.to_string()))?;
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

/// The first of the pid's loopback listeners that serves `/debug/pprof/`.
pub fn discover_pprof(pid: u32, fds: &FdBreakdown) -> Option<String> {
    listening_loopback_urls(pid, fds).into_iter().find(|base| {
        get(&format!("{base}/debug/pprof/"), Duration::from_millis(800))
            .is_ok_and(|b| b.contains("/debug/pprof") || b.contains("profiles"))
    })
}

/// `runtime.MemStats` from the `memstats` object of `/debug/vars`.
pub fn memstats_from_vars(input: &str, vars: &str) -> Result<RuntimeMemory, LiveError> {
    let v = gorx_formats::expvar::parse(input, vars.as_bytes())?;
    let m = v.memstats.ok_or_else(|| {
        gorx_formats::FormatError::whole(input, "no \"memstats\" object (expvar not imported?)")
    })?;
    Ok(RuntimeMemory::from(&m))
}

/// `runtime.MemStats` from the `# runtime.MemStats` trailer of `heap?debug=1`.
pub fn memstats_from_heap_debug1(input: &str, text: &str) -> Result<RuntimeMemory, LiveError> {
    use gorx_formats::pprof::legacy::{TextProfile, parse};
    if let TextProfile::Heap(h) = parse(input, text.as_bytes())?
        && let Some(m) = h.memstats
    {
        return Ok(RuntimeMemory::from(&*m));
    }
    Err(gorx_formats::FormatError::whole(
        input,
        "no '# runtime.MemStats' trailer (not a heap?debug=1 profile?)",
    )
    .into())
}

/// GOMAXPROCS from a Prometheus `/metrics` page (client_golang's
/// `go_sched_gomaxprocs_threads`), when present.
pub fn gomaxprocs_from_metrics(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("go_sched_gomaxprocs_threads "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn gomaxprocs_metric() {
        let t = "# HELP go_sched_gomaxprocs_threads x\ngo_sched_gomaxprocs_threads 4\n";
        assert_eq!(gomaxprocs_from_metrics(t), Some(4));
        assert_eq!(gomaxprocs_from_metrics("x 1\n"), None);
    }
}
