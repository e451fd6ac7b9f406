//! Reading a running Go process from outside, without changing it: which processes are Go
//! ([`gobin`]), their /proc state ([`proc`]), their cgroup chain ([`cgroup`]), and the
//! runtime's own HTTP endpoints ([`http`]). Everything here is I/O; parsing lives in
//! gorx-formats and judgement in gorx-analysis.

pub mod bundle;
pub mod cgroup;
pub mod gobin;
pub mod http;
pub mod probe_file;
pub mod proc;
pub mod watch;

use std::path::{Path, PathBuf};

/// A failure to read something from a live process, naming what could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Format(#[from] gorx_formats::FormatError),
    #[error("{url}: {message}")]
    Http { url: String, message: String },
}

impl LiveError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        LiveError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// True when the failure is a permission problem (so the caller can say "run as root").
    pub fn is_permission(&self) -> bool {
        matches!(self, LiveError::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied)
    }

    /// True when the process (or file) no longer exists.
    pub fn is_gone(&self) -> bool {
        matches!(self, LiveError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound || source.raw_os_error() == Some(libc::ESRCH))
    }
}
