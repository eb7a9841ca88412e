//! Interlock's domain core: the ledger of who owns what, what is committed
//! where, the limits on it, and the atomic check-and-reserve.
//!
//! Plain synchronous Rust: no transport, no async runtime, no `.await`
//! (`tests/no_transport.rs` guards that), so no lock is ever held across an
//! await point.
//!
//! Map:
//! - [`ids`]: validated identifiers.
//! - [`amount`]: decimal parsing with bounds; checked arithmetic.
//! - [`limits`]: limit kinds, scopes, the versioned limit set.
//! - [`command`]: every state change as a [`Command`], and what it produces.
//! - [`state`]: [`State`], with [`State::apply`], the one place commands are
//!   applied, and read-only views (exposure, top, audit, invariants).
//! - [`Ledger`]: the state behind one lock, shared by the server's tasks.
//! - [`codec`]: the binary form of commands (journal records) and of the
//!   whole state (snapshots); decoding never trusts its input.
//! - [`testkit`]: helpers for tests of this crate and the crates on it.
//! - [`error`]: the ledger's error type, [`LedgerError`].

#![forbid(unsafe_code)]

pub mod amount;
pub mod codec;
pub mod command;
pub mod error;
mod expiry;
mod idempotency;
pub mod ids;
pub mod limits;
mod participants;
mod reservations;
mod ring;
pub mod small_map;
pub mod state;
pub mod testkit;
pub mod value;

mod ledger;

pub use command::*;
pub use error::LedgerError;
pub use idempotency::{
    bytes_for as idempotency_bytes_for, records_for as idempotency_records_for,
    RECORD_BYTES as IDEMPOTENCY_RECORD_BYTES,
};
pub use ids::*;
pub use ledger::{Journal, Ledger, Ticket};
pub use limits::{Limit, LimitKind, LimitSet, LimitSpec, Scope};
pub use state::{LedgerConfig, SnapshotError, State};
