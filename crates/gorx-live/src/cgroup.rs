//! A process's cgroup chain, read from cgroupfs: `/proc/PID/cgroup` says where the process
//! sits in each hierarchy, `/proc/PID/mountinfo` where each hierarchy is mounted; we then
//! walk from the leaf up to the root of each hierarchy reading the limit and statistic
//! files at every level. v2 (unified) is used for a controller when it is enabled there,
//! otherwise the v1 hierarchy that carries it.

use crate::LiveError;
use gorx_formats::cgroup::{
    self as cg, CgroupChain, CgroupVersion, CpuLevel, MemoryLevel, parse_flat_keyed,
};
use gorx_formats::procfs::{CgroupMembership, Mount, parse_mountinfo, parse_proc_cgroup};
use std::path::{Path, PathBuf};

/// Where a controller's hierarchy for this process lives on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerPlace {
    pub version: CgroupVersion,
    /// Mount point of the hierarchy, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// The mount's root within the hierarchy (non-`/` inside containers with cgroupns).
    pub mount_root: String,
    /// The process's cgroup path within the hierarchy.
    pub path: String,
}

impl ControllerPlace {
    /// Directories from the process's cgroup up to the mount's root, leaf first, with the
    /// cgroup path of each.
    pub fn chain_dirs(&self) -> Vec<(String, PathBuf)> {
        let root = self.mount_root.trim_end_matches('/');
        // The path relative to the mount; if the process is outside the mounted subtree
        // (another namespace), only the mount root is visible.
        let rel = self
            .path
            .strip_prefix(root)
            .filter(|r| r.is_empty() || r.starts_with('/'))
            .unwrap_or("");
        let mut parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let mut out = Vec::new();
        loop {
            let sub = parts.join("/");
            let dir = if sub.is_empty() {
                self.mount_point.clone()
            } else {
                self.mount_point.join(&sub)
            };
            let cgpath = format!("{root}/{sub}");
            let cgpath = if cgpath.len() > 1 {
                cgpath.trim_end_matches('/').to_string()
            } else {
                cgpath
            };
            out.push((cgpath, dir));
            if parts.pop().is_none() {
                break;
            }
        }
        out
    }
}

/// Find where `controller` (`memory` or `cpu`) is for a process, from its cgroup
/// memberships and the mounts it sees.
/// `fs_root` is where the process's mount namespace is seen from here (`/`, or
/// `/proc/PID/root` for a process in another mount namespace, e.g. a container).
pub fn locate(
    controller: &str,
    memberships: &[CgroupMembership],
    mounts: &[Mount],
    fs_root: &Path,
) -> Option<ControllerPlace> {
    let under = |mp: &str| fs_root.join(mp.trim_start_matches('/'));
    // v1: a hierarchy that lists the controller, and a cgroup mount whose options name it.
    if let Some(m) = memberships
        .iter()
        .find(|m| m.controllers.iter().any(|c| c == controller))
        && let Some(mnt) = mounts.iter().find(|mt| {
            mt.fs_type == "cgroup" && mt.super_options.split(',').any(|o| o == controller)
        })
    {
        return Some(ControllerPlace {
            version: CgroupVersion::V1,
            mount_point: under(&mnt.mount_point),
            mount_root: mnt.root.clone(),
            path: m.path.clone(),
        });
    }
    // v2: the unified membership, if the controller is enabled at the mount root.
    let m = memberships
        .iter()
        .find(|m| m.hierarchy_id == 0 && m.controllers.is_empty())?;
    let mnt = mounts.iter().find(|mt| mt.fs_type == "cgroup2")?;
    let place = ControllerPlace {
        version: CgroupVersion::V2,
        mount_point: under(&mnt.mount_point),
        mount_root: mnt.root.clone(),
        path: m.path.clone(),
    };
    let ctl = std::fs::read_to_string(place.mount_point.join("cgroup.controllers")).ok()?;
    ctl.split_whitespace()
        .any(|c| c == controller)
        .then_some(place)
}

fn read_opt(dir: &Path, file: &str) -> Option<(String, String)> {
    let p = dir.join(file);
    std::fs::read_to_string(&p)
        .ok()
        .map(|t| (p.display().to_string(), t))
}

/// Read one memory level. Missing files (the v2 root has no memory.max) leave `None`.
pub fn read_memory_level(
    version: CgroupVersion,
    cgpath: &str,
    dir: &Path,
) -> Result<MemoryLevel, LiveError> {
    let mut l = MemoryLevel {
        path: cgpath.to_string(),
        ..Default::default()
    };
    match version {
        CgroupVersion::V2 => {
            if let Some((n, t)) = read_opt(dir, "memory.max") {
                l.max_bytes = cg::parse_memory_limit(&n, &t)?;
            }
            if let Some((n, t)) = read_opt(dir, "memory.high") {
                l.high_bytes = cg::parse_memory_limit(&n, &t)?;
            }
            if let Some((n, t)) = read_opt(dir, "memory.current") {
                l.current_bytes = Some(cg::parse_u64(&n, &t)?);
            }
            if let Some((n, t)) = read_opt(dir, "memory.events") {
                let ev = parse_flat_keyed(&n, &t)?;
                l.oom_kill = ev.get("oom_kill").copied();
                l.max_events = ev.get("max").copied();
            }
            if let Some((n, t)) = read_opt(dir, "memory.stat") {
                l.inactive_file_bytes = parse_flat_keyed(&n, &t)?.get("inactive_file").copied();
            }
        }
        CgroupVersion::V1 => {
            if let Some((n, t)) = read_opt(dir, "memory.limit_in_bytes") {
                l.max_bytes = cg::parse_memory_limit(&n, &t)?;
            }
            if let Some((n, t)) = read_opt(dir, "memory.usage_in_bytes") {
                l.current_bytes = Some(cg::parse_u64(&n, &t)?);
            }
            if let Some((n, t)) = read_opt(dir, "memory.failcnt") {
                l.max_events = Some(cg::parse_u64(&n, &t)?);
            }
            if let Some((n, t)) = read_opt(dir, "memory.oom_control") {
                l.oom_kill = parse_flat_keyed(&n, &t)?.get("oom_kill").copied();
            }
            if let Some((n, t)) = read_opt(dir, "memory.stat") {
                l.inactive_file_bytes = parse_flat_keyed(&n, &t)?
                    .get("total_inactive_file")
                    .copied();
            }
        }
    }
    Ok(l)
}

/// Read one cpu level.
pub fn read_cpu_level(
    version: CgroupVersion,
    cgpath: &str,
    dir: &Path,
) -> Result<CpuLevel, LiveError> {
    let mut l = CpuLevel {
        path: cgpath.to_string(),
        ..Default::default()
    };
    match version {
        CgroupVersion::V2 => {
            if let Some((n, t)) = read_opt(dir, "cpu.max") {
                let m = cg::parse_cpu_max(&n, &t)?;
                l.quota_us = m.quota_us;
                l.period_us = Some(m.period_us);
            }
        }
        CgroupVersion::V1 => {
            if let Some((n, t)) = read_opt(dir, "cpu.cfs_quota_us") {
                l.quota_us = cg::parse_cfs_quota(&n, &t)?;
            }
            if let Some((n, t)) = read_opt(dir, "cpu.cfs_period_us") {
                l.period_us = Some(cg::parse_u64(&n, &t)?);
            }
        }
    }
    if let Some((n, t)) = read_opt(dir, "cpu.stat") {
        l.set_stat(&parse_flat_keyed(&n, &t)?);
    }
    Ok(l)
}

/// The memory and cpu chains of `pid`, leaf first.
pub fn read_chain(pid: u32) -> Result<CgroupChain, LiveError> {
    let cg_path = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let mi_path = PathBuf::from(format!("/proc/{pid}/mountinfo"));
    let cg_text = std::fs::read_to_string(&cg_path).map_err(|e| LiveError::io(&cg_path, e))?;
    let mi_text = std::fs::read_to_string(&mi_path).map_err(|e| LiveError::io(&mi_path, e))?;
    let members = parse_proc_cgroup(&cg_path.display().to_string(), &cg_text)?;
    let mounts = parse_mountinfo(&mi_path.display().to_string(), &mi_text)?;
    read_chain_from(&members, &mounts, &fs_root_of(pid))
}

/// Where `pid`'s mount namespace is visible from here: `/` when it shares ours, else
/// `/proc/PID/root` (its mountinfo names paths in its own namespace; a container's
/// cgroupns-relative paths only make sense under its own /sys/fs/cgroup).
pub fn fs_root_of(pid: u32) -> PathBuf {
    let ns = |p: String| std::fs::read_link(p).ok();
    match (
        ns("/proc/self/ns/mnt".into()),
        ns(format!("/proc/{pid}/ns/mnt")),
    ) {
        (Some(a), Some(b)) if a != b => PathBuf::from(format!("/proc/{pid}/root")),
        _ => PathBuf::from("/"),
    }
}

pub fn read_chain_from(
    members: &[CgroupMembership],
    mounts: &[Mount],
    fs_root: &Path,
) -> Result<CgroupChain, LiveError> {
    let mut chain = CgroupChain::default();
    if let Some(place) = locate("memory", members, mounts, fs_root) {
        chain.memory_version = Some(place.version);
        for (cgpath, dir) in place.chain_dirs() {
            chain
                .memory
                .push(read_memory_level(place.version, &cgpath, &dir)?);
        }
    }
    if let Some(place) = locate("cpu", members, mounts, fs_root) {
        chain.cpu_version = Some(place.version);
        for (cgpath, dir) in place.chain_dirs() {
            chain
                .cpu
                .push(read_cpu_level(place.version, &cgpath, &dir)?);
        }
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_dirs_leaf_first() {
        let p = ControllerPlace {
            version: CgroupVersion::V1,
            mount_point: "/sys/fs/cgroup/memory".into(),
            mount_root: "/".into(),
            path: "/process_api/4c30".into(),
        };
        let d = p.chain_dirs();
        assert_eq!(
            d,
            vec![
                (
                    "/process_api/4c30".to_string(),
                    PathBuf::from("/sys/fs/cgroup/memory/process_api/4c30")
                ),
                (
                    "/process_api".to_string(),
                    PathBuf::from("/sys/fs/cgroup/memory/process_api")
                ),
                ("/".to_string(), PathBuf::from("/sys/fs/cgroup/memory")),
            ]
        );
        // A container's mount of its own subtree.
        let c = ControllerPlace {
            version: CgroupVersion::V2,
            mount_point: "/sys/fs/cgroup".into(),
            mount_root: "/kubepods/pod1".into(),
            path: "/kubepods/pod1/ctr".into(),
        };
        let d = c.chain_dirs();
        assert_eq!(d[0].1, PathBuf::from("/sys/fs/cgroup/ctr"));
        assert_eq!(d[0].0, "/kubepods/pod1/ctr");
        assert_eq!(d[1].1, PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(d[1].0, "/kubepods/pod1");
    }

    #[test]
    fn locate_prefers_v1_controller_mount() {
        let members =
            parse_proc_cgroup("cgroup", "4:memory:/process_api/x\n1:cpu:/\n0::/\n").unwrap();
        let mounts = parse_mountinfo(
            "mountinfo",
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
        )
        .unwrap();
        let m = locate("memory", &members, &mounts, Path::new("/")).unwrap();
        assert_eq!(m.version, CgroupVersion::V1);
        assert_eq!(m.mount_point, PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(m.path, "/process_api/x");
        let c = locate("cpu", &members, &mounts, Path::new("/")).unwrap();
        assert_eq!(c.mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
    }

    #[test]
    fn reads_this_process_chain() {
        // Whatever this machine has, reading our own chain must not fail.
        let chain = read_chain(std::process::id()).unwrap();
        if chain.memory_version.is_some() {
            assert!(!chain.memory.is_empty());
            assert_eq!(chain.memory.last().unwrap().path, "/");
        }
    }

    #[test]
    fn v2_tree_read_end_to_end_tightest_ancestor_wins() {
        // A cgroup2 hierarchy laid out in a temp dir, seen through `fs_root` exactly as a
        // container's /proc/PID/root would be. Contents as a 6.x kernel prints them.
        let root = std::env::temp_dir().join(format!("gorx-cg2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let cg = root.join("sys/fs/cgroup");
        let put = |rel: &str, file: &str, text: &str| {
            let d = cg.join(rel);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(file), text).unwrap();
        };
        put(
            "",
            "cgroup.controllers",
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        );
        put("kubepods", "memory.max", "1073741824\n");
        put("kubepods", "cpu.max", "150000 100000\n");
        put(
            "kubepods",
            "cpu.stat",
            "usage_usec 9000000\nnr_periods 500\nnr_throttled 120\nthrottled_usec 4000000\n",
        );
        put("kubepods/pod1", "memory.max", "max\n");
        put("kubepods/pod1", "memory.current", "734003200\n");
        put(
            "kubepods/pod1",
            "memory.events",
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
        );
        put(
            "kubepods/pod1",
            "memory.stat",
            "anon 700000000\nfile 30000000\ninactive_file 20971520\n",
        );
        put("kubepods/pod1", "cpu.max", "max 100000\n");
        put(
            "kubepods/pod1",
            "cpu.stat",
            "usage_usec 8000000\nnr_periods 400\nnr_throttled 10\nthrottled_usec 100000\n",
        );
        let members = parse_proc_cgroup("cgroup", "0::/kubepods/pod1\n").unwrap();
        let mounts = parse_mountinfo(
            "mountinfo",
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
        )
        .unwrap();
        let chain = read_chain_from(&members, &mounts, &root).unwrap();
        assert_eq!(chain.memory_version, Some(CgroupVersion::V2));
        let paths: Vec<&str> = chain.memory.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths, ["/kubepods/pod1", "/kubepods", "/"]);
        let leaf = &chain.memory[0];
        assert_eq!(leaf.max_bytes, None);
        assert_eq!(leaf.current_bytes, Some(734003200));
        assert_eq!(leaf.working_set_bytes(), Some(734003200 - 20971520));
        assert_eq!((leaf.oom_kill, leaf.max_events), (Some(1), Some(3)));
        let eff = chain.effective_memory_limit().unwrap();
        assert_eq!(
            (eff.path.as_str(), eff.max_bytes),
            ("/kubepods", Some(1 << 30))
        );
        let (cpus, lvl) = chain.effective_cpu_limit().unwrap();
        assert_eq!((cpus, lvl.path.as_str()), (1.5, "/kubepods"));
        assert_eq!(chain.leaf_cpu_limit(), None);
        assert_eq!(chain.cpu[1].throttled_ns, Some(4_000_000_000));
        assert_eq!(chain.oom_kills(), 1);
        // A malformed file is an error naming it.
        put("kubepods", "cpu.max", "lots 100000\n");
        let e = read_chain_from(&members, &mounts, &root).unwrap_err();
        assert!(e.to_string().contains("kubepods/cpu.max"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
