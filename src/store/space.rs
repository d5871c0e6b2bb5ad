//! Free-space accounting: writes are refused (503, retried by senders) before the volume is
//! full, because sled cannot recover from a write that hit a full disk without being
//! reopened. Both bytes and inodes count: sled creates a file for every large value.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::StoreError;

/// The default byte reserve (`storage.reserve`).
pub const DEFAULT_RESERVE: u64 = 16 << 20;

/// Inodes kept free: enough for the blob files of one large write.
const INODE_RESERVE: u64 = 16;

/// What the volume holding the data directory has.
#[derive(Debug, Clone, Copy)]
pub struct Volume {
    pub size: u64,
    pub free: u64,
    pub inodes: u64,
    pub free_inodes: u64,
}

impl Volume {
    pub fn of(dir: &Path) -> Option<Volume> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `path` is a valid C string and `stat` a properly sized out-parameter.
        let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
        if rc != 0 {
            return None;
        }
        let unit = stat.f_frsize as u64;
        Some(Volume {
            size: (stat.f_blocks as u64).saturating_mul(unit),
            free: (stat.f_bavail as u64).saturating_mul(unit),
            inodes: stat.f_files as u64,
            free_inodes: stat.f_favail as u64,
        })
    }

    /// The byte reserve on this volume: the configured one, never more than a tenth of the
    /// volume (a fixed 16 MiB would refuse every write on a small volume).
    pub fn reserve(&self, configured: u64) -> u64 {
        configured.min(self.size / 10)
    }

    /// The inode reserve: a few, never more than a tenth of them (0 on filesystems that
    /// report no inode count).
    pub fn inode_reserve(&self) -> u64 {
        INODE_RESERVE.min(self.inodes / 10)
    }
}

/// The reserve of one data directory.
#[derive(Debug)]
pub struct Space {
    dir: PathBuf,
    reserve: u64,
    /// Off during start-up (see [`super::Store::started`]).
    enforced: AtomicBool,
}

impl Space {
    pub fn new(dir: &Path, reserve: u64) -> Space {
        Space {
            dir: dir.to_path_buf(),
            reserve,
            enforced: AtomicBool::new(false),
        }
    }

    pub fn enforce(&self) {
        self.enforced.store(true, Ordering::Relaxed);
    }

    /// Err while the volume has less than the reserve free (in bytes or inodes).
    pub fn check(&self) -> Result<(), StoreError> {
        if !self.enforced.load(Ordering::Relaxed) {
            return Ok(());
        }
        let Some(v) = Volume::of(&self.dir) else {
            return Ok(());
        };
        let reserve = v.reserve(self.reserve);
        if v.free < reserve {
            return Err(StoreError::Full {
                free: v.free,
                reserve,
            });
        }
        let inodes = v.inode_reserve();
        if v.free_inodes < inodes {
            return Err(StoreError::NoInodes {
                free: v.free_inodes,
                reserve: inodes,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_scales_down_with_a_small_volume() {
        let v = |size| Volume {
            size,
            free: size,
            inodes: 1000,
            free_inodes: 1000,
        };
        assert_eq!(v(8 << 20).reserve(DEFAULT_RESERVE), (8 << 20) / 10);
        assert_eq!(v(16 << 20).reserve(DEFAULT_RESERVE), (16 << 20) / 10);
        assert_eq!(v(10 << 30).reserve(DEFAULT_RESERVE), DEFAULT_RESERVE);
        assert_eq!(v(10 << 30).reserve(1 << 20), 1 << 20);
        let few = Volume {
            inodes: 40,
            ..v(1 << 30)
        };
        assert_eq!(few.inode_reserve(), 4);
        assert_eq!(v(1 << 30).inode_reserve(), INODE_RESERVE);
    }
}
