//! [`Ledger`]: the state behind one lock, and the journal it feeds.
//!
//! v1 keeps the whole state behind a single mutex: every command is applied
//! in one total order, which is what a journal needs to replay it exactly and
//! what makes cross-participant limits (ASSET_CAP) atomic for free. A command
//! holds the lock for well under a microsecond, far below a gRPC round trip.
//! The lock is synchronous and never held across an `.await` (this crate has
//! none). Sharding by participant is a change inside this type only.
//!
//! Durability is not this crate's business, but ordering is: a command that
//! changed the state is handed to the [`Journal`] under the same lock that
//! applied it, so the journal's order is the order of application.

use std::sync::{Mutex, MutexGuard};

use crate::command::{Applied, Command};
use crate::error::LedgerError;
use crate::state::{LedgerConfig, State};

/// Where the ledger sends every command that changed its state, in the
/// order applied. Implemented by the server's journal; called under the
/// ledger's lock, so it must only queue, never wait on a disk.
pub trait Journal: Send + Sync + std::fmt::Debug {
    /// Refuses new commands when the journal cannot take them (its disk is
    /// full, or it failed): the command is then not applied at all.
    fn admit(&self) -> Result<(), LedgerError>;
    /// Queues an applied command; returns its position in the journal.
    fn append(&self, cmd: &Command) -> u64;
    /// The position of the last command queued.
    fn last(&self) -> u64;
}

/// The position in the journal an answer must wait for before it leaves the
/// server: every state change it may depend on is at or before it. Zero when
/// there is no journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ticket(pub u64);

/// The ledger shared by the server's tasks.
#[derive(Debug)]
pub struct Ledger {
    state: Mutex<State>,
    journal: Option<Box<dyn Journal>>,
}

impl Ledger {
    /// An empty ledger without a journal.
    pub fn new(cfg: LedgerConfig) -> Self {
        Ledger::from_state(State::new(cfg))
    }

    /// Wraps an existing state (recovered, or built by a test).
    pub fn from_state(state: State) -> Self {
        Ledger {
            state: Mutex::new(state),
            journal: None,
        }
    }

    /// Wraps a state whose changes from now on go to `journal`.
    pub fn with_journal(state: State, journal: Box<dyn Journal>) -> Self {
        Ledger {
            state: Mutex::new(state),
            journal: Some(journal),
        }
    }

    /// Applies one command atomically. The answer is valid to send once the
    /// journal is durable up to the returned [`Ticket`].
    pub fn apply(&self, mut cmd: Command) -> (Result<Applied, LedgerError>, Ticket) {
        let mut state = match self.lock() {
            Ok(s) => s,
            Err(e) => return (Err(e), Ticket(0)),
        };
        let Some(journal) = &self.journal else {
            let result = state.admit(&cmd).and_then(|()| state.apply(&cmd));
            return (result, Ticket(0));
        };
        if let Err(e) = journal.admit() {
            return (Err(e), Ticket(0));
        }
        if let Err(e) = state.admit(&cmd) {
            return (Err(e), Ticket(journal.last()));
        }
        // The journal records the time the command was applied at, so that
        // a replay applies it at exactly that time.
        let at = state.effective_at(&cmd);
        cmd.set_at_ms(at);
        let (result, changed) = state.apply_tracked(&cmd);
        let ticket = if changed {
            journal.append(&cmd)
        } else {
            journal.last()
        };
        (result, Ticket(ticket))
    }

    /// Runs a read-only view under the lock. Reads do not wait for the
    /// journal: they may show a change a moment before it is durable.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R, LedgerError> {
        let guard = self.lock()?;
        Ok(f(&guard))
    }

    /// Replaces the whole state (a replicated node installing a snapshot
    /// its leader sent): readers see the old state or the new one, never a
    /// mix.
    pub fn replace(&self, state: State) -> Result<(), LedgerError> {
        *self.lock()? = state;
        Ok(())
    }

    /// Runs `f` with the state and the journal under the lock: no command is
    /// applied meanwhile (snapshots use it to cut the journal).
    pub fn with_journal_locked<R>(
        &self,
        f: impl FnOnce(&State, Option<&dyn Journal>) -> R,
    ) -> Result<R, LedgerError> {
        let guard = self.lock()?;
        Ok(f(&guard, self.journal.as_deref()))
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, LedgerError> {
        // A poisoned lock means a command panicked half-way: the state may
        // be inconsistent, so the ledger fails closed from then on.
        self.state.lock().map_err(|_| {
            LedgerError::Unavailable("a command failed part-way; the ledger stopped serving")
        })
    }
}
