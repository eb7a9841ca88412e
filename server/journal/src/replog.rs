//! The journal as a replicated log: records numbered by the log's leader,
//! read back whole at start, cut back when the leader says so.
//!
//! The same segments, records, checksums, writer thread, group commit and
//! fail-stop rules as the ledger's own journal; what differs is who numbers
//! the records and that the end of the log may be cut back
//! ([`JournalHandle::restart_at`]) or its start dropped
//! ([`JournalHandle::purge_below`]). A cut never rewrites a file: the
//! segments holding the cut records are removed and a new segment starts at
//! the first new record, so segments in name order are also in the order
//! they were written, and a later segment that starts at or before the end
//! of an earlier one replaces that earlier one's records from there on
//! (only a crash between the removals and the new segment can leave that;
//! the records it brings back were never acknowledged as replacing anything).
//!
//! What the payload of a record is, is the caller's business (the
//! replication layer stores a Raft entry: its term and its commands).

use std::sync::Arc;

use crate::format::{self, FileKind};
use crate::recover::{check_segment, Checked};
use crate::storage::Storage;
use crate::writer::{JournalConfig, JournalHandle, Progress};
use crate::JournalError;

/// What was read back from the log's files.
#[derive(Debug, Default)]
pub struct LogFiles {
    /// `(position, payload)`, consecutive, each above `floor`.
    pub records: Vec<(u64, Vec<u8>)>,
    /// Bytes of records read.
    pub bytes: u64,
    /// A torn tail that was cut off: (file, offset).
    pub truncated: Option<(String, usize)>,
}

impl LogFiles {
    /// The last position in the log (`floor` when it holds no record).
    pub fn last(&self, floor: u64) -> u64 {
        self.records.last().map_or(floor, |(i, _)| *i)
    }
}

/// Reads every record after `floor` (the last position the log's owner
/// dropped: records at or below it are skipped). Repairs what a crash
/// leaves (a torn last record, zeroed space ahead, a segment whose
/// creation was interrupted); refuses damage anywhere else and a gap.
pub fn read_log(storage: &dyn Storage, floor: u64) -> Result<LogFiles, JournalError> {
    let io = |name: &str| {
        let file = storage.describe(name);
        move |error| JournalError::Io { file, error }
    };
    let mut segments: Vec<(u64, String)> = storage
        .list()
        .map_err(io("."))?
        .into_iter()
        .filter_map(|n| match format::parse_name(&n) {
            Some((FileKind::Segment, first)) => Some((first, n)),
            _ => None,
        })
        .collect();
    segments.sort();
    let mut out = LogFiles::default();
    let last_index = segments.len().saturating_sub(1);
    for (i, (first, name)) in segments.iter().enumerate() {
        let is_last = i == last_index;
        let bytes = storage.read(name).map_err(io(name))?;
        let corrupt = |offset: usize, what: String| JournalError::Corrupt {
            file: storage.describe(name),
            offset,
            what,
        };
        let records = match check_segment(storage, name, *first, &bytes, is_last, false)? {
            Checked::Removed => continue,
            Checked::Records { end, cut } => {
                if cut.is_some() {
                    out.truncated = cut;
                }
                format::scan_records(&bytes[..end], format::SEGMENT_HEADER_LEN).0
            }
        };
        // A segment replaces what earlier ones hold from its first record on.
        let next = out.last(floor) + 1;
        if *first > next && !out.records.is_empty() {
            return Err(JournalError::Missing {
                file: storage.describe(name),
                expected: next,
                found: *first,
            });
        }
        while out.records.last().is_some_and(|(i, _)| *i >= *first) {
            let (_, payload) = out.records.pop().expect("checked above");
            out.bytes -= payload.len() as u64;
        }
        for (k, r) in records.iter().enumerate() {
            let expected = first + k as u64;
            if r.lsn != expected {
                return Err(corrupt(
                    r.offset,
                    format!("record {} where {expected} was expected", r.lsn),
                ));
            }
            if r.lsn <= floor {
                continue;
            }
            if out.records.is_empty() && r.lsn != floor + 1 && floor > 0 {
                return Err(JournalError::Missing {
                    file: storage.describe(name),
                    expected: floor + 1,
                    found: r.lsn,
                });
            }
            out.bytes += r.payload.len() as u64;
            out.records.push((r.lsn, r.payload.to_vec()));
        }
    }
    Ok(out)
}

/// Reads the log ([`read_log`]) and starts a writer after its last record
/// (after `floor` when it holds none).
pub fn open_log(
    storage: Arc<dyn Storage>,
    floor: u64,
    config: JournalConfig,
    notify: Box<dyn Fn(Progress) + Send + Sync>,
) -> Result<(LogFiles, JournalHandle), JournalError> {
    let files = read_log(storage.as_ref(), floor)?;
    let last = files.last(floor);
    let name = format::segment_name(last + 1);
    let journal = JournalHandle::start(storage.clone(), config, last, files.bytes, notify)
        .map_err(|error| JournalError::Io {
            file: storage.describe(&name),
            error,
        })?;
    Ok((files, journal))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sim::SimStorage;

    fn open(storage: &Arc<SimStorage>, floor: u64) -> (LogFiles, JournalHandle) {
        let s: Arc<dyn Storage> = storage.clone();
        open_log(s, floor, JournalConfig::default(), Box::new(|_| {})).unwrap()
    }

    fn payloads(files: &LogFiles) -> Vec<(u64, String)> {
        files
            .records
            .iter()
            .map(|(i, p)| (*i, String::from_utf8(p.clone()).unwrap()))
            .collect()
    }

    /// Appends and waits for it in the epoch of every cut made so far.
    fn append(j: &JournalHandle, first: u64, items: &[&str], epoch: u64) -> u64 {
        let last = j
            .append_encoded(first, items.iter().map(|s| s.as_bytes()))
            .expect("the next position");
        assert!(j.wait_durable_in(epoch, last, Duration::from_secs(5)));
        last
    }

    #[test]
    fn records_come_back_in_order_after_a_cut_and_a_restart() {
        let storage = Arc::new(SimStorage::new());
        let (files, j) = open(&storage, 0);
        assert!(files.records.is_empty());
        append(&j, 1, &["a", "b", "c"], 0);
        assert_eq!(
            j.append_encoded(3, [&b"x"[..]]),
            None,
            "not the next position"
        );
        // A leader replaces record 2 on: 2 and 3 go, 2' and 3' come.
        j.restart_at(2, false);
        append(&j, 2, &["B", "C"], 1);
        j.close();
        let (files, j) = open(&storage, 0);
        assert_eq!(
            payloads(&files),
            vec![(1, "a".into()), (2, "B".into()), (3, "C".into())]
        );
        // Cut back to 1 across segments, then more.
        j.restart_at(1, false);
        append(&j, 1, &["A"], 1);
        j.close();
        let (files, j) = open(&storage, 0);
        assert_eq!(payloads(&files), vec![(1, "A".into())]);
        j.close();
    }

    #[test]
    fn purge_and_a_fresh_start_after_a_snapshot() {
        let storage = Arc::new(SimStorage::new());
        let (_, j) = open(&storage, 0);
        append(&j, 1, &["a", "b"], 0);
        j.close();
        let (_, j) = open(&storage, 0);
        append(&j, 3, &["c", "d"], 0);
        j.purge_below(3);
        append(&j, 5, &["e"], 0);
        j.close();
        // The segment holding 1 and 2 is gone; the floor hides nothing more.
        let (files, j) = open(&storage, 2);
        assert_eq!(payloads(&files).first(), Some(&(3, "c".to_string())));
        assert_eq!(files.last(2), 5);
        // A snapshot at 100 installed from a leader: the log starts at 101.
        j.restart_at(101, true);
        append(&j, 101, &["z"], 1);
        j.close();
        let (files, j) = open(&storage, 100);
        assert_eq!(payloads(&files), vec![(101, "z".into())]);
        j.close();
        // With no record left at all, the writer starts after the floor.
        let storage = Arc::new(SimStorage::new());
        let (files, j) = open(&storage, 7);
        assert_eq!(files.last(7), 7);
        assert_eq!(j.append_encoded(8, [&b"h"[..]]), Some(8));
        j.close();
    }

    #[test]
    fn a_gap_between_segments_is_refused() {
        let storage = Arc::new(SimStorage::new());
        let (_, j) = open(&storage, 0);
        append(&j, 1, &["a"], 0);
        j.close();
        let s: &dyn Storage = storage.as_ref();
        let mut f = s.create(&format::segment_name(5)).unwrap();
        let mut bytes = format::segment_header(5);
        format::append_record(&mut bytes, 5, |b| b.push(b'e'));
        f.write_all(&bytes).unwrap();
        f.sync().unwrap();
        assert!(matches!(
            read_log(s, 0),
            Err(JournalError::Missing {
                expected: 2,
                found: 5,
                ..
            })
        ));
    }
}
