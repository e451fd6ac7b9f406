//! `cargo run -p gorx-trace --example trace_dump FILE`: the events as
//! `go tool trace -d=parsed` prints them (the library alone, without the CLI).
use std::io::Write;

fn main() {
    let path = std::env::args().nth(1).expect("usage: trace_dump FILE");
    let f = std::fs::File::open(&path).expect("open");
    let mut r = match gorx_trace::Reader::with_prefetch(path, f) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = Vec::new();
    loop {
        match r.read_event() {
            Ok(Some(ev)) => {
                line.clear();
                ev.write_go_string(&mut line);
                line.push(b'\n');
                if out.write_all(&line).is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(e) => {
                let _ = out.flush();
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
    }
}
