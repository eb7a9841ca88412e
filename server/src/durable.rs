//! Answers waiting for the journal.
//!
//! Each waiting answer registers the journal position it needs; when the
//! writer reports progress, exactly the answers it satisfies are woken (a
//! broadcast would wake every waiter on every fdatasync). The writer calls
//! [`Waiters::publish`] from its own thread; that wakes one task on the
//! runtime, [`Waiters::dispatch`], which wakes the answers from there. Waking
//! each answer from the writer's thread instead cost one write to the
//! runtime's eventfd per answer (strace: ~1 per request).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use interlock_journal::{JournalStatus, Progress};
use tokio::sync::{oneshot, Notify};
use tonic::Status;

/// The journal's progress and the answers waiting on it.
#[derive(Debug)]
pub struct Waiters {
    /// Every record up to this one is durable (read without the lock).
    durable: AtomicU64,
    inner: Mutex<Inner>,
    /// Tells [`Waiters::dispatch`] that progress was published.
    progressed: Notify,
}

#[derive(Debug)]
struct Inner {
    progress: Progress,
    waiting: BTreeMap<u64, Vec<oneshot::Sender<Progress>>>,
}

impl Waiters {
    pub fn new(progress: Progress) -> Self {
        Waiters {
            durable: AtomicU64::new(progress.durable_lsn),
            inner: Mutex::new(Inner {
                progress,
                waiting: BTreeMap::new(),
            }),
            progressed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest progress.
    pub fn progress(&self) -> Progress {
        self.lock().progress
    }

    /// Records the writer's progress; [`Waiters::dispatch`] wakes the
    /// answers it satisfies.
    pub fn publish(&self, p: Progress) {
        {
            let mut inner = self.lock();
            inner.progress = p;
            self.durable.store(p.durable_lsn, Ordering::Release);
        }
        self.progressed.notify_one();
    }

    /// Wakes the answers each published progress satisfies (all of them
    /// once the journal stopped), on the runtime: one wake-up of the
    /// runtime per fdatasync, not one per answer. Runs until the journal
    /// has closed or failed; spawn it once beside the journal.
    pub async fn dispatch(self: std::sync::Arc<Self>) {
        loop {
            self.progressed.notified().await;
            let (p, woken) = {
                let mut inner = self.lock();
                let p = inner.progress;
                let woken = if p.status == JournalStatus::Ok {
                    let later = inner.waiting.split_off(&(p.durable_lsn + 1));
                    std::mem::replace(&mut inner.waiting, later)
                } else {
                    std::mem::take(&mut inner.waiting)
                };
                (p, woken)
            };
            for tx in woken.into_values().flatten() {
                let _ = tx.send(p);
            }
            if matches!(p.status, JournalStatus::Closed | JournalStatus::Failed) {
                return;
            }
        }
    }

    /// Waits until `lsn` is durable. Fails (UNAVAILABLE) if the journal
    /// stops first: the change was applied in memory but not acknowledged.
    pub async fn wait(&self, lsn: u64) -> Result<(), Status> {
        if lsn == 0 || self.durable.load(Ordering::Acquire) >= lsn {
            return Ok(());
        }
        let rx = {
            let mut inner = self.lock();
            let p = inner.progress;
            if p.durable_lsn >= lsn {
                return Ok(());
            }
            if p.status != JournalStatus::Ok {
                return Err(not_durable(p.status));
            }
            let (tx, rx) = oneshot::channel();
            inner.waiting.entry(lsn).or_default().push(tx);
            rx
        };
        let p = rx
            .await
            .map_err(|_| Status::unavailable("the journal stopped"))?;
        if p.durable_lsn >= lsn {
            Ok(())
        } else {
            Err(not_durable(p.status))
        }
    }
}

fn not_durable(status: JournalStatus) -> Status {
    // A retry with the same order id gets the answer once the journal can
    // write again.
    Status::unavailable(match status {
        JournalStatus::DiskFull => {
            "the journal's disk is full; the change is not durable yet: retry later"
        }
        JournalStatus::Failed => "the journal failed; the change was not acknowledged",
        JournalStatus::Ok | JournalStatus::Closed => {
            "the server is shutting down; the change was not acknowledged"
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(durable_lsn: u64, status: JournalStatus) -> Progress {
        Progress {
            durable_lsn,
            status,
            segment_first_lsn: 1,
            epoch: 0,
        }
    }

    #[tokio::test]
    async fn wakes_exactly_the_satisfied_waiters() {
        let w = std::sync::Arc::new(Waiters::new(p(5, JournalStatus::Ok)));
        let dispatcher = tokio::spawn(w.clone().dispatch());
        assert!(w.wait(5).await.is_ok());
        let (a, b) = (w.clone(), w.clone());
        let seven = tokio::spawn(async move { a.wait(7).await });
        let nine = tokio::spawn(async move { b.wait(9).await });
        tokio::task::yield_now().await;
        while w.lock().waiting.len() < 2 {
            tokio::task::yield_now().await;
        }
        w.publish(p(8, JournalStatus::Ok));
        assert!(seven.await.unwrap().is_ok());
        assert_eq!(w.lock().waiting.len(), 1, "9 still waits");
        w.publish(p(8, JournalStatus::DiskFull));
        let e = nine.await.unwrap().unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unavailable);
        assert!(e.message().contains("disk is full"));
        w.publish(p(8, JournalStatus::Closed));
        dispatcher.await.unwrap();
    }
}
