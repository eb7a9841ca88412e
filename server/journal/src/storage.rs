//! The file operations the journal needs, behind a trait, so that tests can
//! put a fault-injecting layer ([`crate::sim::SimStorage`]) in place of the
//! real disk ([`DiskStorage`]).
//!
//! Every path is a plain file name inside one data directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A directory of files with the durability operations a log needs.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// The names of the files in the directory.
    fn list(&self) -> io::Result<Vec<String>>;
    /// The whole content of a file.
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;
    /// Creates (or empties) a file for writing.
    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>>;
    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Cuts a file to `len` bytes and makes that durable.
    fn truncate(&self, name: &str, len: u64) -> io::Result<()>;
    /// Makes the directory's entries (creates, renames, removes) durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// Where the files are, for messages.
    fn describe(&self, name: &str) -> String;
}

/// A file open for writing at a cursor (at its start when created).
pub trait StorageFile: Send {
    /// Writes at the cursor and moves it past what was written (over
    /// zeroed space, or past the end).
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Writes zeros over the bytes `from..to` without moving the cursor:
    /// space allocated ahead, so that later writes land in place and an
    /// `fdatasync` after them has no file size or block map to record.
    fn write_zeros(&mut self, from: u64, to: u64) -> io::Result<()>;
    /// Makes the written data durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes and puts the cursor there (after
    /// a failed write, or to drop space allocated ahead).
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

/// Is this error "no space left" (or over quota)? The journal waits and
/// retries those; any other error stops it.
pub fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122))
}

/// The real disk: files in a directory.
#[derive(Debug, Clone)]
pub struct DiskStorage {
    dir: PathBuf,
}

impl DiskStorage {
    /// Uses `dir`, creating it if needed.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(DiskStorage {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Storage for DiskStorage {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path(name))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(self.path(name))?;
        Ok(Box::new(DiskFile { file }))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path(from), self.path(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path(name))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(self.path(name))?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn describe(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

struct DiskFile {
    file: File,
}

impl StorageFile for DiskFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }

    fn write_zeros(&mut self, from: u64, to: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        const CHUNK: usize = 64 * 1024;
        static ZEROS: [u8; CHUNK] = [0; CHUNK];
        let mut at = from;
        while at < to {
            let n = usize::try_from(to - at).map_or(CHUNK, |left| left.min(CHUNK));
            self.file.write_all_at(&ZEROS[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        use std::io::Seek;
        self.file.set_len(len)?;
        self.file.seek(io::SeekFrom::Start(len)).map(|_| ())
    }
}
