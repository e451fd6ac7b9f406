//! Where code is implicated, shared by the dump, trace and profile rules:
//!
//! - [`user_frame`]: a site is the first frame outside the runtime and the standard
//!   library where there is one ([`site`] falls back to the first frame outside the
//!   waiting primitives);
//! - [`idle_wait`]: waits that are idleness by design — idle keep-alive connections
//!   (HTTP/1, HTTP/2, gRPC transport readers), listeners in `Accept`, the standard
//!   library's service loops and pools (net/http's writeLoop, HTTP/2 serve loops,
//!   database/sql's opener and cleaner), sleeping ticker loops — classified by the
//!   blocking frames and, in goroutine dumps, the creator.

use gorx_formats::goroutines::package_of;

/// Top-level import paths of Go's standard library (a module path's first element
/// has a dot; `main` and dotless module names are not listed here). `vendor/` holds the
/// standard library's vendored golang.org/x packages.
const STD_ROOTS: &[&str] = &[
    "archive",
    "bufio",
    "bytes",
    "cmp",
    "compress",
    "container",
    "context",
    "crypto",
    "database",
    "debug",
    "embed",
    "encoding",
    "errors",
    "expvar",
    "flag",
    "fmt",
    "go",
    "hash",
    "html",
    "image",
    "index",
    "internal",
    "io",
    "iter",
    "log",
    "maps",
    "math",
    "mime",
    "net",
    "os",
    "path",
    "plugin",
    "reflect",
    "regexp",
    "runtime",
    "slices",
    "sort",
    "strconv",
    "strings",
    "structs",
    "sync",
    "syscall",
    "testing",
    "text",
    "time",
    "unicode",
    "unique",
    "unsafe",
    "vendor",
    "weak",
];

/// True for a function of Go's standard library (`net/http.(*conn).serve`,
/// `runtime.gopark`, `vendor/golang.org/x/net/http2/hpack.(*Decoder).Write`).
pub fn is_std(function: &str) -> bool {
    let pkg = package_of(function);
    let root = pkg.split('/').next().unwrap_or(pkg);
    STD_ROOTS.contains(&root)
}

/// True for the waiting primitives' own frames: the runtime, sync, syscall and the
/// internal packages (the primitive, not the code that waits).
pub fn is_plumbing(function: &str) -> bool {
    let pkg = package_of(function);
    pkg == "runtime"
        || pkg == "sync"
        || pkg == "syscall"
        || pkg == "panic"
        || pkg.starts_with("runtime/")
        || pkg.starts_with("internal/")
        || pkg.starts_with("sync/")
}

/// The first frame (leaf first) outside the runtime and the standard library.
pub fn user_frame<'a>(funcs: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    funcs.into_iter().find(|f| !is_std(f))
}

/// Where code is implicated: [`user_frame`] where there is one, else the first frame
/// outside the waiting primitives ([`is_plumbing`]), else None.
pub fn site<'a>(funcs: impl IntoIterator<Item = &'a str> + Clone) -> Option<&'a str> {
    user_frame(funcs.clone()).or_else(|| funcs.into_iter().find(|f| !is_plumbing(f)))
}

/// Why a wait is idle by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum IdleKind {
    /// An HTTP/1 server connection waiting for its next request (keep-alive).
    HttpServerConn,
    /// An HTTP client connection kept for reuse (net/http's readLoop/writeLoop).
    HttpClientConn,
    /// An HTTP/2 connection's reader or serve loop waiting for frames.
    Http2Conn,
    /// A gRPC transport's reader, writer or keepalive loop.
    GrpcTransport,
    /// A listener waiting for the next connection.
    Accept,
    /// A pool or service loop of the standard library waiting for work.
    ServiceLoop,
    /// A loop that sleeps between runs (a `time.Sleep`-driven ticker).
    Sleeping,
}

impl IdleKind {
    /// What a group of `n` such goroutines is, for titles ("150 idle keep-alive ...").
    pub fn describe(self) -> &'static str {
        match self {
            IdleKind::HttpServerConn => "idle HTTP keep-alive server connections",
            IdleKind::HttpClientConn => "idle HTTP client connections kept for reuse",
            IdleKind::Http2Conn => "idle HTTP/2 connections waiting for frames",
            IdleKind::GrpcTransport => "idle gRPC transport loops",
            IdleKind::Accept => "listeners waiting in Accept",
            IdleKind::ServiceLoop => "standard-library service loops waiting for work",
            IdleKind::Sleeping => "sleeping loops (time.Sleep-driven tickers)",
        }
    }
}

/// Packages of the transports whose readers are idle connections (besides the standard
/// library): frames of these may lie between the read and the connection's loop.
fn is_transport(function: &str) -> bool {
    let f = function.strip_prefix("vendor/").unwrap_or(function);
    f.starts_with("golang.org/x/net/http2")
        || f.starts_with("google.golang.org/grpc/internal/transport")
        || f.starts_with("google.golang.org/grpc/internal/grpcsync")
}

/// Connection readers: idle when blocked in network I/O below them.
const READERS: &[(&str, IdleKind)] = &[
    ("net/http.(*conn).serve", IdleKind::HttpServerConn),
    (
        "net/http.(*connReader).backgroundRead",
        IdleKind::HttpServerConn,
    ),
    ("net/http.(*persistConn).readLoop", IdleKind::HttpClientConn),
    (
        "net/http.(*http2serverConn).readFrames",
        IdleKind::Http2Conn,
    ),
    (
        "net/http.(*http2clientConnReadLoop).run",
        IdleKind::Http2Conn,
    ),
    ("net/http.(*http2Framer).ReadFrame", IdleKind::Http2Conn),
    (
        "golang.org/x/net/http2.(*serverConn).readFrames",
        IdleKind::Http2Conn,
    ),
    (
        "golang.org/x/net/http2.(*clientConnReadLoop).run",
        IdleKind::Http2Conn,
    ),
    (
        "golang.org/x/net/http2.(*Framer).ReadFrame",
        IdleKind::Http2Conn,
    ),
    (
        "google.golang.org/grpc/internal/transport.(*http2Server).HandleStreams",
        IdleKind::GrpcTransport,
    ),
    (
        "google.golang.org/grpc/internal/transport.(*http2Client).reader",
        IdleKind::GrpcTransport,
    ),
    ("net.(*netFD).accept", IdleKind::Accept),
    ("net.(*TCPListener).Accept", IdleKind::Accept),
    ("net.(*UnixListener).Accept", IdleKind::Accept),
];

/// Service loops: idle in any wait below them (select, channel receive, condition).
const LOOPS: &[(&str, IdleKind)] = &[
    (
        "net/http.(*persistConn).writeLoop",
        IdleKind::HttpClientConn,
    ),
    ("net/http.(*http2serverConn).serve", IdleKind::Http2Conn),
    (
        "golang.org/x/net/http2.(*serverConn).serve",
        IdleKind::Http2Conn,
    ),
    (
        "google.golang.org/grpc/internal/transport.(*loopyWriter).run",
        IdleKind::GrpcTransport,
    ),
    (
        "google.golang.org/grpc/internal/transport.(*http2Client).keepalive",
        IdleKind::GrpcTransport,
    ),
    (
        "google.golang.org/grpc/internal/transport.(*http2Server).keepalive",
        IdleKind::GrpcTransport,
    ),
    ("database/sql.(*DB).connectionOpener", IdleKind::ServiceLoop),
    (
        "database/sql.(*DB).connectionCleaner",
        IdleKind::ServiceLoop,
    ),
];

/// Creators whose goroutines, blocked in network I/O with only standard-library or
/// transport frames, are connection readers (a dump's stack may be cut at 100 frames).
const CREATORS: &[(&str, IdleKind)] = &[
    ("net/http.(*Server).Serve", IdleKind::HttpServerConn),
    ("net/http.(*Transport).dialConn", IdleKind::HttpClientConn),
    ("net/http.(*http2serverConn).serve", IdleKind::Http2Conn),
    (
        "net/http.(*http2Transport).newClientConn",
        IdleKind::Http2Conn,
    ),
    (
        "golang.org/x/net/http2.(*serverConn).serve",
        IdleKind::Http2Conn,
    ),
    (
        "golang.org/x/net/http2.(*Transport).newClientConn",
        IdleKind::Http2Conn,
    ),
    (
        "google.golang.org/grpc/internal/transport.NewServerTransport",
        IdleKind::GrpcTransport,
    ),
    (
        "google.golang.org/grpc/internal/transport.newHTTP2Client",
        IdleKind::GrpcTransport,
    ),
];

fn lookup(table: &[(&str, IdleKind)], function: &str) -> Option<IdleKind> {
    let f = function.strip_prefix("vendor/").unwrap_or(function);
    table.iter().find(|(m, _)| *m == f).map(|(_, k)| *k)
}

/// Whether a wait is idle by design, and which kind. `network` is true for a wait in
/// network I/O (a dump's "IO wait", a trace's "network" reason or a blocking stack
/// through `internal/poll.runtime_pollWait`); `sleep` for a dump's "sleep" state or a
/// trace's "sleep" reason. `funcs` is the blocking stack, leaf first; `created_by` the
/// dump's creator. The frames between the wait and the loop must all be the standard
/// library's or the transport's: a handler's own read of an upstream is not idle.
pub fn idle_wait(
    network: bool,
    sleep: bool,
    funcs: &[&str],
    created_by: Option<&str>,
) -> Option<IdleKind> {
    let network = network || funcs.contains(&"internal/poll.runtime_pollWait");
    for f in funcs {
        if network && let Some(k) = lookup(READERS, f) {
            return Some(k);
        }
        if let Some(k) = lookup(LOOPS, f) {
            return Some(k);
        }
        if !(is_std(f) || is_transport(f)) {
            break;
        }
    }
    let only_library = funcs.iter().all(|f| is_std(f) || is_transport(f));
    if network
        && only_library
        && !funcs.is_empty()
        && let Some(k) = created_by.and_then(|c| lookup(CREATORS, c))
    {
        return Some(k);
    }
    // time.Sleep called by the loop itself: it wakes up on its own.
    if sleep || funcs.first().is_some_and(|f| *f == "time.Sleep") {
        let first_code = funcs.iter().find(|f| !is_plumbing(f));
        if first_code.is_none_or(|f| *f == "time.Sleep") {
            return Some(IdleKind::Sleeping);
        }
    }
    None
}

/// True for a syscall stack of an event loop waiting on its own event source by design:
/// `epoll_wait`/`kevent` called by the program (x/sys/unix, syscall; the runtime's own
/// netpoller never shows as a goroutine's syscall) or an inotify/fsnotify reader's
/// blocking read. Such a goroutine sits in the syscall until an event arrives.
pub fn idle_syscall(funcs: &[&str]) -> bool {
    funcs.iter().any(|f| {
        let name = f.rsplit('.').next().unwrap_or(f);
        let poll = matches!(
            name,
            "EpollWait" | "EpollPwait" | "epollwait" | "epoll_wait" | "Kevent" | "kevent"
        ) && !f.starts_with("runtime.");
        let notify = (f.contains("fsnotify") || f.contains("inotify"))
            && (name == "readEvents" || name == "wait" || name == "readEventsLoop");
        poll || notify
    })
}

/// [`idle_wait`] for a start function only (a v1 trace's goroutine blocked before the
/// trace began: no blocking stack, no reason, only where it started).
pub fn idle_start(start: &str) -> Option<IdleKind> {
    lookup(READERS, start).or_else(|| lookup(LOOPS, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_and_user() {
        assert!(is_std("net/http.(*conn).serve"));
        assert!(is_std("runtime.asyncPreempt2"));
        assert!(is_std(
            "vendor/golang.org/x/net/http2/hpack.(*Decoder).Write"
        ));
        assert!(!is_std("main.score"));
        assert!(!is_std("github.com/caddyserver/caddy/v2.(*App).Start"));
        assert!(!is_std("golang.org/x/net/http2.(*Framer).ReadFrame"));
        assert_eq!(
            user_frame([
                "runtime.asyncPreempt2",
                "runtime.asyncPreempt",
                "main.score"
            ]),
            Some("main.score")
        );
        assert_eq!(
            site(["runtime.gopark", "net/http/pprof.sleep"]),
            Some("net/http/pprof.sleep")
        );
        assert_eq!(
            site(["runtime.asyncPreempt2", "runtime.asyncPreempt"]),
            None
        );
    }

    #[test]
    fn keepalive_is_idle_a_handler_read_is_not() {
        let keepalive = [
            "internal/poll.runtime_pollWait",
            "internal/poll.(*pollDesc).wait",
            "internal/poll.(*FD).Read",
            "net.(*netFD).Read",
            "net.(*conn).Read",
            "net/http.(*connReader).Read",
            "bufio.(*Reader).fill",
            "bufio.(*Reader).Peek",
            "net/http.(*conn).serve",
        ];
        assert_eq!(
            idle_wait(true, false, &keepalive, Some("net/http.(*Server).Serve")),
            Some(IdleKind::HttpServerConn)
        );
        // Cut before the loop: the creator tells.
        assert_eq!(
            idle_wait(
                true,
                false,
                &keepalive[..7],
                Some("net/http.(*Server).Serve")
            ),
            Some(IdleKind::HttpServerConn)
        );
        let handler = [
            "internal/poll.runtime_pollWait",
            "net.(*netFD).Read",
            "net.(*conn).Read",
            "main.fetchUpstream",
            "main.handler",
            "net/http.HandlerFunc.ServeHTTP",
            "net/http.serverHandler.ServeHTTP",
            "net/http.(*conn).serve",
        ];
        assert_eq!(
            idle_wait(true, false, &handler, Some("net/http.(*Server).Serve")),
            None
        );
        let grpc = [
            "internal/poll.runtime_pollWait",
            "net.(*netFD).Read",
            "bufio.(*Reader).Read",
            "io.ReadAtLeast",
            "golang.org/x/net/http2.readFrameHeader",
            "golang.org/x/net/http2.(*Framer).ReadFrame",
            "google.golang.org/grpc/internal/transport.(*http2Server).HandleStreams",
        ];
        assert_eq!(
            idle_wait(true, false, &grpc, None),
            Some(IdleKind::Http2Conn)
        );
        let send = [
            "runtime.gopark",
            "runtime.chansend",
            "runtime.chansend1",
            "main.f",
        ];
        assert_eq!(idle_wait(false, false, &send, None), None);
        let write_loop = [
            "runtime.gopark",
            "runtime.selectgo",
            "net/http.(*persistConn).writeLoop",
        ];
        assert_eq!(
            idle_wait(false, false, &write_loop, None),
            Some(IdleKind::HttpClientConn)
        );
        let sleep = ["time.Sleep", "main.ticker"];
        assert_eq!(
            idle_wait(false, true, &sleep, None),
            Some(IdleKind::Sleeping)
        );
        assert_eq!(
            idle_start("net/http.(*conn).serve"),
            Some(IdleKind::HttpServerConn)
        );
    }

    #[test]
    fn event_loops_in_syscalls() {
        assert!(idle_syscall(&[
            "syscall.Syscall6",
            "golang.org/x/sys/unix.EpollWait",
            "github.com/fsnotify/fsnotify.(*fdPoller).wait",
            "github.com/fsnotify/fsnotify.(*Watcher).readEvents",
        ]));
        assert!(idle_syscall(&[
            "syscall.Syscall",
            "golang.org/x/sys/unix.Read",
            "github.com/fsnotify/fsnotify.(*inotify).readEvents",
        ]));
        assert!(!idle_syscall(&[
            "syscall.Syscall",
            "syscall.Fsync",
            "os.(*File).Sync",
            "main.save"
        ]));
    }
}
