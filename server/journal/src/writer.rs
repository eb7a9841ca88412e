//! The journal writer: one thread, group commit, fail-stop.
//!
//! The ledger queues records under its lock ([`JournalHandle::append`] only
//! copies bytes into a buffer). The writer thread takes everything queued,
//! writes it with one `write`, makes it durable with one `fdatasync`, and
//! publishes the new durable position; every answer waiting for a position
//! at or below it may then leave. Many concurrent requests thus share one
//! `fdatasync` (group commit).
//!
//! Space ahead: the writer zeroes [`JournalConfig::prealloc_bytes`] of the
//! segment at a time ahead of its records, so that records are written in
//! place and most fdatasyncs have only data to flush, not the file's size
//! and block map (an inode write and a filesystem journal commit each). A
//! finished segment is cut back to its last record; recovery cuts the
//! zeroes after the last record of a crashed one.
//!
//! Errors: a failed `fdatasync` is never retried (the kernel may have
//! dropped the dirty pages and cleared the error): the journal turns
//! `Failed` and acknowledges nothing more. A write that finds the disk full
//! is cut back and retried every [`DISK_FULL_RETRY_MS`]; meanwhile the
//! journal is `DiskFull` and admits no new command. Any other error is
//! `Failed`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use interlock_ledger::codec::{Encode, Writer};
use interlock_ledger::{Command, LedgerError};

use crate::format;
use crate::storage::{is_disk_full, Storage, StorageFile};

/// How often a full disk is tried again.
pub const DISK_FULL_RETRY_MS: u64 = 100;

/// The default of [`JournalConfig::prealloc_bytes`]: about 1,500 fdatasyncs
/// of ~700-byte batches per allocation.
pub const PREALLOC_BYTES_DEFAULT: u64 = 1024 * 1024;
/// The most [`JournalConfig::prealloc_bytes`] may be (one allocation is
/// written, and flushed by the next fdatasync, in one go).
pub const PREALLOC_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// The journal's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalStatus {
    Ok,
    /// Writes wait for space; no new command is admitted.
    DiskFull,
    /// Stopped for good (an fsync or I/O error): nothing more is acknowledged.
    Failed,
    /// Closed at shutdown.
    Closed,
}

/// Where the journal stands; published after every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Every record up to this one is durable.
    pub durable_lsn: u64,
    pub status: JournalStatus,
    /// The first record of the segment being written.
    pub segment_first_lsn: u64,
    /// How many times the log was cut back or restarted
    /// ([`JournalHandle::restart_at`]): a durable position is only
    /// comparable within one epoch, since a restart may lower it.
    pub epoch: u64,
}

/// Settings of the writer.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// Share one fdatasync among everything queued (the default). Off, the
    /// writer syncs every record on its own: for the benchmark only.
    pub group_commit: bool,
    /// Journal bytes after which a snapshot is wanted.
    pub snapshot_after_bytes: u64,
    /// How long the writer waits for more records before an fdatasync
    /// (zero: sync at once). It waits only while requests are concurrent,
    /// that is when the previous fdatasync covered at least
    /// [`COMMIT_SIBLINGS`] records, so a lone client never pays it.
    pub commit_delay: Duration,
    /// Bytes of zeroed space allocated at a time ahead of the records
    /// (0: plain appends, each fdatasync also recording the new size).
    /// At most [`PREALLOC_BYTES_MAX`].
    pub prealloc_bytes: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            group_commit: true,
            snapshot_after_bytes: 64 * 1024 * 1024,
            commit_delay: Duration::ZERO,
            prealloc_bytes: PREALLOC_BYTES_DEFAULT,
        }
    }
}

/// Records the previous fdatasync must have covered for the writer to wait
/// `commit_delay` before the next one (PostgreSQL's `commit_siblings`).
pub const COMMIT_SIBLINGS: u64 = 2;

type Notify = Box<dyn Fn(Progress) + Send + Sync>;

/// Told of every fdatasync of records: how many records it made durable
/// and how long it took (`JournalHandle::observe_syncs`).
pub type SyncObserver = Box<dyn Fn(u64, Duration) + Send + Sync>;

enum Item {
    Records {
        bytes: Vec<u8>,
        last_lsn: u64,
    },
    Rotate {
        first_lsn: u64,
    },
    /// The next record is `first_lsn`: segments holding records at or
    /// after it are removed (all of them with `drop_all`) and a new one
    /// started. For a replicated log only.
    Restart {
        first_lsn: u64,
        drop_all: bool,
    },
    /// Segments whose every record is below `below` are removed.
    Purge {
        below: u64,
    },
}

struct Queue {
    items: VecDeque<Item>,
    last_lsn: u64,
    closed: bool,
}

struct Shared {
    storage: Arc<dyn Storage>,
    config: JournalConfig,
    queue: Mutex<Queue>,
    wake: Condvar,
    progress: Mutex<Progress>,
    progressed: Condvar,
    notify: Notify,
    bytes_since_rotate: AtomicU64,
    /// Held for the whole of a snapshot: one at a time, so that the one at
    /// shutdown waits for one still being taken in the background rather
    /// than removing the files it reads.
    snapshotting: Mutex<()>,
    /// Set once, by whoever exports the writer's figures.
    observer: OnceLock<SyncObserver>,
}

/// The ledger's side of the journal: cheap to clone, shared by the server.
#[derive(Clone)]
pub struct JournalHandle {
    shared: Arc<Shared>,
    writer: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for JournalHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalHandle")
            .field("progress", &self.progress())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The writer never panics while holding these locks; if it ever did,
    // the data is plain and still readable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl JournalHandle {
    /// Calls `f` after every fdatasync of records, on the writer's thread
    /// (so it must be quick: a few atomic adds). Only the first observer
    /// set is kept; `false` if one already was.
    pub fn observe_syncs(&self, f: SyncObserver) -> bool {
        self.shared.observer.set(f).is_ok()
    }

    /// Starts a writer on a new segment whose first record is
    /// `last_lsn + 1`; `journal_bytes` of records are already behind the
    /// last snapshot (they count towards the next one).
    pub(crate) fn start(
        storage: Arc<dyn Storage>,
        config: JournalConfig,
        last_lsn: u64,
        journal_bytes: u64,
        notify: Notify,
    ) -> std::io::Result<Self> {
        let first = last_lsn + 1;
        let name = format::segment_name(first);
        let mut file = storage.create(&name)?;
        file.write_all(&format::segment_header(first))?;
        file.sync()?;
        storage.sync_dir()?;
        let progress = Progress {
            durable_lsn: last_lsn,
            status: JournalStatus::Ok,
            segment_first_lsn: first,
            epoch: 0,
        };
        let shared = Arc::new(Shared {
            storage,
            config,
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                last_lsn,
                closed: false,
            }),
            wake: Condvar::new(),
            progress: Mutex::new(progress),
            progressed: Condvar::new(),
            notify,
            bytes_since_rotate: AtomicU64::new(journal_bytes),
            snapshotting: Mutex::new(()),
            observer: OnceLock::new(),
        });
        let writer_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("interlock-journal".into())
            .spawn(move || {
                let mut w = WriterState {
                    shared: writer_shared,
                    file,
                    len: format::SEGMENT_HEADER_LEN as u64,
                    allocated: format::SEGMENT_HEADER_LEN as u64,
                    synced_lsn: last_lsn,
                    last_group: 0,
                };
                w.run();
            })?;
        Ok(JournalHandle {
            shared,
            writer: Arc::new(Mutex::new(Some(thread))),
        })
    }

    pub fn progress(&self) -> Progress {
        *lock(&self.shared.progress)
    }

    /// Blocks until `lsn` is durable (true) or the journal stopped or the
    /// timeout passed (false). For tests and tools; the server waits
    /// asynchronously on its own notifier.
    pub fn wait_durable(&self, lsn: u64, timeout: Duration) -> bool {
        let p = lock(&self.shared.progress);
        let (p, _) = self
            .shared
            .progressed
            .wait_timeout_while(p, timeout, |p| {
                p.durable_lsn < lsn
                    && matches!(p.status, JournalStatus::Ok | JournalStatus::DiskFull)
            })
            .unwrap_or_else(|e| e.into_inner());
        p.durable_lsn >= lsn
    }

    /// [`JournalHandle::wait_durable`] for a log that may be cut back:
    /// waits until the progress is in `epoch` (or a later one: false) and
    /// `lsn` is durable in it.
    pub fn wait_durable_in(&self, epoch: u64, lsn: u64, timeout: Duration) -> bool {
        let p = lock(&self.shared.progress);
        let (p, _) = self
            .shared
            .progressed
            .wait_timeout_while(p, timeout, |p| {
                (p.epoch < epoch || (p.epoch == epoch && p.durable_lsn < lsn))
                    && matches!(p.status, JournalStatus::Ok | JournalStatus::DiskFull)
            })
            .unwrap_or_else(|e| e.into_inner());
        p.epoch == epoch && p.durable_lsn >= lsn
    }

    /// Taken for the whole of a snapshot (see `Shared::snapshotting`).
    pub(crate) fn snapshot_turn(&self) -> MutexGuard<'_, ()> {
        lock(&self.shared.snapshotting)
    }

    /// Has the journal grown enough since the last snapshot to want one?
    pub fn snapshot_wanted(&self) -> bool {
        self.shared.bytes_since_rotate.load(Ordering::Relaxed)
            >= self.shared.config.snapshot_after_bytes
    }

    /// Starts a new segment after the last queued record. Must be called
    /// under the ledger's lock, so that no record is queued meanwhile.
    pub(crate) fn rotate(&self) -> u64 {
        let mut q = lock(&self.shared.queue);
        let first_lsn = q.last_lsn + 1;
        q.items.push_back(Item::Rotate { first_lsn });
        self.shared.bytes_since_rotate.store(0, Ordering::Relaxed);
        self.shared.wake.notify_one();
        q.last_lsn
    }

    /// Waits until the writer writes into a segment starting at or after
    /// `first_lsn`; false if it stopped first.
    pub(crate) fn wait_rotated(&self, first_lsn: u64) -> bool {
        let p = lock(&self.shared.progress);
        let p = self
            .shared
            .progressed
            .wait_while(p, |p| {
                p.segment_first_lsn < first_lsn
                    && matches!(p.status, JournalStatus::Ok | JournalStatus::DiskFull)
            })
            .unwrap_or_else(|e| e.into_inner());
        p.segment_first_lsn >= first_lsn
    }

    /// Queues records whose payloads are already encoded, numbered from
    /// the next position on (a replicated log numbers its own entries:
    /// `first` must be that next position). Returns the last position, or
    /// `None` if `first` is not the next one (nothing is queued).
    pub fn append_encoded<'a>(
        &self,
        first: u64,
        payloads: impl IntoIterator<Item = &'a [u8]>,
    ) -> Option<u64> {
        let mut q = lock(&self.shared.queue);
        if first != q.last_lsn + 1 {
            return None;
        }
        let was_empty = q.items.is_empty();
        let mut bytes = match q.items.back() {
            Some(Item::Records { .. }) => match q.items.pop_back() {
                Some(Item::Records { bytes, .. }) => bytes,
                _ => unreachable!("the back item was records"),
            },
            _ => Vec::with_capacity(4096),
        };
        let mut lsn = q.last_lsn;
        for payload in payloads {
            lsn += 1;
            format::append_record(&mut bytes, lsn, |b| b.extend_from_slice(payload));
        }
        q.last_lsn = lsn;
        q.items.push_back(Item::Records {
            bytes,
            last_lsn: lsn,
        });
        if was_empty {
            self.shared.wake.notify_one();
        }
        Some(lsn)
    }

    /// Makes `first_lsn` the next record: what was queued before is made
    /// durable, then the segments holding records at or after `first_lsn`
    /// (every segment, with `drop_all`: the log starts afresh there, as
    /// after a snapshot installed from a leader) are removed and a new
    /// segment is started at `first_lsn`. The progress's epoch goes up by
    /// one and its durable position becomes `first_lsn - 1`. Recovery
    /// reads segments in name order, so a removed record never comes back
    /// unless a crash comes before the removal, when the log is as it was
    /// before the call (never acknowledged otherwise).
    pub fn restart_at(&self, first_lsn: u64, drop_all: bool) {
        assert!(first_lsn >= 1, "records are numbered from 1");
        let mut q = lock(&self.shared.queue);
        q.last_lsn = first_lsn - 1;
        q.items.push_back(Item::Restart {
            first_lsn,
            drop_all,
        });
        self.shared.wake.notify_one();
    }

    /// Removes, in the writer's order, the segments whose every record is
    /// below `below` (never the one being written). Whole segments only:
    /// records below `below` may remain in the last one it keeps.
    pub fn purge_below(&self, below: u64) {
        let mut q = lock(&self.shared.queue);
        q.items.push_back(Item::Purge { below });
        self.shared.wake.notify_one();
    }

    /// The position of the last record queued.
    pub fn last_queued(&self) -> u64 {
        lock(&self.shared.queue).last_lsn
    }

    /// The data directory.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.shared.storage
    }

    /// Writes everything queued, stops the writer and waits for it.
    pub fn close(&self) {
        {
            let mut q = lock(&self.shared.queue);
            q.closed = true;
            self.shared.wake.notify_one();
        }
        if let Some(t) = lock(&self.writer).take() {
            let _ = t.join();
        }
    }
}

impl interlock_ledger::Journal for JournalHandle {
    fn admit(&self) -> Result<(), LedgerError> {
        match lock(&self.shared.progress).status {
            JournalStatus::Ok => Ok(()),
            JournalStatus::DiskFull => Err(LedgerError::Unavailable(
                "the journal's disk is full; changes are refused until space is freed",
            )),
            JournalStatus::Failed => Err(LedgerError::Unavailable(
                "the journal failed; the server no longer acknowledges changes",
            )),
            JournalStatus::Closed => Err(LedgerError::Unavailable("the server is shutting down")),
        }
    }

    fn append(&self, cmd: &Command) -> u64 {
        let mut q = lock(&self.shared.queue);
        q.last_lsn += 1;
        let lsn = q.last_lsn;
        let encode = |buf: &mut Vec<u8>| {
            format::append_record(buf, lsn, |b| {
                let mut w = Writer::with_buf(std::mem::take(b));
                cmd.encode(&mut w);
                *b = w.buf;
            });
        };
        // The writer waits only on an empty queue: wake it only then
        // (each wake is a futex syscall).
        let was_empty = q.items.is_empty();
        match q.items.back_mut() {
            Some(Item::Records { bytes, last_lsn }) => {
                encode(bytes);
                *last_lsn = lsn;
            }
            _ => {
                let mut bytes = Vec::with_capacity(4096);
                encode(&mut bytes);
                q.items.push_back(Item::Records {
                    bytes,
                    last_lsn: lsn,
                });
            }
        }
        if was_empty {
            self.shared.wake.notify_one();
        }
        lsn
    }

    fn last(&self) -> u64 {
        lock(&self.shared.queue).last_lsn
    }
}

struct WriterState {
    shared: Arc<Shared>,
    file: Box<dyn StorageFile>,
    /// Bytes in the current segment known to be written.
    len: u64,
    /// The segment's length on disk: `len` and the zeroed space after it.
    allocated: u64,
    /// The last position made durable, and how many records that
    /// fdatasync covered.
    synced_lsn: u64,
    last_group: u64,
}

/// Why the writer stopped.
struct Stop;

impl WriterState {
    fn run(&mut self) {
        loop {
            let (items, closed) = {
                let mut q = lock(&self.shared.queue);
                while q.items.is_empty() && !q.closed {
                    q = self.shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                let delay = self.shared.config.commit_delay;
                if !delay.is_zero() && !q.closed && self.last_group >= COMMIT_SIBLINGS {
                    // Requests are concurrent: let more records join this
                    // fdatasync, for fewer, larger syncs at a little
                    // latency (PostgreSQL's commit_delay).
                    drop(q);
                    std::thread::sleep(delay);
                    q = lock(&self.shared.queue);
                }
                (std::mem::take(&mut q.items), q.closed)
            };
            if items.is_empty() && closed {
                if let Err(e) = self.finish_segment() {
                    // Nothing is lost: recovery cuts the zeroes instead.
                    tracing::warn!(error = %e, "could not cut the journal's zeroed space at shutdown");
                }
                self.publish(|p| p.status = JournalStatus::Closed);
                return;
            }
            if self.write_items(items).is_err() {
                return;
            }
        }
    }

    fn write_items(&mut self, items: VecDeque<Item>) -> Result<(), Stop> {
        let mut unsynced: Option<u64> = None;
        for item in items {
            match item {
                Item::Records { bytes, last_lsn } => {
                    if self.shared.config.group_commit {
                        self.write(&bytes)?;
                        unsynced = Some(last_lsn);
                    } else {
                        let (records, _) = format::scan_records(&bytes, 0);
                        for r in records {
                            let end = r.offset + format::RECORD_HEADER_LEN + r.payload.len();
                            self.write(&bytes[r.offset..end])?;
                            self.sync(r.lsn)?;
                        }
                    }
                }
                Item::Rotate { first_lsn } => {
                    if let Some(lsn) = unsynced.take() {
                        self.sync(lsn)?;
                    }
                    self.rotate(first_lsn)?;
                }
                Item::Restart {
                    first_lsn,
                    drop_all,
                } => {
                    if let Some(lsn) = unsynced.take() {
                        self.sync(lsn)?;
                    }
                    self.restart(first_lsn, drop_all)?;
                }
                Item::Purge { below } => {
                    if let Some(lsn) = unsynced.take() {
                        self.sync(lsn)?;
                    }
                    self.purge(below)?;
                }
            }
        }
        if let Some(lsn) = unsynced {
            self.sync(lsn)?;
        }
        Ok(())
    }

    /// Writes, waiting out a full disk.
    fn write(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        loop {
            self.make_room(bytes.len() as u64)?;
            match self.file.write_all(bytes) {
                Ok(()) => {
                    self.len += bytes.len() as u64;
                    self.allocated = self.allocated.max(self.len);
                    self.shared
                        .bytes_since_rotate
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    if self.status() == JournalStatus::DiskFull {
                        tracing::warn!("journal disk has space again");
                        self.publish(|p| p.status = JournalStatus::Ok);
                    }
                    return Ok(());
                }
                Err(e) if is_disk_full(&e) => {
                    // Nothing past `len` was acknowledged: cut it and retry.
                    if let Err(e) = self.file.set_len(self.len) {
                        return self.fail("cutting back a partial write", &e);
                    }
                    self.allocated = self.len;
                    self.wait_for_space(&e)?;
                }
                Err(e) => return self.fail("writing the journal", &e),
            }
        }
    }

    /// Zeroes the next [`JournalConfig::prealloc_bytes`] of the segment if
    /// `n` more bytes would not fit in what is allocated. On a full disk
    /// the record is appended instead (and waits for space there).
    fn make_room(&mut self, n: u64) -> Result<(), Stop> {
        let step = self.shared.config.prealloc_bytes;
        let end = self.len.saturating_add(n);
        if step == 0 || end <= self.allocated {
            return Ok(());
        }
        let to = end.div_ceil(step).saturating_mul(step);
        match self.file.write_zeros(self.allocated, to) {
            Ok(()) => {
                self.allocated = to;
                Ok(())
            }
            Err(e) if is_disk_full(&e) => match self.file.set_len(self.len) {
                Ok(()) => {
                    self.allocated = self.len;
                    Ok(())
                }
                Err(e) => self.fail("cutting back zeroed space", &e),
            },
            Err(e) => self.fail("zeroing journal space", &e),
        }
    }

    /// Cuts the zeroed space after the last record and makes the new size
    /// durable (`fsync`, not only `fdatasync`): a finished segment ends
    /// with its last record before the next segment exists.
    fn finish_segment(&mut self) -> std::io::Result<()> {
        if self.allocated > self.len {
            let first = lock(&self.shared.progress).segment_first_lsn;
            self.shared
                .storage
                .truncate(&format::segment_name(first), self.len)?;
            self.allocated = self.len;
        }
        Ok(())
    }

    fn wait_for_space(&mut self, e: &std::io::Error) -> Result<(), Stop> {
        if self.status() != JournalStatus::DiskFull {
            tracing::error!(error = %e, "journal disk full: refusing changes until space is freed");
            self.publish(|p| p.status = JournalStatus::DiskFull);
        }
        if lock(&self.shared.queue).closed {
            return self.fail("shutting down with a full disk", e);
        }
        std::thread::sleep(Duration::from_millis(DISK_FULL_RETRY_MS));
        Ok(())
    }

    fn sync(&mut self, lsn: u64) -> Result<(), Stop> {
        let started = Instant::now();
        match self.file.sync() {
            Ok(()) => {
                if let Some(observe) = self.shared.observer.get() {
                    observe(lsn.saturating_sub(self.synced_lsn), started.elapsed());
                }
                self.last_group = lsn.saturating_sub(self.synced_lsn);
                self.synced_lsn = self.synced_lsn.max(lsn);
                self.publish(|p| p.durable_lsn = p.durable_lsn.max(lsn));
                Ok(())
            }
            // Never retried: see the module comment.
            Err(e) => self.fail("fdatasync of the journal", &e),
        }
    }

    fn rotate(&mut self, first_lsn: u64) -> Result<(), Stop> {
        if let Err(e) = self.finish_segment() {
            return self.fail("cutting a finished segment to its records", &e);
        }
        let name = format::segment_name(first_lsn);
        let header = format::segment_header(first_lsn);
        loop {
            let attempt = self.shared.storage.create(&name).and_then(|mut f| {
                f.write_all(&header)?;
                Ok(f)
            });
            match attempt {
                Ok(f) => {
                    self.file = f;
                    self.len = header.len() as u64;
                    self.allocated = self.len;
                    break;
                }
                Err(e) if is_disk_full(&e) => self.wait_for_space(&e)?,
                Err(e) => return self.fail("creating a journal segment", &e),
            }
        }
        if let Err(e) = self.file.sync() {
            return self.fail("fdatasync of a new segment", &e);
        }
        if let Err(e) = self.shared.storage.sync_dir() {
            return self.fail("syncing the data directory", &e);
        }
        if self.status() == JournalStatus::DiskFull {
            self.publish(|p| p.status = JournalStatus::Ok);
        }
        self.publish(|p| p.segment_first_lsn = first_lsn);
        Ok(())
    }

    /// See [`JournalHandle::restart_at`].
    fn restart(&mut self, first_lsn: u64, drop_all: bool) -> Result<(), Stop> {
        if let Err(e) = self.finish_segment() {
            return self.fail("cutting a finished segment to its records", &e);
        }
        let names = match self.shared.storage.list() {
            Ok(n) => n,
            Err(e) => return self.fail("listing the data directory", &e),
        };
        for name in names {
            let remove = match format::parse_name(&name) {
                Some((format::FileKind::Segment, first)) => drop_all || first >= first_lsn,
                _ => false,
            };
            if remove {
                if let Err(e) = self.shared.storage.remove(&name) {
                    return self.fail("removing a segment cut back by the log's leader", &e);
                }
            }
        }
        // The removals are durable before the new segment can be written.
        if let Err(e) = self.shared.storage.sync_dir() {
            return self.fail("syncing the data directory", &e);
        }
        self.synced_lsn = first_lsn - 1;
        self.publish(|p| {
            p.durable_lsn = first_lsn - 1;
            p.epoch += 1;
        });
        self.rotate(first_lsn)
    }

    /// See [`JournalHandle::purge_below`].
    fn purge(&mut self, below: u64) -> Result<(), Stop> {
        let names = match self.shared.storage.list() {
            Ok(n) => n,
            Err(e) => return self.fail("listing the data directory", &e),
        };
        let mut firsts: Vec<(u64, String)> = names
            .into_iter()
            .filter_map(|n| match format::parse_name(&n) {
                Some((format::FileKind::Segment, first)) => Some((first, n)),
                _ => None,
            })
            .collect();
        firsts.sort();
        let current = lock(&self.shared.progress).segment_first_lsn;
        let mut removed = false;
        for pair in firsts.windows(2) {
            let ((first, name), (next_first, _)) = (&pair[0], &pair[1]);
            // Every record of this segment is below the next one's first.
            if *next_first <= below && *first < current {
                if let Err(e) = self.shared.storage.remove(name) {
                    return self.fail("removing a purged segment", &e);
                }
                removed = true;
            }
        }
        if removed {
            if let Err(e) = self.shared.storage.sync_dir() {
                return self.fail("syncing the data directory", &e);
            }
        }
        Ok(())
    }

    fn fail(&mut self, what: &str, e: &std::io::Error) -> Result<(), Stop> {
        tracing::error!(error = %e, "journal failed while {what}: no further changes are acknowledged");
        self.publish(|p| p.status = JournalStatus::Failed);
        Err(Stop)
    }

    fn status(&self) -> JournalStatus {
        lock(&self.shared.progress).status
    }

    fn publish(&self, change: impl FnOnce(&mut Progress)) {
        let p = {
            let mut p = lock(&self.shared.progress);
            change(&mut p);
            *p
        };
        self.shared.progressed.notify_all();
        (self.shared.notify)(p);
    }
}
