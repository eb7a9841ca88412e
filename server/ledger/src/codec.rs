//! The binary form of journal records and snapshots.
//!
//! Commands (journal records, `codec/commands.rs`), the records they carry
//! (`codec/records.rs`) and the whole [`crate::State`] (snapshots,
//! `state/snapshot.rs`) are encoded by hand with the building blocks here,
//! so that domain types carry no serialisation derive and the format is
//! written down in one place. The format is versioned by
//! [`FORMAT_VERSION`], which the journal writes into every file header.
//!
//! Decoding takes untrusted bytes (a damaged disk is an adversary too): it
//! never panics, never allocates more than the input could describe, and
//! validates every id and amount as the API boundary does. Integers are
//! LEB128 varints (signed ones zig-zagged); strings and sequences are
//! length-prefixed; a decimal is its zig-zagged mantissa and its scale.
//! Every value has exactly one encoding (non-canonical varints are
//! refused), so whatever decodes re-encodes to the same bytes.

use rust_decimal::Decimal;

use crate::command::*;
use crate::ids::{
    AssetId, BrokerId, LimitId, OracleId, OrderId, ParticipantId, ReservationId, VenueId,
};
use crate::limits::{Limit, LimitKind, LimitSpec, Scope, WARN_LEVELS_MAX};
use crate::state::LedgerConfig;

/// The version of the encoding below. Bump it on any change.
pub const FORMAT_VERSION: u32 = 1;
/// The longest free-text string (audit values, reasons, who) decoded.
pub const TEXT_LEN_MAX: usize = 64 * 1024;

/// Why bytes are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad encoding at byte {offset}: {what}")]
pub struct DecodeError {
    pub offset: usize,
    pub what: &'static str,
}

/// Appends encoded values to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    /// Writes into an existing buffer (appending).
    pub fn with_buf(buf: Vec<u8>) -> Self {
        Writer { buf }
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }

    pub fn u64(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub fn u128(&mut self, mut v: u128) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub fn i64(&mut self, v: i64) {
        self.u64(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn usize(&mut self, v: usize) {
        self.u64(v as u64);
    }

    pub fn str(&mut self, s: &str) {
        self.usize(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub fn decimal(&mut self, d: Decimal) {
        let m = d.mantissa();
        self.u128(((m << 1) ^ (m >> 127)) as u128);
        self.u8(d.scale() as u8);
    }

    pub fn put<T: Encode + ?Sized>(&mut self, v: &T) {
        v.encode(self);
    }
}

/// Reads encoded values from a byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn error(&self, what: &'static str) -> DecodeError {
        DecodeError {
            offset: self.pos,
            what,
        }
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.error("trailing bytes"))
        }
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.error("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.error("bad bool")),
        }
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(self.error("varint overflow"));
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                // One encoding per value: a trailing zero byte is refused.
                if b == 0 && shift > 0 {
                    return Err(self.error("non-canonical varint"));
                }
                return Ok(v);
            }
        }
        Err(self.error("varint too long"))
    }

    pub fn u128(&mut self) -> Result<u128, DecodeError> {
        let mut v: u128 = 0;
        for shift in (0..128).step_by(7) {
            let b = self.u8()?;
            let part = u128::from(b & 0x7f);
            if shift == 126 && part > 3 {
                return Err(self.error("varint overflow"));
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(self.error("non-canonical varint"));
                }
                return Ok(v);
            }
        }
        Err(self.error("varint too long"))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        let z = self.u64()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        u32::try_from(self.u64()?).map_err(|_| self.error("u32 out of range"))
    }

    /// A length that must not exceed `max`, nor the bytes left (every
    /// element takes at least one byte), so no input allocates more than it
    /// is long.
    pub fn len(&mut self, max: usize) -> Result<usize, DecodeError> {
        let n = self.u64()?;
        match usize::try_from(n) {
            Ok(n) if n <= max && n <= self.remaining() => Ok(n),
            _ => Err(self.error("length out of range")),
        }
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.error("unexpected end"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn str(&mut self, max: usize) -> Result<&'a str, DecodeError> {
        let n = self.len(max)?;
        let at = self.pos;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| DecodeError {
            offset: at,
            what: "invalid utf-8",
        })
    }

    pub fn text(&mut self) -> Result<String, DecodeError> {
        Ok(self.str(TEXT_LEN_MAX)?.to_owned())
    }

    pub fn decimal(&mut self) -> Result<Decimal, DecodeError> {
        let z = self.u128()?;
        let m = ((z >> 1) as i128) ^ -((z & 1) as i128);
        let scale = u32::from(self.u8()?);
        Decimal::try_from_i128_with_scale(m, scale).map_err(|_| self.error("bad decimal"))
    }

    pub fn get<T: Decode>(&mut self) -> Result<T, DecodeError> {
        T::decode(self)
    }

    /// A sequence of at most `max` elements.
    pub fn vec<T: Decode>(&mut self, max: usize) -> Result<Vec<T>, DecodeError> {
        let n = self.len(max)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::decode(self)?);
        }
        Ok(v)
    }
}

/// A value with a binary form.
pub trait Encode {
    fn encode(&self, w: &mut Writer);
}

/// A value that can be read back from its binary form.
pub trait Decode: Sized {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Encodes one value into a fresh buffer.
pub fn to_bytes<T: Encode + ?Sized>(v: &T) -> Vec<u8> {
    let mut w = Writer::new();
    v.encode(&mut w);
    w.buf
}

/// Decodes one value that must fill `bytes` exactly.
pub fn from_bytes<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut r = Reader::new(bytes);
    let v = T::decode(&mut r)?;
    r.finish()?;
    Ok(v)
}

// ---- building blocks ---------------------------------------------------

impl Encode for Decimal {
    fn encode(&self, w: &mut Writer) {
        w.decimal(*self);
    }
}

impl Decode for Decimal {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.decimal()
    }
}

impl Encode for u64 {
    fn encode(&self, w: &mut Writer) {
        w.u64(*self);
    }
}

impl Decode for u64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u64()
    }
}

impl Encode for i64 {
    fn encode(&self, w: &mut Writer) {
        w.i64(*self);
    }
}

impl Decode for i64 {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.i64()
    }
}

impl Encode for String {
    fn encode(&self, w: &mut Writer) {
        w.str(self);
    }
}

impl Decode for String {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.text()
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, w: &mut Writer) {
        match self {
            None => w.u8(0),
            Some(v) => {
                w.u8(1);
                v.encode(w);
            }
        }
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, w: &mut Writer) {
        (**self).encode(w);
    }
}

impl<T: Decode> Decode for Box<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Box::new(T::decode(r)?))
    }
}

impl<T: Encode + ?Sized> Encode for Box<T> {
    fn encode(&self, w: &mut Writer) {
        (**self).encode(w);
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(r)?)),
            _ => Err(r.error("bad option tag")),
        }
    }
}

impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode(&self, w: &mut Writer) {
        self.0.encode(w);
        self.1.encode(w);
    }
}

impl<A: Decode, B: Decode> Decode for (A, B) {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok((A::decode(r)?, B::decode(r)?))
    }
}

/// Encodes a sequence with its length.
pub fn encode_seq<'a, T: Encode + 'a>(
    w: &mut Writer,
    len: usize,
    items: impl IntoIterator<Item = &'a T>,
) {
    w.usize(len);
    for item in items {
        item.encode(w);
    }
}

macro_rules! id_codec {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            fn encode(&self, w: &mut Writer) {
                w.str(self.as_str());
            }
        }
        impl Decode for $t {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let at = r.position();
                let s = r.str(crate::ids::ID_LEN_MAX)?;
                <$t>::new(s).map_err(|_| DecodeError { offset: at, what: "invalid id" })
            }
        }
    )*};
}
id_codec!(
    ParticipantId,
    VenueId,
    AssetId,
    BrokerId,
    OrderId,
    LimitId,
    OracleId
);

impl Encode for ReservationId {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.0);
    }
}

impl Decode for ReservationId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(ReservationId(r.u64()?))
    }
}

/// Encodes a fieldless enum as one byte, in the order listed.
macro_rules! enum_codec {
    ($t:ty, $what:literal, [$($v:path),*]) => {
        impl Encode for $t {
            fn encode(&self, w: &mut Writer) {
                let all = [$($v),*];
                let i = all.iter().position(|v| v == self).unwrap_or(0);
                w.u8(i as u8);
            }
        }
        impl Decode for $t {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let all = [$($v),*];
                let i = usize::from(r.u8()?);
                all.get(i).copied().ok_or_else(|| r.error($what))
            }
        }
    };
}
enum_codec!(
    LimitKind,
    "bad limit kind",
    [
        LimitKind::ReuseRatio,
        LimitKind::MaxCommitment,
        LimitKind::AssetCap,
        LimitKind::MaxOrderQuantity,
        LimitKind::MinHfEco,
        LimitKind::StressHfEco,
        LimitKind::ValueCap
    ]
);
enum_codec!(
    TradingState,
    "bad trading state",
    [
        TradingState::Active,
        TradingState::ReduceOnly,
        TradingState::Halted
    ]
);
enum_codec!(
    Verdict,
    "bad verdict",
    [
        Verdict::Approved,
        Verdict::PartiallyApproved,
        Verdict::Rejected
    ]
);
enum_codec!(
    RejectCode,
    "bad reject code",
    [
        RejectCode::LimitExceeded,
        RejectCode::NoCollateral,
        RejectCode::TradingHalted,
        RejectCode::ReduceOnly,
        RejectCode::StaleSync,
        RejectCode::PriceStale
    ]
);
enum_codec!(
    HeadroomBucket,
    "bad headroom bucket",
    [
        HeadroomBucket::None,
        HeadroomBucket::Low,
        HeadroomBucket::Medium,
        HeadroomBucket::High
    ]
);
enum_codec!(
    AssetClass,
    "bad asset class",
    [AssetClass::Stable, AssetClass::Major, AssetClass::Alt]
);
enum_codec!(
    ReservationState,
    "bad reservation state",
    [
        ReservationState::Open,
        ReservationState::Committed,
        ReservationState::Released,
        ReservationState::Expired
    ]
);

mod commands;
mod records;
