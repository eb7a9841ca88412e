//! Log lines on a request's path, bounded per second.
//!
//! A rejected check raises an alert, and a silent broker makes every check
//! a rejection: logging each one at INFO turned load into log volume (371 MB
//! in 44 s at full rate). [`LogRate`] lets a fixed number of lines through
//! per second and counts the rest; the first line let through in the next
//! second says how many were left out. Every alert still reaches the
//! admins' `WatchAlerts` stream; only the log is thinned.
//!
//! Lock-free (three atomics), so a request never waits on another to log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Lines of one kind logged per second, at most.
pub const LOG_LINES_PER_SEC: u64 = 10;

/// A per-second budget of log lines.
#[derive(Debug)]
pub struct LogRate {
    started: Instant,
    /// The second (since `started`) the counts are for.
    second: AtomicU64,
    logged: AtomicU64,
    suppressed: AtomicU64,
}

impl Default for LogRate {
    fn default() -> Self {
        LogRate {
            started: Instant::now(),
            second: AtomicU64::new(0),
            logged: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }
}

/// What to do with one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Log this line.
    pub log: bool,
    /// Lines left out in earlier seconds, to report with it (0: none).
    pub suppressed_before: u64,
}

impl LogRate {
    /// Counts one line against this second's budget.
    pub fn admit(&self) -> Verdict {
        let now = self.started.elapsed().as_secs();
        let second = self.second.load(Ordering::Relaxed);
        if now != second
            && self
                .second
                .compare_exchange(second, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.logged.store(0, Ordering::Relaxed);
        }
        if self.logged.fetch_add(1, Ordering::Relaxed) < LOG_LINES_PER_SEC {
            Verdict {
                log: true,
                suppressed_before: self.suppressed.swap(0, Ordering::Relaxed),
            }
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            Verdict {
                log: false,
                suppressed_before: 0,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_logs_the_budget_and_reports_the_rest_later() {
        let rate = LogRate::default();
        let logged = (0..1000).filter(|_| rate.admit().log).count();
        // All in one second, or across the turn of one.
        assert!(
            (LOG_LINES_PER_SEC as usize..=2 * LOG_LINES_PER_SEC as usize).contains(&logged),
            "{logged}"
        );
        let suppressed = rate.suppressed.load(Ordering::Relaxed);
        assert_eq!(suppressed + logged as u64, 1000);
        // Next second: the first line carries the count.
        rate.second.store(u64::MAX, Ordering::Relaxed);
        let v = rate.admit();
        assert_eq!(
            v,
            Verdict {
                log: true,
                suppressed_before: suppressed
            }
        );
    }
}
