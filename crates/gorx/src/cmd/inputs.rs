//! Reading the files a command was given: a directory means every file in it
//! (a capture bundle), recursively, in name order. Files are memory-mapped so a
//! multi-GB log costs address space, not heap.

use anyhow::{Context, Result};
use memmap2::Mmap;
use std::fs::File;
use std::path::{Path, PathBuf};

pub struct InputFile {
    /// The path as the user would recognise it.
    pub name: String,
    /// Whether the user named this file directly (rather than it being found in a directory).
    pub explicit: bool,
    data: Option<Mmap>,
}

impl InputFile {
    pub fn bytes(&self) -> &[u8] {
        self.data.as_deref().unwrap_or(&[])
    }
}

/// What the paths hold: every file, and the capture bundles among the directories.
pub struct Inputs {
    pub files: Vec<InputFile>,
    /// Directories written by `gorx watch`/`inspect` captures (they hold `snapshot.json`
    /// or `cgroup.json`), spelled as the files' names spell them.
    pub bundles: Vec<PathBuf>,
}

/// Expand directories and map every file.
pub fn load(paths: &[PathBuf]) -> Result<Inputs> {
    let mut out = Inputs {
        files: Vec::new(),
        bundles: Vec::new(),
    };
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("{}: cannot read", p.display()))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            // `dir/` and `dir` name the same bundle; files are named from the clean form.
            let dir: PathBuf = p.components().collect();
            walk(&dir, &mut files)?;
            files.sort();
            for f in files {
                if let Some(parent) = f.parent()
                    && matches!(
                        f.file_name().and_then(|n| n.to_str()),
                        Some("snapshot.json" | "cgroup.json")
                    )
                    && !out.bundles.iter().any(|b| b == parent)
                {
                    out.bundles.push(parent.to_path_buf());
                }
                out.files.push(map(&f, false)?);
            }
        } else {
            out.files.push(map(p, true)?);
        }
    }
    Ok(out)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("{}: cannot list", dir.display()))?;
        let path = e.path();
        // Hidden files and temporary capture directories are not artifacts.
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let ft = e
            .file_type()
            .with_context(|| format!("{}: cannot stat", path.display()))?;
        if ft.is_dir() {
            walk(&path, files)?;
        } else if ft.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

fn map(path: &Path, explicit: bool) -> Result<InputFile> {
    let name = path.display().to_string();
    let file = File::open(path).with_context(|| format!("{name}: cannot open"))?;
    let len = file
        .metadata()
        .with_context(|| format!("{name}: cannot stat"))?
        .len();
    // Mapping an empty file fails on Linux; an empty input is simply empty.
    let data = if len == 0 {
        None
    } else {
        // SAFETY: the map is read-only; a file truncated under us while we read it would
        // fault, which is the same risk every mmap-based tool (ripgrep, pprof) accepts.
        Some(unsafe { Mmap::map(&file) }.with_context(|| format!("{name}: cannot map"))?)
    };
    Ok(InputFile {
        name,
        explicit,
        data,
    })
}
