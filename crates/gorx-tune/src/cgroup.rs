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
        Self::create_in(Path::new(ROOT), name, limits)
    }

    /// [`LabCgroup::create`] under `root` (the cgroup mount point: `/sys/fs/cgroup`, or
    /// a directory laid out like one, for tests): v2 when `root/cgroup.controllers`
    /// exists, else v1's `root/memory` and `root/cpu`.
    pub fn create_in(root: &Path, name: &str, limits: Limits) -> Result<LabCgroup, LabError> {
        let v2 = root.join("cgroup.controllers").exists();
        let mut cg = LabCgroup {
            dirs: Vec::new(),
            v2,
            procs: Vec::new(),
        };
        if v2 {
            // Controllers must be enabled for the root's children.
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+memory +cpu");
            let dir = root.join(name);
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
            let mem = root.join("memory").join(name);
            let cpu = root.join("cpu").join(name);
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

impl LabCgroup {
    /// The processes in the cgroup (every directory; v1 also its `tasks`, threads
    /// included, so a thread group whose leader exited is not missed).
    fn members(&self) -> Vec<i32> {
        let own = std::process::id() as i32;
        let mut pids: Vec<i32> = Vec::new();
        for d in &self.dirs {
            let files: &[&str] = if self.v2 {
                &["cgroup.procs"]
            } else {
                &["cgroup.procs", "tasks"]
            };
            for f in files {
                for l in read(&d.join(f)).unwrap_or_default().lines() {
                    // Never 0 or below (kill(2) would signal a process group) nor gorx.
                    if let Ok(pid) = l.trim().parse::<i32>()
                        && pid > 0
                        && pid != own
                        && !pids.contains(&pid)
                    {
                        pids.push(pid);
                    }
                }
            }
        }
        pids
    }

    /// Kills every process left in the cgroup (the service's children: a CMD such as
    /// `sh -c 'worker & exec server'` leaves `worker` behind when `server` ends): v2's
    /// `cgroup.kill` when the kernel has it (5.14+, race-free against forks), and SIGKILL
    /// to each member until none is left or `patience` runs out. Returns the members
    /// found at the start.
    pub fn kill_stragglers(&self, patience: std::time::Duration) -> usize {
        let first = self.members();
        if first.is_empty() {
            return 0;
        }
        if self.v2 {
            let k = self.dirs[0].join("cgroup.kill");
            if k.exists() {
                let _ = std::fs::write(&k, "1");
            }
        }
        let until = std::time::Instant::now() + patience;
        loop {
            let left = self.members();
            if left.is_empty() || std::time::Instant::now() >= until {
                break;
            }
            for pid in left {
                // SAFETY: kill(2) on a positive pid has no memory-safety preconditions.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        first.len()
    }
}

impl Drop for LabCgroup {
    fn drop(&mut self) {
        self.procs.clear();
        // A directory with processes in it cannot be removed, and they would outlive the
        // cell (and hold its port, memory and CPU into the next one).
        self.kill_stragglers(std::time::Duration::from_secs(2));
        for d in &self.dirs {
            // The cell's processes have been killed; a dying one may take a moment to
            // leave.
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
    use super::*;
    use std::time::Duration;

    /// A directory laid out like a cgroup mount (the kernel creates a new cgroup's
    /// interface files on mkdir; here the test does).
    fn fake_root(tag: &str, v2: bool) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("gorx-fake-cgroup-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        if v2 {
            std::fs::write(
                root.join("cgroup.controllers"),
                "cpuset cpu io memory pids\n",
            )
            .unwrap();
            std::fs::write(root.join("cgroup.subtree_control"), "").unwrap();
        }
        root
    }

    fn kernel_files(dir: &Path, files: &[&str]) {
        std::fs::create_dir_all(dir).unwrap();
        for f in files {
            std::fs::write(dir.join(f), "").unwrap();
        }
    }

    fn text(p: PathBuf) -> String {
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn v2_limits_membership_and_counters_in_a_fake_root() {
        let root = fake_root("v2", true);
        let dir = root.join("cell");
        kernel_files(
            &dir,
            &["cgroup.procs", "cgroup.kill", "memory.max", "cpu.max"],
        );
        let limits = Limits {
            memory_max_bytes: Some(256 << 20),
            cpu_quota: Some(1.5),
        };
        let cg = LabCgroup::create_in(&root, "cell", limits).unwrap();
        assert!(cg.v2);
        // Controllers enabled for the root's children, the limits in the cell.
        assert_eq!(text(root.join("cgroup.subtree_control")), "+memory +cpu");
        assert_eq!(text(dir.join("memory.max")), (256u64 << 20).to_string());
        assert_eq!(text(dir.join("memory.swap.max")), "0");
        assert_eq!(text(dir.join("cpu.max")), "150000 100000");
        // The child moves itself in ("0" = the writer) before exec.
        let mut cmd = std::process::Command::new("true");
        cg.enter_on_spawn(&mut cmd);
        assert!(cmd.status().unwrap().success());
        assert_eq!(text(dir.join("cgroup.procs")), "0");
        // What the kernel counted.
        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n",
        )
        .unwrap();
        std::fs::write(dir.join("memory.peak"), "201326592\n").unwrap();
        std::fs::write(
            dir.join("cpu.stat"),
            "usage_usec 9000\nuser_usec 8000\nsystem_usec 1000\nnr_periods 40\nnr_throttled 9\nthrottled_usec 120000\n",
        )
        .unwrap();
        assert_eq!(
            cg.counters(),
            Counters {
                oom_kills: 1,
                peak_memory_bytes: Some(201326592),
                cpu_periods: 40,
                throttled_periods: 9,
            }
        );
        // A straggler listed in cgroup.procs: cgroup.kill is written, and it is SIGKILLed.
        let mut straggler = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        std::fs::write(dir.join("cgroup.procs"), format!("{}\n", straggler.id())).unwrap();
        assert_eq!(cg.kill_stragglers(Duration::from_millis(300)), 1);
        assert_eq!(text(dir.join("cgroup.kill")), "1");
        let st = straggler.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(st.signal(), Some(libc::SIGKILL), "{st:?}");
        // gorx itself and non-pids are never signalled.
        std::fs::write(
            dir.join("cgroup.procs"),
            format!("0\n-1\n{}\nx\n", std::process::id()),
        )
        .unwrap();
        assert_eq!(cg.members(), Vec::<i32>::new());
        drop(cg);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn v1_limits_and_counters_in_a_fake_root() {
        let root = fake_root("v1", false);
        let (mem, cpu) = (root.join("memory/cell"), root.join("cpu/cell"));
        kernel_files(&mem, &["cgroup.procs", "tasks"]);
        kernel_files(&cpu, &["cgroup.procs", "tasks"]);
        let limits = Limits {
            memory_max_bytes: Some(64 << 20),
            cpu_quota: Some(0.5),
        };
        let cg = LabCgroup::create_in(&root, "cell", limits).unwrap();
        assert!(!cg.v2);
        assert_eq!(
            text(mem.join("memory.limit_in_bytes")),
            (64u64 << 20).to_string()
        );
        assert_eq!(text(cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(text(cpu.join("cpu.cfs_quota_us")), "50000");
        std::fs::write(
            mem.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .unwrap();
        std::fs::write(mem.join("memory.max_usage_in_bytes"), "5000000\n").unwrap();
        std::fs::write(
            cpu.join("cpu.stat"),
            "nr_periods 10\nnr_throttled 4\nthrottled_time 5\n",
        )
        .unwrap();
        let c = cg.counters();
        assert_eq!(
            (c.oom_kills, c.peak_memory_bytes, c.throttled_periods),
            (3, Some(5_000_000), 4)
        );
        // v1 has no cgroup.kill: each member of either hierarchy is SIGKILLed.
        let mut straggler = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        std::fs::write(cpu.join("tasks"), format!("{}\n", straggler.id())).unwrap();
        assert_eq!(cg.kill_stragglers(Duration::from_millis(300)), 1);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(straggler.wait().unwrap().signal(), Some(libc::SIGKILL));
        std::fs::write(cpu.join("tasks"), "").unwrap();
        drop(cg);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn keyed_files() {
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(keyed(v1, "oom_kill"), Some(2));
        let stat = "nr_periods 120\nnr_throttled 30\nthrottled_time 1234\n";
        assert_eq!(keyed(stat, "nr_throttled"), Some(30));
        assert_eq!(keyed(stat, "missing"), None);
    }
}
