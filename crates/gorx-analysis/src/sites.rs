//! Naming a site: the function a finding points at. The user's code is what a reader can
//! change, so a site is the first frame outside the runtime and the standard library when
//! the stack has one; otherwise the first frame outside the runtime's own plumbing.

use gorx_formats::goroutines::package_of;

/// True for the Go runtime and its internal packages (never the user's code).
pub fn is_runtime(function: &str) -> bool {
    let pkg = package_of(function);
    pkg == "runtime"
        || pkg.starts_with("runtime/")
        || pkg.starts_with("internal/")
        || (function.starts_with('[') && function.ends_with(']'))
        || function == "<unknown>"
}

/// True for the standard library, the runtime included: a package path whose first
/// element has no dot (`net/http`, `encoding/json`, `sync`), and Go's vendored copies
/// (`vendor/golang.org/x/net/...`). `main` and test packages are the user's.
pub fn is_std(function: &str) -> bool {
    if is_runtime(function) {
        return true;
    }
    let pkg = package_of(function);
    if pkg.starts_with("vendor/") {
        return true;
    }
    let first = pkg.split('/').next().unwrap_or(pkg);
    !first.contains('.') && first != "main" && first != "command-line-arguments"
}

/// The site of a stack given leaf first: the first frame outside the runtime and the
/// standard library, else the first outside the runtime, else the leaf.
pub fn user_site<'a, I>(frames: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
    I::IntoIter: Clone,
{
    let frames = frames.into_iter();
    frames
        .clone()
        .find(|f| !is_std(f))
        .or_else(|| frames.clone().find(|f| !is_runtime(f)))
        .or_else(|| frames.clone().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_code_is_named_over_the_standard_library() {
        let stack = [
            "runtime.mallocgc",
            "runtime.growslice",
            "bytes.(*Buffer).grow",
            "encoding/json.(*encodeState).marshal",
            "github.com/prometheus/prometheus/tsdb.(*Head).append",
            "main.main",
        ];
        assert_eq!(
            user_site(stack),
            Some("github.com/prometheus/prometheus/tsdb.(*Head).append")
        );
        // Only the standard library: its first non-runtime frame.
        assert_eq!(
            user_site(["runtime.gopark", "net/http.(*conn).serve"]),
            Some("net/http.(*conn).serve")
        );
        assert_eq!(
            user_site(["runtime.asyncPreempt2", "runtime.asyncPreempt", "main.spin"]),
            Some("main.spin")
        );
        assert_eq!(
            user_site(["runtime.gcBgMarkWorker"]),
            Some("runtime.gcBgMarkWorker")
        );
        assert!(is_std(
            "vendor/golang.org/x/net/http2/hpack.(*Decoder).Write"
        ));
        assert!(!is_std("gopkg.in/yaml%2ev2.unmarshal"));
        assert!(!is_std(
            "go.etcd.io/etcd/server/v3/etcdserver.(*EtcdServer).run"
        ));
        assert!(is_std("sync.(*WaitGroup).Wait"));
    }
}
