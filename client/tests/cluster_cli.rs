//! `interlockctl` against a three-node cluster (three servers in this
//! process, on loopback): `cluster status` from any node, and a check sent
//! to a follower first that lands on the leader, saying so.

use std::process::Output;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::net::TcpListener;

#[path = "../../tests/support/ports.rs"]
mod ports;
use ports::free_port;

struct Node {
    endpoint: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn cluster() -> Vec<Node> {
    let mut listeners = Vec::new();
    for _ in 0..3 {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let spec = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "{}=127.0.0.1:{}/{}",
                i + 1,
                free_port(),
                l.local_addr().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let id = (i + 1).to_string();
        let config = interlock_server::Config::parse_from([
            "interlock-server",
            "--dev",
            "--ops-listen",
            "off",
            "--node-id",
            &id,
            "--cluster",
            &spec,
            "--data-dir",
            dir.path().to_str().unwrap(),
        ]);
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(interlock_server::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        nodes.push(Node {
            endpoint,
            _stop: stop,
            _dir: dir,
        });
    }
    nodes
}

async fn ctl(endpoint: &str, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_interlockctl"));
    cmd.arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .env_remove("INTERLOCK_TOKEN");
    tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("interlockctl timed out")
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The leader's endpoint, once every node knows it.
async fn leader(nodes: &[Node]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut known = Vec::new();
        for n in nodes {
            let o = ctl(
                &n.endpoint,
                &["--token", "dev-admin", "--json", "cluster", "status"],
            )
            .await;
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.stdout) {
                known.push(v["leader_api_addr"].as_str().unwrap_or("").to_owned());
            }
        }
        if known.len() == nodes.len()
            && !known[0].is_empty()
            && known.iter().all(|k| *k == known[0])
        {
            return format!("http://{}", known[0]);
        }
        assert!(
            Instant::now() < deadline,
            "no leader all nodes agree on: {known:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_from_any_node_and_a_check_that_follows_the_leader() {
    let nodes = cluster().await;
    let leader = leader(&nodes).await;
    let follower = nodes
        .iter()
        .map(|n| n.endpoint.clone())
        .find(|e| *e != leader)
        .unwrap();

    // The leader's view: itself leading, three voters, each one's lag.
    let o = ctl(
        &leader,
        &["--token", "dev-admin", "--json", "cluster", "status"],
    )
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["role"], "leader");
    let listed = v["nodes"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed
        .iter()
        .all(|n| n["voter"] == true && n["lag"].is_u64()));
    let o = ctl(&follower, &["--token", "dev-admin", "cluster", "status"]).await;
    let (out, _) = text(&o);
    assert!(out.contains("is follower in term"), "{out}");
    assert!(out.contains("ask it for them"), "{out}");

    // A follower alone refuses, naming the leader.
    let check = [
        "--token",
        "dev-venue-a",
        "check",
        "--participant",
        "fund-1",
        "--asset",
        "ETH",
        "--quantity",
        "1",
        "--order-id",
        "o-1",
    ];
    let o = ctl(&follower, &check).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("UNAVAILABLE") && err.contains("not the leader"),
        "{err}"
    );

    // Given every node, the follower first, it lands on the leader.
    let all = format!(
        "{follower},{}",
        nodes
            .iter()
            .map(|n| n.endpoint.clone())
            .filter(|e| *e != follower)
            .collect::<Vec<_>>()
            .join(",")
    );
    let o = ctl(&all, &check).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("REJECTED"), "{out}");
    assert!(
        err.contains(&format!("note: moved from {follower} to {leader}")),
        "{err}"
    );

    // A read a risk decision rests on is the leader's, after a read index:
    // a follower refuses it, naming the leader; the list lands there.
    let exposure = ["--token", "dev-admin", "exposure", "fund-1"];
    let o = ctl(&follower, &exposure).await;
    let (_, err) = text(&o);
    assert!(
        err.contains("UNAVAILABLE") && err.contains("not the leader"),
        "{err}"
    );
    let o = ctl(&all, &exposure).await;
    let (out, err) = text(&o);
    // The leader's answer: fund-1 has no position anywhere.
    assert!(err.contains("error: NOT_FOUND"), "{out}\n{err}");
    assert!(
        err.starts_with(&format!("note: moved from {follower} to {leader}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_has_no_cluster_status() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut config = interlock_server::Config::dev_for_tests();
    config.data_dir = dir.path().to_path_buf();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(interlock_server::serve(config, listener, async move {
        let _ = stopped.await;
    }));
    let o = ctl(&endpoint, &["--token", "dev-admin", "cluster", "status"]).await;
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("FAILED_PRECONDITION") && err.contains("single node"),
        "{err}"
    );
}
