//! A process gorx may not read: `inspect` run as an unprivileged user against a process
//! owned by root must say which files it could not read, not fail silently or panic.

use gorx_testsupport::missing_prerequisite;
use std::process::{Child, Command, Stdio};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.to_string())
        })
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
}

#[test]
fn unreadable_process_names_what_is_missing() {
    if !is_root() {
        missing_prerequisite("root, to own a process that an unprivileged gorx cannot read");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        missing_prerequisite("setpriv (util-linux), to run gorx as an unprivileged user");
        return;
    }
    let target = Killed(
        Command::new("sleep")
            .arg("30")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = target.0.id().to_string();
    // The build directory may sit under a home the unprivileged user cannot enter.
    let bin = std::env::temp_dir().join(format!("gorx-unprivileged-{}", std::process::id()));
    std::fs::copy(env!("CARGO_BIN_EXE_gorx"), &bin).expect("copy gorx");
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["inspect", &pid])
        .output()
        .expect("run gorx under setpriv");
    let _ = std::fs::remove_file(&bin);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("panicked"), "{all}");
    for file in ["environ", "fd", "smaps_rollup"] {
        let named = format!("/proc/{pid}/{file}: Permission denied");
        assert!(
            all.contains(&named),
            "inspect does not say {named:?}:\n{all}"
        );
    }
}
