//! pprof profiles: protobuf (gzipped or not) and the legacy ?debug=1 text forms. (not built yet)
