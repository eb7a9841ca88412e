//! [`Ledger`]: the state behind one lock.
//!
//! v1 keeps the whole state behind a single mutex: every command is applied
//! in one total order, which is what a journal needs to replay it exactly and
//! what makes cross-participant limits (ASSET_CAP) atomic for free. A command
//! holds the lock for well under a microsecond, far below a gRPC round trip.
//! The lock is synchronous and never held across an `.await` (this crate has
//! none). Sharding by participant is a change inside this type only.

use std::sync::{Mutex, MutexGuard};

use crate::command::{Applied, Command};
use crate::error::LedgerError;
use crate::state::{LedgerConfig, State};

/// The ledger shared by the server's tasks.
#[derive(Debug)]
pub struct Ledger {
    state: Mutex<State>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new(cfg: LedgerConfig) -> Self {
        Ledger {
            state: Mutex::new(State::new(cfg)),
        }
    }

    /// Wraps an existing state (recovered, or built by a test).
    pub fn from_state(state: State) -> Self {
        Ledger {
            state: Mutex::new(state),
        }
    }

    /// Applies one command atomically.
    pub fn apply(&self, cmd: &Command) -> Result<Applied, LedgerError> {
        self.lock()?.apply(cmd)
    }

    /// Runs a read-only view under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R, LedgerError> {
        let guard = self.lock()?;
        Ok(f(&guard))
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, LedgerError> {
        // A poisoned lock means a command panicked half-way: the state may
        // be inconsistent, so the ledger fails closed from then on.
        self.state.lock().map_err(|_| {
            LedgerError::Unavailable("a command failed part-way; the ledger stopped serving")
        })
    }
}
