//! Finding the installed PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What to tell a person when no binaries are found: one line, what to do.
pub const MISSING_HINT: &str = "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: \
install them (Debian/Ubuntu: sudo apt-get install -y postgresql), or set database.embedded.bin_dir \
(LTV_DATABASE__EMBEDDED__BIN_DIR) to their folder, or set DATABASE_URL to use an existing server";

const NEEDED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// The folder holding all the needed binaries: the configured one if set (and then
/// only it), else `pg_config --bindir`, the Debian/Ubuntu layout (newest major
/// first), then every folder of `PATH`.
pub fn find_bin_dir(configured: &str) -> Result<PathBuf, String> {
    if !configured.trim().is_empty() {
        let dir = PathBuf::from(configured.trim());
        return if has_all(&dir) {
            Ok(dir)
        } else {
            Err(format!(
                "database.embedded.bin_dir = {} does not hold initdb, pg_ctl and postgres",
                dir.display()
            ))
        };
    }
    candidates()
        .into_iter()
        .find(|dir| has_all(dir))
        .ok_or_else(|| MISSING_HINT.to_string())
}

fn has_all(dir: &Path) -> bool {
    NEEDED.iter().all(|bin| dir.join(bin).is_file())
}

fn candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    dirs.extend(debian_bin_dirs(Path::new("/usr/lib/postgresql")));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs
}

/// `/usr/lib/postgresql/<major>/bin`, newest major first.
fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut majors: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    majors.sort_by_key(|m| std::cmp::Reverse(m.0));
    majors.into_iter().map(|(_, dir)| dir).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_majors_are_listed_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for major in ["13", "16", "9", "not-a-version"] {
            std::fs::create_dir_all(root.path().join(major).join("bin")).unwrap();
        }
        let dirs = debian_bin_dirs(root.path());
        let names: Vec<_> = dirs
            .iter()
            .map(|d| d.parent().unwrap().file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["16", "13", "9"]);
    }

    #[test]
    fn a_configured_folder_without_the_binaries_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_bin_dir(dir.path().to_str().unwrap()).unwrap_err();
        assert!(err.contains("does not hold initdb"), "{err}");
    }
}
