//! Which unprivileged user runs the cluster, and whether it can reach a path.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The identity the cluster's processes run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// True when we must switch to this user (we are root); false when it is us.
    pub switch: bool,
}

impl RunAs {
    /// Ourselves when unprivileged; the `postgres` user (else `nobody`) when root,
    /// because PostgreSQL refuses to run as root.
    pub fn pick() -> RunAs {
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        if uid != 0 {
            return RunAs {
                uid,
                gid,
                switch: false,
            };
        }
        for name in ["postgres", "nobody"] {
            if let Some((uid, gid)) = lookup_user(name) {
                return RunAs {
                    uid,
                    gid,
                    switch: true,
                };
            }
        }
        RunAs {
            uid: 65534,
            gid: 65534,
            switch: true,
        }
    }

    /// Whether this user can traverse every directory above `path` (and `path` itself,
    /// when it exists): PostgreSQL opens its data directory by path.
    pub fn can_reach(&self, path: &Path) -> bool {
        if !self.switch {
            return true;
        }
        let mut cur = Some(path);
        while let Some(p) = cur {
            if let Ok(md) = std::fs::metadata(p)
                && md.is_dir()
                && !self.may_search(&md)
            {
                return false;
            }
            cur = p.parent();
        }
        true
    }

    fn may_search(&self, md: &std::fs::Metadata) -> bool {
        let mode = md.mode();
        if md.uid() == self.uid {
            mode & 0o100 != 0
        } else if md.gid() == self.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    }

    /// Makes `path` (a directory we created) owned by this user.
    pub fn chown(&self, path: &Path) -> std::io::Result<()> {
        if self.switch {
            std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))?;
        }
        Ok(())
    }
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let cname = CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or null; we copy the two
    // integers out immediately and this runs before any other thread calls getpw*.
    unsafe {
        let pw = libc::getpwnam(cname.as_ptr());
        if pw.is_null() {
            None
        } else {
            Some(((*pw).pw_uid, (*pw).pw_gid))
        }
    }
}
