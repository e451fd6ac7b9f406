//! The gopclntab symbolizer against Go's own tools on real binaries: `go tool nm` (the
//! symbol table) on a normal build, `go tool addr2line` (debug/gosym) on stripped
//! (`-ldflags=-s -w`) and PIE builds, and the PCs of a running patient's blocked threads
//! (`/proc/PID/task/*/syscall`) through the load bias. Needs Go (skips without it, fails
//! under CI=true).

use gorx_ebpf::gopclntab::{GoSymbols, load_bias};
use gorx_ebpf::symbolize::Symbolizer;
use gorx_testsupport::{go_toolchain, missing_prerequisite, patients_dir};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("gorx-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn build(go: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    build_with(go, out, extra, "0")
}

fn build_with(go: &Path, out: &Path, extra: &[&str], cgo: &str) -> PathBuf {
    let status = Command::new(go)
        .arg("build")
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg("./syscall-blocking")
        .current_dir(patients_dir())
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", cgo)
        .status()
        .expect("go build");
    assert!(status.success(), "go build {extra:?} failed");
    out.to_path_buf()
}

fn symbols(bin: &Path) -> GoSymbols {
    let data = std::fs::read(bin).unwrap();
    GoSymbols::from_elf(&bin.display().to_string(), &data).unwrap()
}

/// `go tool addr2line`: the function name for each address.
fn addr2line(go: &Path, bin: &Path, addrs: &[u64]) -> Vec<String> {
    let mut child = Command::new(go)
        .args(["tool", "addr2line"])
        .arg(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("go tool addr2line");
    let input: String = addrs.iter().map(|a| format!("{a:#x}\n")).collect();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Entry, entry+1 and the last byte before the next function, for ~600 functions.
fn sample(t: &GoSymbols) -> Vec<u64> {
    let funcs: Vec<(u64, &str)> = t.functions().collect();
    let step = (funcs.len() / 200).max(1);
    let mut out = Vec::new();
    for i in (0..funcs.len()).step_by(step) {
        let (entry, _) = funcs[i];
        let next = funcs.get(i + 1).map(|f| f.0).unwrap_or(t.text_range().end);
        out.extend([entry, entry + 1, next - 1]);
    }
    out
}

fn check_against_addr2line(go: &Path, bin: &Path) -> usize {
    let t = symbols(bin);
    let addrs = sample(&t);
    let want = addr2line(go, bin, &addrs);
    assert_eq!(
        want.len(),
        addrs.len(),
        "addr2line answered {} of {}",
        want.len(),
        addrs.len()
    );
    let mut bad = Vec::new();
    for (a, w) in addrs.iter().zip(&want) {
        let got = t.lookup(*a).unwrap_or("?");
        if got != w {
            bad.push(format!("{a:#x}: gorx {got}, addr2line {w}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{}: {} of {} differ:\n{}",
        bin.display(),
        bad.len(),
        addrs.len(),
        bad[..bad.len().min(20)].join("\n")
    );
    addrs.len()
}

/// Every text symbol `go tool nm` lists: its entry and its last byte name it in `t`.
/// Returns the addresses checked.
fn check_against_nm(go: &Path, bin: &Path, t: &GoSymbols) -> Vec<u64> {
    let nm = Command::new(go)
        .args(["tool", "nm", "-size", "-sort", "address"])
        .arg(bin)
        .output()
        .unwrap();
    let nm = String::from_utf8_lossy(&nm.stdout);
    let (mut checked, mut bad, mut addrs) = (0, Vec::new(), Vec::new());
    for line in nm.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || !matches!(f[2], "T" | "t") {
            continue;
        }
        let (Ok(addr), Ok(size)) = (u64::from_str_radix(f[0], 16), f[1].parse::<u64>()) else {
            continue;
        };
        // The symbol table marks assembly (ABI0) functions with a suffix the function
        // table does not carry.
        let name = f[3..].join(" ");
        let name = name.strip_suffix(".abi0").unwrap_or(&name).to_string();
        if size == 0 || !t.text_range().contains(&addr) {
            continue; // markers such as runtime.text/etext, and C functions
        }
        checked += 1;
        for a in [addr, addr + size - 1] {
            addrs.push(a);
            // ...and writes the middle dot of compiler-made names (`type:.eq.T·3`) as '.'.
            if t.lookup(a).map(|n| n.replace('·', ".")) != Some(name.clone()) {
                bad.push(format!("{a:#x}: gorx {:?}, nm {name}", t.lookup(a)));
            }
        }
    }
    assert!(
        checked > 1000,
        "{}: only {checked} text symbols in nm output",
        bin.display()
    );
    assert!(
        bad.is_empty(),
        "{}: {} of {checked} symbols differ:\n{}",
        bin.display(),
        bad.len(),
        bad[..bad.len().min(20)].join("\n")
    );
    addrs
}

#[test]
fn gopclntab_agrees_with_go_tools_on_plain_stripped_and_pie_binaries() {
    let Some(go) = go_toolchain("") else {
        missing_prerequisite("a Go toolchain (go_toolchain(\"\"))");
        return;
    };
    let tmp = TempDir::new("pclntab");
    let plain = build(&go, &tmp.0.join("plain"), &["-trimpath"]);
    let stripped = build(
        &go,
        &tmp.0.join("stripped"),
        &["-trimpath", "-ldflags=-s -w"],
    );
    let pie = build(
        &go,
        &tmp.0.join("pie"),
        &["-trimpath", "-buildmode=pie", "-ldflags=-s -w"],
    );

    // 1. Every text symbol of the symbol table: its entry and last byte name it.
    let t = symbols(&plain);
    check_against_nm(&go, &plain, &t);
    assert_eq!(t.found_by, "section");

    // 2. Stripped and PIE: no symbol table; addr2line reads the same gopclntab via gosym.
    let bins = [stripped.clone(), pie.clone()];
    for bin in &bins {
        let n = check_against_addr2line(&go, bin);
        assert!(n > 300, "{n} addresses checked");
    }
    assert!(symbols(&pie).pie);
    // Without the section name (as after section-header stripping), the magic finds it.
    let mut data = std::fs::read(&stripped).unwrap();
    let at = data
        .windows(10)
        .position(|w| w == b".gopclntab")
        .expect("section name");
    data[at..at + 10].copy_from_slice(b".xxxxxxxxx");
    let searched = GoSymbols::from_elf("renamed", &data).unwrap();
    assert_eq!(searched.found_by, "magic-search");
    let by_section = symbols(&stripped);
    for a in sample(&by_section) {
        assert_eq!(searched.lookup(a), by_section.lookup(a), "{a:#x}");
    }
    // A corrupted real table (every 61st byte from a fixed LCG) is an error or a table that
    // answers without panicking, inline trees included.
    let clean = std::fs::read(&stripped).unwrap();
    let addrs = sample(&symbols(&stripped));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..4 {
        let mut bad = clean.clone();
        for i in (round..bad.len()).step_by(61) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            bad[i] = (seed >> 56) as u8;
        }
        if let Ok(t) = GoSymbols::from_elf("corrupt", &bad) {
            for &a in &addrs {
                let _ = t.frames(a);
            }
        }
    }
    eprintln!(
        "pie table found by {}, inline trees by {}",
        symbols(&pie).found_by,
        symbols(&pie).inline_source
    );
    assert!(!symbols(&stripped).pie);

    // 3. Through the load bias: a running PIE's blocked threads sit in Go functions.
    let child = KillOnDrop(
        Command::new(&pie)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let data = std::fs::read(&pie).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut named = Vec::new();
    while named.len() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        let bias = load_bias(&maps, &exe.to_string_lossy(), &data).expect("PIE mapped");
        assert_ne!(bias, 0, "a PIE is loaded away from 0");
        let sym = Symbolizer::new(symbols(&pie), bias);
        named.clear();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
        {
            // "nr a1..a6 sp pc" for a thread in a syscall.
            let Ok(s) = std::fs::read_to_string(task.path().join("syscall")) else {
                continue;
            };
            let f: Vec<&str> = s.split_whitespace().collect();
            if f.len() != 9 {
                continue;
            }
            let pc = u64::from_str_radix(f[8].trim_start_matches("0x"), 16).unwrap();
            named.push(sym.frames(&[pc])[0].clone());
        }
    }
    assert!(named.len() >= 5, "too few blocked threads seen: {named:?}");
    assert!(
        named.iter().all(|n| !n.starts_with("0x")
            && (n.starts_with("runtime.") || n.starts_with("internal/runtime/"))),
        "a blocked thread's PC did not symbolize to a runtime function: {named:?}"
    );
}

/// A program whose stack has inlined calls prints each PC of `runtime.Callers` with the
/// frame `runtime.CallersFrames` names for it: the oracle for inline expansion. Callers
/// gives one PC per logical frame (`pc+1` of each inlined call site), so a physical
/// return address expands, in gorx, to the names of a run of consecutive lines.
const INLINE_PROG: &str = r#"package main

import (
	"fmt"
	"runtime"
	"strings"
)

var sink []uintptr

func leaf() []uintptr {
	pcs := make([]uintptr, 64)
	return pcs[:runtime.Callers(1, pcs)]
}
func mid() []uintptr { return leaf() }
func top() []uintptr { return mid() }

//go:noinline
func outer() []uintptr { return top() }

type T struct{ n int }

func (t *T) inc() []uintptr { t.n++; return outer() }

func main() {
	t := &T{}
	for _, pc := range t.inc() {
		fr := runtime.CallersFrames([]uintptr{pc})
		var names []string
		for {
			f, more := fr.Next()
			names = append(names, f.Function)
			if !more {
				break
			}
		}
		fmt.Printf("%x %s\n", pc, strings.Join(names, ";"))
	}
}
"#;

#[test]
fn inlined_frames_expand_as_runtime_callers_frames_does() {
    // Every toolchain at hand: moduledata's layout moved in Go 1.27.
    let mut gos: Vec<_> = ["1.22", "1.24", "1.26", "1.27"]
        .iter()
        .filter_map(|m| go_toolchain(m))
        .collect();
    gos.dedup();
    if gos.is_empty() {
        match go_toolchain("") {
            Some(go) => gos.push(go),
            None => {
                missing_prerequisite("a Go toolchain (go_toolchain(\"\"))");
                return;
            }
        }
    }
    for go in gos {
        inlined_frames_with(&go);
    }
}

fn inlined_frames_with(go: &std::path::Path) {
    let tmp = TempDir::new("inline");
    std::fs::write(tmp.0.join("main.go"), INLINE_PROG).unwrap();
    std::fs::write(tmp.0.join("go.mod"), "module inl\n\ngo 1.21\n").unwrap();
    for (tag, flags) in [("plain", ""), ("stripped", "-s -w")] {
        let bin = tmp.0.join(tag);
        let status = Command::new(go)
            .args(["build", "-trimpath", &format!("-ldflags={flags}"), "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(&tmp.0)
            .env("GOTOOLCHAIN", "local")
            .env("CGO_ENABLED", "0")
            .status()
            .unwrap();
        assert!(status.success());
        let out = Command::new(&bin).output().unwrap();
        let t = symbols(&bin);
        assert_eq!(
            t.inline_source,
            if tag == "plain" {
                "symbol"
            } else {
                "moduledata"
            },
            "{tag} build by {}",
            go.display()
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<(u64, &str)> = text
            .lines()
            .map(|l| {
                let (pc, name) = l.split_once(' ').unwrap();
                (u64::from_str_radix(pc, 16).unwrap(), name)
            })
            .collect();
        assert!(lines.len() >= 4, "{text}");
        let (mut k, mut deepest) = (0, 0);
        while k < lines.len() {
            // CallersFrames treats each PC as a return address: it looks up pc-1.
            let got = t.frames(lines[k].0 - 1);
            let want: Vec<&str> = lines[k..].iter().take(got.len()).map(|l| l.1).collect();
            assert!(!got.is_empty(), "{tag}: pc {:#x} unnamed", lines[k].0);
            assert_eq!(got, want, "{tag}: pc {:#x}\n{text}", lines[k].0);
            deepest = deepest.max(got.len());
            k += got.len();
        }
        assert!(
            deepest >= 3,
            "{tag}: no PC had inlined frames, the test proves nothing:\n{text}"
        );
    }
}

/// A cgo program, linked externally (as Debian builds etcd and prometheus): `.text` starts
/// with C code, so `runtime.text` is past the section's start, and Go 1.26 leaves the
/// header's copy zero. Checked against `go tool nm`, then with the symbol table stripped
/// (`strip`), where `runtime.text` comes from moduledata.
#[test]
fn externally_linked_cgo_binaries_find_runtime_text() {
    let Some(go) = go_toolchain("") else {
        missing_prerequisite("a Go toolchain (go_toolchain(\"\"))");
        return;
    };
    for tool in ["gcc", "strip"] {
        if !Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            missing_prerequisite(&format!("{tool} (cgo, external linking)"));
            return;
        }
    }
    let tmp = TempDir::new("cgo");
    std::fs::write(
        tmp.0.join("main.go"),
        "package main\n\n/*\nint twice(int x) { return 2 * x; }\n*/\nimport \"C\"\nimport \"fmt\"\n\nfunc main() { fmt.Println(C.twice(21)) }\n",
    )
    .unwrap();
    std::fs::write(tmp.0.join("go.mod"), "module cgo\n\ngo 1.21\n").unwrap();
    let bin = tmp.0.join("cgo");
    let status = Command::new(&go)
        .args(["build", "-trimpath", "-ldflags=-linkmode=external", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&tmp.0)
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "1")
        .status()
        .unwrap();
    assert!(status.success());
    let t = symbols(&bin);
    let data = std::fs::read(&bin).unwrap();
    let obj = object::File::parse(&*data).unwrap();
    use object::{Object, ObjectSection};
    let text = obj.section_by_name(".text").unwrap().address();
    assert_ne!(
        t.text_range().start,
        text,
        "runtime.text at .text's start: the case is not covered"
    );
    let addrs = check_against_nm(&go, &bin, &t);

    let stripped = tmp.0.join("cgo-stripped");
    assert!(
        Command::new("strip")
            .arg("-o")
            .arg(&stripped)
            .arg(&bin)
            .status()
            .unwrap()
            .success()
    );
    let s = symbols(&stripped);
    assert_eq!(s.text_source, "moduledata");
    assert_eq!(s.text_range(), t.text_range());
    for a in addrs {
        assert_eq!(s.lookup(a), t.lookup(a), "{a:#x}");
    }
}

/// (address, instruction bytes, assembly) of each instruction of `func` per `go tool
/// objdump` (which reads gopclntab, so it also works on stripped binaries).
fn objdump(go: &Path, bin: &Path, func: &str) -> Vec<(u64, Vec<u8>, String)> {
    let mut re = String::from("^");
    for c in func.chars() {
        if matches!(c, '.' | '(' | ')' | '*') {
            re.push('\\');
        }
        re.push(c);
    }
    re.push('$');
    let out = Command::new(go)
        .args(["tool", "objdump", "-s", &re])
        .arg(bin)
        .output()
        .expect("go tool objdump");
    assert!(
        out.status.success(),
        "go tool objdump -s {re}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut ins = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with("TEXT ")) {
        let f: Vec<&str> = line
            .split('\t')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let Some(i) = f.iter().position(|s| s.starts_with("0x")) else {
            continue;
        };
        let (Some(addr), Some(hex), Some(asm)) = (f.get(i), f.get(i + 1), f.get(i + 2)) else {
            continue;
        };
        let addr = u64::from_str_radix(&addr[2..], 16).unwrap();
        let bytes = (0..hex.len() / 2)
            .map(|k| u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).unwrap())
            .collect();
        ins.push((addr, bytes, asm.to_string()));
    }
    assert!(!ins.is_empty(), "objdump found no {func}:\n{text}");
    ins
}

#[test]
fn alloc_probe_points_are_the_rets_go_tool_objdump_shows() {
    use gorx_ebpf::alloc::{FUNCTIONS, probe_points};
    let Some(go) = go_toolchain("") else {
        missing_prerequisite("a Go toolchain (go_toolchain(\"\"))");
        return;
    };
    let tmp = TempDir::new("allocrets");
    let plain = build(&go, &tmp.0.join("plain"), &["-trimpath"]);
    let stripped_pie = build(
        &go,
        &tmp.0.join("stripped-pie"),
        &["-trimpath", "-buildmode=pie", "-ldflags=-s -w"],
    );
    // objdump needs a symbol table: the stripped PIE is checked against the same build
    // with its symbols (stripping does not move the text).
    let pie = build(&go, &tmp.0.join("pie"), &["-trimpath", "-buildmode=pie"]);
    for (bin, oracle, source) in [
        (&plain, &plain, "symtab"),
        (&stripped_pie, &pie, "gopclntab"),
    ] {
        let file = std::fs::read(bin).unwrap();
        let (points, missing) = probe_points(&bin.display().to_string(), &file).unwrap();
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(points.len(), FUNCTIONS.len());
        for p in &points {
            assert_eq!(p.source, source, "{}", p.function);
            let ins = objdump(&go, oracle, &p.function);
            let want: Vec<u64> = ins
                .iter()
                .filter(|(_, _, asm)| asm.starts_with("RET"))
                .map(|(a, _, _)| *a)
                .collect();
            assert!(!want.is_empty(), "{}: objdump shows no RET", p.function);
            assert_eq!(p.rets, want, "{} in {}", p.function, bin.display());
            assert_eq!(p.entry, ins[0].0, "{}", p.function);
            assert!(
                p.tail_jumps.is_empty(),
                "{}: {:#x?}",
                p.function,
                p.tail_jumps
            );
            // The file offsets hold those very instructions: the entry's bytes, and a
            // one-byte RET (0xc3) at each return.
            let at = |off: u64, n: usize| &file[off as usize..off as usize + n];
            assert_eq!(at(p.entry_offset, ins[0].1.len()), &ins[0].1[..]);
            for (off, addr) in p.ret_offsets.iter().zip(&p.rets) {
                let (_, bytes, _) = ins.iter().find(|(a, _, _)| a == addr).unwrap();
                assert_eq!(at(*off, bytes.len()), &bytes[..], "{addr:#x}");
            }
        }
    }
}

#[test]
fn alloc_probe_refuses_other_architectures_by_name() {
    let Some(go) = go_toolchain("") else {
        missing_prerequisite("a Go toolchain (go_toolchain(\"\"))");
        return;
    };
    let tmp = TempDir::new("allocarm");
    let bin = tmp.0.join("arm64");
    let ok = Command::new(&go)
        .args(["build", "-trimpath", "-o"])
        .arg(&bin)
        .arg("./syscall-blocking")
        .current_dir(patients_dir())
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0")
        .env("GOARCH", "arm64")
        .status()
        .expect("go build");
    assert!(ok.success(), "GOARCH=arm64 go build failed");
    let file = std::fs::read(&bin).unwrap();
    let e = gorx_ebpf::alloc::probe_points("arm64", &file)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("x86_64") && e.contains("Aarch64"), "{e}");
}
