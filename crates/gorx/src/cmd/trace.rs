use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Print every event as `go tool trace -d=parsed` does.
    Dump(DumpArgs),
    /// Summarize a trace: scheduler latency, STW, GC, blocking, findings.
    Summary(DumpArgs),
    /// Export for the Perfetto UI or chrome://tracing.
    Export(ExportArgs),
}

#[derive(clap::Args)]
pub struct DumpArgs {
    pub file: PathBuf,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// perfetto or chrome.
    #[arg(long, default_value = "perfetto")]
    pub format: String,
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    pub file: PathBuf,
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Dump(a) => dump(&a.file),
        Command::Summary(_) => super::not_built("gorx trace summary", 4),
        Command::Export(_) => super::not_built("gorx trace export", 4),
    }
}

/// Print each event's Go `String()` form on its own line, as `go tool trace -d=parsed`.
/// Events before an error are printed; the error goes to stderr (exit 2).
fn dump(path: &PathBuf) -> anyhow::Result<ExitCode> {
    let name = path.display().to_string();
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gorx: {name}: {e}");
            return Ok(ExitCode::from(super::EXIT_ERROR));
        }
    };
    let mut r = match gorx_trace::Reader::new(name.clone(), f) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gorx: {e}");
            return Ok(ExitCode::from(super::EXIT_ERROR));
        }
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut line = Vec::with_capacity(4096);
    loop {
        match r.read_event() {
            Ok(Some(ev)) => {
                line.clear();
                ev.write_go_string(&mut line);
                line.push(b'\n');
                if out.write_all(&line).is_err() {
                    // Closed pipe (e.g. `| head`): stop quietly.
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Ok(None) => break,
            Err(e) => {
                let _ = out.flush();
                eprintln!("gorx: {e}");
                return Ok(ExitCode::from(super::EXIT_ERROR));
            }
        }
    }
    let _ = out.flush();
    if let Some(off) = r.silent_eof_offset() {
        eprintln!(
            "gorx: warning: {name}: data ended inside a batch at byte offset {off}; Go's reader stops here without an error, and so does this dump"
        );
    }
    Ok(ExitCode::SUCCESS)
}
