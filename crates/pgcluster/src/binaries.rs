//! Finding the installed PostgreSQL server binaries.

use crate::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding `initdb` and `postgres`.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    /// The bin directory.
    pub dir: PathBuf,
}

impl PgBinaries {
    /// Path of one program in the bin directory.
    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// Finds the server binaries: `$SLUICE_PG_BIN`, then `pg_config --bindir`, then the
/// newest `/usr/lib/postgresql/<version>/bin` (Debian's layout, where `pg_config` often
/// names only the client package).
pub fn find_binaries() -> Result<PgBinaries, Error> {
    if let Some(dir) = std::env::var_os("SLUICE_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if has_server(&dir) {
            Ok(PgBinaries { dir })
        } else {
            Err(Error::NoBinaries)
        };
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Ok(PgBinaries { dir });
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let dir = e.path().join("bin");
            has_server(&dir).then_some((v, dir))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, dir)| PgBinaries { dir })
        .ok_or(Error::NoBinaries)
}
