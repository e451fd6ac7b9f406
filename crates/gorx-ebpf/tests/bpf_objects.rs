//! The committed BPF objects are what their C source builds to.
//!
//! 1. Always (no clang needed): each `NAME.bpf.o.sha256` holds the SHA-256 of the
//!    `NAME.bpf.c` it was built from, so editing a source without rebuilding fails here.
//! 2. With clang and bpftool (CI installs them): `bpf/build.sh --check` rebuilds every
//!    object with the same deterministic flags and fails unless the bytes are identical.

use gorx_testsupport::missing_prerequisite;
use std::path::PathBuf;
use std::process::Command;

fn bpf_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bpf")
}

fn sha256(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum (coreutils)");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn each_object_records_the_hash_of_its_current_source() {
    let mut seen = 0;
    for e in std::fs::read_dir(bpf_dir()).unwrap().flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".bpf.c") else {
            continue;
        };
        seen += 1;
        let obj = bpf_dir().join(format!("{stem}.bpf.o"));
        assert!(
            obj.exists(),
            "{name} has no committed object {}: run bpf/build.sh",
            obj.display()
        );
        let recorded = std::fs::read_to_string(bpf_dir().join(format!("{stem}.bpf.o.sha256")))
            .unwrap_or_default();
        assert_eq!(
            recorded.trim(),
            sha256(&p),
            "{name} changed since {stem}.bpf.o was built: run crates/gorx-ebpf/bpf/build.sh and commit the object"
        );
    }
    assert!(seen > 0, "no BPF sources found");
}

#[test]
fn a_fresh_build_is_byte_identical_to_the_committed_objects() {
    for tool in ["clang", "bpftool"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            missing_prerequisite(&format!(
                "{tool} (apt-get install -y clang bpftool libbpf-dev)"
            ));
            return;
        }
    }
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        missing_prerequisite("kernel BTF (/sys/kernel/btf/vmlinux)");
        return;
    }
    let out = Command::new("bash")
        .arg(bpf_dir().join("build.sh"))
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bpf/build.sh --check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
