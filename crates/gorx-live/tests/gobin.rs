//! The Go build-info reader against real binaries: every installed toolchain's own `go`
//! command (a Go program), plus copies doctored to force each fallback path.

use gorx_live::gobin::{parse_go_binary, read_go_binary};
use gorx_testsupport::{go_toolchain, go_version, missing_prerequisite};

fn toolchains() -> Vec<std::path::PathBuf> {
    ["1.19", "1.22", "1.24", "1.26", "1.27"]
        .iter()
        .filter_map(|m| go_toolchain(m))
        .collect()
}

/// The real `go` executable (venv wrappers may be scripts; GOROOT/bin/go is the binary).
fn go_binary(go: &std::path::Path) -> std::path::PathBuf {
    let out = std::process::Command::new(go)
        .args(["env", "GOROOT"])
        .output()
        .unwrap();
    let root = String::from_utf8(out.stdout).unwrap();
    std::path::Path::new(root.trim()).join("bin/go")
}

#[test]
fn every_toolchain_binary_reports_its_version() {
    let tcs = toolchains();
    if tcs.is_empty() {
        return missing_prerequisite("a Go toolchain");
    }
    for go in tcs {
        let want = format!("go{}", go_version(&go).unwrap());
        let bin = go_binary(&go);
        let info = read_go_binary(&bin).unwrap().expect("go is a Go binary");
        assert_eq!(info.go_version.as_deref(), Some(want.as_str()), "{bin:?}");
        assert_eq!(info.main_path.as_deref(), Some("cmd/go"), "{bin:?}");
        assert_eq!(info.detected_by, "buildinfo-section");
    }
}

fn le16(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

#[test]
fn fallbacks_without_section_headers_and_without_buildinfo() {
    let Some(go) = go_toolchain("1.26").or_else(|| go_toolchain("")) else {
        return missing_prerequisite("a Go toolchain");
    };
    let want = format!("go{}", go_version(&go).unwrap());
    let data = std::fs::read(go_binary(&go)).unwrap();
    assert_eq!(&data[..5], b"\x7fELF\x02", "64-bit ELF expected");

    // No section header table (as after sstrip): found by searching the data segment.
    let mut noshdr = data.clone();
    noshdr[0x28..0x30].fill(0); // e_shoff
    let shnum_at = 0x3c;
    assert!(le16(&noshdr, shnum_at) > 0);
    noshdr[shnum_at..shnum_at + 2].fill(0); // e_shnum
    noshdr[0x3e..0x40].fill(0); // e_shstrndx
    let info = parse_go_binary("noshdr", &noshdr).unwrap().unwrap();
    assert_eq!(info.detected_by, "buildinfo-search");
    assert_eq!(info.go_version.as_deref(), Some(want.as_str()));

    // Build info magic destroyed: the runtime.buildVersion symbol still tells.
    let mut nomagic = data.clone();
    // The real header: 16-byte aligned, pointer size 8, inline-strings flag. (cmd/go also
    // carries the magic as a literal in its data.)
    let pos = (0..data.len() - 32)
        .step_by(16)
        .find(|&i| {
            data[i..].starts_with(b"\xff Go buildinf:")
                && data[i + 14] == 8
                && data[i + 15] & 2 != 0
        })
        .unwrap();
    nomagic[pos] = 0;
    let info = parse_go_binary("nomagic", &nomagic).unwrap().unwrap();
    assert_eq!(info.detected_by, "buildversion-symbol");
    assert_eq!(info.go_version.as_deref(), Some(want.as_str()));

    // A varint length pointing past the end is an error at that offset, not an allocation.
    let mut bad = data.clone();
    bad[pos + 32..pos + 37].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    let e = parse_go_binary("bad", &bad).unwrap_err();
    assert!(e.to_string().starts_with("bad: at byte offset"), "{e}");
}

#[test]
fn non_go_executables_are_not_go() {
    assert_eq!(
        read_go_binary(std::path::Path::new("/bin/sh")).unwrap(),
        None
    );
    let e = read_go_binary(std::path::Path::new("/nonexistent/gorx")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/gorx"), "{e}");
}
