//! Go execution traces (format v2, written by Go 1.22 and later), read as Go's
//! `internal/trace` reads them.
