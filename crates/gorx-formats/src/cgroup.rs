//! Parsers for cgroup v1 and v2 interface files, and the model of a process's cgroup chain
//! (leaf first, up to the root) from which effective limits are derived.
//!
//! v2: `memory.max`, `memory.current`, `memory.events`, `memory.stat`, `cpu.max`, `cpu.stat`.
//! v1: `memory.limit_in_bytes`, `memory.usage_in_bytes`, `memory.oom_control`,
//! `memory.stat`, `cpu.cfs_quota_us`, `cpu.cfs_period_us`, `cpu.stat`.

use crate::error::{FormatError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// v1 prints "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages);
/// anything at or above 2^62 bytes is treated as unlimited.
const V1_UNLIMITED_BYTES: u64 = 1 << 62;

/// `memory.max` / `memory.high` (v2) or `memory.limit_in_bytes` (v1): `None` = no limit.
pub fn parse_memory_limit(input: &str, text: &str) -> Result<Option<u64>> {
    let t = text.trim();
    if t == "max" {
        return Ok(None);
    }
    let n: u64 = t.parse().map_err(|_| {
        FormatError::at_line(
            input,
            1,
            format!("expected a byte count or 'max', got {t:?}"),
        )
    })?;
    Ok((n < V1_UNLIMITED_BYTES).then_some(n))
}

/// A single unsigned number (`memory.current`, `memory.usage_in_bytes`, `cpu.cfs_period_us`).
pub fn parse_u64(input: &str, text: &str) -> Result<u64> {
    let t = text.trim();
    t.parse()
        .map_err(|_| FormatError::at_line(input, 1, format!("expected a number, got {t:?}")))
}

/// `cpu.cfs_quota_us` (v1): `-1` = no limit.
pub fn parse_cfs_quota(input: &str, text: &str) -> Result<Option<u64>> {
    let t = text.trim();
    let n: i64 = t.parse().map_err(|_| {
        FormatError::at_line(input, 1, format!("expected a number or -1, got {t:?}"))
    })?;
    Ok(u64::try_from(n).ok())
}

/// `cpu.max` (v2): `"$QUOTA $PERIOD"`, quota `max` = no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CpuMax {
    pub quota_us: Option<u64>,
    pub period_us: u64,
}

pub fn parse_cpu_max(input: &str, text: &str) -> Result<CpuMax> {
    let mut f = text.split_whitespace();
    let (Some(q), p) = (f.next(), f.next()) else {
        return Err(FormatError::at_line(input, 1, "empty cpu.max"));
    };
    let quota_us = if q == "max" {
        None
    } else {
        Some(q.parse().map_err(|_| {
            FormatError::at_line(input, 1, format!("quota {q:?} is not a number or 'max'"))
        })?)
    };
    // The period is optional on write but always printed; default as the kernel does.
    let period_us = match p {
        Some(p) => p
            .parse()
            .map_err(|_| FormatError::at_line(input, 1, format!("period {p:?} is not a number")))?,
        None => 100_000,
    };
    if period_us == 0 {
        return Err(FormatError::at_line(input, 1, "period is 0"));
    }
    Ok(CpuMax {
        quota_us,
        period_us,
    })
}

/// Flat keyed files: `key value` per line (`memory.events`, `memory.stat`, `cpu.stat`,
/// `memory.oom_control`).
pub fn parse_flat_keyed(input: &str, text: &str) -> Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let mut f = line.split_whitespace();
        let Some(k) = f.next() else { continue };
        let v = f
            .next()
            .ok_or_else(|| FormatError::at_line(input, i as u64 + 1, format!("{k}: no value")))?;
        let n = v.parse().map_err(|_| {
            FormatError::at_line(input, i as u64 + 1, format!("{k}: {v:?} is not a number"))
        })?;
        out.insert(k.to_string(), n);
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    V1,
    V2,
}

/// One level of the memory controller's hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryLevel {
    /// Cgroup path relative to the hierarchy root, e.g. `/kubepods/pod1/ctr`.
    pub path: String,
    pub max_bytes: Option<u64>,
    pub high_bytes: Option<u64>,
    pub current_bytes: Option<u64>,
    /// Inactive file cache (`inactive_file` in v2, `total_inactive_file` in v1): reclaimable
    /// first, so usage minus this is the working set the OOM killer actually weighs.
    pub inactive_file_bytes: Option<u64>,
    /// OOM kills in this cgroup (v2 `memory.events` oom_kill, v1 `memory.oom_control`).
    pub oom_kill: Option<u64>,
    /// Times usage hit the limit (v2 `max` event, v1 `memory.failcnt`).
    pub max_events: Option<u64>,
}

impl MemoryLevel {
    pub fn working_set_bytes(&self) -> Option<u64> {
        let cur = self.current_bytes?;
        Some(cur.saturating_sub(self.inactive_file_bytes.unwrap_or(0)))
    }
}

/// One level of the cpu controller's hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuLevel {
    pub path: String,
    pub quota_us: Option<u64>,
    pub period_us: Option<u64>,
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    /// v2 `throttled_usec` ×1000, v1 `throttled_time` (already ns).
    pub throttled_ns: Option<u64>,
}

impl CpuLevel {
    /// quota / period in CPUs, when limited.
    pub fn limit_cpus(&self) -> Option<f64> {
        let q = self.quota_us?;
        let p = self.period_us.filter(|&p| p > 0)?;
        Some(q as f64 / p as f64)
    }

    /// Fill the throttling counters from a `cpu.stat` map (v1 or v2 keys).
    pub fn set_stat(&mut self, stat: &BTreeMap<String, u64>) {
        self.nr_periods = stat.get("nr_periods").copied();
        self.nr_throttled = stat.get("nr_throttled").copied();
        self.throttled_ns = stat
            .get("throttled_usec")
            .map(|u| u.saturating_mul(1000))
            .or_else(|| stat.get("throttled_time").copied());
    }
}

/// A process's cgroup chain for the memory and cpu controllers, each leaf first.
/// On cgroup v1 the two controllers may sit at different paths.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupChain {
    pub memory_version: Option<CgroupVersion>,
    pub cpu_version: Option<CgroupVersion>,
    pub memory: Vec<MemoryLevel>,
    pub cpu: Vec<CpuLevel>,
}

impl CgroupChain {
    /// The tightest memory limit along the chain and the level that sets it.
    pub fn effective_memory_limit(&self) -> Option<&MemoryLevel> {
        self.memory
            .iter()
            .filter(|l| l.max_bytes.is_some())
            .min_by_key(|l| l.max_bytes)
    }

    /// The tightest CPU limit (in CPUs) along the chain and the level that sets it.
    pub fn effective_cpu_limit(&self) -> Option<(f64, &CpuLevel)> {
        self.cpu
            .iter()
            .filter_map(|l| l.limit_cpus().map(|c| (c, l)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// The leaf's own CPU limit: the only one Go ≥ 1.25 reads for its GOMAXPROCS default.
    pub fn leaf_cpu_limit(&self) -> Option<f64> {
        self.cpu.first()?.limit_cpus()
    }

    /// OOM kills recorded anywhere along the chain (max over levels: parents count their
    /// descendants' kills in v2, so summing would double count).
    pub fn oom_kills(&self) -> u64 {
        self.memory
            .iter()
            .filter_map(|l| l.oom_kill)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_v1_and_v2() {
        assert_eq!(parse_memory_limit("memory.max", "max\n").unwrap(), None);
        assert_eq!(
            parse_memory_limit("memory.max", "268435456\n").unwrap(),
            Some(268435456)
        );
        // Real v1 "unlimited" value from this machine.
        assert_eq!(
            parse_memory_limit("memory.limit_in_bytes", "9223372036854771712\n").unwrap(),
            None
        );
        let e = parse_memory_limit("memory.max", "lots\n").unwrap_err();
        assert!(e.to_string().starts_with("memory.max:1:"), "{e}");
    }

    #[test]
    fn cpu_max_forms() {
        assert_eq!(
            parse_cpu_max("cpu.max", "max 100000\n").unwrap(),
            CpuMax {
                quota_us: None,
                period_us: 100000
            }
        );
        assert_eq!(
            parse_cpu_max("cpu.max", "50000 100000\n").unwrap(),
            CpuMax {
                quota_us: Some(50000),
                period_us: 100000
            }
        );
        assert!(parse_cpu_max("cpu.max", "").is_err());
        assert!(parse_cpu_max("cpu.max", "50000 0").is_err());
        assert!(parse_cpu_max("cpu.max", "x 100000").is_err());
        assert_eq!(parse_cfs_quota("cpu.cfs_quota_us", "-1\n").unwrap(), None);
        assert_eq!(
            parse_cfs_quota("cpu.cfs_quota_us", "150000\n").unwrap(),
            Some(150000)
        );
    }

    #[test]
    fn keyed_files_real_contents() {
        // v1 cpu.stat from this machine; v2 cpu.stat and memory.events from a 6.x kernel.
        let v1 = parse_flat_keyed(
            "cpu.stat",
            "nr_periods 0\nnr_throttled 0\nthrottled_time 0\nnr_bursts 0\nburst_time 0\n",
        )
        .unwrap();
        let mut l = CpuLevel::default();
        l.set_stat(&v1);
        assert_eq!(l.throttled_ns, Some(0));
        let v2 = parse_flat_keyed("cpu.stat", "usage_usec 2471049\nuser_usec 2331260\nsystem_usec 139789\nnr_periods 31\nnr_throttled 28\nthrottled_usec 2712345\nnr_bursts 0\nburst_usec 0\n").unwrap();
        l.set_stat(&v2);
        assert_eq!(
            (l.nr_periods, l.nr_throttled, l.throttled_ns),
            (Some(31), Some(28), Some(2_712_345_000))
        );
        let ev = parse_flat_keyed(
            "memory.events",
            "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
        )
        .unwrap();
        assert_eq!(ev["oom_kill"], 1);
        let oc = parse_flat_keyed(
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .unwrap();
        assert_eq!(oc["oom_kill"], 3);
        let e = parse_flat_keyed("cpu.stat", "nr_periods 1\nnr_throttled x\n").unwrap_err();
        assert!(e.to_string().starts_with("cpu.stat:2:"), "{e}");
    }

    #[test]
    fn tightest_ancestor_wins() {
        let chain = CgroupChain {
            memory: vec![
                MemoryLevel {
                    path: "/a/b".into(),
                    max_bytes: Some(512 << 20),
                    ..Default::default()
                },
                MemoryLevel {
                    path: "/a".into(),
                    max_bytes: Some(256 << 20),
                    oom_kill: Some(2),
                    ..Default::default()
                },
                MemoryLevel {
                    path: "/".into(),
                    oom_kill: Some(5),
                    ..Default::default()
                },
            ],
            cpu: vec![
                CpuLevel {
                    path: "/a/b".into(),
                    quota_us: None,
                    period_us: Some(100000),
                    ..Default::default()
                },
                CpuLevel {
                    path: "/a".into(),
                    quota_us: Some(50000),
                    period_us: Some(100000),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(chain.effective_memory_limit().unwrap().path, "/a");
        let (cpus, lvl) = chain.effective_cpu_limit().unwrap();
        assert_eq!((cpus, lvl.path.as_str()), (0.5, "/a"));
        assert_eq!(chain.leaf_cpu_limit(), None);
        assert_eq!(chain.oom_kills(), 5);
        let ws = MemoryLevel {
            current_bytes: Some(100),
            inactive_file_bytes: Some(30),
            ..Default::default()
        };
        assert_eq!(ws.working_set_bytes(), Some(70));
    }
}
