//! The state machine: the ledger's `State`, changed only by applying
//! committed entries in log order, on every node alike.
//!
//! A command's answer (a check's verdict, a sync's alerts) is decided here,
//! after the entry is committed, so no node ever holds a state the others
//! will not reach; the answer goes back to the caller on the leader as the
//! entry's [`Reply`]. A refused command is applied (and refused) on every
//! node too: the idempotency table remembers a refused order id everywhere.
//!
//! Applying writes to disk only for `Command::ArchiveAudit`: each node
//! writes the audit records it names to its own archive (synced) before
//! they leave its memory ([`StateMachine::archive_audit_to`]); a node that
//! cannot is stopped, as for any storage error. Otherwise the log is the
//! durable copy, and a
//! snapshot file (the ledger's snapshot encoding behind the Raft position
//! and membership it covers) lets the log be purged. At start the newest
//! snapshot is loaded; openraft then re-applies the committed entries after
//! it.
//!
//! ```text
//! snapshot body: last applied (opt log id) | membership | snapshot id (string) | state (the rest)
//! ```
//! framed as the journal's snapshot files are (`snapshot-<index + 1>.snap`,
//! with a checksum; index + 1 so that "nothing applied" can be 0). A
//! snapshot is sent to another node as that file: the node installing it
//! checks the checksum, the position it names and the state's invariants
//! before it writes or applies anything.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use interlock_journal::audit::AuditArchive;
use interlock_journal::format::{self, FileKind};
use interlock_journal::{JournalError, Storage};
use interlock_ledger::codec::{Reader, Writer};
use interlock_ledger::{Alert, Command, Ledger, LedgerConfig, State, UnixMs};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, RaftSnapshotBuilder, Snapshot};

use crate::codec;
use crate::{
    storage_error, Entry, LogId, Reply, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// The longest snapshot id.
pub const SNAPSHOT_ID_MAX: usize = 128;

/// The most commands one apply call runs on the runtime thread; more go
/// to a blocking thread (a few milliseconds of work).
pub const APPLY_INLINE_MAX: usize = 1024;

/// Told, for each entry of commands a node applies, the leader's time of
/// its oldest command: the node's apply lag is its own clock then, less
/// that time ([`StateMachine::observe_applies`]).
pub type ApplyObserver = Box<dyn Fn(UnixMs) + Send + Sync>;

/// Told, for each entry of commands a node applies, its log index and the
/// alerts its commands raised (often none), in order
/// ([`StateMachine::observe_alerts`]).
pub type AlertObserver = Box<dyn Fn(u64, Vec<Alert>) + Send + Sync>;

/// The state machine; cloning it gives another handle on the same state
/// (the snapshot builder is one).
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StateMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let applied = self.inner.applied();
        f.debug_struct("StateMachine")
            .field("last_applied", &applied.last_applied)
            .finish()
    }
}

struct Inner {
    storage: Arc<dyn Storage>,
    ledger: Arc<Ledger>,
    /// The state of a node that has no snapshot yet.
    initial: LedgerConfig,
    /// The log, when snapshots are built from the files
    /// ([`StateMachine::with_log`]).
    log: Option<crate::LogStore>,
    /// Held while entries are applied and while a snapshot reads the
    /// state, so a snapshot's position always matches its state.
    applied: Mutex<AppliedTo>,
    /// Makes snapshot ids unique within a process.
    built: AtomicU64,
    /// Snapshots built from the files rather than the live state.
    replayed: AtomicU64,
    on_apply: OnceLock<ApplyObserver>,
    on_alerts: OnceLock<AlertObserver>,
    /// Where the audit records an `ArchiveAudit` takes out of memory go.
    archive: OnceLock<AuditArchive>,
}

#[derive(Clone)]
struct AppliedTo {
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn applied(&self) -> MutexGuard<'_, AppliedTo> {
        lock(&self.applied)
    }
}

fn sm_error(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
    storage_error(ErrorSubject::StateMachine, verb, e)
}

fn snapshot_error(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
    storage_error(ErrorSubject::Snapshot(None), verb, e)
}

/// The first byte of a snapshot body whose membership records disks.
/// A body written before (until 2026-12-01) starts with its position's
/// presence (0 or 1), and is still read, its disks unknown; an older
/// binary refuses this one rather than misread it.
const SNAPSHOT_WITH_DISKS: u8 = 2;

/// A snapshot file's body.
fn encode_snapshot(meta: &SnapshotMeta, state: &[u8]) -> Vec<u8> {
    let mut w = Writer::with_buf(Vec::with_capacity(state.len() + 256));
    w.u8(SNAPSHOT_WITH_DISKS);
    codec::put_opt_log_id(&mut w, &meta.last_log_id);
    codec::put_stored_membership(&mut w, &meta.last_membership);
    w.str(&meta.snapshot_id);
    w.buf.extend_from_slice(state);
    w.buf
}

fn decode_snapshot(body: &[u8]) -> Result<(SnapshotMeta, &[u8]), String> {
    let disks = body.first() == Some(&SNAPSHOT_WITH_DISKS);
    let mut r = Reader::new(&body[usize::from(disks)..]);
    let last_log_id = codec::get_opt_log_id(&mut r).map_err(|e| e.to_string())?;
    let last_membership = if disks {
        codec::get_stored_membership(&mut r)
    } else {
        codec::get_stored_membership_without_disks(&mut r)
    }
    .map_err(|e| e.to_string())?;
    let snapshot_id = r
        .str(SNAPSHOT_ID_MAX)
        .map_err(|e| e.to_string())?
        .to_string();
    let at = r.position() + usize::from(disks);
    Ok((
        SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        },
        &body[at..],
    ))
}

/// A snapshot as built, sent and installed (a snapshot file): what it
/// covers and its state's encoding, once its checksum is checked.
pub fn read_snapshot(file: &[u8]) -> Result<(SnapshotMeta, &[u8]), String> {
    let (_, body) = format::read_snapshot_file(file).map_err(String::from)?;
    decode_snapshot(body)
}

fn snapshot_position(meta: &SnapshotMeta) -> u64 {
    meta.last_log_id.map_or(0, |id| id.index + 1)
}

impl StateMachine {
    /// Opens the state machine in `storage`: the newest snapshot's state,
    /// or an empty state under `cfg` when there is none.
    pub fn open(
        storage: Arc<dyn Storage>,
        cfg: LedgerConfig,
    ) -> Result<StateMachine, JournalError> {
        Self::open_inner(storage, cfg, None)
    }

    /// [`StateMachine::open`], building snapshots from the files rather
    /// than from the live state: the last snapshot and the entries of `log`
    /// after it, replayed into a second state on a thread of its own. The
    /// live state's lock and the runtime never wait for the encoding (at
    /// 2.5M entries that was 0.9 s with the lock held, long enough to
    /// miss heartbeats and start an election). Applying is deterministic,
    /// so the replayed state is the live one at the same entry.
    pub fn open_with_log(
        storage: Arc<dyn Storage>,
        cfg: LedgerConfig,
        log: crate::LogStore,
    ) -> Result<StateMachine, JournalError> {
        Self::open_inner(storage, cfg, Some(log))
    }

    fn open_inner(
        storage: Arc<dyn Storage>,
        cfg: LedgerConfig,
        log: Option<crate::LogStore>,
    ) -> Result<StateMachine, JournalError> {
        let (state, applied) = match newest_snapshot(storage.as_ref(), true)? {
            Some((name, bytes)) => {
                let corrupt = |what: String| JournalError::Corrupt {
                    file: storage.describe(&name),
                    offset: 0,
                    what,
                };
                let (_, body) =
                    format::read_snapshot_file(&bytes).map_err(|w| corrupt(w.into()))?;
                let (meta, state) = decode_snapshot(body).map_err(corrupt)?;
                let state = State::from_snapshot(state).map_err(|e| corrupt(e.to_string()))?;
                let applied = AppliedTo {
                    last_applied: meta.last_log_id,
                    membership: meta.last_membership,
                };
                (state, applied)
            }
            None => (
                State::new(cfg.clone()),
                AppliedTo {
                    last_applied: None,
                    membership: StoredMembership::default(),
                },
            ),
        };
        Ok(StateMachine {
            inner: Arc::new(Inner {
                storage,
                ledger: Arc::new(Ledger::from_state(state)),
                initial: cfg,
                log,
                applied: Mutex::new(applied),
                built: AtomicU64::new(0),
                replayed: AtomicU64::new(0),
                on_apply: OnceLock::new(),
                on_alerts: OnceLock::new(),
                archive: OnceLock::new(),
            }),
        })
    }

    /// Calls `f` for each entry of commands applied from now on, with the
    /// time its oldest command was stamped at (by the leader that proposed
    /// it). Set once; a second observer is refused and returned.
    pub fn observe_applies(&self, f: ApplyObserver) -> Result<(), ApplyObserver> {
        self.inner.on_apply.set(f)
    }

    /// Calls `f` for each entry of commands applied from now on (replayed
    /// ones at start included) with its index and the alerts its commands
    /// raised: every node raises the same alerts for the same entry. Set
    /// once; a second observer is refused and returned.
    pub fn observe_alerts(&self, f: AlertObserver) -> Result<(), AlertObserver> {
        self.inner.on_alerts.set(f)
    }

    /// Writes the audit records each `Command::ArchiveAudit` takes out of
    /// memory to `archive` (synced) before applying it. Set once, before
    /// Raft starts; without it the records leave memory unwritten (tests of
    /// the log alone). A second archive is refused and returned.
    pub fn archive_audit_to(&self, archive: AuditArchive) -> Result<(), AuditArchive> {
        self.inner.archive.set(archive)
    }

    /// The ledger this machine applies to: read it for answers that do not
    /// change it (exposure, reports); never apply to it directly.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.inner.ledger
    }

    /// How many snapshots were built from the files (the rest encoded the
    /// live state: no log attached, or the files could not give it).
    pub fn snapshots_replayed(&self) -> u64 {
        self.inner.replayed.load(Ordering::Relaxed)
    }

    /// The last entry applied.
    pub fn last_applied(&self) -> Option<LogId> {
        self.inner.applied().last_applied
    }

    /// The membership as of the last entry applied.
    pub fn applied_membership(&self) -> StoredMembership {
        self.inner.applied().membership.clone()
    }

    /// Writes a snapshot file for `state` at `meta`; returns the file.
    fn save(&self, meta: &SnapshotMeta, state: &[u8]) -> Result<Vec<u8>, String> {
        let position = snapshot_position(meta);
        let file = format::snapshot_file(position, &encode_snapshot(meta, state));
        self.save_file(position, &file)?;
        Ok(file)
    }

    /// Writes a snapshot file (temporary, synced, renamed, directory
    /// synced), then removes older snapshots.
    fn save_file(&self, position: u64, file: &[u8]) -> Result<(), String> {
        let storage = self.inner.storage.as_ref();
        let name = format::snapshot_name(position);
        let tmp = format::snapshot_tmp_name(position);
        let io = |n: &str| {
            let d = storage.describe(n);
            move |e: std::io::Error| format!("{d}: {e}")
        };
        let mut f = storage.create(&tmp).map_err(io(&tmp))?;
        f.write_all(file).map_err(io(&tmp))?;
        f.sync().map_err(io(&tmp))?;
        storage.rename(&tmp, &name).map_err(io(&name))?;
        storage.sync_dir().map_err(io("."))?;
        let mut removed = false;
        for old in storage.list().map_err(io("."))? {
            if let Some((FileKind::Snapshot, p)) = format::parse_name(&old) {
                if old != name && p <= position {
                    storage.remove(&old).map_err(io(&old))?;
                    removed = true;
                }
            }
        }
        if removed {
            storage.sync_dir().map_err(io("."))?;
        }
        Ok(())
    }
}

/// The newest snapshot file's name and bytes. With `at_start`, temporary
/// files a crash left are removed; at any other time one may be a snapshot
/// being written (openraft asks for the current snapshot, to send it to a
/// node far behind, while it builds the next one).
fn newest_snapshot(
    storage: &dyn Storage,
    at_start: bool,
) -> Result<Option<(String, Vec<u8>)>, JournalError> {
    let io = |name: &str| {
        let file = storage.describe(name);
        move |error| JournalError::Io { file, error }
    };
    let mut newest: Option<(u64, String)> = None;
    for name in storage.list().map_err(io("."))? {
        match format::parse_name(&name) {
            Some((FileKind::Snapshot, p)) if newest.as_ref().is_none_or(|(q, _)| p > *q) => {
                newest = Some((p, name))
            }
            Some((FileKind::Temp, _)) if at_start => storage.remove(&name).map_err(io(&name))?,
            _ => {}
        }
    }
    match newest {
        Some((_, name)) => {
            let bytes = storage.read(&name).map_err(io(&name))?;
            Ok(Some((name, bytes)))
        }
        None => Ok(None),
    }
}

impl StateMachine {
    /// The state at `applied` rebuilt from the files: the newest snapshot
    /// (or the initial state) and the log's entries after it, applied as
    /// [`RaftStateMachine::apply`] applies them. `None` when the files
    /// cannot give it (nothing applied yet, a newer snapshot installed
    /// meanwhile, entries missing): the caller encodes the live state.
    fn replayed(
        &self,
        log: &crate::LogStore,
        applied: &AppliedTo,
    ) -> Result<Option<Vec<u8>>, String> {
        let Some(target) = applied.last_applied else {
            return Ok(None);
        };
        let storage = self.inner.storage.as_ref();
        let (state, from) = match newest_snapshot(storage, false).map_err(|e| e.to_string())? {
            Some((name, bytes)) => {
                let (_, body) = format::read_snapshot_file(&bytes)
                    .map_err(|w| format!("{}: {w}", storage.describe(&name)))?;
                let (meta, state) = decode_snapshot(body)?;
                let from = meta.last_log_id.map_or(0, |id| id.index + 1);
                if from > target.index {
                    return Ok(None);
                }
                let state = State::from_snapshot(state)
                    .map_err(|e| format!("{}: {e}", storage.describe(&name)))?;
                (state, from)
            }
            None => (State::new(self.inner.initial.clone()), 0),
        };
        let entries = log.entries_in(from..=target.index);
        let whole = entries.len() as u64 == target.index + 1 - from
            && entries.last().is_none_or(|e| e.log_id == target);
        if !whole {
            return Ok(None);
        }
        let ledger = Ledger::from_state(state);
        for entry in entries {
            if let EntryPayload::Normal(batch) = entry.payload {
                for cmd in batch {
                    // Refusals are part of the state (the idempotency table
                    // remembers them), exactly as when first applied.
                    let _ = ledger.apply(cmd);
                }
            }
        }
        ledger
            .read(|s| s.to_snapshot())
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// Applies committed entries in order: a reply per entry. Fails only
    /// when the audit archive cannot be written; the entries before the
    /// failing one stay applied.
    fn apply_entries(&self, entries: Vec<Entry>) -> Result<Vec<Reply>, String> {
        let mut applied = self.inner.applied();
        let mut replies = Vec::with_capacity(entries.len());
        for entry in entries {
            let reply = match entry.payload {
                EntryPayload::Blank => Reply(Vec::new()),
                // Each command carries the leader's time: every node
                // applies it at the same time and reaches the same answer.
                EntryPayload::Normal(batch) => {
                    let oldest = batch.iter().map(|c| c.at_ms()).min();
                    let mut answers = Vec::with_capacity(batch.len());
                    for cmd in batch {
                        if let Command::ArchiveAudit { through_seq, .. } = &cmd {
                            self.write_archive(*through_seq)?;
                        }
                        answers.push(self.inner.ledger.apply(cmd).0);
                    }
                    if let Some(observe) = self.inner.on_alerts.get() {
                        let alerts: Vec<Alert> = answers
                            .iter()
                            .filter_map(|a| a.as_ref().ok())
                            .flat_map(|a| a.alerts.iter().cloned())
                            .collect();
                        observe(entry.log_id.index, alerts);
                    }
                    let reply = Reply(answers);
                    if let (Some(observe), Some(oldest)) = (self.inner.on_apply.get(), oldest) {
                        observe(oldest);
                    }
                    reply
                }
                EntryPayload::Membership(m) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), m);
                    Reply(Vec::new())
                }
            };
            applied.last_applied = Some(entry.log_id);
            replies.push(reply);
        }
        Ok(replies)
    }

    /// Writes the audit records up to `through_seq` that memory holds and
    /// the archive is about to be told of: what the leader wrote before
    /// proposing on a single node, each node does for itself here. A
    /// `through_seq` the ledger will refuse writes nothing.
    fn write_archive(&self, through_seq: u64) -> Result<(), String> {
        let Some(archive) = self.inner.archive.get() else {
            return Ok(());
        };
        let batch = self
            .inner
            .ledger
            .read(|s| {
                let archived = s.audit_archived();
                let held = s.audit_len() as u64;
                if through_seq <= archived || through_seq > archived + held {
                    return Vec::new();
                }
                s.audit_oldest((through_seq - archived) as usize)
            })
            .map_err(|e| e.to_string())?;
        archive
            .write(&batch)
            .map_err(|e| format!("the audit archive: {e}"))?;
        Ok(())
    }

    fn snapshot_meta(&self, applied: AppliedTo) -> SnapshotMeta {
        let n = self.inner.built.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match applied.last_applied {
            Some(id) => format!("{}-{}-{n}", id.leader_id.term, id.index),
            None => format!("empty-{n}"),
        };
        SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership,
            snapshot_id,
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let started = std::time::Instant::now();
        if let Some(log) = self.inner.log.clone() {
            let applied = self.inner.applied().clone();
            let this = self.clone();
            let built = tokio::task::spawn_blocking(move || -> Result<_, String> {
                let Some(state) = this.replayed(&log, &applied)? else {
                    return Ok(None);
                };
                let meta = this.snapshot_meta(applied);
                let file = this.save(&meta, &state)?;
                this.inner.replayed.fetch_add(1, Ordering::Relaxed);
                Ok(Some((meta, file)))
            })
            .await
            .map_err(|e| snapshot_error(ErrorVerb::Write, e))?
            .map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
            if let Some((meta, file)) = built {
                tracing::info!(
                    index = ?meta.last_log_id.map(|l| l.index),
                    bytes = file.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "snapshot built from the files"
                );
                return Ok(Snapshot {
                    meta,
                    snapshot: Box::new(Cursor::new(file)),
                });
            }
        }
        let (applied, state) = {
            let applied = self.inner.applied();
            let state = self
                .inner
                .ledger
                .read(|s| s.to_snapshot())
                .map_err(|e| sm_error(ErrorVerb::Read, e))?;
            (applied.clone(), state)
        };
        let meta = self.snapshot_meta(applied);
        tracing::info!(
            index = ?meta.last_log_id.map(|l| l.index),
            bytes = state.len(),
            ms = started.elapsed().as_millis() as u64,
            "snapshot encoded from the live state"
        );
        let this = self.clone();
        let (meta, file) =
            tokio::task::spawn_blocking(move || this.save(&meta, &state).map(|file| (meta, file)))
                .await
                .map_err(|e| snapshot_error(ErrorVerb::Write, e))?
                .map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(file)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let a = self.inner.applied();
        Ok((a.last_applied, a.membership.clone()))
    }

    /// Applies on the runtime when the entries are few (a leader's or an
    /// up-to-date follower's usual call: a thread hop per call cost the
    /// leader 11-13% more CPU per check, `bench/cluster.sh`, 2026-12-01), and
    /// on a blocking thread when they carry more than [`APPLY_INLINE_MAX`]
    /// commands (a follower catching up), so that applying never holds up
    /// the AppendEntries behind it past openraft's deadline.
    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Reply>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let commands = entries.iter().flat_map(|e| match &e.payload {
            EntryPayload::Normal(batch) => batch.as_slice(),
            _ => &[],
        });
        let (mut n, mut archives) = (0usize, false);
        for c in commands {
            n += 1;
            archives |= matches!(c, Command::ArchiveAudit { .. });
        }
        // Archiving writes and syncs a file: not on the runtime either.
        if n <= APPLY_INLINE_MAX && !archives {
            return self
                .apply_entries(entries)
                .map_err(|e| sm_error(ErrorVerb::Write, e));
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.apply_entries(entries))
            .await
            .map_err(|e| sm_error(ErrorVerb::Write, e))?
            .map_err(|e| sm_error(ErrorVerb::Write, e))
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let file = snapshot.into_inner();
        let this = self.clone();
        let position = snapshot_position(meta);
        let expected = meta.last_log_id;
        // Off the runtime: decoding a large state takes long enough to miss
        // heartbeats. A file that fails its checksum, names another
        // position or holds a state that does not decode is refused before
        // anything is written or applied.
        let state = tokio::task::spawn_blocking(move || {
            let refused = |what: String| (ErrorVerb::Read, format!("a snapshot refused: {what}"));
            let (at, body) = format::read_snapshot_file(&file).map_err(|w| refused(w.into()))?;
            let (inner, state) = decode_snapshot(body).map_err(refused)?;
            if at != position || inner.last_log_id != expected {
                return Err(refused(format!(
                    "it covers {:?}, not {expected:?}",
                    inner.last_log_id
                )));
            }
            let state = State::from_snapshot(state).map_err(|e| refused(e.to_string()))?;
            this.save_file(position, &file)
                .map_err(|e| (ErrorVerb::Write, e))?;
            Ok(state)
        })
        .await
        .map_err(|e| snapshot_error(ErrorVerb::Write, e))?
        .map_err(|(verb, e)| snapshot_error(verb, e))?;
        let mut applied = self.inner.applied();
        self.inner
            .ledger
            .replace(state)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        applied.last_applied = meta.last_log_id;
        applied.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let storage = self.inner.storage.clone();
        let found = tokio::task::spawn_blocking(move || -> Result<_, String> {
            let Some((name, bytes)) =
                newest_snapshot(storage.as_ref(), false).map_err(|e| e.to_string())?
            else {
                return Ok(None);
            };
            let (_, body) = format::read_snapshot_file(&bytes)
                .map_err(|w| format!("{}: {w}", storage.describe(&name)))?;
            let (meta, _) = decode_snapshot(body)?;
            // Sent as the file, checksum and all.
            Ok(Some(Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(bytes)),
            }))
        })
        .await
        .map_err(|e| snapshot_error(ErrorVerb::Read, e))?
        .map_err(|e| snapshot_error(ErrorVerb::Read, e))?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn a_snapshot_body_reads_with_its_disks_and_one_written_before_them_without() {
        let id = LogId::new(openraft::CommittedLeaderId::new(3, 0), 41);
        let mut nodes = BTreeMap::from([
            (1, crate::ClusterNode::at("127.0.0.1:1", "127.0.0.1:2")),
            (2, crate::ClusterNode::at("127.0.0.1:3", "127.0.0.1:4")),
        ]);
        nodes.get_mut(&2).unwrap().disk = Some(0xfeed);
        let meta = SnapshotMeta {
            last_log_id: Some(id),
            last_membership: StoredMembership::new(
                Some(id),
                crate::Membership::new(vec![BTreeSet::from([1, 2])], nodes.clone()),
            ),
            snapshot_id: "3-41".into(),
        };
        let state = b"the state".to_vec();
        let body = encode_snapshot(&meta, &state);
        let (back, rest) = decode_snapshot(&body).unwrap();
        assert_eq!(back, meta);
        assert_eq!(rest, &state[..]);

        // As written until 2026-12-01: no marker, no disks.
        let mut w = Writer::new();
        codec::put_opt_log_id(&mut w, &meta.last_log_id);
        codec::put_opt_log_id(&mut w, &Some(id));
        w.usize(1);
        w.usize(2);
        w.u64(1);
        w.u64(2);
        w.usize(2);
        for (n, node) in &nodes {
            w.u64(*n);
            w.str(&node.raft_addr);
            w.str(&node.api_addr);
        }
        w.str(&meta.snapshot_id);
        w.buf.extend_from_slice(&state);
        let (old, rest) = decode_snapshot(&w.buf).unwrap();
        assert_eq!(rest, &state[..]);
        assert_eq!(old.last_log_id, meta.last_log_id);
        let got: Vec<_> = old.last_membership.membership().nodes().collect();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|(_, n)| n.disk.is_none()));
        assert!(got[1].1.same_place(&nodes[&2]));
    }
}
