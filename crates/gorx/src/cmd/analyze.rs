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
    let artifacts: Vec<Artifact<'_>> = inputs
        .files
        .iter()
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
