//! Live tests: start small Go programs (built here from the source below), attach with
//! `gorx ps` / `gorx inspect`, assert the findings, and kill the programs (Drop guards).
//! Loopback only; every wait is bounded. Without a Go toolchain they skip (fail under CI).
//! The cgroup test creates real cgroups (v2 where the machine offers memory+cpu there,
//! v1 otherwise); where the kernel refuses, it says why and fails under CI=true.

use gorx_testsupport::{go_toolchain, go_version, missing_prerequisite, under_ci};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One program, several planted pathologies chosen by argv[1]. It serves net/http/pprof
/// and expvar on a loopback port, prints "listening ADDR", develops the pathology, prints
/// "ready", and exits by itself after 120 s whatever happens.
const PATIENT_GO: &str = r##"
package main

import (
	_ "expvar"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"syscall"
	"time"
)

var keep []interface{}

// sessions is the heapleak mode's cache that never evicts.
var sessions = map[int][]byte{}

// rememberSession keeps every session forever: the growing in-use site.
func rememberSession(i int) { sessions[i] = make([]byte, 64<<10) }

// promMux serves what a client_golang server serves: net/http/pprof and /metrics (the
// Go collector's go_memstats_* and friends), and no /debug/vars.
func promMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		g := func(name string, v float64) {
			fmt.Fprintf(w, "# TYPE %s gauge\n%s %g\n", name, name, v)
		}
		fmt.Fprintf(w, "# TYPE go_gc_duration_seconds summary\n")
		fmt.Fprintf(w, "go_gc_duration_seconds{quantile=\"1\"} %g\n", float64(ms.PauseNs[(ms.NumGC+255)%256])/1e9)
		fmt.Fprintf(w, "go_gc_duration_seconds_sum %g\ngo_gc_duration_seconds_count %d\n", float64(ms.PauseTotalNs)/1e9, ms.NumGC)
		g("go_goroutines", float64(runtime.NumGoroutine()))
		g("go_sched_gomaxprocs_threads", float64(runtime.GOMAXPROCS(0)))
		g("go_memstats_sys_bytes", float64(ms.Sys))
		g("go_memstats_heap_alloc_bytes", float64(ms.HeapAlloc))
		g("go_memstats_heap_sys_bytes", float64(ms.HeapSys))
		g("go_memstats_heap_idle_bytes", float64(ms.HeapIdle))
		g("go_memstats_heap_inuse_bytes", float64(ms.HeapInuse))
		g("go_memstats_heap_released_bytes", float64(ms.HeapReleased))
		g("go_memstats_stack_inuse_bytes", float64(ms.StackInuse))
		g("go_memstats_stack_sys_bytes", float64(ms.StackSys))
		g("go_memstats_mspan_sys_bytes", float64(ms.MSpanSys))
		g("go_memstats_mcache_sys_bytes", float64(ms.MCacheSys))
		g("go_memstats_buck_hash_sys_bytes", float64(ms.BuckHashSys))
		g("go_memstats_gc_sys_bytes", float64(ms.GCSys))
		g("go_memstats_other_sys_bytes", float64(ms.OtherSys))
		g("go_memstats_next_gc_bytes", float64(ms.NextGC))
	})
	return m
}

// leakyHandler waits for a reply nobody sends.
func leakyHandler(reply chan int) { <-reply }

func main() {
	go func() { time.Sleep(120 * time.Second); os.Exit(3) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	if os.Getenv("GORX_PATIENT_PROM") == "1" {
		go http.Serve(ln, promMux())
	} else {
		go http.Serve(ln, nil)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	switch os.Args[1] {
	case "healthy":
	case "heapleak":
		// About 1.3 MiB more live heap every second, kept by rememberSession, beside
		// garbage that keeps the collector cycling every second or so.
		go func() {
			for i := 0; ; i++ {
				rememberSession(i)
				time.Sleep(50 * time.Millisecond)
			}
		}()
		go func() {
			var sink []byte
			for {
				sink = make([]byte, 256<<10)
				_ = sink
				time.Sleep(10 * time.Millisecond)
			}
		}()
	case "fdleak":
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			panic(err)
		}
		target := int(rl.Cur) * 9 / 10
		for i := 0; ; i++ {
			ents, _ := os.ReadDir("/proc/self/fd")
			if len(ents) >= target {
				break
			}
			if i%4 == 0 {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					panic(err)
				}
				keep = append(keep, c)
				continue
			}
			f, err := os.Open("/dev/null")
			if err != nil {
				panic(err)
			}
			keep = append(keep, f)
		}
	case "fdtrickle":
		// A slow leak: one fd every 50 ms, in the background, until 90% of the limit.
		go func() {
			var rl syscall.Rlimit
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
			for i := 0; i < int(rl.Cur)*9/10-20; i++ {
				f, err := os.Open("/dev/null")
				if err != nil {
					return
				}
				keep = append(keep, f)
				time.Sleep(50 * time.Millisecond)
			}
		}()
	case "goroutineleak":
		for i := 0; i < 600; i++ {
			go leakyHandler(make(chan int))
		}
		time.Sleep(200 * time.Millisecond)
	case "gcchurn":
		// A pointer-rich live heap that every cycle must mark, and allocation as fast as
		// possible under a low GOGC: the collector runs constantly and marks a lot.
		type node struct {
			next *node
			pad  [4]*int
		}
		var head *node
		for i := 0; i < 400000; i++ {
			head = &node{next: head}
		}
		keep = append(keep, head)
		for i := 0; i < 2; i++ {
			go func() {
				var sink []byte
				for {
					sink = make([]byte, 64<<10)
					_ = sink
				}
			}()
		}
	case "offheap":
		for i := 0; i < 16; i++ {
			b, err := syscall.Mmap(-1, 0, 16<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
			if err != nil {
				panic(err)
			}
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
	case "spin":
		for i := 0; i < 2; i++ {
			go func() {
				x := 0
				for {
					x++
				}
			}()
		}
	}
	fmt.Println("ready")
	select {}
}
"##;

fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(0x100000001b3)
    })
}

struct Built {
    bin: PathBuf,
    go_version: String,
}

/// Build the patient once per test binary; None when no Go toolchain is installed.
fn patient_binary() -> Option<&'static Built> {
    static BUILT: OnceLock<Option<Built>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let go = go_toolchain("1.26").or_else(|| go_toolchain(""))?;
            let version = go_version(&go)?;
            let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
            // Keyed by source and toolchain: reruns reuse the binary, nothing piles up.
            let key = fnv1a(format!("{PATIENT_GO}{version}").as_bytes());
            let dir = std::env::temp_dir().join(format!("gorx-live-patient-{key:016x}"));
            let bin = dir.join("gorxpatient");
            if !bin.exists() {
                let tmp = std::env::temp_dir().join(format!(
                    "gorx-live-patient-{key:016x}.{}",
                    std::process::id()
                ));
                let _ = std::fs::remove_dir_all(&tmp);
                std::fs::create_dir_all(&tmp).unwrap();
                std::fs::write(tmp.join("main.go"), PATIENT_GO).unwrap();
                // A go line ≥ 1.25 keeps the cgroup-aware GOMAXPROCS default on.
                std::fs::write(
                    tmp.join("go.mod"),
                    format!("module example.com/gorxpatient\n\ngo {minor}\n"),
                )
                .unwrap();
                let out = Command::new(&go)
                    .args(["build", "-o", "gorxpatient", "."])
                    .current_dir(&tmp)
                    .env("GOFLAGS", "-mod=mod")
                    .env("GOTOOLCHAIN", "local")
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "go build failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                // Another test run may have won the race; either copy is the same build.
                if std::fs::rename(&tmp, &dir).is_err() {
                    let _ = std::fs::remove_dir_all(&tmp);
                }
            }
            Some(Built {
                bin,
                go_version: format!("go{version}"),
            })
        })
        .as_ref()
}

/// A running patient; killed and reaped on drop.
struct Patient {
    child: Child,
    /// `127.0.0.1:PORT` it serves on.
    addr: String,
}

impl Patient {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Patient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `mode` (under `nofile` as soft and hard RLIMIT_NOFILE when given) and wait up
/// to 30 s for it to print "ready".
fn start(bin: &Path, mode: &str, nofile: Option<u32>, env: &[(&str, &str)]) -> Patient {
    let mut cmd = match nofile {
        // `ulimit -n` sets soft and hard, so the Go runtime cannot raise the soft limit.
        Some(n) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(bin)
                .arg(mode);
            c
        }
        None => {
            let mut c = Command::new(bin);
            c.arg(mode);
            c
        }
    };
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut patient = Patient {
        child,
        addr: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l == "ready" => return patient,
            Ok(l) => {
                if let Some(a) = l.strip_prefix("listening ") {
                    patient.addr = a.to_string();
                }
            }
            Err(e) => panic!("patient {mode} did not become ready: {e}"),
        }
    }
}

fn gorx(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gorx {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "gorx {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn inspect(pid: u32) -> Value {
    gorx(&["inspect", &pid.to_string(), "--json"])
}

fn finding<'a>(v: &'a Value, id: &str) -> Option<&'a Value> {
    v["findings"].as_array()?.iter().find(|f| f["id"] == id)
}

fn ids(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} ({})", f["id"], f["severity"]))
        .collect()
}

#[test]
fn ps_lists_the_go_process_with_its_version() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(
        &b.bin,
        "healthy",
        None,
        &[("GOGC", "150"), ("GOMEMLIMIT", "300MiB")],
    );
    let v = gorx(&["ps", "--json"]);
    assert_eq!(v["schema"], 1);
    let rows = v["processes"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|r| r["pid"] == p.pid())
        .unwrap_or_else(|| panic!("pid {} not in gorx ps: {v}", p.pid()));
    assert_eq!(row["go_version"], b.go_version.as_str());
    assert_eq!(row["main_path"], "example.com/gorxpatient");
    assert_eq!(row["gogc"], "150");
    assert_eq!(row["gomemlimit"], "300MiB");
    assert!(row["threads"].as_u64().unwrap() >= 2, "{row}");
    assert!(row["rss_bytes"].as_u64().unwrap() > 1 << 20, "{row}");
    assert!(row["open_fds"].as_u64().unwrap() >= 3, "{row}");
    assert!(row["missing"].as_array().unwrap().is_empty(), "{row}");
    // The test binary itself is Rust: not listed.
    assert!(rows.iter().all(|r| r["pid"] != std::process::id()));
}

#[test]
fn fd_leak_under_low_rlimit_is_near_limit() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(&b.bin, "fdleak", Some(256), &[]);
    let v = inspect(p.pid());
    let f =
        finding(&v, "fd.near-limit").unwrap_or_else(|| panic!("no fd.near-limit: {:?}", ids(&v)));
    assert_eq!(f["evidence"]["nofile_soft_limit"], 256);
    let open = f["evidence"]["open_fds"].as_u64().unwrap();
    // The patient stops at 90% of the limit (its own ReadDir fd included).
    assert!((220..=256).contains(&open), "open_fds {open}");
    assert!(f["evidence"]["fds_socket"].as_u64().unwrap() >= 40, "{f}");
    assert!(f["evidence"]["fds_device"].as_u64().unwrap() >= 100, "{f}");
    assert_eq!(f["severity"], "warning");
    // --fail-on: status 1 at warning, 0 at critical (no critical finding here).
    let status = |level: &str| {
        Command::new(env!("CARGO_BIN_EXE_gorx"))
            .args([
                "inspect",
                &p.pid().to_string(),
                "--no-discover",
                "--fail-on",
                level,
            ])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(status("warning"), Some(1));
    assert_eq!(status("critical"), Some(0));
    // The pprof endpoint was found by probing the pid's loopback listeners.
    let kinds: Vec<&str> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"pprof-heap-debug1"), "{kinds:?}");
}

#[test]
fn offheap_mmap_is_an_rss_gap() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(&b.bin, "offheap", None, &[]);
    let v = inspect(p.pid());
    let f =
        finding(&v, "memory.rss-gap").unwrap_or_else(|| panic!("no memory.rss-gap: {:?}", ids(&v)));
    let gap = f["evidence"]["unaccounted_bytes"].as_u64().unwrap();
    // 256 MiB written through syscall.Mmap; the Go runtime knows none of it.
    assert!((240 << 20..=300 << 20).contains(&gap), "unaccounted {gap}");
    assert!(
        f["evidence"]["go_accounted_bytes"].as_u64().unwrap() < 64 << 20,
        "{f}"
    );
    assert_eq!(f["severity"], "critical");
    // And it says where: the 16 MiB mmap regions, outside the Go heap arenas.
    let maps = f["evidence"]["largest_non_heap_anon_mappings"]
        .as_array()
        .unwrap();
    assert!(!maps.is_empty(), "{f}");
    let named = f["evidence"]["non_heap_anon_in_largest_mappings_bytes"]
        .as_u64()
        .unwrap();
    assert!(named >= 64 << 20, "{f}");
}

#[test]
fn healthy_has_no_warning_or_critical() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    // A well-configured service: GOMEMLIMIT set (below any container limit here).
    let p = start(&b.bin, "healthy", None, &[("GOMEMLIMIT", "100MiB")]);
    let v = inspect(p.pid());
    let bad: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| format!("{}: {}", f["id"], f["title"]))
        .collect();
    assert!(bad.is_empty(), "healthy process got {bad:?}");
    // And the snapshot is complete: RSS reconciled against MemStats.
    assert!(
        v["process"]["runtime"]["sys_bytes"].as_u64().unwrap() > 0,
        "{v}"
    );
    assert_eq!(v["process"]["binary"]["go_version"], b.go_version.as_str());
}

#[test]
fn inspect_of_a_missing_pid_is_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(["inspect", "999999999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("999999999"));
}

#[test]
fn goroutine_leak_is_seen_through_the_dump_as_analyze_sees_it() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(&b.bin, "goroutineleak", None, &[("GOMEMLIMIT", "100MiB")]);
    let v = inspect(p.pid());
    assert!(
        v["process"]["goroutines"].as_u64().unwrap() >= 600,
        "{}",
        v["process"]
    );
    let dump_url = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "goroutine-dump")
        .and_then(|i| i["path"].as_str())
        .unwrap_or_else(|| panic!("no goroutine dump fetched: {}", v["inputs"]))
        .to_string();
    // The same dump through `gorx analyze`: inspect must report what analyze reports.
    let dump = gorx_live::http::get(&dump_url, Duration::from_secs(5)).unwrap();
    assert!(dump.contains("main.leakyHandler"));
    let file = std::env::temp_dir().join(format!("gorx-live-dump-{}.txt", std::process::id()));
    std::fs::write(&file, &dump).unwrap();
    let a = gorx(&["analyze", "--json", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    for f in a["findings"].as_array().unwrap() {
        let id = f["id"].as_str().unwrap();
        if id.starts_with("goroutine.") {
            assert!(
                finding(&v, id).is_some(),
                "analyze found {id}, inspect did not: {:?}",
                ids(&v)
            );
        }
    }
}

// ---- real cgroups ----

/// A parent cgroup with memory and CPU limits and an unlimited leaf below it, for each
/// controller; removed on drop (after the patient in it is gone).
struct TestCgroups {
    /// Leaf directories to write the pid into (one per hierarchy).
    leaves: Vec<PathBuf>,
    parents: Vec<PathBuf>,
    version: &'static str,
}

impl Drop for TestCgroups {
    fn drop(&mut self) {
        for d in self.leaves.iter().chain(self.parents.iter()) {
            // rmdir fails while a process is still in it; retry briefly after the kill.
            for _ in 0..50 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn write(path: &Path, v: &str) -> Result<(), String> {
    std::fs::write(path, v).map_err(|e| format!("write {v:?} to {}: {e}", path.display()))
}

fn mkdir(path: &Path) -> Result<(), String> {
    std::fs::create_dir(path).map_err(|e| format!("mkdir {}: {e}", path.display()))
}

const MEM_LIMIT: u64 = 512 << 20;
const QUOTA_US: u64 = 20_000;
const PERIOD_US: u64 = 100_000;

fn make_cgroups(name: &str) -> Result<TestCgroups, String> {
    let root = Path::new("/sys/fs/cgroup");
    let v2_controllers =
        std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    let has = |c: &str| v2_controllers.split_whitespace().any(|x| x == c);
    if has("memory") && has("cpu") {
        let mut cg = TestCgroups {
            leaves: vec![],
            parents: vec![],
            version: "v2",
        };
        write(&root.join("cgroup.subtree_control"), "+memory +cpu")?;
        let parent = root.join(name);
        mkdir(&parent)?;
        cg.parents.push(parent.clone());
        write(&parent.join("memory.max"), &MEM_LIMIT.to_string())?;
        write(&parent.join("cpu.max"), &format!("{QUOTA_US} {PERIOD_US}"))?;
        write(&parent.join("cgroup.subtree_control"), "+memory +cpu")?;
        let leaf = parent.join("leaf");
        mkdir(&leaf)?;
        cg.leaves.push(leaf);
        return Ok(cg);
    }
    let (mem, cpu) = (root.join("memory"), root.join("cpu"));
    if !mem.join("memory.limit_in_bytes").exists() || !cpu.join("cpu.cfs_quota_us").exists() {
        return Err(format!(
            "neither cgroup v2 with memory+cpu (cgroup.controllers: {v2_controllers:?}) nor v1 memory and cpu hierarchies under {}",
            root.display()
        ));
    }
    let mut cg = TestCgroups {
        leaves: vec![],
        parents: vec![],
        version: "v1",
    };
    let pm = mem.join(name);
    mkdir(&pm)?;
    cg.parents.push(pm.clone());
    write(&pm.join("memory.limit_in_bytes"), &MEM_LIMIT.to_string())?;
    let pc = cpu.join(name);
    mkdir(&pc)?;
    cg.parents.push(pc.clone());
    write(&pc.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
    write(&pc.join("cpu.cfs_quota_us"), &QUOTA_US.to_string())?;
    for p in [&pm, &pc] {
        let leaf = p.join("leaf");
        mkdir(&leaf)?;
        cg.leaves.push(leaf);
    }
    Ok(cg)
}

#[test]
fn cgroup_limits_throttling_and_gomemlimit_recommendation() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let name = format!("gorx-test-{}", std::process::id());
    let cg = match make_cgroups(&name) {
        Ok(cg) => cg,
        Err(why) => {
            eprintln!("cgroup test: the kernel refused: {why}");
            if under_ci() {
                panic!("CI=true and cgroups could not be set up: {why}");
            }
            return missing_prerequisite(&format!("writable cgroups ({why})"));
        }
    };
    // Explicit GOMAXPROCS above the 0.2-CPU quota: a mismatch on any machine.
    let p = start(&b.bin, "spin", None, &[("GOMAXPROCS", "4")]);
    for leaf in &cg.leaves {
        if let Err(why) = write(&leaf.join("cgroup.procs"), &p.pid().to_string()) {
            if under_ci() {
                panic!("CI=true and the kernel refused to move the patient: {why}");
            }
            return missing_prerequisite(&format!("moving a process into a cgroup ({why})"));
        }
    }
    // Let it burn through its quota for a few dozen periods.
    std::thread::sleep(Duration::from_millis(3500));
    let v = inspect(p.pid());
    let chain = &v["process"]["cgroup"];
    let leaf_path = format!("/{name}/leaf");
    let parent_path = format!("/{name}");

    // The chain runs leaf → parent → ... → root, and the tightest (the parent's) wins.
    let mem = chain["memory"].as_array().unwrap();
    assert_eq!(mem[0]["path"], leaf_path.as_str(), "{chain}");
    assert_eq!(mem[1]["path"], parent_path.as_str());
    assert_eq!(mem[1]["max_bytes"], MEM_LIMIT);
    assert!(mem[0]["current_bytes"].as_u64().unwrap() > 0);
    let cpu = chain["cpu"].as_array().unwrap();
    assert_eq!(cpu[0]["path"], leaf_path.as_str());
    assert_eq!(cpu[1]["quota_us"], QUOTA_US);
    assert_eq!(cpu[1]["period_us"], PERIOD_US);
    assert_eq!(chain["memory_version"], cg.version);

    // Throttling: 2 spinning goroutines on 0.2 CPU are throttled nearly every period.
    let t = finding(&v, "cgroup.cpu-throttled")
        .unwrap_or_else(|| panic!("no cgroup.cpu-throttled: {:?} chain {chain}", ids(&v)));
    assert!(t["evidence"]["nr_throttled"].as_u64().unwrap() >= 1, "{t}");
    assert!(t["evidence"]["throttled_ns"].as_u64().unwrap() > 0, "{t}");
    assert_eq!(t["evidence"]["cpu_limit_cpus"], 0.2);

    // GOMEMLIMIT unset under a 512 MiB limit: recommendation by the documented rule.
    let m = finding(&v, "config.memlimit-missing")
        .unwrap_or_else(|| panic!("no config.memlimit-missing: {:?}", ids(&v)));
    assert_eq!(m["evidence"]["memory_limit_bytes"], MEM_LIMIT);
    assert_eq!(m["evidence"]["cgroup_path"], parent_path.as_str());
    let non_go = m["evidence"]["non_go_rss_bytes"].as_u64().unwrap();
    let rec = m["evidence"]["recommended_gomemlimit_bytes"]
        .as_u64()
        .unwrap();
    assert_eq!(
        rec,
        gorx_analysis::process::recommended_gomemlimit_bytes(MEM_LIMIT, non_go)
    );
    assert!(
        rec <= MEM_LIMIT * 9 / 10 && rec > MEM_LIMIT * 8 / 10,
        "{rec}"
    );
    assert!(
        m["recommendation"]
            .as_str()
            .unwrap()
            .contains(&format!("GOMEMLIMIT={}MiB", rec >> 20)),
        "{m}"
    );

    // GOMAXPROCS=4 against a 0.2-CPU quota.
    let g = finding(&v, "sched.gomaxprocs-mismatch")
        .unwrap_or_else(|| panic!("no sched.gomaxprocs-mismatch: {:?}", ids(&v)));
    assert_eq!(g["evidence"]["gomaxprocs"], 4);
    assert_eq!(g["evidence"]["cpu_limit_cgroup_path"], parent_path.as_str());
    drop(p);
    drop(cg);
}

// ---- watch ----

fn run_gorx(args: &[&str], timeout: Duration) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            return (
                st.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "gorx {args:?} did not end within {timeout:?}; stdout:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn watch_detects_fd_leak_and_captures_a_bundle() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(&b.bin, "fdtrickle", Some(1024), &[]);
    let out = std::env::temp_dir().join(format!("gorx-watch-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let pid = p.pid().to_string();
    let (code, stdout, stderr) = run_gorx(
        &[
            "watch",
            &pid,
            "--interval",
            "200ms",
            "--window",
            "3s",
            "--out",
            out.to_str().unwrap(),
            "--cooldown",
            "60s",
            "--cpu-seconds",
            "1",
            "--trace-seconds",
            "1",
            "--duration",
            "10s",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("[fd.leak]"), "{stdout}");
    assert!(stdout.contains("captured "), "{stdout}");
    // Exactly one bundle (cooldown), complete, and no partial directory left behind.
    let entries: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let bundle = &entries[0];
    assert!(
        bundle
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("gorx-")
    );
    for f in [
        "MANIFEST.json",
        "series.json",
        "findings.json",
        "snapshot.json",
        "cgroup.json",
        "proc/status",
        "proc/limits",
        "proc/smaps_rollup",
        "proc/fd.txt",
        "heap.debug1.txt",
        "goroutine.debug2.txt",
        "vars.json",
        "cpu.pb.gz",
        "trace.out",
    ] {
        assert!(bundle.join(f).exists(), "{f} missing in {bundle:?}");
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("MANIFEST.json")).unwrap())
            .unwrap();
    assert!(
        manifest["trigger"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "fd.leak"),
        "{manifest}"
    );
    let fj: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("findings.json")).unwrap())
            .unwrap();
    assert_eq!(fj["schema"], 1);
    assert!(finding(&fj, "fd.leak").is_some(), "{fj}");
    let cpu = std::fs::read(bundle.join("cpu.pb.gz")).unwrap();
    assert_eq!(&cpu[..2], b"\x1f\x8b", "cpu profile is gzip");
    let trace = std::fs::read(bundle.join("trace.out")).unwrap();
    assert!(trace.starts_with(b"go 1."), "trace header");
    // The bundle reads back into the same snapshot model.
    let snap = gorx_live::bundle::read_snapshot_dir(bundle).unwrap();
    assert_eq!(snap.pid, p.pid());
    assert!(snap.fds.unwrap().total >= 40);
    assert!(snap.runtime.is_some());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn watch_ends_cleanly_when_the_target_is_killed() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let mut p = start(&b.bin, "healthy", None, &[]);
    let pid = p.pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let _ = p.child.kill();
        let _ = p.child.wait();
    });
    let (code, stdout, stderr) = run_gorx(
        &["watch", &pid.to_string(), "--interval", "200ms"],
        Duration::from_secs(30),
    );
    killer.join().unwrap();
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains(&format!("target pid {pid} exited")),
        "{stdout}"
    );
    assert!(stdout.contains("watch ended"), "{stdout}");
}

#[test]
fn watch_follow_picks_up_a_restarted_process() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    // A mode name no other test uses, so the command line is unique to this test.
    let mode = "follow-me";
    let mut first = start(&b.bin, mode, None, &[]);
    let first_pid = first.pid();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gorx"))
        .args([
            "watch",
            &first_pid.to_string(),
            "--interval",
            "200ms",
            "--follow",
            "--duration",
            "8s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = first.child.kill();
    let _ = first.child.wait();
    std::thread::sleep(Duration::from_millis(800));
    let second = start(&b.bin, mode, None, &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "gorx watch --follow did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("target pid {first_pid} exited")),
        "{stdout}"
    );
    assert!(
        stdout.contains("waiting for a new process running"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("watching pid {}", second.pid())),
        "{stdout}"
    );
}

#[test]
fn watch_sees_gc_cpu_in_the_window() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(&b.bin, "gcchurn", None, &[("GOGC", "5")]);
    let pid = p.pid().to_string();
    let (code, stdout, stderr) = run_gorx(
        &[
            "watch",
            &pid,
            "--interval",
            "500ms",
            "--window",
            "6s",
            "--duration",
            "9s",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("[gc.high-cpu]"), "{stdout}");
}

// ---- endpoints: URL forms, failures, servers without /debug/vars ----

/// `--pprof` accepts the index URL, the base URL and host:port; each reaches the runtime
/// (the index URL used to become `…/debug/pprof/debug/pprof/heap?debug=1`, a 404, and an
/// empty report).
#[test]
fn pprof_url_forms_all_reach_the_runtime() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(&b.bin, "healthy", None, &[]);
    let pid = p.pid().to_string();
    for form in [
        format!("http://{}/debug/pprof/", p.addr),
        format!("http://{}", p.addr),
        p.addr.clone(),
    ] {
        let v = gorx(&["inspect", &pid, "--pprof", &form, "--json"]);
        assert!(
            v["process"]["runtime"]["heap_inuse_bytes"].as_u64() > Some(0),
            "{form}: no runtime data: {}",
            v["process"]["endpoint_errors"]
        );
        let inputs: Vec<&str> = v["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["path"].as_str())
            .collect();
        let heap = format!("http://{}/debug/pprof/heap?debug=1", p.addr);
        assert!(inputs.contains(&heap.as_str()), "{form}: {inputs:?}");
        assert_eq!(v["process"]["endpoint_errors"], serde_json::json!([]));
    }
}

/// A loopback HTTP server answering every request with `status` and `body`, until the
/// test ends (the thread is detached; the port is the test's own).
fn canned_server(status: &'static str, body: &'static str) -> String {
    use std::io::{Read, Write};
    let ln = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut c in ln.incoming().flatten() {
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

/// An endpoint that fails is an error (exit 2) naming the URL and the HTTP status, never
/// "No findings" with exit 0.
#[test]
fn pprof_endpoint_that_404s_exits_2_naming_url_and_status() {
    let addr = canned_server("404 Not Found", "404 page not found\n");
    let me = std::process::id().to_string();
    let url = format!("http://{addr}/debug/pprof/");
    let (code, stdout, stderr) =
        run_gorx(&["inspect", &me, "--pprof", &url], Duration::from_secs(30));
    assert_eq!(code, 2, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stdout.contains("No findings"), "{stdout}");
    assert!(
        stderr.contains(&format!("http://{addr}/debug/pprof/")) && stderr.contains("404"),
        "{stderr}"
    );
    // watch with the same URL: the same error, before any sampling.
    let (code, _, stderr) = run_gorx(
        &["watch", &me, "--pprof", &url, "--duration", "2s", "--plain"],
        Duration::from_secs(30),
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");
}

/// A client_golang-style server (pprof and /metrics, no /debug/vars): discovery finds
/// both, `inspect` reads MemStats and GOMAXPROCS (observed) from what is served, and
/// `watch` shows heap_inuse on every sample, naming its source.
#[test]
fn server_without_debug_vars_is_not_blind() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(&b.bin, "healthy", None, &[("GORX_PATIENT_PROM", "1")]);
    let pid = p.pid().to_string();
    let v = inspect(p.pid());
    assert!(
        v["process"]["runtime"]["heap_inuse_bytes"].as_u64() > Some(0),
        "{}",
        v["process"]
    );
    assert_eq!(
        v["process"]["gomaxprocs"]["observed"], true,
        "{}",
        v["process"]
    );
    let (code, stdout, stderr) = run_gorx(
        &["inspect", &pid, "--no-discover", "--pprof", &p.addr],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("GOMAXPROCS") && stdout.contains("(observed"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run_gorx(
        &[
            "watch",
            &pid,
            "--interval",
            "300ms",
            "--duration",
            "2s",
            "--plain",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let samples: Vec<&str> = stdout.lines().filter(|l| l.contains(" rss=")).collect();
    assert!(samples.len() >= 3, "{stdout}");
    for l in samples {
        assert!(!l.contains("heap_inuse=?"), "{l}");
        assert!(
            l.contains("heap_inuse=") && l.contains("[heap?debug=1]"),
            "{l}"
        );
        // The GC health score from the same MemStats (the heap profile's trailer).
        let score = l
            .split("gc_score=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<u32>().ok());
        assert!(score.is_some_and(|n| n <= 100), "{l}");
    }
}

/// A heap leak on a server without /debug/vars is a watch trigger: the bundle holds two
/// heap profiles at least 30 s apart, /metrics, and the trigger's own record, and the
/// trigger names the growing site from the profiles' in-use difference.
#[test]
fn watch_captures_a_heap_leak_and_names_the_site() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(&b.bin, "heapleak", None, &[("GORX_PATIENT_PROM", "1")]);
    let out = std::env::temp_dir().join(format!("gorx-watch-heap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let pid = p.pid().to_string();
    let (code, stdout, stderr) = run_gorx(
        &[
            "watch",
            &pid,
            "--interval",
            "500ms",
            "--window",
            "40s",
            "--out",
            out.to_str().unwrap(),
            "--cooldown",
            "10m",
            "--cpu-seconds",
            "0",
            "--trace-seconds",
            "0",
            "--duration",
            "45s",
            "--plain",
        ],
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("[gc.heap-growth]"), "{stdout}");
    let bundle = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .next()
        .unwrap_or_else(|| panic!("no bundle: {stdout}"));
    for f in [
        "heap.base.pb.gz",
        "heap.pb.gz",
        "metrics.txt",
        "trigger.json",
    ] {
        assert!(bundle.join(f).exists(), "{f} missing in {bundle:?}");
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("MANIFEST.json")).unwrap())
            .unwrap();
    let hp = manifest["heap_profiles"].as_array().unwrap();
    let gap =
        hp[1]["taken_at_unix_s"].as_u64().unwrap() - hp[0]["taken_at_unix_s"].as_u64().unwrap();
    assert!(gap >= 30, "heap profiles {gap} s apart: {manifest}");
    let trig: Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("trigger.json")).unwrap())
            .unwrap();
    let g = finding(&trig, "gc.heap-growth").unwrap_or_else(|| panic!("{trig}"));
    assert!(
        g["sites"][0]
            .as_str()
            .unwrap_or("")
            .contains("rememberSession"),
        "{g}"
    );
    assert!(trig["window"]["samples"].as_array().unwrap().len() >= 20);
    let _ = std::fs::remove_dir_all(&out);
}

// ---- ps layout, watch on signals ----

/// `gorx ps` fits an 80-column terminal (long module paths elided in the middle) and
/// lists Go processes only: one it cannot read is not shown as a row.
#[test]
fn ps_fits_80_columns_and_lists_only_go_processes() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(&b.bin, "healthy", None, &[("GOGC", "150")]);
    let (code, stdout, stderr) = run_gorx(&["ps"], Duration::from_secs(60));
    assert_eq!(code, 0, "{stderr}");
    for l in stdout.lines() {
        assert!(
            l.chars().count() <= 80,
            "{} columns: {l:?}",
            l.chars().count()
        );
    }
    let pid = p.pid().to_string();
    let row = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(pid.as_str()))
        .unwrap_or_else(|| panic!("pid {pid} not listed:\n{stdout}"));
    assert!(row.contains("gorxpatient") && row.contains("go1."), "{row}");
    assert!(stdout.contains("GOGC=150"), "{stdout}");
    // As an unprivileged user, a root process's executable is unreadable: it is not a
    // row (whether it is Go is unknown), only counted below the table.
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(str::to_string)
        })
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"));
    if !root || Command::new("setpriv").arg("--version").output().is_err() {
        return;
    }
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let spid = sleeper.id().to_string();
    let bin = std::env::temp_dir().join(format!("gorx-ps-unpriv-{}", std::process::id()));
    std::fs::copy(env!("CARGO_BIN_EXE_gorx"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .arg("ps")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&bin);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.split_whitespace().next() == Some(spid.as_str())),
        "unreadable non-Go pid {spid} listed as a row:\n{text}"
    );
    assert!(text.contains("not readable"), "{text}");
}

/// `watch` prints its summary when stopped by SIGTERM or SIGINT.
#[test]
fn watch_prints_its_summary_on_sigterm_and_sigint() {
    let Some(b) = patient_binary() else {
        return missing_prerequisite("a Go toolchain");
    };
    let p = start(&b.bin, "healthy", None, &[]);
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let child = Command::new(env!("CARGO_BIN_EXE_gorx"))
            .args([
                "watch",
                &p.pid().to_string(),
                "--interval",
                "200ms",
                "--plain",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, sig);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut child = child;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("gorx watch did not stop on {name}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {stdout}");
        assert!(
            stdout.contains(&format!("watch ended by {name}:")) && stdout.contains(" samples"),
            "{name}: {stdout}"
        );
    }
}

// ---- Debian's real servers (when installed) ----

/// A free loopback port (bound, then released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real server process; killed and reaped on drop, its scratch directory removed.
struct Server {
    child: Child,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Wait up to 30 s for `url` to answer.
fn wait_http(url: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(url.trim_start_matches("http://")) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = write!(s, "GET /metrics HTTP/1.0\r\n\r\n");
            let mut b = [0u8; 12];
            if s.read(&mut b).is_ok_and(|n| n > 0) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn start_server(name: &str, args: &dyn Fn(&Path, u16) -> Vec<String>) -> Option<(Server, u16)> {
    let which = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .ok()?;
    if !which.status.success() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("gorx-real-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let child = Command::new(name)
        .args(args(&dir, port))
        .env("HOME", &dir)
        .env("XDG_DATA_HOME", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let s = Server { child, dir };
    wait_http(&format!("127.0.0.1:{port}")).then_some((s, port))
}

/// Debian's prometheus (no /debug/vars) and caddy (admin API): `inspect` finds their
/// endpoints and MemStats, and a short `watch` knows heap_inuse in every sample.
#[test]
fn debian_prometheus_and_caddy_are_not_blind() {
    let prom = start_server("prometheus", &|dir, port| {
        std::fs::write(
            dir.join("prom.yml"),
            "global:\n  scrape_interval: 5s\nscrape_configs: []\n",
        )
        .unwrap();
        vec![
            format!("--config.file={}", dir.join("prom.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ]
    });
    let caddy = start_server("caddy", &|dir, port| {
        let cfg = format!(
            r#"{{"admin":{{"listen":"127.0.0.1:{port}"}},"apps":{{"http":{{"servers":{{"s":{{"listen":["127.0.0.1:{}"],"routes":[{{"handle":[{{"handler":"static_response","body":"hi"}}]}}]}}}}}}}}}}"#,
            free_port()
        );
        std::fs::write(dir.join("caddy.json"), cfg).unwrap();
        vec![
            "run".into(),
            "--config".into(),
            dir.join("caddy.json").display().to_string(),
        ]
    });
    let servers: Vec<(&str, Server, u16)> = [("prometheus", prom), ("caddy", caddy)]
        .into_iter()
        .filter_map(|(n, s)| s.map(|(s, p)| (n, s, p)))
        .collect();
    if servers.is_empty() {
        return missing_prerequisite("Debian's prometheus or caddy");
    }
    for (name, s, port) in &servers {
        let pid = s.child.id().to_string();
        let v = gorx(&["inspect", &pid, "--json"]);
        assert!(
            v["process"]["runtime"]["heap_inuse_bytes"].as_u64() > Some(0),
            "{name}: {}",
            v["process"]
        );
        assert!(
            v["process"]["endpoints"]["pprof"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!(":{port}"))),
            "{name}: {}",
            v["process"]["endpoints"]
        );
        let (code, stdout, stderr) = run_gorx(
            &[
                "watch",
                &pid,
                "--interval",
                "500ms",
                "--duration",
                "2s",
                "--plain",
            ],
            Duration::from_secs(60),
        );
        assert_eq!(code, 0, "{name}: {stderr}");
        let samples: Vec<&str> = stdout.lines().filter(|l| l.contains(" rss=")).collect();
        assert!(samples.len() >= 3, "{name}: {stdout}");
        for l in samples {
            assert!(!l.contains("heap_inuse=?"), "{name}: {l}");
        }
        eprintln!("{name}: inspect and watch read the runtime");
    }
}
