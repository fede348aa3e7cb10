//! The loaded pipes of the `pipes/` folder. Read at start, re-read on reload; a
//! file that no longer loads keeps its previous good version and reports why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::Pipe;

/// One reload's outcome: what loaded and which files failed (with `file:line: why`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    pub errors: Vec<FileError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileError {
    pub file: String,
    pub error: String,
    /// True when a previous good version of this pipe is still being served.
    pub kept_previous: bool,
}

/// Reads every `*.pipe` file of `dir` (sorted), loading each independently.
/// A missing folder is no pipes (and a warning), not an error.
pub fn load_dir(dir: &Path) -> std::io::Result<Vec<(PathBuf, Result<Pipe, String>)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), "the pipes folder does not exist: no pipes are served");
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pipe"))
        .collect();
    files.sort();
    Ok(files
        .into_iter()
        .map(|path| {
            let loaded = load_file(&path);
            (path, loaded)
        })
        .collect())
}

fn load_file(path: &Path) -> Result<Pipe, String> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Pipe::load(name, &text).map_err(|e| e.to_string())
}

/// The pipes being served, swapped whole on reload so a request sees one version.
pub struct Registry {
    dir: PathBuf,
    current: RwLock<Arc<BTreeMap<String, Arc<Pipe>>>>,
}

impl Registry {
    /// Loads `dir`. Broken files are reported, not fatal: the others are served.
    pub fn load(dir: &Path) -> std::io::Result<(Self, LoadReport)> {
        let registry = Registry {
            dir: dir.to_path_buf(),
            current: RwLock::new(Arc::new(BTreeMap::new())),
        };
        let report = registry.reload()?;
        Ok((registry, report))
    }

    /// Re-reads the folder. New and changed files that load replace their pipe;
    /// a file that fails keeps the previous version; deleted files are dropped.
    pub fn reload(&self) -> std::io::Result<LoadReport> {
        let previous = self.snapshot();
        let mut next = BTreeMap::new();
        let mut report = LoadReport::default();
        for (path, loaded) in load_dir(&self.dir)? {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            match loaded {
                Ok(pipe) => {
                    report.loaded.push(name.clone());
                    next.insert(name, Arc::new(pipe));
                }
                Err(error) => {
                    let old = previous.get(&name).cloned();
                    report.errors.push(FileError {
                        file: path.display().to_string(),
                        error,
                        kept_previous: old.is_some(),
                    });
                    if let Some(old) = old {
                        next.insert(name, old);
                    }
                }
            }
        }
        for e in &report.errors {
            tracing::error!(file = %e.file, error = %e.error, kept_previous = e.kept_previous, "pipe file does not load");
        }
        *self.current.write().expect("registry lock") = Arc::new(next);
        Ok(report)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Pipe>> {
        self.snapshot().get(name).cloned()
    }

    pub fn snapshot(&self) -> Arc<BTreeMap<String, Arc<Pipe>>> {
        self.current.read().expect("registry lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "NODE n\nSQL >\n    SELECT {{ Int32(x, 1) }} AS x\n";
    const BETTER: &str = "NODE n\nSQL >\n    SELECT {{ Int32(x, 2) }} AS x\n";

    #[test]
    fn a_broken_file_keeps_the_previous_good_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pipe"), GOOD).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let (reg, report) = Registry::load(dir.path()).unwrap();
        assert_eq!(report.loaded, ["a"]);
        let before = reg.get("a").unwrap();

        std::fs::write(
            dir.path().join("a.pipe"),
            "NODE n\nSQL >\n    SELECT {{ Nope(x) }}\n",
        )
        .unwrap();
        let report = reg.reload().unwrap();
        assert_eq!(report.errors.len(), 1);
        assert!(report.errors[0].kept_previous);
        assert!(
            report.errors[0].error.contains("a.pipe:3"),
            "{}",
            report.errors[0].error
        );
        assert!(Arc::ptr_eq(&before, &reg.get("a").unwrap()));

        std::fs::write(dir.path().join("a.pipe"), BETTER).unwrap();
        assert!(reg.reload().unwrap().errors.is_empty());
        assert!(!Arc::ptr_eq(&before, &reg.get("a").unwrap()));

        std::fs::remove_file(dir.path().join("a.pipe")).unwrap();
        reg.reload().unwrap();
        assert!(reg.get("a").is_none());
    }
}
