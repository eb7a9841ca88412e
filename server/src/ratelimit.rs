//! Per-principal request rate limits: a token bucket per principal, so one
//! flooding venue is slowed down without touching the others.
//!
//! A call (and each message of a CheckStream) takes one token; a bucket
//! holds at most `burst` tokens and refills at `per_sec`. An empty bucket
//! answers RESOURCE_EXHAUSTED with a retry hint, in the message and in the
//! `retry-after-ms` response metadata.

use std::time::Instant;

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use tonic::Status;

/// Most principals tracked at once (the table starts over when full: a
/// reset bucket is full, so this can only admit, never wrongly refuse).
pub const RATE_LIMIT_PRINCIPALS_MAX: usize = 100_000;

#[derive(Debug)]
struct Bucket {
    /// Tokens × 1000 (milli-tokens), so refills need no floats.
    milli: u64,
    last: Instant,
}

/// The limiter shared by all connections.
#[derive(Debug)]
pub struct RateLimiter {
    per_sec: u64,
    burst: u64,
    buckets: DashMap<String, Bucket>,
    /// Refusals by the role in the principal's key ("role:id"), in
    /// [`RateLimiter::refused_by_role`]'s order.
    refused: [AtomicU64; 5],
}

impl RateLimiter {
    /// `per_sec` 0 turns limiting off.
    pub fn new(per_sec: u64, burst: u64) -> Self {
        RateLimiter {
            per_sec,
            burst: burst.max(1),
            buckets: DashMap::new(),
            refused: Default::default(),
        }
    }

    /// Refusals so far by role: venue, broker, oracle, admin, auditor.
    pub fn refused_by_role(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.refused[i].load(Ordering::Relaxed))
    }

    /// Takes a token for `who`, or says how long to wait.
    pub fn admit(&self, who: &str) -> Result<(), Status> {
        if self.per_sec == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let full = self.burst * 1000;
        // Look up by &str first: no allocation for a principal already seen.
        let mut b = match self.buckets.get_mut(who) {
            Some(b) => b,
            None => {
                if self.buckets.len() >= RATE_LIMIT_PRINCIPALS_MAX {
                    self.buckets.clear();
                }
                self.buckets.entry(who.to_owned()).or_insert(Bucket {
                    milli: full,
                    last: now,
                })
            }
        };
        let elapsed_us = now.duration_since(b.last).as_micros() as u64;
        let refill = elapsed_us.saturating_mul(self.per_sec) / 1000;
        if refill > 0 {
            b.milli = (b.milli + refill).min(full);
            b.last = now;
        }
        if b.milli >= 1000 {
            b.milli -= 1000;
            return Ok(());
        }
        let missing = 1000 - b.milli;
        drop(b);
        let role = match who.split(':').next() {
            Some("venue") => Some(0),
            Some("broker") => Some(1),
            Some("oracle") => Some(2),
            Some("admin") => Some(3),
            Some("auditor") => Some(4),
            _ => None,
        };
        if let Some(r) = role {
            self.refused[r].fetch_add(1, Ordering::Relaxed);
        }
        let retry_ms = (missing * 1000).div_ceil(self.per_sec * 1000).max(1);
        let mut status = Status::resource_exhausted(format!(
            "rate limit of {} requests/s for {who} exceeded; retry after {retry_ms} ms",
            self.per_sec
        ));
        if let Ok(v) = retry_ms.to_string().parse() {
            status.metadata_mut().insert("retry-after-ms", v);
        }
        Err(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let l = RateLimiter::new(1000, 5);
        for _ in 0..5 {
            l.admit("a").unwrap();
        }
        let e = l.admit("a").unwrap_err();
        assert_eq!(e.code(), tonic::Code::ResourceExhausted);
        assert!(e.metadata().get("retry-after-ms").is_some());
        // Another principal is untouched.
        l.admit("b").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        l.admit("a").unwrap();
        assert!(RateLimiter::new(0, 0).admit("a").is_ok(), "0 turns it off");
    }
}
