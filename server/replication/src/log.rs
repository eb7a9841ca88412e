//! The Raft log on the journal, and the vote beside it.
//!
//! Entries are journal records (`interlock_journal::replog`); the record
//! at journal position `p` is the entry at Raft index `p - 1` (Raft counts
//! from 0, the journal from 1); the writer thread's group commit makes them durable,
//! and each `append`'s callback fires when the fdatasync covering its last
//! entry is done, in the epoch it was appended in (a cut-back log reuses
//! positions; a position is durable only within the epoch that wrote it).
//!
//! Every entry since the last purge is also kept in memory, for the
//! leader's replication tasks and for re-applying after a restart: the log
//! is bounded by the snapshot policy (a snapshot is followed by a purge).
//!
//! The data directory's identity ([`DISK_FILE`], a random
//! [`DiskId`](crate::DiskId)) is written when the log is created, and
//! never changes.
//!
//! The vote and the purge point are small checksummed files, replaced by
//! rename and synced before they are acknowledged. Before the vote is
//! written, every entry queued before it is made durable: log and vote
//! writes complete in the order they were asked for, as openraft requires.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use interlock_journal::format;
use interlock_journal::replog;
use interlock_journal::{
    JournalConfig, JournalError, JournalHandle, JournalStatus, Progress, Storage,
};
use interlock_ledger::codec::{Reader, Writer};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, RaftLogReader};

use crate::codec;
use crate::{storage_error, DiskId, Entry, LogId, StorageError, TypeConfig, Vote};

/// The vote's file.
pub const VOTE_FILE: &str = "raft-vote.bin";
/// The data directory's identity.
pub const DISK_FILE: &str = "raft-disk.bin";
/// The purge point's file: every entry at or below it is gone.
pub const PURGED_FILE: &str = "raft-purged.bin";
/// How long a vote waits for the entries queued before it to be durable
/// before it gives up (the journal is stuck on a full disk).
pub const VOTE_WAIT_MAX: Duration = Duration::from_secs(10);

/// The log store; cloning it gives another handle on the same log (the
/// log reader openraft's replication tasks use).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mem = self.inner.mem();
        f.debug_struct("LogStore")
            .field("first", &mem.entries.front().map(|e| e.log_id.index))
            .field("last", &mem.entries.back().map(|e| e.log_id.index))
            .field("last_purged", &mem.last_purged)
            .field("vote", &mem.vote)
            .finish()
    }
}

struct Inner {
    disk: DiskId,
    storage: Arc<dyn Storage>,
    journal: JournalHandle,
    mem: Mutex<Mem>,
    flush: Arc<Flush>,
}

struct Mem {
    /// Consecutive entries, from just after `last_purged`.
    entries: VecDeque<Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
    /// The journal's epoch once every cut asked for so far is made.
    epoch: u64,
}

/// Append callbacks waiting for their fdatasync.
#[derive(Default)]
struct Flush {
    state: Mutex<FlushState>,
}

#[derive(Default)]
struct FlushState {
    progress: Option<Progress>,
    /// Keyed by (epoch, last index of the append).
    waiting: BTreeMap<(u64, u64), Vec<LogFlushed<TypeConfig>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn stopped(status: JournalStatus) -> std::io::Error {
    std::io::Error::other(format!(
        "the log's journal stopped ({status:?}): the entries are not durable"
    ))
}

impl Flush {
    /// From the journal's writer thread, on every change of progress.
    fn on_progress(&self, p: Progress) {
        let (done, result) = {
            let mut s = lock(&self.state);
            s.progress = Some(p);
            tracing::debug!(epoch = p.epoch, durable = p.durable_lsn, status = ?p.status, waiting = s.waiting.len(), "log progress");
            match p.status {
                JournalStatus::Ok | JournalStatus::DiskFull => {
                    let later = s.waiting.split_off(&(p.epoch, p.durable_lsn + 1));
                    (std::mem::replace(&mut s.waiting, later), Ok(()))
                }
                JournalStatus::Failed | JournalStatus::Closed => {
                    (std::mem::take(&mut s.waiting), Err(p.status))
                }
            }
        };
        for cb in done.into_values().flatten() {
            cb.log_io_completed(result.map_err(stopped));
        }
    }

    fn register(&self, epoch: u64, last: u64, cb: LogFlushed<TypeConfig>) {
        let mut s = lock(&self.state);
        match s.progress {
            Some(p) if matches!(p.status, JournalStatus::Failed | JournalStatus::Closed) => {
                drop(s);
                cb.log_io_completed(Err(stopped(p.status)));
            }
            Some(p) if p.epoch == epoch && p.durable_lsn >= last => {
                drop(s);
                cb.log_io_completed(Ok(()));
            }
            _ => s.waiting.entry((epoch, last)).or_default().push(cb),
        }
    }
}

/// The journal position of the entry at Raft index `index`.
fn pos(index: u64) -> u64 {
    index + 1
}

fn write_error(e: impl std::fmt::Display) -> StorageError {
    storage_error(ErrorSubject::Logs, ErrorVerb::Write, e)
}

/// Writes a small file durably: a temporary file, synced, renamed into
/// place, the directory synced. The body is framed with a checksum.
pub(crate) fn write_small(storage: &dyn Storage, name: &str, body: &[u8]) -> std::io::Result<()> {
    let tmp = format!("{name}.tmp");
    let mut f = storage.create(&tmp)?;
    f.write_all(&format::snapshot_file(0, body))?;
    f.sync()?;
    storage.rename(&tmp, name)?;
    storage.sync_dir()
}

/// Reads a file written by [`write_small`]: `None` if there is none.
pub(crate) fn read_small(storage: &dyn Storage, name: &str) -> Result<Option<Vec<u8>>, String> {
    if !storage
        .list()
        .map_err(|e| e.to_string())?
        .iter()
        .any(|n| n == name)
    {
        return Ok(None);
    }
    let bytes = storage
        .read(name)
        .map_err(|e| format!("{}: {e}", storage.describe(name)))?;
    let (_, body) = format::read_snapshot_file(&bytes)
        .map_err(|what| format!("{}: {what}", storage.describe(name)))?;
    Ok(Some(body.to_vec()))
}

/// A new data directory's identity: 64 bits from the standard library's
/// randomly keyed hasher (keys from the operating system), over the time
/// and the process id.
fn new_disk_id() -> DiskId {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.finish()
}

impl LogStore {
    /// Opens the log in `storage` (creating it if empty): the disk's
    /// identity, the vote, the purge point and every entry after it.
    pub fn open(
        storage: Arc<dyn Storage>,
        config: JournalConfig,
    ) -> Result<LogStore, JournalError> {
        let corrupt = |file: &str, what: String| JournalError::Corrupt {
            file: storage.describe(file),
            offset: 0,
            what,
        };
        let disk =
            match read_small(storage.as_ref(), DISK_FILE).map_err(|w| corrupt(DISK_FILE, w))? {
                Some(b) => {
                    let mut r = Reader::new(&b);
                    let d = r.u64().map_err(|e| corrupt(DISK_FILE, e.to_string()))?;
                    r.finish().map_err(|e| corrupt(DISK_FILE, e.to_string()))?;
                    d
                }
                None => {
                    let d = new_disk_id();
                    let mut w = Writer::new();
                    w.u64(d);
                    write_small(storage.as_ref(), DISK_FILE, &w.buf).map_err(|error| {
                        JournalError::Io {
                            file: storage.describe(DISK_FILE),
                            error,
                        }
                    })?;
                    d
                }
            };
        let vote = match read_small(storage.as_ref(), VOTE_FILE)
            .map_err(|w| corrupt(VOTE_FILE, w))?
        {
            Some(b) => {
                let mut r = Reader::new(&b);
                let v = codec::get_vote(&mut r).map_err(|e| corrupt(VOTE_FILE, e.to_string()))?;
                Some(v)
            }
            None => None,
        };
        let last_purged = match read_small(storage.as_ref(), PURGED_FILE)
            .map_err(|w| corrupt(PURGED_FILE, w))?
        {
            Some(b) => {
                let mut r = Reader::new(&b);
                Some(codec::get_log_id(&mut r).map_err(|e| corrupt(PURGED_FILE, e.to_string()))?)
            }
            None => None,
        };
        let floor = last_purged.map_or(0, |id| pos(id.index));
        let flush = Arc::new(Flush::default());
        let notify = flush.clone();
        let (files, journal) = replog::open_log(
            storage.clone(),
            floor,
            config,
            Box::new(move |p| notify.on_progress(p)),
        )?;
        let mut entries = VecDeque::with_capacity(files.records.len());
        for (index, payload) in &files.records {
            let e = codec::entry_from_bytes(payload).map_err(|e| JournalError::Corrupt {
                file: storage.describe("."),
                offset: 0,
                what: format!("log entry {index}: {e}"),
            })?;
            if pos(e.log_id.index) != *index {
                return Err(JournalError::Corrupt {
                    file: storage.describe("."),
                    offset: 0,
                    what: format!("record {index} holds entry {}", e.log_id.index),
                });
            }
            entries.push_back(e);
        }
        let mem = Mem {
            entries,
            last_purged,
            vote,
            epoch: journal.progress().epoch,
        };
        Ok(LogStore {
            inner: Arc::new(Inner {
                disk,
                storage,
                journal,
                mem: Mutex::new(mem),
                flush,
            }),
        })
    }

    /// This data directory's identity.
    pub fn disk(&self) -> DiskId {
        self.inner.disk
    }

    /// Writes what is queued and stops the journal's writer.
    pub fn close(&self) {
        self.inner.journal.close();
    }

    /// The journal under the log (its progress, its files).
    pub fn journal(&self) -> &JournalHandle {
        &self.inner.journal
    }

    /// The last membership in the log (in force once appended, committed
    /// or not), if the log since the last purge holds one.
    pub fn last_membership(&self) -> Option<crate::Membership> {
        self.inner
            .mem()
            .entries
            .iter()
            .rev()
            .find_map(|e| match &e.payload {
                openraft::EntryPayload::Membership(m) => Some(m.clone()),
                _ => None,
            })
    }

    pub(crate) fn entries_in(&self, range: impl RangeBounds<u64>) -> Vec<Entry> {
        let mem = self.inner.mem();
        let Some(first) = mem.entries.front().map(|e| e.log_id.index) else {
            return Vec::new();
        };
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => first,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => u64::MAX,
        };
        let from = start.max(first) - first;
        let to = end.saturating_sub(first).min(mem.entries.len() as u64);
        if from >= to {
            return Vec::new();
        }
        mem.entries
            .range(from as usize..to as usize)
            .cloned()
            .collect()
    }
}

impl Inner {
    fn mem(&self) -> MutexGuard<'_, Mem> {
        lock(&self.mem)
    }
}

impl Mem {
    fn last_log_id(&self) -> Option<LogId> {
        self.entries.back().map(|e| e.log_id).or(self.last_purged)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(self.entries_in(range))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let mem = self.inner.mem();
        Ok(LogState {
            last_purged_log_id: mem.last_purged,
            last_log_id: mem.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let inner = self.inner.clone();
        let vote = *vote;
        let verr = |e: String| storage_error(ErrorSubject::Vote, ErrorVerb::Write, e);
        tokio::task::spawn_blocking(move || {
            // Entries asked for before the vote are durable before it.
            let (epoch, last) = {
                let mem = inner.mem();
                (mem.epoch, inner.journal.last_queued())
            };
            tracing::debug!(?vote, epoch, last, "saving the vote");
            if !inner.journal.wait_durable_in(epoch, last, VOTE_WAIT_MAX) {
                return Err(format!(
                    "the log did not become durable before the vote ({:?})",
                    inner.journal.progress().status
                ));
            }
            let mut w = Writer::new();
            codec::put_vote(&mut w, &vote);
            write_small(inner.storage.as_ref(), VOTE_FILE, &w.buf)
                .map_err(|e| format!("{}: {e}", inner.storage.describe(VOTE_FILE)))?;
            inner.mem().vote = Some(vote);
            Ok(())
        })
        .await
        .map_err(|e| verr(e.to_string()))?
        .map_err(verr)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.inner.mem().vote)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut entries: Vec<Entry> = entries.into_iter().collect();
        if entries
            .windows(2)
            .any(|w| w[1].log_id.index != w[0].log_id.index + 1)
        {
            return Err(write_error("entries to append are not consecutive"));
        }
        let mut mem = self.inner.mem();
        // Entries at or below the purge point are in the state machine
        // already: they are not stored again.
        if let Some(purged) = mem.last_purged {
            entries.retain(|e| e.log_id.index > purged.index);
        }
        let Some(first) = entries.first().map(|e| e.log_id.index) else {
            drop(mem);
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        if mem.entries.is_empty() && mem.last_purged.is_none() {
            if first != 0 {
                // An empty log may start anywhere (openraft's own log
                // starts at 0).
                mem.epoch += 1;
                self.inner.journal.restart_at(pos(first), true);
            }
        } else if mem.entries.back().is_some_and(|e| e.log_id.index >= first) {
            // Entries that replace the end of the log: openraft truncates
            // first, but the log never holds two entries at one index.
            while mem.entries.back().is_some_and(|e| e.log_id.index >= first) {
                mem.entries.pop_back();
            }
            mem.epoch += 1;
            tracing::debug!(first, epoch = mem.epoch, "log append replaces its end");
            self.inner.journal.restart_at(pos(first), false);
        }
        let next = mem.last_log_id().map_or(first, |id| id.index + 1);
        if first != next {
            return Err(write_error(format!(
                "entries from {first} appended where {next} is next: the log would have a hole"
            )));
        }
        let payloads: Vec<Vec<u8>> = entries.iter().map(codec::entry_bytes).collect();
        let last = first + entries.len() as u64 - 1;
        // Registered before the records are queued: the fdatasync that
        // covers them cannot be published before the callback waits.
        tracing::debug!(first, last, epoch = mem.epoch, "log append");
        self.inner.flush.register(mem.epoch, pos(last), callback);
        let queued = self
            .inner
            .journal
            .append_encoded(pos(first), payloads.iter().map(|p| p.as_slice()));
        if queued != Some(pos(last)) {
            return Err(write_error(format!(
                "the journal's next position disagrees with the log's ({next}); no entry was queued"
            )));
        }
        mem.entries.extend(entries);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut mem = self.inner.mem();
        let index = log_id.index;
        if mem.last_log_id().map_or(0, |id| id.index + 1) <= index {
            return Ok(());
        }
        while mem.entries.back().is_some_and(|e| e.log_id.index >= index) {
            mem.entries.pop_back();
        }
        mem.epoch += 1;
        tracing::debug!(index, epoch = mem.epoch, "log truncate");
        self.inner.journal.restart_at(pos(index), false);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            if inner
                .mem()
                .last_purged
                .is_some_and(|p| p.index >= log_id.index)
            {
                return Ok::<(), String>(());
            }
            // The purge point is durable before any record goes.
            let mut w = Writer::new();
            codec::put_log_id(&mut w, &log_id);
            write_small(inner.storage.as_ref(), PURGED_FILE, &w.buf)
                .map_err(|e| format!("{}: {e}", inner.storage.describe(PURGED_FILE)))?;
            let mut mem = inner.mem();
            let beyond_log = mem
                .entries
                .back()
                .is_none_or(|e| e.log_id.index <= log_id.index);
            while mem
                .entries
                .front()
                .is_some_and(|e| e.log_id.index <= log_id.index)
            {
                mem.entries.pop_front();
            }
            mem.last_purged = Some(log_id);
            if beyond_log {
                // Everything in the log is gone (a snapshot from the leader
                // replaced it): the log starts again after the purge point.
                mem.epoch += 1;
                inner.journal.restart_at(pos(log_id.index) + 1, true);
            } else {
                inner.journal.purge_below(pos(log_id.index) + 1);
            }
            Ok(())
        })
        .await
        .map_err(|e| write_error(e.to_string()))?
        .map_err(write_error)
    }
}
