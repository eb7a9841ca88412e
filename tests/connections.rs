//! Connection limits through the real server: a socket that never sends its
//! HTTP/2 preface is closed after `--preface-timeout-ms`, and connections
//! beyond `--max-connections` are closed at once, while clients that speak
//! are served as before.

mod common;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the server took to close `stream` (read gives EOF or an
/// error), or `None` if it was still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        let left = within.checked_sub(started.elapsed())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            // The server's own preface or settings: keep reading.
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_preface_timeout() {
    let mut config = interlock_server::Config::dev_for_tests();
    config.preface_timeout_ms = 300;
    let s = start_with(config).await;

    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    let took = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(took.is_some(), "a silent connection stayed open");
    assert!(took.unwrap() >= Duration::from_millis(250), "{took:?}");

    // A few bytes short of the preface do not stop the clock.
    let mut partial = TcpStream::connect(s.addr).await.unwrap();
    partial.write_all(b"PRI * HTTP/2.0").await.unwrap();
    assert!(closed_within(&mut partial, Duration::from_secs(5))
        .await
        .is_some());

    // A real client outlives the deadline on one connection.
    own(&s, "fund", "10").await;
    let venue = s.client("dev-venue-a").await;
    venue.check(check("o1", "fund", "1")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    venue.check(check("o2", "fund", "1")).await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let mut config = interlock_server::Config::dev_for_tests();
    config.max_connections = 3;
    config.preface_timeout_ms = 60_000;
    let s = start_with(config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(s.addr).await.unwrap());
    }
    // Let the server accept the three.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = TcpStream::connect(s.addr).await.unwrap();
    assert!(
        closed_within(&mut fourth, Duration::from_secs(2))
            .await
            .is_some(),
        "a fourth connection was kept open"
    );
    for h in &mut held {
        assert!(closed_within(h, Duration::from_millis(100)).await.is_none());
    }
    // A place frees up once the server has seen one close.
    held.pop();
    let started = Instant::now();
    loop {
        let mut probe = TcpStream::connect(s.addr).await.unwrap();
        probe
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        if closed_within(&mut probe, Duration::from_millis(200))
            .await
            .is_none()
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no place freed after a connection closed"
        );
    }
    drop(held);
    s.stop().await;
}
