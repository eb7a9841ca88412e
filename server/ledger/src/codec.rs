//! The binary form of journal records and snapshots.
//!
//! Commands (journal records) and the whole [`crate::State`] (snapshots) are
//! encoded here, by hand, so that domain types carry no serialisation derive
//! and the format is written down in one place. The format is versioned by
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
        LimitKind::MaxOrderQuantity
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
        RejectCode::StaleSync
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

// ---- limits ------------------------------------------------------------

impl Encode for Scope {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.participant);
        w.put(&self.venue);
        w.put(&self.asset);
    }
}

impl Decode for Scope {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Scope {
            participant: r.get()?,
            venue: r.get()?,
            asset: r.get()?,
        })
    }
}

impl Encode for LimitSpec {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.kind);
        w.put(&self.scope);
        w.decimal(self.value);
        encode_seq(w, self.warn_levels_pct.len(), &self.warn_levels_pct);
    }
}

impl Decode for LimitSpec {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.position();
        let spec = LimitSpec {
            kind: r.get()?,
            scope: r.get()?,
            value: r.decimal()?,
            warn_levels_pct: r.vec(WARN_LEVELS_MAX)?,
        };
        spec.validate().map_err(|_| DecodeError {
            offset: at,
            what: "invalid limit spec",
        })?;
        Ok(spec)
    }
}

impl Encode for Limit {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.id);
        w.put(&self.spec);
        w.u64(self.version);
        w.i64(self.updated_at_ms);
        w.str(&self.updated_by);
    }
}

impl Decode for Limit {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Limit {
            id: r.get()?,
            spec: r.get()?,
            version: r.u64()?,
            updated_at_ms: r.i64()?,
            updated_by: r.text()?,
        })
    }
}

// ---- checks ------------------------------------------------------------

impl Encode for CheckRequest {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.order_id);
        w.put(&self.participant);
        w.put(&self.asset);
        w.decimal(self.quantity);
        w.put(&self.ttl_ms);
        w.bool(self.risk_reducing);
        w.bool(self.dry_run);
        w.bool(self.allow_partial);
    }
}

impl Decode for CheckRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CheckRequest {
            order_id: r.get()?,
            participant: r.get()?,
            asset: r.get()?,
            quantity: r.decimal()?,
            ttl_ms: r.get()?,
            risk_reducing: r.bool()?,
            dry_run: r.bool()?,
            allow_partial: r.bool()?,
        })
    }
}

impl Encode for LimitRef {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.kind);
        w.put(&self.id);
        w.put(&self.scope);
        w.decimal(self.value);
    }
}

impl Decode for LimitRef {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(LimitRef {
            kind: r.get()?,
            id: r.get()?,
            scope: r.get()?,
            value: r.decimal()?,
        })
    }
}

impl Encode for RejectReason {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.code);
        w.put(&self.limit);
        w.put(&self.utilization);
    }
}

impl Decode for RejectReason {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RejectReason {
            code: r.get()?,
            limit: r.get()?,
            utilization: r.get()?,
        })
    }
}

impl Encode for CheckAnswer {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.order_id);
        w.put(&self.verdict);
        w.put(&self.reservation);
        w.decimal(self.approved);
        w.put(&self.expires_at_ms);
        w.put(&self.reason);
        w.put(&self.headroom);
        w.bool(self.dry_run);
    }
}

impl Decode for CheckAnswer {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CheckAnswer {
            order_id: r.get()?,
            verdict: r.get()?,
            reservation: r.get()?,
            approved: r.decimal()?,
            expires_at_ms: r.get()?,
            reason: r.get()?,
            headroom: r.get()?,
            dry_run: r.bool()?,
        })
    }
}

// ---- sync --------------------------------------------------------------

impl Encode for SyncUpdate {
    fn encode(&self, w: &mut Writer) {
        match self {
            SyncUpdate::Collateral {
                participant,
                asset,
                quantity,
            } => {
                w.u8(0);
                w.put(participant);
                w.put(asset);
                w.decimal(*quantity);
            }
            SyncUpdate::Commitment {
                participant,
                venue,
                asset,
                quantity,
                covers_commit_seq,
            } => {
                w.u8(1);
                w.put(participant);
                w.put(venue);
                w.put(asset);
                w.decimal(*quantity);
                w.u64(*covers_commit_seq);
            }
            SyncUpdate::Liability {
                participant,
                venue,
                asset,
                quantity,
            } => {
                w.u8(2);
                w.put(participant);
                w.put(venue);
                w.put(asset);
                w.decimal(*quantity);
            }
        }
    }
}

impl Decode for SyncUpdate {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Ok(SyncUpdate::Collateral {
                participant: r.get()?,
                asset: r.get()?,
                quantity: r.decimal()?,
            }),
            1 => Ok(SyncUpdate::Commitment {
                participant: r.get()?,
                venue: r.get()?,
                asset: r.get()?,
                quantity: r.decimal()?,
                covers_commit_seq: r.u64()?,
            }),
            2 => Ok(SyncUpdate::Liability {
                participant: r.get()?,
                venue: r.get()?,
                asset: r.get()?,
                quantity: r.decimal()?,
            }),
            _ => Err(r.error("bad sync update tag")),
        }
    }
}

impl Encode for SyncBatch {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.sequence);
        encode_seq(w, self.updates.len(), &self.updates);
    }
}

impl Decode for SyncBatch {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SyncBatch {
            sequence: r.u64()?,
            updates: r.vec(SYNC_BATCH_MAX)?,
        })
    }
}

// ---- prices ------------------------------------------------------------

impl Encode for PriceQuote {
    fn encode(&self, w: &mut Writer) {
        w.put(&self.asset);
        w.decimal(self.price);
        w.i64(self.published_ms);
    }
}

impl Decode for PriceQuote {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PriceQuote {
            asset: r.get()?,
            price: r.decimal()?,
            published_ms: r.i64()?,
        })
    }
}

impl Encode for PriceBatch {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.sequence);
        encode_seq(w, self.quotes.len(), &self.quotes);
    }
}

impl Decode for PriceBatch {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PriceBatch {
            sequence: r.u64()?,
            quotes: r.vec(PRICE_BATCH_MAX)?,
        })
    }
}

impl Encode for PriceRules {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.max_age_stable_ms);
        w.u64(self.max_age_major_ms);
        w.u64(self.max_age_alt_ms);
        w.u64(self.future_skew_ms);
        w.decimal(self.jump);
        w.usize(self.agree_oracles);
        w.decimal(self.agree);
        w.u64(self.grace_ms);
    }
}

impl Decode for PriceRules {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PriceRules {
            max_age_stable_ms: r.u64()?,
            max_age_major_ms: r.u64()?,
            max_age_alt_ms: r.u64()?,
            future_skew_ms: r.u64()?,
            jump: r.decimal()?,
            agree_oracles: read_usize(r)?,
            agree: r.decimal()?,
            grace_ms: r.u64()?,
        })
    }
}

impl Encode for VenueAssetParams {
    fn encode(&self, w: &mut Writer) {
        w.decimal(self.threshold);
        w.bool(self.ltv.is_some());
        if let Some(l) = self.ltv {
            w.decimal(l);
        }
    }
}

impl Decode for VenueAssetParams {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VenueAssetParams {
            threshold: r.decimal()?,
            ltv: if r.bool()? { Some(r.decimal()?) } else { None },
        })
    }
}

// ---- admin -------------------------------------------------------------

impl Encode for AuditRecord {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.seq);
        w.i64(self.at_ms);
        w.str(&self.principal);
        w.str(&self.action);
        w.str(&self.target);
        w.str(&self.old_value);
        w.str(&self.new_value);
        w.str(&self.outcome);
        w.buf.extend_from_slice(&self.prev_hash);
        w.buf.extend_from_slice(&self.hash);
    }
}

impl Decode for AuditRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AuditRecord {
            seq: r.u64()?,
            at_ms: r.i64()?,
            principal: r.text()?,
            action: r.text()?,
            target: r.text()?,
            old_value: r.text()?,
            new_value: r.text()?,
            outcome: r.text()?,
            prev_hash: hash32(r)?,
            hash: hash32(r)?,
        })
    }
}

impl Encode for LedgerConfig {
    fn encode(&self, w: &mut Writer) {
        w.decimal(self.default_reuse_ratio);
        w.u64(self.default_ttl_ms);
        w.u64(self.max_ttl_ms);
        w.u64(self.broker_stale_after_ms);
        w.u64(self.idempotency_retention_ms);
        w.u64(self.reservation_retention_ms);
        w.usize(self.participants_max);
        w.usize(self.idempotency_keys_max);
        w.usize(self.reservations_max);
        w.usize(self.reservations_per_participant_max);
        w.usize(self.audit_records_max);
        w.decimal(self.limit_loosen_step_pct);
    }
}

impl Decode for LedgerConfig {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(LedgerConfig {
            default_reuse_ratio: r.decimal()?,
            default_ttl_ms: r.u64()?,
            max_ttl_ms: r.u64()?,
            broker_stale_after_ms: r.u64()?,
            idempotency_retention_ms: r.u64()?,
            reservation_retention_ms: r.u64()?,
            participants_max: read_usize(r)?,
            idempotency_keys_max: read_usize(r)?,
            reservations_max: read_usize(r)?,
            reservations_per_participant_max: read_usize(r)?,
            audit_records_max: read_usize(r)?,
            limit_loosen_step_pct: r.decimal()?,
        })
    }
}

fn hash32(r: &mut Reader<'_>) -> Result<[u8; 32], DecodeError> {
    let mut h = [0u8; 32];
    h.copy_from_slice(r.bytes(32)?);
    Ok(h)
}

fn read_usize(r: &mut Reader<'_>) -> Result<usize, DecodeError> {
    let v = r.u64()?;
    usize::try_from(v).map_err(|_| r.error("size out of range"))
}

// ---- commands ----------------------------------------------------------

impl Encode for Command {
    fn encode(&self, w: &mut Writer) {
        match self {
            Command::Check {
                at_ms,
                venue,
                request,
            } => {
                w.u8(1);
                w.i64(*at_ms);
                w.put(venue);
                w.put(request);
            }
            Command::Commit {
                at_ms,
                venue,
                reservation,
            } => {
                w.u8(2);
                w.i64(*at_ms);
                w.put(venue);
                w.put(reservation);
            }
            Command::Release {
                at_ms,
                venue,
                reservation,
            } => {
                w.u8(3);
                w.i64(*at_ms);
                w.put(venue);
                w.put(reservation);
            }
            Command::Sync {
                at_ms,
                broker,
                batch,
            } => {
                w.u8(4);
                w.i64(*at_ms);
                w.put(broker);
                w.put(batch);
            }
            Command::SetLimit {
                at_ms,
                by,
                spec,
                expected_version,
                force,
            } => {
                w.u8(5);
                w.i64(*at_ms);
                w.str(by);
                w.put(spec);
                w.put(expected_version);
                w.put(force);
            }
            Command::DeleteLimit {
                at_ms,
                by,
                id,
                force,
            } => {
                w.u8(6);
                w.i64(*at_ms);
                w.str(by);
                w.put(id);
                w.put(force);
            }
            Command::SetTradingState {
                at_ms,
                by,
                participant,
                state,
                reason,
            } => {
                w.u8(7);
                w.i64(*at_ms);
                w.str(by);
                w.put(participant);
                w.put(state);
                w.str(reason);
            }
            Command::Tick { at_ms } => {
                w.u8(8);
                w.i64(*at_ms);
            }
            Command::Configure { at_ms, config } => {
                w.u8(9);
                w.i64(*at_ms);
                w.put(config);
            }
            Command::ArchiveAudit { at_ms, through_seq } => {
                w.u8(11);
                w.i64(*at_ms);
                w.u64(*through_seq);
            }
            Command::RecordDenial {
                at_ms,
                principal,
                action,
                reason,
            } => {
                w.u8(10);
                w.i64(*at_ms);
                w.str(principal);
                w.str(action);
                w.str(reason);
            }
            Command::PublishPrices {
                at_ms,
                oracle,
                batch,
            } => {
                w.u8(12);
                w.i64(*at_ms);
                w.put(oracle);
                w.put(batch);
            }
            Command::SetAssetClass {
                at_ms,
                by,
                asset,
                class,
            } => {
                w.u8(13);
                w.i64(*at_ms);
                w.str(by);
                w.put(asset);
                w.put(class);
            }
            Command::ConfigurePrices { at_ms, rules } => {
                w.u8(14);
                w.i64(*at_ms);
                w.put(rules);
            }
            Command::SetVenueAsset {
                at_ms,
                by,
                venue,
                asset,
                params,
            } => {
                w.u8(15);
                w.i64(*at_ms);
                w.str(by);
                w.put(venue);
                w.put(asset);
                w.put(params);
            }
            Command::SetHaircut {
                at_ms,
                by,
                asset,
                haircut,
                force,
            } => {
                w.u8(16);
                w.i64(*at_ms);
                w.str(by);
                w.put(asset);
                w.bool(haircut.is_some());
                if let Some(h) = haircut {
                    w.decimal(*h);
                }
                w.put(force);
            }
        }
    }
}

impl Decode for Command {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8()?;
        let at_ms = r.i64()?;
        Ok(match tag {
            1 => Command::Check {
                at_ms,
                venue: r.get()?,
                request: r.get()?,
            },
            2 => Command::Commit {
                at_ms,
                venue: r.get()?,
                reservation: r.get()?,
            },
            3 => Command::Release {
                at_ms,
                venue: r.get()?,
                reservation: r.get()?,
            },
            4 => Command::Sync {
                at_ms,
                broker: r.get()?,
                batch: r.get()?,
            },
            5 => Command::SetLimit {
                at_ms,
                by: r.text()?,
                spec: r.get()?,
                expected_version: r.get()?,
                force: r.get()?,
            },
            6 => Command::DeleteLimit {
                at_ms,
                by: r.text()?,
                id: r.get()?,
                force: r.get()?,
            },
            7 => Command::SetTradingState {
                at_ms,
                by: r.text()?,
                participant: r.get()?,
                state: r.get()?,
                reason: r.text()?,
            },
            8 => Command::Tick { at_ms },
            9 => Command::Configure {
                at_ms,
                config: r.get()?,
            },
            10 => Command::RecordDenial {
                at_ms,
                principal: r.text()?,
                action: r.text()?,
                reason: r.text()?,
            },
            11 => Command::ArchiveAudit {
                at_ms,
                through_seq: r.u64()?,
            },
            12 => Command::PublishPrices {
                at_ms,
                oracle: r.get()?,
                batch: r.get()?,
            },
            13 => Command::SetAssetClass {
                at_ms,
                by: r.text()?,
                asset: r.get()?,
                class: r.get()?,
            },
            14 => Command::ConfigurePrices {
                at_ms,
                rules: r.get()?,
            },
            15 => Command::SetVenueAsset {
                at_ms,
                by: r.text()?,
                venue: r.get()?,
                asset: r.get()?,
                params: r.get()?,
            },
            16 => Command::SetHaircut {
                at_ms,
                by: r.text()?,
                asset: r.get()?,
                haircut: if r.bool()? { Some(r.decimal()?) } else { None },
                force: r.get()?,
            },
            _ => return Err(r.error("bad command tag")),
        })
    }
}
