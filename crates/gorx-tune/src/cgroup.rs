//! A throwaway cgroup per lab cell, like the container the service runs in: a memory
//! limit and a CPU quota, and afterwards what the kernel counted (OOM kills, peak memory,
//! throttled periods). cgroup v2 where the machine has it, else v1's memory and cpu
//! hierarchies.

use crate::LabError;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// Limits for one cell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub memory_max_bytes: Option<u64>,
    /// CPUs of quota (0.5 = half a CPU per period).
    pub cpu_quota: Option<f64>,
}

/// What the kernel counted for the cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub oom_kills: u64,
    pub peak_memory_bytes: Option<u64>,
    pub cpu_periods: u64,
    pub throttled_periods: u64,
}

/// A created cgroup; removed on drop (after its processes are gone).
pub struct LabCgroup {
    /// v2: one directory; v1: the memory and the cpu directory.
    dirs: Vec<PathBuf>,
    v2: bool,
    /// `cgroup.procs` of every directory, opened before the child forks, so the child can
    /// move itself in with one write(2) between fork and exec.
    procs: Vec<File>,
}

fn write(path: &Path, value: &str) -> Result<(), LabError> {
    std::fs::write(path, value).map_err(|e| LabError::Cgroup(format!("{}: {e}", path.display())))
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A value of a flat-keyed file (cpu.stat, memory.events, v1 memory.oom_control).
fn keyed(text: &str, key: &str) -> Option<u64> {
    gorx_formats::cgroup::parse_flat_keyed(key, text)
        .ok()?
        .get(key)
        .copied()
}

impl LabCgroup {
    /// Creates `name` under the root of each hierarchy with the limits set.
    pub fn create(name: &str, limits: Limits) -> Result<LabCgroup, LabError> {
        let v2 = Path::new(ROOT).join("cgroup.controllers").exists();
        let mut cg = LabCgroup {
            dirs: Vec::new(),
            v2,
            procs: Vec::new(),
        };
        if v2 {
            // Controllers must be enabled for the root's children.
            let _ = std::fs::write(
                Path::new(ROOT).join("cgroup.subtree_control"),
                "+memory +cpu",
            );
            let dir = Path::new(ROOT).join(name);
            mkdir(&dir)?;
            cg.dirs.push(dir.clone());
            if let Some(m) = limits.memory_max_bytes {
                write(&dir.join("memory.max"), &m.to_string())?;
                // No swap: a cell over its limit is killed, as in a container, not slowed.
                let _ = std::fs::write(dir.join("memory.swap.max"), "0");
            }
            if let Some(q) = limits.cpu_quota {
                write(&dir.join("cpu.max"), &format!("{} 100000", quota_us(q)))?;
            }
        } else {
            let mem = Path::new(ROOT).join("memory").join(name);
            let cpu = Path::new(ROOT).join("cpu").join(name);
            for d in [&mem, &cpu] {
                mkdir(d)?;
                cg.dirs.push(d.clone());
            }
            if let Some(m) = limits.memory_max_bytes {
                write(&mem.join("memory.limit_in_bytes"), &m.to_string())?;
                let _ = std::fs::write(mem.join("memory.memsw.limit_in_bytes"), m.to_string());
            }
            if let Some(q) = limits.cpu_quota {
                write(&cpu.join("cpu.cfs_period_us"), "100000")?;
                write(&cpu.join("cpu.cfs_quota_us"), &quota_us(q).to_string())?;
            }
        }
        for d in &cg.dirs {
            let p = d.join("cgroup.procs");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .map_err(|e| LabError::Cgroup(format!("{}: {e}", p.display())))?;
            cg.procs.push(f);
        }
        Ok(cg)
    }

    /// Makes `cmd`'s child join the cgroup before it execs, so not one allocation of the
    /// service happens outside it.
    pub fn enter_on_spawn(&self, cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let fds: Vec<i32> = self.procs.iter().map(|f| f.as_raw_fd()).collect();
        // SAFETY: between fork and exec only write(2) runs, which is async-signal-safe;
        // "0" moves the writing process itself (both cgroup versions).
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &fds {
                    if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }

    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        if self.v2 {
            let d = &self.dirs[0];
            if let Some(t) = read(&d.join("memory.events")) {
                c.oom_kills = keyed(&t, "oom_kill").unwrap_or(0);
            }
            c.peak_memory_bytes = read(&d.join("memory.peak")).and_then(|t| t.trim().parse().ok());
            if let Some(t) = read(&d.join("cpu.stat")) {
                c.cpu_periods = keyed(&t, "nr_periods").unwrap_or(0);
                c.throttled_periods = keyed(&t, "nr_throttled").unwrap_or(0);
            }
        } else {
            let (mem, cpu) = (&self.dirs[0], &self.dirs[1]);
            if let Some(t) = read(&mem.join("memory.oom_control")) {
                c.oom_kills = keyed(&t, "oom_kill").unwrap_or(0);
            }
            c.peak_memory_bytes =
                read(&mem.join("memory.max_usage_in_bytes")).and_then(|t| t.trim().parse().ok());
            if let Some(t) = read(&cpu.join("cpu.stat")) {
                c.cpu_periods = keyed(&t, "nr_periods").unwrap_or(0);
                c.throttled_periods = keyed(&t, "nr_throttled").unwrap_or(0);
            }
        }
        c
    }
}

fn quota_us(cpus: f64) -> u64 {
    ((cpus * 100_000.0).round() as u64).max(1000)
}

fn mkdir(d: &Path) -> Result<(), LabError> {
    match std::fs::create_dir(d) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(LabError::Cgroup(format!(
            "{}: {e} (gorx tune needs root, or a delegated cgroup, to limit memory and CPU)",
            d.display()
        ))),
    }
}

impl Drop for LabCgroup {
    fn drop(&mut self) {
        self.procs.clear();
        for d in &self.dirs {
            // The cell's processes have been killed and reaped; a straggler thread may
            // take a moment to leave.
            for _ in 0..50 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::keyed;

    #[test]
    fn keyed_files() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(keyed(v1, "oom_kill"), Some(2));
        let stat = "nr_periods 120\nnr_throttled 30\nthrottled_time 1234\n";
        assert_eq!(keyed(stat, "nr_throttled"), Some(30));
        assert_eq!(keyed(stat, "missing"), None);
    }
}
