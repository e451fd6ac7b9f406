//! What a probe needs before it loads anything: privileges and BTF. Checked up front so
//! the message names what is missing instead of a loader's errno.

use crate::ProbeError;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The effective capability set from `/proc/self/status` (`CapEff:` in hex).
pub fn effective_caps(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

/// Root-equivalent for BPF tracing: CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN.
pub fn check_caps(caps: u64) -> Result<(), ProbeError> {
    let has = |c: u32| caps & (1u64 << c) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return Ok(());
    }
    let mut missing = Vec::new();
    if !has(CAP_BPF) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_PERFMON) {
        missing.push("CAP_PERFMON");
    }
    Err(ProbeError::Privileges(format!(
        "no {}",
        missing.join(" and ")
    )))
}

/// The inode of the initial PID namespace (`PROC_PID_INIT_INO` in the kernel).
const INIT_PID_NS_INO: u64 = 0xEFFF_FFFC;

/// The BPF programs filter on the kernel's (initial namespace's) tgid. From inside
/// another PID namespace the pid given would never match and the probe would see
/// nothing, silently; refuse instead.
pub fn check_pid_namespace(ns_ino: Option<u64>) -> Result<(), ProbeError> {
    match ns_ino {
        Some(ino) if ino != INIT_PID_NS_INO => Err(ProbeError::Unsupported(format!(
            "this process runs in a PID namespace other than the host's (pid:[{ino}]): the kernel filters by host pids; run it in the host PID namespace (e.g. docker run --pid=host, or nsenter -t 1 -p)"
        ))),
        _ => Ok(()),
    }
}

/// Privileges, BTF and the PID namespace, in that order.
pub fn check() -> Result<(), ProbeError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    check_caps(effective_caps(&status).unwrap_or(0))?;
    let btf = std::env::var_os("GORX_BTF_PATH").unwrap_or_else(|| "/sys/kernel/btf/vmlinux".into());
    // GORX_BTF_PATH exists for tests of a kernel without BTF.
    std::fs::metadata(&btf)
        .map_err(|e| ProbeError::NoBtf(format!("{}: {e}", std::path::Path::new(&btf).display())))?;
    use std::os::unix::fs::MetadataExt;
    check_pid_namespace(std::fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets() {
        assert!(check_caps(u64::MAX).is_ok());
        assert!(check_caps(1 << CAP_SYS_ADMIN).is_ok());
        assert!(check_caps((1 << CAP_BPF) | (1 << CAP_PERFMON)).is_ok());
        let e = check_caps(1 << CAP_BPF).unwrap_err().to_string();
        assert!(
            e.contains("no CAP_PERFMON") && !e.contains("no CAP_BPF"),
            "{e}"
        );
        let e = check_caps(0).unwrap_err().to_string();
        assert!(e.contains("no CAP_BPF and CAP_PERFMON"), "{e}");
        assert_eq!(
            effective_caps("Name:\tx\nCapEff:\t000001ffffffffff\n"),
            Some(0x1ff_ffff_ffff)
        );
        assert_eq!(effective_caps("CapEff:\tzz\n"), None);
    }

    #[test]
    fn only_the_host_pid_namespace_is_accepted() {
        assert!(check_pid_namespace(Some(INIT_PID_NS_INO)).is_ok());
        assert!(check_pid_namespace(None).is_ok());
        let e = check_pid_namespace(Some(4026532290))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pid:[4026532290]") && e.contains("host PID namespace"),
            "{e}"
        );
    }
}
