//! On-disk formats: journal segments and snapshot files.
//!
//! A segment `journal-<first lsn>.log` is a header followed by records:
//!
//! ```text
//! header:  magic "ILJ1" | format u32 | first_lsn u64 | crc32 u32   (20 bytes)
//! record:  crc32 u32 | len u32 | lsn u64 | payload (len bytes)      (16 + len)
//! ```
//!
//! A record's crc covers `len`, `lsn` and the payload; lsns are consecutive
//! across segments. The segment being written may end with zeroes after its
//! last record (space the writer allocated ahead; never a valid record). A snapshot `snapshot-<lsn>.snap` holds the state after
//! record `lsn`:
//!
//! ```text
//! magic "ILS1" | format u32 | lsn u64 | len u64 | crc32 u32 | body (len bytes)
//! ```
//!
//! All integers are little-endian; the payload and body are
//! [`interlock_ledger::codec`] encodings.

use interlock_ledger::codec::FORMAT_VERSION;

pub const SEGMENT_MAGIC: &[u8; 4] = b"ILJ1";
pub const SNAPSHOT_MAGIC: &[u8; 4] = b"ILS1";
pub const SEGMENT_HEADER_LEN: usize = 20;
pub const RECORD_HEADER_LEN: usize = 16;
pub const SNAPSHOT_HEADER_LEN: usize = 28;
/// The largest record payload (a full sync batch is well below it).
pub const RECORD_PAYLOAD_MAX: usize = 4 * 1024 * 1024;

pub fn segment_name(first_lsn: u64) -> String {
    format!("journal-{first_lsn:020}.log")
}

pub fn snapshot_name(lsn: u64) -> String {
    format!("snapshot-{lsn:020}.snap")
}

pub fn snapshot_tmp_name(lsn: u64) -> String {
    format!("snapshot-{lsn:020}.tmp")
}

/// Parses `journal-<n>.log` or `snapshot-<n>.snap`.
pub fn parse_name(name: &str) -> Option<(FileKind, u64)> {
    let (kind, rest) = if let Some(r) = name.strip_prefix("journal-") {
        (FileKind::Segment, r.strip_suffix(".log")?)
    } else if let Some(r) = name.strip_prefix("snapshot-") {
        if let Some(r) = r.strip_suffix(".snap") {
            (FileKind::Snapshot, r)
        } else {
            (FileKind::Temp, r.strip_suffix(".tmp")?)
        }
    } else {
        return None;
    };
    if rest.len() != 20 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((kind, rest.parse().ok()?))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Segment,
    Snapshot,
    Temp,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

pub fn segment_header(first_lsn: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(SEGMENT_HEADER_LEN);
    h.extend_from_slice(SEGMENT_MAGIC);
    h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    h.extend_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32fast::hash(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Reads a segment header: `Ok(first_lsn)`, or why not.
pub fn read_segment_header(b: &[u8]) -> Result<u64, &'static str> {
    if b.len() < SEGMENT_HEADER_LEN {
        return Err("segment header is cut short");
    }
    if &b[..4] != SEGMENT_MAGIC {
        return Err("not a journal segment (bad magic)");
    }
    if crc32fast::hash(&b[..16]) != u32_at(b, 16) {
        return Err("segment header checksum mismatch");
    }
    if u32_at(b, 4) != FORMAT_VERSION {
        return Err("segment written in another format version");
    }
    Ok(u64_at(b, 8))
}

/// Appends one framed record to `buf`, with `encode` writing the payload.
pub fn append_record(buf: &mut Vec<u8>, lsn: u64, encode: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; RECORD_HEADER_LEN]);
    encode(buf);
    let len = (buf.len() - start - RECORD_HEADER_LEN) as u32;
    buf[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    buf[start + 8..start + 16].copy_from_slice(&lsn.to_le_bytes());
    let crc = crc32fast::hash(&buf[start + 4..]);
    buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// One record found in a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAt<'a> {
    pub offset: usize,
    pub lsn: u64,
    pub payload: &'a [u8],
}

/// Reads the record at `offset`, if a whole, valid one starts there.
pub fn record_at(b: &[u8], offset: usize) -> Option<RecordAt<'_>> {
    let header_end = offset.checked_add(RECORD_HEADER_LEN)?;
    if header_end > b.len() {
        return None;
    }
    let len = u32_at(b, offset + 4) as usize;
    if len > RECORD_PAYLOAD_MAX {
        return None;
    }
    let end = header_end.checked_add(len)?;
    if end > b.len() {
        return None;
    }
    if crc32fast::hash(&b[offset + 4..end]) != u32_at(b, offset) {
        return None;
    }
    Some(RecordAt {
        offset,
        lsn: u64_at(b, offset + 8),
        payload: &b[header_end..end],
    })
}

/// Frames records `(lsn, payload)` in the region `b[from..]`, stopping at
/// the first bad one. Returns the records and where the good part ends.
pub fn scan_records(b: &[u8], from: usize) -> (Vec<RecordAt<'_>>, usize) {
    let mut out = Vec::new();
    let mut at = from;
    while at < b.len() {
        match record_at(b, at) {
            Some(r) => {
                at = r.offset + RECORD_HEADER_LEN + r.payload.len();
                out.push(r);
            }
            None => break,
        }
    }
    (out, at)
}

/// Is there any valid record starting after `offset`? A torn write can
/// only be the end of the log: if a valid record follows a bad one, the bad
/// one is corruption.
pub fn valid_record_after(b: &[u8], offset: usize) -> Option<usize> {
    (offset + 1..b.len().saturating_sub(RECORD_HEADER_LEN - 1))
        .find(|&at| record_at(b, at).is_some())
}

pub fn snapshot_file(lsn: u64, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(SNAPSHOT_HEADER_LEN + body.len());
    f.extend_from_slice(SNAPSHOT_MAGIC);
    f.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    f.extend_from_slice(&lsn.to_le_bytes());
    f.extend_from_slice(&(body.len() as u64).to_le_bytes());
    f.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    f.extend_from_slice(body);
    f
}

/// Reads a snapshot file: `(lsn, body)`, or why not.
pub fn read_snapshot_file(b: &[u8]) -> Result<(u64, &[u8]), &'static str> {
    if b.len() < SNAPSHOT_HEADER_LEN {
        return Err("snapshot header is cut short");
    }
    if &b[..4] != SNAPSHOT_MAGIC {
        return Err("not a snapshot (bad magic)");
    }
    if u32_at(b, 4) != FORMAT_VERSION {
        return Err("snapshot written in another format version");
    }
    let lsn = u64_at(b, 8);
    let len = u64_at(b, 16);
    if len != (b.len() - SNAPSHOT_HEADER_LEN) as u64 {
        return Err("snapshot length does not match the file");
    }
    let body = &b[SNAPSHOT_HEADER_LEN..];
    if crc32fast::hash(body) != u32_at(b, 24) {
        return Err("snapshot checksum mismatch");
    }
    Ok((lsn, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_name(&segment_name(42)), Some((FileKind::Segment, 42)));
        assert_eq!(parse_name(&snapshot_name(7)), Some((FileKind::Snapshot, 7)));
        assert_eq!(parse_name(&snapshot_tmp_name(7)), Some((FileKind::Temp, 7)));
        assert_eq!(parse_name("journal-1.log"), None);
        assert_eq!(parse_name("notes.txt"), None);
    }

    #[test]
    fn records_frame_and_detect_damage() {
        let mut buf = Vec::new();
        append_record(&mut buf, 1, |b| b.extend_from_slice(b"hello"));
        append_record(&mut buf, 2, |b| b.extend_from_slice(b"world!"));
        let (recs, end) = scan_records(&buf, 0);
        assert_eq!(end, buf.len());
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[1].lsn, recs[1].payload), (2, &b"world!"[..]));
        for byte in 0..buf.len() {
            let mut bad = buf.clone();
            bad[byte] ^= 0x10;
            let (recs, _) = scan_records(&bad, 0);
            assert!(recs.len() < 2, "flip at {byte} undetected");
        }
        // A flip in the first record leaves a valid record after it.
        let mut bad = buf.clone();
        bad[20] ^= 1;
        assert_eq!(valid_record_after(&bad, 0), Some(21));
    }

    #[test]
    fn snapshot_files_check_their_body() {
        let f = snapshot_file(9, b"body");
        assert_eq!(read_snapshot_file(&f), Ok((9, &b"body"[..])));
        let mut bad = f.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(read_snapshot_file(&bad).is_err());
        assert!(read_snapshot_file(&f[..f.len() - 1]).is_err());
    }
}
