//! Interlock's journal: nothing acknowledged is ever lost.
//!
//! The ledger lives in memory; this crate makes it durable. Every command
//! that changed the state is appended to a log on local disk and made
//! durable before its answer leaves the server; snapshots of the whole state
//! let the log be cut; at start the newest snapshot is loaded and the log
//! after it replayed.
//!
//! Map:
//! - [`storage`]: the file operations, behind a trait ([`DiskStorage`] for
//!   real, [`sim::SimStorage`] for crash and fault tests).
//! - [`format`]: segment, record and snapshot layouts, with checksums.
//! - [`writer`]: the writer thread (group commit, fail-stop, disk full).
//! - [`recover`]: snapshot + replay, torn tails cut, corruption refused.
//! - [`replog`]: the journal as a replicated log (records numbered by
//!   the log's leader, cut back when it says so).
//! - [`audit`]: the audit archive (records that left the ledger's memory).
//! - [`open`] and [`snapshot`]: what the server calls.
//!
//! Synchronous like the ledger: one writer thread, std I/O, no runtime.

#![forbid(unsafe_code)]

pub mod audit;
pub mod format;
pub mod recover;
pub mod replog;
pub mod sim;
pub mod storage;
pub mod writer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use interlock_ledger::{Ledger, LedgerConfig, State};

pub use recover::Recovered;
pub use storage::{DiskStorage, Storage};
pub use writer::{JournalConfig, JournalHandle, JournalStatus, Progress, SyncObserver};

/// Why the journal could not start, or a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{file}: {error}")]
    Io { file: String, error: std::io::Error },
    /// Damage that is not a torn end of the log: start-up is refused.
    #[error("{file}: corrupt at byte offset {offset}: {what}; refusing to start (restore the data directory from a backup, or move the file away knowing its records are lost)")]
    Corrupt {
        file: String,
        offset: usize,
        what: String,
    },
    #[error("{file}: journal records are missing: expected record {expected}, found {found}; refusing to start")]
    Missing {
        file: String,
        expected: u64,
        found: u64,
    },
    #[error("the journal is not accepting writes ({0:?})")]
    Stopped(JournalStatus),
    #[error("the ledger is unavailable: {0}")]
    Ledger(#[from] interlock_ledger::LedgerError),
}

/// Recovers the state from `storage` and starts a journal after it.
/// `notify` is called with every change of progress (from the writer
/// thread; it must not block).
pub fn open(
    storage: Arc<dyn Storage>,
    cfg: LedgerConfig,
    config: JournalConfig,
    notify: Box<dyn Fn(Progress) + Send + Sync>,
) -> Result<(Recovered, JournalHandle), JournalError> {
    let mut recovered = recover::recover(storage.as_ref(), cfg)?;
    if recovered.snapshot_lsn.is_none() {
        // The settings a journal was written under live only in a
        // snapshot (and in the settings changes journaled after it): with
        // none, a later recovery would judge the first records under the
        // settings of that later start. A fresh data directory gets its
        // (empty) snapshot here, before the first record; snapshots taken
        // while serving replay onto it (`snapshot_replayed`).
        let lsn = recovered.last_lsn;
        write_snapshot_file(&storage, lsn, &recovered.state.to_snapshot())?;
        recovered.snapshot_lsn = Some(lsn);
        recovered.journal_bytes = 0;
    }
    let name = format::segment_name(recovered.last_lsn + 1);
    let journal = JournalHandle::start(
        storage.clone(),
        config,
        recovered.last_lsn,
        recovered.journal_bytes,
        notify,
    )
    .map_err(|error| JournalError::Io {
        file: storage.describe(&name),
        error,
    })?;
    Ok((recovered, journal))
}

/// What a snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The last record the snapshot contains.
    pub lsn: u64,
    pub bytes: u64,
    /// Old segments and snapshots removed after it.
    pub removed_files: usize,
    /// How long it held the ledger's lock (every check waited at most
    /// this long for it): the encoding for [`snapshot`], only the cut of
    /// the journal for [`snapshot_replayed`].
    pub lock_held: std::time::Duration,
}

/// Writes a snapshot of `ledger` and cuts the journal behind it.
///
/// Under the ledger's lock the state is encoded and the journal told to
/// start a new segment; then, without the lock and once that segment exists,
/// the snapshot is written to a temporary file, synced, renamed into place
/// and the directory synced;
/// only then are the segments and snapshots it replaces removed. A crash at
/// any point leaves either the old snapshot with its full journal, or the
/// new one with the records after it.
pub fn snapshot(ledger: &Ledger, journal: &JournalHandle) -> Result<SnapshotInfo, JournalError> {
    let _turn = journal.snapshot_turn();
    let status = journal.progress().status;
    if status != JournalStatus::Ok {
        return Err(JournalError::Stopped(status));
    }
    let (body, lsn, lock_held) = ledger.read(|state: &State| {
        let started = Instant::now();
        let (body, lsn) = cut(state, journal);
        (body, lsn, started.elapsed())
    })?;
    let info = write_snapshot(journal, lsn, &body)?;
    Ok(SnapshotInfo { lock_held, ..info })
}

/// [`snapshot`] without encoding under the ledger's lock: under it only the
/// journal is cut (a new segment is started after the last record); the
/// state at the cut is then rebuilt from the files (the last snapshot and
/// the segments after it, [`recover::replayed_upto`]) and encoded, while
/// checks go on. Recovery is replay, so the rebuilt state is the state the
/// ledger had at the cut, byte for byte (the crash and model tests hold
/// recovery to that). It costs another core the replay and the memory of a
/// second state while it runs.
pub fn snapshot_replayed(
    ledger: &Ledger,
    journal: &JournalHandle,
) -> Result<SnapshotInfo, JournalError> {
    let _turn = journal.snapshot_turn();
    accepting(journal)?;
    let (lsn, lock_held) = ledger.read(|_| {
        let started = Instant::now();
        (journal.rotate(), started.elapsed())
    })?;
    let info = encode_replayed(journal, lsn)?;
    Ok(SnapshotInfo { lock_held, ..info })
}

/// [`snapshot_replayed`] for a caller that owns the state outright (no
/// concurrent appends to the journal), such as a single-threaded test.
pub fn snapshot_state_replayed(
    _owned: &State,
    journal: &JournalHandle,
) -> Result<SnapshotInfo, JournalError> {
    let _turn = journal.snapshot_turn();
    accepting(journal)?;
    encode_replayed(journal, journal.rotate())
}

fn accepting(journal: &JournalHandle) -> Result<(), JournalError> {
    match journal.progress().status {
        JournalStatus::Ok => Ok(()),
        status => Err(JournalError::Stopped(status)),
    }
}

/// Rebuilds the state after record `lsn` from the files once the journal
/// has moved past it, and writes its snapshot.
fn encode_replayed(journal: &JournalHandle, lsn: u64) -> Result<SnapshotInfo, JournalError> {
    if !journal.wait_rotated(lsn + 1) {
        return Err(JournalError::Stopped(journal.progress().status));
    }
    let body = recover::replayed_upto(journal.storage().as_ref(), lsn)?.to_snapshot();
    write_snapshot(journal, lsn, &body)
}

/// [`snapshot`] for a caller that owns the state outright (no concurrent
/// appends to the journal), such as a single-threaded test.
pub fn snapshot_state(
    state: &State,
    journal: &JournalHandle,
) -> Result<SnapshotInfo, JournalError> {
    let _turn = journal.snapshot_turn();
    let status = journal.progress().status;
    if status != JournalStatus::Ok {
        return Err(JournalError::Stopped(status));
    }
    let (body, lsn) = cut(state, journal);
    write_snapshot(journal, lsn, &body)
}

/// Encodes the state and starts a new segment after its last record.
fn cut(state: &State, journal: &JournalHandle) -> (Vec<u8>, u64) {
    let body = state.to_snapshot();
    let lsn = journal.rotate();
    (body, lsn)
}

fn write_snapshot(
    journal: &JournalHandle,
    lsn: u64,
    body: &[u8],
) -> Result<SnapshotInfo, JournalError> {
    // The new segment exists before the snapshot does, so the snapshot
    // never refers to a journal position that has no segment.
    if !journal.wait_rotated(lsn + 1) {
        return Err(JournalError::Stopped(journal.progress().status));
    }
    write_snapshot_file(journal.storage(), lsn, body)
}

/// Writes the snapshot of the state after record `lsn` (temporary file,
/// sync, rename, directory sync), then removes the segments and snapshots
/// it makes obsolete.
fn write_snapshot_file(
    storage: &Arc<dyn Storage>,
    lsn: u64,
    body: &[u8],
) -> Result<SnapshotInfo, JournalError> {
    let io = |name: &str| {
        let file = storage.describe(name);
        move |error| JournalError::Io { file, error }
    };
    let tmp = format::snapshot_tmp_name(lsn);
    let name = format::snapshot_name(lsn);
    let file = format::snapshot_file(lsn, body);
    let written = storage.create(&tmp).and_then(|mut f| {
        f.write_all(&file)?;
        f.sync()
    });
    if let Err(e) = written {
        let _ = storage.remove(&tmp);
        return Err(io(&tmp)(e));
    }
    storage.rename(&tmp, &name).map_err(io(&name))?;
    storage.sync_dir().map_err(io("."))?;
    let mut removed = 0;
    for old in storage.list().map_err(io("."))? {
        let obsolete = match format::parse_name(&old) {
            Some((format::FileKind::Segment, first)) => first <= lsn,
            Some((format::FileKind::Snapshot, l)) => l < lsn,
            _ => false,
        };
        if obsolete {
            storage.remove(&old).map_err(io(&old))?;
            removed += 1;
        }
    }
    if removed > 0 {
        storage.sync_dir().map_err(io("."))?;
    }
    Ok(SnapshotInfo {
        lsn,
        bytes: file.len() as u64,
        removed_files: removed,
        lock_held: Duration::ZERO,
    })
}
