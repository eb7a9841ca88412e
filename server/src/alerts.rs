//! The alert hub: ledger alerts fanned out to every admin watching.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use interlock::v1 as pb;
use tokio::sync::broadcast;

use interlock_ledger::AlertKind;

use crate::convert;
use crate::lograte::LogRate;

/// Alerts buffered per watcher; a watcher further behind is told how many it
/// missed (an ALERTS_DROPPED alert) and carries on.
pub const ALERT_BUFFER: usize = 4096;

/// Numbers alerts and broadcasts them.
#[derive(Debug, Clone)]
pub struct AlertHub {
    tx: broadcast::Sender<pb::Alert>,
    seq: Arc<AtomicU64>,
    /// A log budget per alert kind, so that a flood of one kind (a
    /// rejection per check while a broker is silent) neither fills the log
    /// nor hides the others.
    log: Arc<[LogRate; ALERT_KINDS]>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// How many kinds of ledger alert there are (`interlock_ledger::AlertKind`).
pub const ALERT_KINDS: usize = 15;

/// Every kind, in [`kind_index`] order.
pub const ALL_ALERT_KINDS: [AlertKind; ALERT_KINDS] = [
    AlertKind::WarningLevelCrossed,
    AlertKind::LimitRejection,
    AlertKind::Breach,
    AlertKind::TradingStateChanged,
    AlertKind::BrokerStale,
    AlertKind::SyncGap,
    AlertKind::PriceHeld,
    AlertKind::PriceStale,
    AlertKind::PriceFresh,
    AlertKind::HealthWarning,
    AlertKind::HealthCritical,
    AlertKind::VenuesAtRisk,
    AlertKind::PriceDeviation,
    AlertKind::StressMultiVenue,
    AlertKind::StressHiddenByReuse,
];

/// A kind's place in per-kind tables.
pub fn kind_index(k: AlertKind) -> usize {
    match k {
        AlertKind::WarningLevelCrossed => 0,
        AlertKind::LimitRejection => 1,
        AlertKind::Breach => 2,
        AlertKind::TradingStateChanged => 3,
        AlertKind::BrokerStale => 4,
        AlertKind::SyncGap => 5,
        AlertKind::PriceHeld => 6,
        AlertKind::PriceStale => 7,
        AlertKind::PriceFresh => 8,
        AlertKind::HealthWarning => 9,
        AlertKind::HealthCritical => 10,
        AlertKind::VenuesAtRisk => 11,
        AlertKind::PriceDeviation => 12,
        AlertKind::StressMultiVenue => 13,
        AlertKind::StressHiddenByReuse => 14,
    }
}

impl AlertHub {
    pub fn new() -> Self {
        AlertHub::counted(Arc::new(crate::metrics::Metrics::new(false)))
    }

    /// A hub that counts what it publishes in `metrics`.
    pub fn counted(metrics: Arc<crate::metrics::Metrics>) -> Self {
        let (tx, _) = broadcast::channel(ALERT_BUFFER);
        AlertHub {
            tx,
            seq: Arc::new(AtomicU64::new(0)),
            log: Arc::new(Default::default()),
            metrics,
        }
    }

    /// Publishes alerts to every watcher, and logs them within a budget
    /// ([`LogRate`]: at most `LOG_LINES_PER_SEC` a second per kind, the rest
    /// counted and reported with the next line logged).
    pub fn publish(&self, alerts: Vec<interlock_ledger::Alert>) {
        for a in alerts {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
            self.metrics.alert(a.kind);
            let v = self.log[kind_index(a.kind)].admit();
            if v.log {
                tracing::info!(
                    kind = ?a.kind,
                    message = %a.message,
                    not_logged_before = v.suppressed_before,
                    "alert"
                );
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_index() {
        for (i, k) in ALL_ALERT_KINDS.iter().enumerate() {
            assert_eq!(kind_index(*k), i, "{k:?}");
        }
    }
}
