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
    /// The node's cluster port.
    raft: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn cluster() -> Vec<Node> {
    cluster_with(|_| Vec::new()).await
}

/// Three nodes, node `i` started with `extra(i)` as further flags.
async fn cluster_with(extra: impl Fn(usize) -> Vec<String>) -> Vec<Node> {
    let mut listeners = Vec::new();
    for _ in 0..3 {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let raft: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let spec = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}={}/{}", i + 1, raft[i], l.local_addr().unwrap()))
        .collect::<Vec<_>>()
        .join(",");
    let mut nodes = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let id = (i + 1).to_string();
        let mut args: Vec<String> = [
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
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra(i));
        let config = interlock_server::Config::parse_from(args);
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(interlock_server::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        nodes.push(Node {
            endpoint,
            raft: raft[i].clone(),
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

/// `interlockctl` arguments for venue-a's check of 1 ETH for fund-1.
fn check_args(order: &str) -> [&str; 11] {
    [
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
        order,
    ]
}

/// Every node's endpoint, as `--endpoint` takes a cluster's.
fn every_endpoint(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| n.endpoint.as_str())
        .collect::<Vec<_>>()
        .join(",")
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

    // The leader's view: itself leading, three voters, each one's lag,
    // and (once the leader has heard each node) the disk each is known by.
    let deadline = Instant::now() + Duration::from_secs(10);
    let disks = loop {
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
        let disks: Vec<String> = listed
            .iter()
            .map(|n| n["disk"].as_str().unwrap().to_owned())
            .collect();
        if disks.iter().all(|d| d.len() == 16) {
            break disks;
        }
        assert!(Instant::now() < deadline, "disks not recorded: {out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let distinct: std::collections::BTreeSet<&String> = disks.iter().collect();
    assert_eq!(distinct.len(), 3, "{disks:?}");
    let o = ctl(&follower, &["--token", "dev-admin", "cluster", "status"]).await;
    let (out, _) = text(&o);
    assert!(out.contains("is follower in term"), "{out}");
    assert!(out.contains("ask it for them"), "{out}");
    assert!(out.contains(&disks[0]), "{out}");

    // A follower alone refuses, naming the leader.
    let check = check_args("o-1");
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
    for args in [
        &["cluster", "remove", "--node-id", "2"][..],
        &[
            "cluster",
            "add",
            "--node-id",
            "2",
            "--cluster-addr",
            "127.0.0.1:7402",
            "--api-addr",
            "127.0.0.1:50052",
        ][..],
    ] {
        let o = ctl(&endpoint, &[&["--token", "dev-admin"][..], args].concat()).await;
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(err.contains("single node"), "{args:?}: {err}");
    }
}

/// `cluster remove` through the endpoint list, starting at a follower:
/// it reaches the leader, removes the node and shows what is left; checks
/// go on with the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_is_removed_with_interlockctl() {
    let nodes = cluster().await;
    let leader = leader(&nodes).await;
    let followers: Vec<usize> = (0..3).filter(|i| nodes[*i].endpoint != leader).collect();
    let (first, gone) = (followers[0], followers[1]);
    let all = std::iter::once(first)
        .chain((0..3).filter(|i| *i != first))
        .map(|i| nodes[i].endpoint.clone())
        .collect::<Vec<_>>()
        .join(",");
    let id = (gone + 1).to_string();
    let remove = [
        "--token",
        "dev-admin",
        "cluster",
        "remove",
        "--node-id",
        &id,
    ];
    let o = ctl(&all, &remove).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains(&format!("node {id} removed: stop its process")),
        "{out}"
    );
    assert!(!out.contains(&nodes[gone].raft), "{out}");
    let again = ctl(&all, &remove).await;
    let (_, err) = text(&again);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        err.contains("NOT_FOUND") && err.contains("not a member"),
        "{err}"
    );
    let o = ctl(&all, &check_args("after-remove")).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
}

/// Nodes with mutual TLS on the cluster port elect a leader and commit; the
/// port refuses a caller without a certificate, a venue's certificate from
/// the same CA, and a node certificate for an id outside the cluster,
/// before any message is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_authenticate_each_other_with_mutual_tls() {
    use interlock_client::cluster_pb::raft_service_client::RaftServiceClient;
    use interlock_client::cluster_pb::VoteRequest;
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

    let pki = tempfile::tempdir().unwrap();
    let eco = interlock_client::pki::Ecosystem {
        nodes: ["1", "2", "3", "9"].map(String::from).to_vec(),
        ..Default::default()
    };
    interlock_client::pki::write_dev_pki(pki.path(), &eco).unwrap();
    let path = |n: &str| pki.path().join(n).to_str().unwrap().to_owned();
    let nodes = cluster_with(|i| {
        vec![
            "--cluster-tls-cert".into(),
            path(&format!("node-{}.pem", i + 1)),
            "--cluster-tls-key".into(),
            path(&format!("node-{}.key", i + 1)),
            "--cluster-tls-ca".into(),
            path("ca.pem"),
        ]
    })
    .await;
    let leader = leader(&nodes).await;
    // A change commits (a majority has it, over TLS) and is answered.
    let o = ctl(&leader, &check_args("o-tls")).await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");

    let ca = std::fs::read(path("ca.pem")).unwrap();
    let call = |who: Option<&'static str>| {
        let ca = ca.clone();
        let target = format!("https://{}", nodes[0].raft);
        async move {
            let mut tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca))
                .domain_name("localhost");
            if let Some(w) = who {
                tls = tls.identity(Identity::from_pem(
                    std::fs::read(path(&format!("{w}.pem"))).unwrap(),
                    std::fs::read(path(&format!("{w}.key"))).unwrap(),
                ));
            }
            let channel = Endpoint::from_shared(target)
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .timeout(Duration::from_secs(5))
                .connect()
                .await;
            match channel {
                Err(e) => Err(tonic::Status::unavailable(e.to_string())),
                Ok(c) => RaftServiceClient::new(c)
                    .vote(VoteRequest { payload: vec![] })
                    .await
                    .map(|_| ()),
            }
        }
    };
    // Another node of the cluster gets through to the message (which does
    // not decode: an empty vote).
    let e = call(Some("node-2")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    let e = call(Some("venue-venue-a")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("node role"), "{e:?}");
    let e = call(Some("node-9")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("not another node"), "{e:?}");
    // The node itself is not its own peer either.
    let e = call(Some("node-1")).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    // No certificate: the server ends the handshake (with TLS 1.3 the
    // client learns it at its first request), nothing is read.
    let e = call(None).await.unwrap_err();
    assert!(
        matches!(
            e.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
        ),
        "{e:?}"
    );
}

#[test]
fn a_cluster_off_loopback_needs_mutual_tls() {
    let config = interlock_server::Config::parse_from([
        "interlock-server",
        "--node-id",
        "1",
        "--cluster",
        "1=10.0.0.1:7400/10.0.0.1:50051,2=10.0.0.2:7400/10.0.0.2:50051,3=10.0.0.3:7400/10.0.0.3:50051",
    ]);
    let e = interlock_server::cluster::ClusterSpec::from_config(&config).unwrap_err();
    assert!(e.to_string().contains("--cluster-tls-cert"), "{e}");
}

/// `interlockctl watch` on every node's endpoint follows the leader: when
/// the leader stops (and hands over), the stream ends UNAVAILABLE and the
/// watch resumes on the new leader after the last alert it showed, so an
/// alert raised meanwhile is shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interlockctl_watch_follows_the_leader() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let mut nodes = cluster().await;
    let leader_endpoint = leader(&nodes).await;
    let all = every_endpoint(&nodes);
    let mut watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_interlockctl"))
        .args(["--endpoint", &all, "--token", "dev-admin", "watch"])
        .env_remove("INTERLOCK_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(watch.stdout.take().unwrap()).lines();
    let state = |who: &'static str, halt: bool| {
        let all = all.clone();
        async move {
            let verb = if halt { "halt" } else { "resume" };
            let o = ctl(
                &all,
                &["--token", "dev-admin", verb, who, "--reason", "watch test"],
            )
            .await;
            let (out, err) = text(&o);
            assert!(o.status.success(), "{out}{err}");
        }
    };
    // Until the watch shows an alert (it subscribes when it has started).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut halted = false;
    loop {
        halted = !halted;
        state("fund-1", halted).await;
        if let Ok(line) = tokio::time::timeout(Duration::from_millis(300), out.next_line()).await {
            let line = line.unwrap().expect("the watch ended");
            assert!(line.contains("fund-1"), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "the watch showed nothing");
    }

    // The leader stops; an alert is raised on the next one.
    let i = nodes
        .iter()
        .position(|n| n.endpoint == leader_endpoint)
        .unwrap();
    drop(nodes.remove(i));
    state("fund-2", true).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = tokio::time::timeout_at(deadline.into(), out.next_line())
            .await
            .expect("the watch did not show fund-2's halt")
            .unwrap()
            .expect("the watch ended");
        if line.contains("fund-2") {
            break;
        }
    }
    watch.kill().await.unwrap();
    let mut err = String::new();
    let _ =
        tokio::io::AsyncReadExt::read_to_string(&mut watch.stderr.take().unwrap(), &mut err).await;
    assert!(err.contains("resuming after seq"), "{err}");
}

/// `interlockctl bench` given every node's endpoint runs against the leader
/// (a follower would refuse every check), and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interlockctl_bench_runs_against_the_leader() {
    let nodes = cluster().await;
    let leader_endpoint = leader(&nodes).await;
    let all = every_endpoint(&nodes);
    let o = ctl(
        &all,
        &[
            "--json",
            "bench",
            "--duration-secs",
            "1",
            "--clients",
            "2",
            "--participants",
            "10",
        ],
    )
    .await;
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        err.contains(&format!("leader is {leader_endpoint}")),
        "{err}"
    );
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["errors"], 0, "{out}");
    assert!(r["approved"].as_u64().unwrap() > 0, "{out}");
}
