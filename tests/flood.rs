//! One venue flooding at well over 10× its rate limit is throttled
//! (RESOURCE_EXHAUSTED with a retry hint) while a compliant venue sees no
//! rejection at all.

mod common;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tonic::Code;

const RATE: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_venue_is_throttled_and_the_others_are_not() {
    let mut config = interlock_server::Config::dev_for_tests();
    config.rate_limit_per_sec = RATE;
    config.rate_limit_burst = 5;
    config.durability = interlock_server::Durability::None;
    let s = start_with(config).await;
    own(&s, "fund", "1000000").await;
    let flood = s.client("dev-venue-a").await;
    let calm = s.client("dev-venue-b").await;
    let window = Duration::from_millis(1500);

    let sent = Arc::new(AtomicU64::new(0));
    let throttled = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut flooders = Vec::new();
    for t in 0..8 {
        let (c, sent, throttled) = (flood.clone(), sent.clone(), throttled.clone());
        flooders.push(tokio::spawn(async move {
            let mut n = 0;
            while started.elapsed() < window {
                n += 1;
                let r = c.check(check(&format!("f{t}-{n}"), "fund", "1")).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = r {
                    let text = e.to_string();
                    assert_eq!(code(e), Code::ResourceExhausted, "{text}");
                    assert!(text.contains("retry after"), "{text}");
                    throttled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // The calm venue stays at half its rate. A late tick must not be made
    // up with a burst (tokio's default): on a loaded machine the missed
    // ticks fired back to back and exceeded the calm venue's own burst.
    // With `Delay` every call starts at least one period after the last.
    let mut calm_sent = 0;
    let mut every = tokio::time::interval(Duration::from_millis(2000 / RATE));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while started.elapsed() < window {
        every.tick().await;
        calm_sent += 1;
        let r = calm
            .check(check(&format!("c{calm_sent}"), "fund", "1"))
            .await;
        assert!(r.is_ok(), "the calm venue was refused: {r:?}");
    }
    for f in flooders {
        f.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (sent, throttled) = (
        sent.load(Ordering::Relaxed),
        throttled.load(Ordering::Relaxed),
    );
    let rate = sent as f64 / elapsed;
    println!("flood: {sent} sent ({rate:.0}/s), {throttled} throttled; calm: {calm_sent} sent, 0 refused");
    assert!(rate >= 10.0 * RATE as f64, "the flood was only {rate:.0}/s");
    assert!(
        throttled as f64 >= 0.9 * sent as f64,
        "only {throttled} of {sent} throttled"
    );
    assert!(calm_sent >= 30);
    s.stop().await;
}
