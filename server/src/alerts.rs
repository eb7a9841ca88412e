//! The alert hub: ledger alerts fanned out to every admin watching, the
//! last [`ALERTS_KEPT`] held so that a watcher that lost its stream resumes
//! after the last one it saw.
//!
//! Numbering: on a single node a counter. On a cluster an alert raised by
//! applying a change is numbered by the change's log index (times
//! [`SEQ_PER_ENTRY`], plus its place among the entry's alerts): every node
//! applies the same entries, so every node holds the same alerts under the
//! same numbers, and a watcher that moves to a new leader resumes there.
//! An alert a node raises by itself (the health scan and the scheduled
//! stress run on every node) takes the last index that node applied and a
//! number from the upper half of the entry's range: it is that node's own.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use interlock::v1 as pb;
use tokio::sync::broadcast;

use interlock_ledger::AlertKind;

use crate::convert;
use crate::lograte::LogRate;

/// Alerts buffered per watcher; a watcher further behind is told how many it
/// missed (an ALERTS_DROPPED alert) and carries on.
pub const ALERT_BUFFER: usize = 4096;

/// Alerts each node holds for watchers that resume.
pub const ALERTS_KEPT: usize = 4096;

/// On a cluster, the room in the numbering per log entry: the first half
/// for the alerts its commands raise (an entry's weight is at most 256
/// commands and updates), the second for the node's own.
pub const SEQ_PER_ENTRY: u64 = 1 << 20;
const NODE_OWN: u64 = SEQ_PER_ENTRY / 2;

/// Numbers alerts, holds the last ones and broadcasts them.
#[derive(Debug, Clone)]
pub struct AlertHub {
    tx: broadcast::Sender<pb::Alert>,
    /// The counter (single node), or the node's own alerts' place within
    /// an entry (cluster).
    seq: Arc<AtomicU64>,
    /// On a cluster: the last entry applied here.
    applied_index: Option<Arc<AtomicU64>>,
    kept: Arc<Mutex<Kept>>,
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
            applied_index: None,
            kept: Default::default(),
            log: Arc::new(Default::default()),
            metrics,
        }
    }

    /// The hub of a cluster's node: alerts numbered by log index
    /// ([`AlertHub::applied`]).
    pub fn replicated(mut self) -> Self {
        self.applied_index = Some(Default::default());
        self
    }

    /// Publishes alerts this server raised (on a cluster, this node's own:
    /// not those of applying a change, which come through
    /// [`AlertHub::applied`]): held, sent to every watcher, counted and
    /// logged within a budget ([`LogRate`]: at most `LOG_LINES_PER_SEC` a
    /// second per kind, the rest counted and reported with the next line
    /// logged).
    pub fn publish(&self, alerts: Vec<interlock_ledger::Alert>) {
        for a in alerts {
            let n = self.seq.fetch_add(1, Ordering::Relaxed);
            let seq = match &self.applied_index {
                None => n + 1,
                Some(index) => {
                    index.load(Ordering::Acquire) * SEQ_PER_ENTRY + NODE_OWN + n % NODE_OWN
                }
            };
            self.announce(&a);
            self.send(convert::alert(seq, a));
        }
    }

    /// On a cluster's node, for every entry of commands it applies: the
    /// alerts they raised, numbered by `index`. Every node holds them;
    /// only the leader (`leading`) counts and logs them.
    pub fn applied(&self, index: u64, alerts: Vec<interlock_ledger::Alert>, leading: bool) {
        if let Some(i) = &self.applied_index {
            i.store(index, Ordering::Release);
        }
        for (k, a) in (0..NODE_OWN).zip(alerts) {
            if leading {
                self.announce(&a);
            }
            self.send(convert::alert(index * SEQ_PER_ENTRY + k, a));
        }
    }

    fn announce(&self, a: &interlock_ledger::Alert) {
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
    }

    /// Holds and broadcasts, under one lock with [`AlertHub::subscribe_after`]
    /// so that a new watcher gets each alert once: held or live.
    fn send(&self, alert: pb::Alert) {
        let mut kept = lock(&self.kept);
        if kept.alerts.len() == ALERTS_KEPT {
            if let Some(old) = kept.alerts.pop_front() {
                kept.dropped_through = old.seq;
            }
        }
        kept.alerts.push_back(alert.clone());
        // An error only means no watcher is subscribed right now.
        let _ = self.tx.send(alert);
    }

    /// The alerts held with `seq > after` (none when `after` is 0), and
    /// every alert from now on. When some after `after` are no longer held,
    /// an ALERTS_DROPPED notice comes first.
    pub fn subscribe_after(&self, after: u64) -> (Vec<pb::Alert>, broadcast::Receiver<pb::Alert>) {
        let kept = lock(&self.kept);
        let rx = self.tx.subscribe();
        if after == 0 {
            return (Vec::new(), rx);
        }
        let mut backlog = Vec::new();
        if kept.dropped_through > after {
            backlog.push(pb::Alert {
                kind: pb::AlertKind::AlertsDropped.into(),
                message: format!(
                    "alerts after seq {after} up to seq {} are no longer held here",
                    kept.dropped_through
                ),
                ..Default::default()
            });
        }
        backlog.extend(kept.alerts.iter().filter(|a| a.seq > after).cloned());
        (backlog, rx)
    }
}

/// What the hub holds.
#[derive(Debug, Default)]
struct Kept {
    alerts: VecDeque<pb::Alert>,
    /// The seq of the last alert let go (0: none yet).
    dropped_through: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for AlertHub {
    fn default() -> Self {
        AlertHub::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raised(n: usize) -> Vec<interlock_ledger::Alert> {
        (0..n)
            .map(|i| {
                interlock_ledger::Alert::new(i as i64, AlertKind::Breach, format!("alert {i}"))
            })
            .collect()
    }

    #[test]
    fn a_watcher_resumes_after_the_last_seq_it_saw() {
        let hub = AlertHub::new();
        hub.publish(raised(3));
        let (held, _) = hub.subscribe_after(0);
        assert!(held.is_empty(), "from now on");
        let (held, mut rx) = hub.subscribe_after(1);
        let seqs: Vec<u64> = held.iter().map(|a| a.seq).collect();
        assert_eq!(seqs, [2, 3]);
        hub.publish(raised(1));
        assert_eq!(rx.try_recv().unwrap().seq, 4, "then live, none twice");
        assert!(rx.try_recv().is_err());

        // More than the hub holds: the watcher is told what it lost.
        hub.publish(raised(ALERTS_KEPT));
        let (held, _) = hub.subscribe_after(2);
        assert_eq!(held[0].kind, pb::AlertKind::AlertsDropped as i32);
        assert!(
            held[0].message.contains("after seq 2 up to seq 4"),
            "{held:?}"
        );
        assert_eq!(held.len(), ALERTS_KEPT + 1);
        assert_eq!(held[1].seq, 5);
    }

    #[test]
    fn a_cluster_numbers_alerts_by_the_entry_that_raised_them() {
        let (a, b) = (AlertHub::new().replicated(), AlertHub::new().replicated());
        // Two nodes apply the same entries; only the first leads.
        for (hub, leading) in [(&a, true), (&b, false)] {
            hub.applied(7, raised(2), leading);
            hub.applied(8, Vec::new(), leading);
            hub.applied(9, raised(1), leading);
        }
        let (on_a, _) = a.subscribe_after(1);
        let (on_b, _) = b.subscribe_after(1);
        assert_eq!(on_a, on_b);
        let seqs: Vec<u64> = on_a.iter().map(|x| x.seq).collect();
        assert_eq!(
            seqs,
            [7 * SEQ_PER_ENTRY, 7 * SEQ_PER_ENTRY + 1, 9 * SEQ_PER_ENTRY]
        );
        // The leader's own alert comes after the entry last applied.
        a.publish(raised(1));
        let (after_9, _) = a.subscribe_after(9 * SEQ_PER_ENTRY);
        assert_eq!(after_9.len(), 1);
        assert!(after_9[0].seq > 9 * SEQ_PER_ENTRY && after_9[0].seq < 10 * SEQ_PER_ENTRY);
    }

    #[test]
    fn every_kind_has_its_own_index() {
        for (i, k) in ALL_ALERT_KINDS.iter().enumerate() {
            assert_eq!(kind_index(*k), i, "{k:?}");
        }
    }
}
