//! The server's clock: wall-clock milliseconds that advance with tokio's
//! clock, so tests can pause and advance time.

use interlock_ledger::UnixMs;
use tokio::time::Instant;

/// Wall time at start plus tokio time elapsed since.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_ms: UnixMs,
    base: Instant,
}

impl Clock {
    pub fn new() -> Self {
        let base_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Clock {
            base_ms,
            base: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> UnixMs {
        let elapsed = i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.base_ms.saturating_add(elapsed)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}
