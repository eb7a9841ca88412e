//! Commands into entries: the leader's proposals go through one task that
//! gathers every command waiting while earlier entries are on their way
//! into one entry (a batch), so that under load openraft's work per entry,
//! the journal record, its fdatasync and each follower's are shared by many
//! commands, and a lone command still goes at once.
//!
//! At most [`PROPOSALS_IN_FLIGHT`] entries are proposed and not yet
//! answered; while they are, commands wait in the queue and form the next
//! entry. Each command of an entry is applied as if alone (a refused one
//! refuses only itself) and gets its own answer.

use std::sync::Arc;

use interlock_ledger::{Applied, Command, LedgerError};
use interlock_replication::{codec::COMMANDS_PER_ENTRY_MAX, Reply, TypeConfig};
use openraft::error::ClientWriteError;
use openraft::Raft;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tonic::Status;

/// Entries proposed and not yet answered. Two keep the pipe full: one on
/// its way to a majority, the next appended and ready to send when the
/// first is acknowledged. More only make entries smaller: with 1, 2, 4 and
/// 8 tried on 2 cores (three nodes and the load on one machine, 2026-12-01)
/// 1 and 2 gave the most checks a second at 16 and 64 clients, 8 the worst
/// p99.
pub const PROPOSALS_IN_FLIGHT: usize = 2;
/// The most an entry carries, in [`weight`]: a command each, plus the
/// updates or quotes it carries (a broker's sync of 1,000 updates weighs
/// 1,001). A command heavier than this goes in an entry alone. Small enough
/// that [`super::APPEND_ENTRIES_PER_MESSAGE`] entries are a message a
/// follower takes in well within its deadline.
pub const ENTRY_WEIGHT_MAX: usize = 256;
/// Commands waiting for an entry; a caller beyond them waits its turn.
pub const QUEUE_MAX: usize = 65_536;

const _: () = assert!(ENTRY_WEIGHT_MAX <= COMMANDS_PER_ENTRY_MAX);

/// A command's answer once its entry is committed and applied, or why it
/// was not.
pub type Answer = Result<Result<Applied, LedgerError>, Status>;

struct Proposal {
    cmd: Command,
    answer: oneshot::Sender<Answer>,
}

/// Hands commands to the gathering task.
#[derive(Debug, Clone)]
pub struct Proposer {
    queue: mpsc::Sender<Proposal>,
}

impl Proposer {
    /// Starts the gathering task for `raft`; it ends once every
    /// [`Proposer`] is gone.
    pub fn start(raft: Raft<TypeConfig>) -> Proposer {
        let (queue, rx) = mpsc::channel(QUEUE_MAX);
        tokio::spawn(gather(raft, rx));
        Proposer { queue }
    }

    /// Proposes `cmd` in the next entry; its answer once that entry is
    /// committed and applied.
    pub async fn propose(&self, cmd: Command) -> Answer {
        let (answer, rx) = oneshot::channel();
        self.queue
            .send(Proposal { cmd, answer })
            .await
            .map_err(|_| Status::unavailable("this node is stopping; the change was not made"))?;
        rx.await.map_err(|_| {
            Status::unavailable("this node stopped before the change was acknowledged; retry")
        })?
    }
}

/// How much of an entry a command takes.
pub fn weight(cmd: &Command) -> usize {
    1 + match cmd {
        Command::Sync { batch, .. } => batch.updates.len(),
        Command::PublishPrices { batch, .. } => batch.quotes.len(),
        _ => 0,
    }
}

async fn gather(raft: Raft<TypeConfig>, mut queue: mpsc::Receiver<Proposal>) {
    let in_flight = Arc::new(Semaphore::new(PROPOSALS_IN_FLIGHT));
    // A command that did not fit the last entry: the first of the next.
    let mut carried: Option<Proposal> = None;
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let first = match carried.take() {
            Some(p) => p,
            None => match queue.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut load = weight(&first.cmd);
        let mut cmds = vec![first.cmd];
        let mut answers = vec![first.answer];
        while load < ENTRY_WEIGHT_MAX {
            let Ok(p) = queue.try_recv() else { break };
            let w = weight(&p.cmd);
            if load + w > ENTRY_WEIGHT_MAX {
                carried = Some(p);
                break;
            }
            load += w;
            cmds.push(p.cmd);
            answers.push(p.answer);
        }
        debug_assert!(cmds.len() <= COMMANDS_PER_ENTRY_MAX);
        match raft.client_write_ff(cmds).await {
            Ok(replied) => {
                tokio::spawn(async move {
                    let result = match replied.await {
                        Ok(r) => r.map_err(refused),
                        Err(_) => Err(Status::unavailable(
                            "this node's consensus stopped before the change was acknowledged; retry",
                        )),
                    };
                    drop(permit);
                    answer(answers, result.map(|r| r.data));
                });
            }
            Err(fatal) => answer(
                answers,
                Err(Status::unavailable(format!(
                    "this node's consensus stopped ({fatal}); the change was not acknowledged"
                ))),
            ),
        }
    }
}

/// Gives each caller its command's answer (or the entry's refusal).
fn answer(answers: Vec<oneshot::Sender<Answer>>, result: Result<Reply, Status>) {
    match result {
        Ok(Reply(results)) if results.len() == answers.len() => {
            for (tx, r) in answers.into_iter().zip(results) {
                // A caller that went away no longer needs its answer.
                let _ = tx.send(Ok(r));
            }
        }
        Ok(Reply(results)) => {
            let e = Status::internal(format!(
                "an entry of {} commands answered {}",
                answers.len(),
                results.len()
            ));
            for tx in answers {
                let _ = tx.send(Err(e.clone()));
            }
        }
        Err(e) => {
            for tx in answers {
                let _ = tx.send(Err(e.clone()));
            }
        }
    }
}

/// Why an entry was refused, as the caller sees it.
fn refused(
    e: ClientWriteError<interlock_replication::NodeId, interlock_replication::ClusterNode>,
) -> Status {
    match e {
        ClientWriteError::ForwardToLeader(f) => {
            super::not_leader(f.leader_id, f.leader_node.map(|n| n.api_addr))
        }
        ClientWriteError::ChangeMembershipError(e) => Status::failed_precondition(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_weighs_one_plus_what_it_carries() {
        assert_eq!(weight(&Command::Tick { at_ms: 1 }), 1);
        let sync = Command::Sync {
            at_ms: 1,
            broker: interlock_ledger::testkit::b("broker-1"),
            batch: interlock_ledger::SyncBatch {
                sequence: 1,
                updates: vec![
                    interlock_ledger::SyncUpdate::Collateral {
                        participant: interlock_ledger::testkit::p("p-1"),
                        asset: interlock_ledger::testkit::a("ETH"),
                        quantity: 1.into(),
                    };
                    3
                ],
            },
        };
        assert_eq!(weight(&sync), 4);
    }

    #[test]
    fn every_caller_gets_its_own_answer_or_the_entry_refusal() {
        let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| oneshot::channel()).unzip();
        let results = (0..3)
            .map(|i| Err(LedgerError::Unavailable(["a", "b", "c"][i])))
            .collect();
        answer(txs, Ok(Reply(results)));
        for (i, rx) in rxs.iter_mut().enumerate() {
            let got = rx.try_recv().unwrap().unwrap().unwrap_err();
            assert_eq!(got, LedgerError::Unavailable(["a", "b", "c"][i]));
        }
        // A count that does not match is an internal error for all.
        let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..2).map(|_| oneshot::channel()).unzip();
        answer(txs, Ok(Reply(Vec::new())));
        for rx in rxs.iter_mut() {
            let e = rx.try_recv().unwrap().unwrap_err();
            assert_eq!(e.code(), tonic::Code::Internal);
        }
        let (txs, mut rxs): (Vec<_>, Vec<_>) = (0..2).map(|_| oneshot::channel()).unzip();
        answer(txs, Err(Status::unavailable("no leader")));
        for rx in rxs.iter_mut() {
            assert_eq!(
                rx.try_recv().unwrap().unwrap_err().code(),
                tonic::Code::Unavailable
            );
        }
    }
}
