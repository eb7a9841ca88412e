//! The ledger's errors: requests it could not judge or carry out.
//!
//! A rejected check is not an error (it is a [`crate::CheckAnswer`]). Texts
//! are lowercase and never contain another tenant's data.

use crate::amount::Overflow;
use crate::command::ReservationState;
use crate::limits::LimitSpecError;

/// Why a command was not applied. Every variant leaves the state unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// A field is valid on its own but not acceptable here.
    #[error("{field}: {reason}")]
    InvalidArgument { field: &'static str, reason: String },
    /// The limit specification does not fit its kind.
    #[error("invalid limit: {0}")]
    InvalidLimit(#[from] LimitSpecError),
    /// The order id was used before with a different request.
    #[error("order id {order_id} was already used for a different request")]
    IdempotencyConflict { order_id: String },
    /// No such reservation for this venue (another venue's looks the same).
    #[error("reservation not found")]
    ReservationNotFound,
    /// The reservation already ended in a way that rules this call out.
    #[error("reservation already {}", .0.name().to_lowercase())]
    ReservationEnded(ReservationState),
    /// A sync message repeated an applied sequence.
    #[error("sequence {got} was already applied; expected sequence {expected}")]
    SequenceReplayed { expected: u64, got: u64 },
    #[error("limit {0} not found")]
    LimitNotFound(String),
    /// Optimistic concurrency failed on a limit update.
    #[error("limit is at version {actual}, not the expected {expected}")]
    VersionMismatch { expected: u64, actual: u64 },
    /// A limit change loosens more than the configured step, without a
    /// forced reason.
    #[error("{what} loosens the limit by more than the {step_pct}% step allowed without force; repeat with force and a reason")]
    LoosensTooFar {
        what: String,
        step_pct: rust_decimal::Decimal,
    },
    /// A bounded table is full.
    #[error("{what} is full ({max} entries)")]
    CapacityExhausted { what: &'static str, max: usize },
    #[error("{0}")]
    Overflow(#[from] Overflow),
    /// The ledger stopped serving after an internal fault (fail closed).
    #[error("ledger unavailable: {0}")]
    Unavailable(&'static str),
}
