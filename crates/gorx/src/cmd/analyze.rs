use super::inputs;
use anyhow::{Result, bail};
use gorx_analysis::Severity;
use gorx_analysis::artifacts::{Artifact, KnownProcess, diagnose_with};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON (schema 1) instead of the readable report.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 1 when a finding at or above this severity is reported.
    #[arg(long, value_name = "warning|critical")]
    pub fail_on: Option<String>,
    /// Artifact files, or directories (every artifact inside, e.g. a capture bundle).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let fail_on = parse_fail_on(args.fail_on.as_deref())?;
    let inputs = inputs::load(&args.paths)?;
    // eBPF probe results (`gorx probe -o DIR`, `watch --ebpf` bundles): read apart from
    // the artifacts, each for the directory it is in (see `known` below).
    let mut probed: Vec<(String, gorx_live::probe_file::ProbeRecord)> = Vec::new();
    for f in inputs.files.iter().filter(|f| is_probe_json(&f.name)) {
        let dir = f.name.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        probed.push((
            dir,
            gorx_live::probe_file::parse_probe_record(&f.name, f.bytes())?,
        ));
    }
    let artifacts: Vec<Artifact<'_>> = inputs
        .files
        .iter()
        .filter(|f| !is_probe_json(&f.name))
        .map(|f| Artifact {
            name: &f.name,
            bytes: f.bytes(),
            explicit: f.explicit,
        })
        .collect();
    // A capture bundle also keeps what has no /proc text form (cgroup chain, environment).
    let mut known = Vec::new();
    for dir in &inputs.bundles {
        let snapshot = gorx_live::bundle::read_bundle_extras(dir)?;
        known.push(KnownProcess {
            dir: dir.display().to_string(),
            snapshot,
            trigger: gorx_live::bundle::read_trigger_findings(dir)?,
        });
    }
    let diagnosis = diagnose_with(&artifacts, known)?;
    let diagnosis = join_probes(diagnosis, probed);
    if diagnosis.inputs.is_empty() {
        bail!(
            "no artifact gorx reads was found in {}",
            describe(&args.paths)
        );
    }
    super::print_diagnosis(&diagnosis, args.json);
    Ok(super::exit_for(&diagnosis, fail_on))
}

pub fn parse_fail_on(v: Option<&str>) -> Result<Option<Severity>> {
    Ok(match v {
        None => None,
        Some("warning") => Some(Severity::Warning),
        Some("critical") => Some(Severity::Critical),
        Some(other) => bail!("--fail-on takes warning or critical, not {other:?}"),
    })
}

fn describe(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The probes' findings joined at the end with those of the process they belong to
/// (their directory), by gorx_analysis::probe_join: the one naming a site stays, with
/// both sources. Joined after the judgement rather than fed to it, because the judge keeps
/// one finding per id and the probes name one per leaking site. When several processes
/// are analysed, each finding's title names its directory, as the judge's do.
fn join_probes(
    d: gorx_analysis::Diagnosis,
    probed: Vec<(String, gorx_live::probe_file::ProbeRecord)>,
) -> gorx_analysis::Diagnosis {
    if probed.is_empty() {
        return d;
    }
    let gorx_analysis::Diagnosis {
        mut inputs,
        mut findings,
        mut notes,
        ..
    } = d;
    // The processes, as the judge groups them: one per directory (`DIR/proc` is DIR's).
    let bundle_of = |name: &str| {
        let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
        dir.strip_suffix("/proc")
            .or_else(|| (dir == "proc").then_some(""))
            .unwrap_or(dir)
            .to_string()
    };
    let mut dirs: Vec<String> = inputs.iter().map(|i| bundle_of(&i.path)).collect();
    dirs.extend(probed.iter().map(|(d, _)| d.clone()));
    dirs.sort();
    dirs.dedup();
    let several = dirs.len() > 1;
    for (dir, rec) in probed {
        inputs.push(gorx_analysis::InputSummary {
            path: rec.path.clone(),
            kind: "ebpf-probe".into(),
        });
        notes.extend(rec.notes);
        let mut probe = rec.findings;
        if several {
            let who = if dir.is_empty() { "." } else { dir.as_str() };
            let prefix = format!("{who}: ");
            for f in &mut probe {
                f.title = format!("{prefix}{}", f.title);
            }
            let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut findings)
                .into_iter()
                .partition(|f| f.title.starts_with(&prefix));
            findings = others;
            findings.extend(gorx_analysis::probe_join::join_probe_findings(mine, probe));
        } else {
            findings = gorx_analysis::probe_join::join_probe_findings(findings, probe);
        }
    }
    gorx_analysis::Diagnosis::new(inputs, findings).with_notes(notes)
}

/// A probe document written by `gorx probe -o DIR` or `watch --ebpf`.
fn is_probe_json(name: &str) -> bool {
    std::path::Path::new(name).file_name()
        == Some(std::ffi::OsStr::new(gorx_live::probe_file::PROBE_JSON))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gorx_analysis::{Diagnosis, Finding, InputSummary};
    use gorx_live::probe_file::ProbeRecord;

    fn leak(title: &str, source: &str, sites: &[&str]) -> Finding {
        Finding {
            id: "fd.leak",
            severity: Severity::Warning,
            title: title.into(),
            evidence: Default::default(),
            recommendation: String::new(),
            sources: vec![source.into()],
            sites: sites.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn diagnosis(files: &[&str], findings: Vec<Finding>) -> Diagnosis {
        let inputs = files
            .iter()
            .map(|f| InputSummary {
                path: f.to_string(),
                kind: "proc-status".into(),
            })
            .collect();
        Diagnosis::new(inputs, findings)
    }

    fn record(dir: &str, findings: Vec<Finding>) -> (String, ProbeRecord) {
        let rec = ProbeRecord {
            path: format!("{dir}/probe.json"),
            findings,
            probes: vec!["fds".into()],
            notes: Vec::new(),
        };
        (dir.to_string(), rec)
    }

    #[test]
    fn probe_findings_join_their_own_process_only() {
        // One process: the probe's site replaces the trigger's siteless fd.leak.
        let d = diagnosis(
            &["b/proc/status", "b/vars.json"],
            vec![leak("open fds rose", "b/trigger.json", &[])],
        );
        let probe = leak("fds opened at main.dial", "b/probe.json", &["main.dial"]);
        let d = join_probes(d, vec![record("b", vec![probe])]);
        assert_eq!(d.findings.len(), 1);
        assert_eq!(d.findings[0].sites, vec!["main.dial".to_string()]);
        assert_eq!(d.findings[0].sources, ["b/probe.json", "b/trigger.json"]);
        assert!(d.inputs.iter().any(|i| i.path == "b/probe.json"));
        // Two processes (the judge titled each finding with its directory): the probe of
        // b joins b's fd.leak, never a's, and says whose it is.
        let d = diagnosis(
            &["a/proc/status", "b/proc/status"],
            vec![
                leak("a: open fds rose", "a/trigger.json", &[]),
                leak("b: open fds rose", "b/trigger.json", &[]),
            ],
        );
        let probe = leak("fds opened at main.dial", "b/probe.json", &["main.dial"]);
        let d = join_probes(d, vec![record("b", vec![probe])]);
        assert_eq!(d.findings.len(), 2, "{:#?}", d.findings);
        let a = d
            .findings
            .iter()
            .find(|f| f.title.starts_with("a: "))
            .unwrap();
        assert!(a.sites.is_empty() && a.sources == ["a/trigger.json"]);
        let b = d
            .findings
            .iter()
            .find(|f| f.title.starts_with("b: "))
            .unwrap();
        assert_eq!(b.title, "b: fds opened at main.dial");
        assert_eq!(b.sources, ["b/probe.json", "b/trigger.json"]);
    }
}
