//! Recovery at start: the newest snapshot, then every journal record after
//! it, in order, through [`State::apply`], the same code that applied them
//! live.
//!
//! What is refused, never skipped: a damaged snapshot, a damaged record
//! anywhere but the very end of the log, a record that fails to decode, and
//! missing records. What is repaired: a torn record at the very end of the
//! last segment (a write the crash interrupted, never acknowledged) is cut
//! off and logged, zeroes after a segment's last record (space the writer
//! allocated ahead) are cut, and leftover temporary snapshot files are
//! removed.

use std::sync::mpsc;

use interlock_ledger::codec::from_bytes;
use interlock_ledger::{Command, LedgerConfig, State};

use crate::format::{self, FileKind, RecordAt};
use crate::storage::Storage;
use crate::JournalError;

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    pub state: State,
    /// The last record in the state (0: none ever).
    pub last_lsn: u64,
    pub snapshot_lsn: Option<u64>,
    pub records_replayed: u64,
    /// Bytes of journal records behind the snapshot (what was replayed):
    /// they count towards the next snapshot as if written by this process,
    /// so a server that keeps crashing before it writes
    /// `snapshot_after_bytes` anew still snapshots soon after it starts.
    pub journal_bytes: u64,
    /// A torn tail that was cut off: (file, offset).
    pub truncated: Option<(String, usize)>,
}

/// Rebuilds the state from `storage`; `cfg` is used only when there is no
/// snapshot (a snapshot carries the settings it was taken under, and the
/// journal carries every change of them).
pub fn recover(storage: &dyn Storage, cfg: LedgerConfig) -> Result<Recovered, JournalError> {
    load(storage, Some(cfg), None)
}

/// The state as it was after record `lsn`, rebuilt from the newest snapshot
/// and the finished segments after it (those that start at or before
/// `lsn`), changing no file: what a snapshot taken while the server runs
/// encodes, so that the server's lock is never held for the encoding.
/// Refuses anything recovery would repair (a torn or zeroed tail, a
/// leftover temporary file is only skipped) and a missing base snapshot.
pub fn replayed_upto(storage: &dyn Storage, lsn: u64) -> Result<State, JournalError> {
    let r = load(storage, None, Some(lsn))?;
    if r.last_lsn != lsn {
        return Err(JournalError::Missing {
            file: storage.describe("."),
            expected: lsn,
            found: r.last_lsn,
        });
    }
    Ok(r.state)
}

/// [`recover`] (`upto` is `None`: repairs allowed, `cfg` for a journal
/// without a snapshot) or [`replayed_upto`] (read-only, up to a record).
fn load(
    storage: &dyn Storage,
    cfg: Option<LedgerConfig>,
    upto: Option<u64>,
) -> Result<Recovered, JournalError> {
    let read_only = upto.is_some();
    let io = |name: &str| {
        let file = storage.describe(name);
        move |error| JournalError::Io { file, error }
    };
    let mut snapshots = Vec::new();
    let mut segments = Vec::new();
    for name in storage.list().map_err(io("."))? {
        match format::parse_name(&name) {
            Some((FileKind::Snapshot, lsn)) if upto.is_none_or(|u| lsn <= u) => {
                snapshots.push((lsn, name))
            }
            Some((FileKind::Snapshot, _)) => {}
            Some((FileKind::Segment, lsn)) if upto.is_none_or(|u| lsn <= u) => {
                segments.push((lsn, name))
            }
            Some((FileKind::Segment, _)) => {}
            Some((FileKind::Temp, _)) if read_only => {}
            Some((FileKind::Temp, _)) => {
                // A snapshot that was never completed (renamed) is garbage.
                storage.remove(&name).map_err(io(&name))?;
            }
            None => {}
        }
    }
    snapshots.sort();
    segments.sort();

    let (mut state, snapshot_lsn) = match snapshots.last() {
        Some((lsn, name)) => {
            let bytes = storage.read(name).map_err(io(name))?;
            let corrupt = |what: String| JournalError::Corrupt {
                file: storage.describe(name),
                offset: 0,
                what,
            };
            let (inner_lsn, body) =
                format::read_snapshot_file(&bytes).map_err(|w| corrupt(w.into()))?;
            if inner_lsn != *lsn {
                return Err(corrupt(format!(
                    "snapshot says lsn {inner_lsn}, its name says {lsn}"
                )));
            }
            let state = State::from_snapshot(body).map_err(|e| corrupt(e.to_string()))?;
            (state, Some(*lsn))
        }
        None => match cfg {
            Some(cfg) => (State::new(cfg), None),
            // The settings the journal started under are only in a
            // snapshot (the server writes one at its first start).
            None => {
                return Err(JournalError::Corrupt {
                    file: storage.describe("."),
                    offset: 0,
                    what: "no snapshot to replay the journal onto".into(),
                })
            }
        },
    };

    let mut expected = snapshot_lsn.unwrap_or(0) + 1;
    let mut replayed = 0u64;
    let mut journal_bytes = 0u64;
    let mut truncated = None;
    let last_index = segments.len().saturating_sub(1);
    for (i, (first_lsn, name)) in segments.iter().enumerate() {
        let is_last = i == last_index;
        let bytes = storage.read(name).map_err(io(name))?;
        let (records, end) =
            match check_segment(storage, name, *first_lsn, &bytes, is_last, read_only)? {
                Checked::Removed => continue,
                Checked::Records { end, cut } => {
                    if cut.is_some() {
                        truncated = cut;
                    }
                    (
                        format::scan_records(&bytes[..end], format::SEGMENT_HEADER_LEN).0,
                        end,
                    )
                }
            };
        if *first_lsn > expected {
            // Only records can show a gap inside a segment; an empty
            // segment after one is caught here.
            return Err(JournalError::Missing {
                file: storage.describe(name),
                expected,
                found: *first_lsn,
            });
        }
        state.reserve_for_replay(records.len());
        let file = storage.describe(name);
        let (next, n) = replay(
            &mut state, &records, *first_lsn, expected, &file, !read_only,
        )?;
        expected = next;
        replayed += n;
        journal_bytes += (end - format::SEGMENT_HEADER_LEN) as u64;
    }
    Ok(Recovered {
        state,
        last_lsn: expected - 1,
        snapshot_lsn,
        records_replayed: replayed,
        journal_bytes,
        truncated,
    })
}

/// What [`check_segment`] found.
pub(crate) enum Checked {
    /// A segment whose creation a crash interrupted, removed.
    Removed,
    /// Records up to byte `end`; `cut`: a torn tail cut off (file, offset).
    Records {
        end: usize,
        cut: Option<(String, usize)>,
    },
}

/// Checks a segment's header against its name and where its records end,
/// making the repairs a crash calls for unless `read_only`: a newest
/// segment with no header yet is removed, zeroes after the last record
/// (space allocated ahead) are cut, and so is a torn record at the very end
/// of the newest segment. Any other damage is refused.
pub(crate) fn check_segment(
    storage: &dyn Storage,
    name: &str,
    first_lsn: u64,
    bytes: &[u8],
    is_last: bool,
    read_only: bool,
) -> Result<Checked, JournalError> {
    let io = |error| JournalError::Io {
        file: storage.describe(name),
        error,
    };
    let corrupt = |offset: usize, what: String| JournalError::Corrupt {
        file: storage.describe(name),
        offset,
        what,
    };
    match format::read_segment_header(bytes) {
        Ok(lsn) if lsn == first_lsn => {}
        Ok(lsn) => {
            return Err(corrupt(
                0,
                format!("header says first lsn {lsn}, the name says {first_lsn}"),
            ))
        }
        // The crash came while the newest segment was being created:
        // it holds no record yet.
        Err(_)
            if is_last
                && !read_only
                && bytes
                    .iter()
                    .skip(format::SEGMENT_HEADER_LEN)
                    .all(|&b| b == 0) =>
        {
            tracing::warn!(file = %storage.describe(name), "removing a segment whose creation a crash interrupted");
            storage.remove(name).map_err(io)?;
            return Ok(Checked::Removed);
        }
        Err(what) => return Err(corrupt(0, what.into())),
    }
    let (_, end) = format::scan_records(bytes, format::SEGMENT_HEADER_LEN);
    let mut cut = None;
    if end < bytes.len() && read_only {
        return Err(corrupt(
            end,
            "bytes after the last record of a finished segment".into(),
        ));
    }
    if end < bytes.len() {
        if bytes[end..].iter().all(|&b| b == 0) {
            // Space the writer allocated ahead and never wrote. (A finished
            // segment has none; should its cut not have reached the disk,
            // the callers' position checks still find any record missing
            // before the next segment.)
            tracing::info!(
                file = %storage.describe(name),
                offset = end,
                bytes = bytes.len() - end,
                "cutting the zeroed space after the journal's last record"
            );
            storage.truncate(name, end as u64).map_err(io)?;
        } else if is_last && format::valid_record_after(bytes, end).is_none() {
            tracing::warn!(
                file = %storage.describe(name),
                offset = end,
                bytes = bytes.len() - end,
                "cutting off a torn record at the end of the journal (never acknowledged)"
            );
            storage.truncate(name, end as u64).map_err(io)?;
            cut = Some((storage.describe(name), end));
        } else {
            return Err(corrupt(
                end,
                "damaged record (checksum or length) before the end of the journal".into(),
            ));
        }
    }
    Ok(Checked::Records { end, cut })
}

/// Commands decoded per batch handed from the decoding thread to the
/// applying one.
const REPLAY_BATCH: usize = 1024;
/// Batches the decoding thread may run ahead (bounds the memory of
/// decoded, not yet applied commands).
const REPLAY_BATCHES_AHEAD: usize = 8;

/// Applies one segment's records from `expected` on; returns the next
/// expected lsn and how many were applied. With `parallel` (recovery at
/// start, when the server waits for it) a second thread checks and decodes
/// the records while this one applies them, in order, and a third frees
/// them; without (a snapshot taken while serving), one thread does it all,
/// leaving the other cores to the server.
fn replay(
    state: &mut State,
    records: &[RecordAt<'_>],
    first_lsn: u64,
    expected: u64,
    file: &str,
    parallel: bool,
) -> Result<(u64, u64), JournalError> {
    let mut applied = 0u64;
    let mut apply = |batch: &[Command]| {
        for cmd in batch {
            // The answer was given (or not) when the command was first
            // applied; replay only rebuilds the state.
            let _ = state.apply(cmd);
        }
        applied += batch.len() as u64;
        applied
    };
    if !parallel {
        let mut failed = None;
        decode_batches(records, first_lsn, expected, file, |batch| match batch {
            Ok(batch) => {
                apply(&batch);
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        });
        let applied = apply(&[]);
        return match failed {
            Some(e) => Err(e),
            None => Ok((expected + applied, applied)),
        };
    }
    std::thread::scope(|scope| {
        let (tx, rx) =
            mpsc::sync_channel::<Result<Vec<Command>, JournalError>>(REPLAY_BATCHES_AHEAD);
        scope.spawn(move || {
            decode_batches(records, first_lsn, expected, file, |b| tx.send(b).is_ok());
        });
        // Applied commands are dropped on a third thread: freeing them is
        // work the applying thread need not wait for.
        let (done_tx, done_rx) = mpsc::sync_channel::<Vec<Command>>(REPLAY_BATCHES_AHEAD);
        scope.spawn(move || done_rx.into_iter().for_each(drop));
        for batch in rx {
            let batch = batch?;
            apply(&batch);
            let _ = done_tx.send(batch);
        }
        let applied = apply(&[]);
        Ok((expected + applied, applied))
    })
}

/// Checks and decodes a segment's records from `expected` on, handing
/// batches of [`REPLAY_BATCH`] commands to `sink` (which says whether to go
/// on); an error is handed on after the commands before it.
fn decode_batches(
    records: &[RecordAt<'_>],
    first_lsn: u64,
    expected: u64,
    file: &str,
    mut sink: impl FnMut(Result<Vec<Command>, JournalError>) -> bool,
) {
    let corrupt = |offset: usize, what: String| JournalError::Corrupt {
        file: file.to_owned(),
        offset,
        what,
    };
    let mut expected = expected;
    let mut batch = Vec::with_capacity(REPLAY_BATCH);
    for (k, rec) in records.iter().enumerate() {
        let due = first_lsn + k as u64;
        let step = if rec.lsn != due {
            Err(corrupt(
                rec.offset,
                format!("record lsn {} where {due} was due", rec.lsn),
            ))
        } else if rec.lsn < expected {
            continue; // already in the snapshot
        } else if rec.lsn > expected {
            Err(JournalError::Missing {
                file: file.to_owned(),
                expected,
                found: rec.lsn,
            })
        } else {
            from_bytes::<Command>(rec.payload)
                .map_err(|e| corrupt(rec.offset, format!("record {}: {e}", rec.lsn)))
        };
        match step {
            Ok(cmd) => {
                expected += 1;
                batch.push(cmd);
                if batch.len() == REPLAY_BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(REPLAY_BATCH));
                    if !sink(Ok(full)) {
                        return;
                    }
                }
            }
            Err(e) => {
                if sink(Ok(std::mem::take(&mut batch))) {
                    sink(Err(e));
                }
                return;
            }
        }
    }
    sink(Ok(batch));
}
