//! The chain in force, shared by the inbox and the pipeline, replaced whole on reload.
//! A file that does not build leaves the last good chain in force.

use crate::chain::Chain;
use crate::config::{ChainError, Extension};
use sluice_apub::LocalUrls;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The current chain, cheap to clone and to read (one read lock and an `Arc` clone per
/// batch or request).
#[derive(Clone, Default)]
pub struct Live {
    current: Arc<RwLock<Arc<Chain>>>,
    source: Option<Arc<Source>>,
}

struct Source {
    path: PathBuf,
    urls: LocalUrls,
    extension: Option<Arc<dyn Extension>>,
    /// The file's modification time and length when it was last read.
    stamp: Mutex<Option<(SystemTime, u64)>>,
}

/// What a reload did.
#[derive(Debug)]
pub enum Reloaded {
    /// The file did not change since it was last read.
    Unchanged,
    /// A new chain of this many policies is in force.
    Loaded(usize),
    /// The file does not build; the previous chain stays in force.
    Failed(ChainError),
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("policies", &self.current().links().len())
            .field("path", &self.source.as_ref().map(|s| &s.path))
            .finish()
    }
}

fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Live {
    /// A chain that never changes (tests, `sluice policy test`).
    pub fn fixed(chain: Chain) -> Live {
        Live {
            current: Arc::new(RwLock::new(Arc::new(chain))),
            source: None,
        }
    }

    /// The chain of `path`, reloadable. An error here is the caller's to report (at start,
    /// a chain that does not build stops the process: no rules is not a safe default).
    pub fn load(
        path: PathBuf,
        urls: LocalUrls,
        extension: Option<Arc<dyn Extension>>,
    ) -> Result<Live, ChainError> {
        let before = stamp(&path);
        let chain = Chain::load(&path, &urls, extension.as_deref())?;
        Ok(Live {
            current: Arc::new(RwLock::new(Arc::new(chain))),
            source: Some(Arc::new(Source {
                path,
                urls,
                extension,
                stamp: Mutex::new(before),
            })),
        })
    }

    /// The chain in force.
    pub fn current(&self) -> Arc<Chain> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The file the chain comes from, when it comes from one.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.source.as_ref().map(|s| s.path.as_path())
    }

    /// Reads the file again when its modification time or length changed (`force`: in any
    /// case, as on SIGHUP).
    pub fn reload(&self, force: bool) -> Reloaded {
        let Some(src) = &self.source else {
            return Reloaded::Unchanged;
        };
        let now = stamp(&src.path);
        {
            let mut last = match src.stamp.lock() {
                Ok(l) => l,
                Err(p) => p.into_inner(),
            };
            if !force && *last == now {
                return Reloaded::Unchanged;
            }
            *last = now;
        }
        match Chain::load(&src.path, &src.urls, src.extension.as_deref()) {
            Ok(chain) => {
                let n = chain.links().len();
                let mut cur = match self.current.write() {
                    Ok(c) => c,
                    Err(p) => p.into_inner(),
                };
                *cur = Arc::new(chain);
                Reloaded::Loaded(n)
            }
            Err(e) => Reloaded::Failed(e),
        }
    }
}
