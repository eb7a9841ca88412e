//! A simulated disk for crash and fault tests.
//!
//! [`SimStorage`] keeps, for every file, what is durable (its content as of
//! the last completed `sync`) apart from what was merely written, and, for
//! the directory, which entries are durable (covered by `sync_dir`).
//! [`SimStorage::crash`] returns the disk as a power cut would leave it:
//! every unsynced directory change undone, every file back to its synced
//! content, plus a torn prefix of the last unsynced write (at the end of the
//! file or in place over it). Faults are injected by operation
//! number: the crash point, a failing `sync` (EIO), or "disk full" (ENOSPC).

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use crate::storage::{Storage, StorageFile};

#[derive(Debug, Clone, Default)]
struct SimFile {
    data: Vec<u8>,
    /// The content as of the last completed sync.
    durable: Vec<u8>,
    /// The last write not yet covered by a sync: (offset, length).
    last_write: Option<(usize, usize)>,
}

/// A planned fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every operation from this one on fails: the machine stopped.
    CrashAt(u64),
    /// Every `sync` (file or directory) from this operation on fails with EIO.
    SyncFailsAt(u64),
    /// Writes and creates fail with ENOSPC while set.
    DiskFull,
}

#[derive(Debug, Default)]
struct Disk {
    files: Vec<SimFile>,
    /// Current directory entries: name → file index.
    dir: BTreeMap<String, usize>,
    /// Entries as of the last completed `sync_dir`.
    dir_synced: BTreeMap<String, usize>,
    ops: u64,
    faults: Vec<Fault>,
    /// How much of a torn write survives a crash, in 1/8ths.
    tear_eighths: usize,
}

/// A shared, simulated data directory.
#[derive(Debug, Clone, Default)]
pub struct SimStorage {
    disk: Arc<Mutex<Disk>>,
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash: the machine is down")
}

impl SimStorage {
    pub fn new() -> Self {
        SimStorage::default()
    }

    /// Operations performed so far (each write, sync, create, rename,
    /// remove, truncate or directory sync counts one).
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// How much of a torn last write survives a crash, in eighths (0..=7).
    pub fn set_tear(&self, eighths: usize) {
        self.lock().tear_eighths = eighths.min(7);
    }

    /// The disk after a power cut now.
    pub fn crash(&self) -> SimStorage {
        let d = self.lock();
        let mut after = Disk {
            tear_eighths: d.tear_eighths,
            ..Disk::default()
        };
        for (name, &idx) in &d.dir_synced {
            let f = &d.files[idx];
            let mut data = f.durable.clone();
            if let Some((off, len)) = f.last_write {
                // A write that starts past the durable end could only
                // survive with an earlier unsynced one: both are lost.
                if off <= data.len() {
                    let end = off + len * d.tear_eighths / 8;
                    if data.len() < end {
                        data.resize(end, 0);
                    }
                    data[off..end].copy_from_slice(&f.data[off..end]);
                }
            }
            after.files.push(SimFile {
                durable: data.clone(),
                data,
                last_write: None,
            });
            let i = after.files.len() - 1;
            after.dir.insert(name.clone(), i);
            after.dir_synced.insert(name.clone(), i);
        }
        SimStorage {
            disk: Arc::new(Mutex::new(after)),
        }
    }

    /// Flips one bit of a file (for corruption tests).
    pub fn flip_bit(&self, name: &str, byte: usize, bit: u8) {
        let mut d = self.lock();
        let idx = d.dir[name];
        d.files[idx].data[byte] ^= 1 << bit;
    }

    /// The names of the files in the directory now.
    pub fn list_names(&self) -> Vec<String> {
        self.lock().dir.keys().cloned().collect()
    }

    /// A file's current length.
    pub fn len(&self, name: &str) -> Option<usize> {
        let d = self.lock();
        d.dir.get(name).map(|&i| d.files[i].data.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Disk {
    /// Counts an operation and returns the fault that hits it, if any.
    fn op(&mut self, is_sync: bool, is_write: bool) -> io::Result<()> {
        let n = self.ops;
        self.ops += 1;
        for f in &self.faults {
            match *f {
                Fault::CrashAt(at) if n >= at => return Err(crashed()),
                Fault::SyncFailsAt(at) if is_sync && n >= at => {
                    return Err(io::Error::from_raw_os_error(5))
                }
                Fault::DiskFull if is_write => return Err(io::Error::from_raw_os_error(28)),
                _ => {}
            }
        }
        Ok(())
    }

    fn file(&mut self, name: &str) -> io::Result<usize> {
        self.dir
            .get(name)
            .copied()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

impl Storage for SimStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.lock().dir.keys().cloned().collect())
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        let mut d = self.lock();
        let idx = d.file(name)?;
        Ok(d.files[idx].data.clone())
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let mut d = self.lock();
        d.op(false, true)?;
        d.files.push(SimFile::default());
        let idx = d.files.len() - 1;
        d.dir.insert(name.to_owned(), idx);
        Ok(Box::new(SimHandle {
            storage: self.clone(),
            idx,
            pos: 0,
        }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut d = self.lock();
        d.op(false, false)?;
        let idx = d.file(from)?;
        d.dir.remove(from);
        d.dir.insert(to.to_owned(), idx);
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut d = self.lock();
        d.op(false, false)?;
        d.file(name)?;
        d.dir.remove(name);
        Ok(())
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let mut d = self.lock();
        d.op(true, false)?;
        let idx = d.file(name)?;
        let f = &mut d.files[idx];
        f.data.truncate(len as usize);
        f.durable = f.data.clone();
        f.last_write = None;
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut d = self.lock();
        d.op(true, false)?;
        d.dir_synced = d.dir.clone();
        Ok(())
    }

    fn describe(&self, name: &str) -> String {
        format!("sim:{name}")
    }
}

struct SimHandle {
    storage: SimStorage,
    idx: usize,
    /// The cursor.
    pos: usize,
}

impl SimFile {
    /// Writes `buf` at `off`, growing the file (with zeros up to `off`) as
    /// needed; the write is the one a crash may tear.
    fn write_at(&mut self, off: usize, buf: &[u8]) {
        let end = off + buf.len();
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[off..end].copy_from_slice(buf);
        // Only the latest unsynced write can tear; earlier unsynced writes
        // are lost whole in a crash (a conservative model).
        self.last_write = Some((off, buf.len()));
    }
}

impl StorageFile for SimHandle {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut d = self.storage.lock();
        d.op(false, true)?;
        d.files[self.idx].write_at(self.pos, buf);
        self.pos += buf.len();
        Ok(())
    }

    fn write_zeros(&mut self, from: u64, to: u64) -> io::Result<()> {
        let mut d = self.storage.lock();
        d.op(false, true)?;
        let zeros = vec![0u8; to.saturating_sub(from) as usize];
        d.files[self.idx].write_at(from as usize, &zeros);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut d = self.storage.lock();
        d.op(true, false)?;
        let f = &mut d.files[self.idx];
        f.durable.clone_from(&f.data);
        f.last_write = None;
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut d = self.storage.lock();
        d.op(false, false)?;
        let f = &mut d.files[self.idx];
        f.data.truncate(len as usize);
        f.durable.truncate(len as usize);
        f.last_write = None;
        self.pos = len as usize;
        Ok(())
    }
}
