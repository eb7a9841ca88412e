//! A flood of rejected checks leaves the log small: once a broker is silent
//! every check is rejected and raises an alert, and the log takes at most a
//! fixed number of alert lines a second (the alerts themselves all reach
//! `WatchAlerts`).

mod common;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use interlock_client::pb;

/// Counts the lines written to it.
struct Lines(Arc<AtomicU64>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.iter().filter(|&&b| b == b'\n').count() as u64;
        self.0.fetch_add(n, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_under_load_leaves_the_log_small() {
    let lines = Arc::new(AtomicU64::new(0));
    let counter = lines.clone();
    tracing_subscriber::fmt()
        .with_writer(move || Lines(counter.clone()))
        .with_max_level(tracing::Level::INFO)
        .init();

    let mut config = interlock_server::Config::dev_for_tests();
    config.durability = interlock_server::Durability::None;
    config.rate_limit_per_sec = 0;
    config.broker_stale_after_ms = 200;
    let s = start_with(config).await;
    own(&s, "fund", "1000000").await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let before = lines.load(Ordering::Relaxed);
    let started = Instant::now();
    let window = Duration::from_secs(2);
    let mut clients = Vec::new();
    for c in 0..16 {
        let venue = s.client("dev-venue-a").await;
        clients.push(tokio::spawn(async move {
            let mut rejected = 0u64;
            let mut n = 0;
            while started.elapsed() < window {
                n += 1;
                let r = venue
                    .check(check(&format!("c{c}-{n}"), "fund", "1"))
                    .await
                    .unwrap();
                assert_eq!(r.reason.unwrap().code(), pb::RejectCode::StaleSync);
                rejected += 1;
            }
            rejected
        }));
    }
    let mut rejected = 0;
    for c in clients {
        rejected += c.await.unwrap();
    }
    let seconds = started.elapsed().as_secs_f64().ceil() as u64 + 1;
    let logged = lines.load(Ordering::Relaxed) - before;
    println!("{rejected} checks rejected, {logged} log lines");
    assert!(rejected >= 1000, "only {rejected} checks");
    // Per second: the rejection alerts' budget, and a few other lines.
    let bound = seconds * (interlock_server::lograte::LOG_LINES_PER_SEC + 5);
    assert!(
        logged <= bound,
        "{logged} log lines for {rejected} rejected checks (bound {bound})"
    );
    s.stop().await;
}
