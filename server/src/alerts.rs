//! The alert hub: ledger alerts fanned out to every admin watching.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use interlock::v1 as pb;
use tokio::sync::broadcast;

use crate::convert;

/// Alerts buffered per watcher; a watcher further behind is told how many it
/// missed (an ALERTS_DROPPED alert) and carries on.
pub const ALERT_BUFFER: usize = 4096;

/// Numbers alerts and broadcasts them.
#[derive(Debug, Clone)]
pub struct AlertHub {
    tx: broadcast::Sender<pb::Alert>,
    seq: Arc<AtomicU64>,
}

impl AlertHub {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(ALERT_BUFFER);
        AlertHub {
            tx,
            seq: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Publishes alerts; with nobody watching they are only logged.
    pub fn publish(&self, alerts: Vec<interlock_ledger::Alert>) {
        for a in alerts {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::info!(kind = ?a.kind, message = %a.message, "alert");
            // An error only means no watcher is subscribed right now.
            let _ = self.tx.send(convert::alert(seq, a));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<pb::Alert> {
        self.tx.subscribe()
    }
}

impl Default for AlertHub {
    fn default() -> Self {
        AlertHub::new()
    }
}
