//! The shared test harness: a real server on 127.0.0.1:0, real gRPC clients.
#![allow(dead_code)]

use std::net::SocketAddr;

use interlock_client::{pb, Client};
use interlock_server::Config;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestServer {
    pub addr: SocketAddr,
    pub endpoint: String,
    /// The server's own data directory, unless the test chose one.
    pub data_dir: Option<tempfile::TempDir>,
    /// The operations port, when the test asked for one.
    pub ops: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts a dev-mode server on an ephemeral loopback port.
pub async fn start_server() -> TestServer {
    start_with(Config::dev_for_tests()).await
}

/// Starts a server whose journal is on `storage` (a simulated disk).
pub async fn start_on(
    config: Config,
    storage: std::sync::Arc<dyn interlock_journal::Storage>,
) -> TestServer {
    start_on_with(config, storage, false).await
}

/// [`start_on`], and the operations port on another ephemeral port.
pub async fn start_on_with_ops(
    config: Config,
    storage: std::sync::Arc<dyn interlock_journal::Storage>,
) -> TestServer {
    start_on_with(config, storage, true).await
}

async fn start_on_with(
    config: Config,
    storage: std::sync::Arc<dyn interlock_journal::Storage>,
    with_ops: bool,
) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ops = if with_ops {
        Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    } else {
        None
    };
    let ops_addr = ops.as_ref().map(|l| l.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(interlock_server::serve_on(
        config,
        listener,
        ops,
        async move {
            let _ = stopped.await;
        },
        Some(storage),
    ));
    TestServer {
        addr,
        endpoint: format!("http://{addr}"),
        data_dir: None,
        ops: ops_addr,
        stop: Some(stop),
        handle: Some(handle),
    }
}

/// Starts a server; a durable one gets a fresh data directory unless the
/// configuration names one.
pub async fn start_with(config: Config) -> TestServer {
    start_serving(config, false).await
}

/// [`start_with`], and the operations port on another ephemeral port.
pub async fn start_with_ops(config: Config) -> TestServer {
    start_serving(config, true).await
}

async fn start_serving(mut config: Config, with_ops: bool) -> TestServer {
    let data_dir = if config.data_dir == Config::dev_for_tests().data_dir {
        let dir = tempfile::tempdir().unwrap();
        config.data_dir = dir.path().to_path_buf();
        Some(dir)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ops = if with_ops {
        Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    } else {
        None
    };
    let ops_addr = ops.as_ref().map(|l| l.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(interlock_server::serve_on(
        config,
        listener,
        ops,
        async move {
            let _ = stopped.await;
        },
        None,
    ));
    TestServer {
        addr,
        endpoint: format!("http://{addr}"),
        data_dir,
        ops: ops_addr,
        stop: Some(stop),
        handle: Some(handle),
    }
}

impl TestServer {
    pub async fn client(&self, token: &str) -> Client {
        Client::connect(&self.endpoint, Some(token)).await.unwrap()
    }

    pub async fn admin(&self) -> Client {
        self.client("dev-admin").await
    }

    /// Stops the server task without a graceful shutdown: no snapshot, the
    /// journal left as it is (every acknowledged record is already synced).
    pub async fn abort(mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
            let _ = h.await;
        }
    }

    /// A graceful stop, returning what the server returned (what its
    /// process's exit status would say).
    pub async fn stop_result(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.handle.take() {
            Some(h) => h.await.unwrap(),
            None => Ok(()),
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

/// `GET path` on the operations port: the status code, the headers (one
/// string) and the body. Plain HTTP/1.1 over a socket, as a probe sends it.
pub async fn ops_get(server: &TestServer, path: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server
        .ops
        .expect("a server started with its operations port");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("the operations port answers within 10 s")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers, then a body");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

pub fn check(order: &str, participant: &str, qty: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        order_id: order.into(),
        participant: participant.into(),
        asset: "ETH".into(),
        quantity: qty.into(),
        ..Default::default()
    }
}

pub fn collateral(participant: &str, qty: &str) -> pb::SyncUpdate {
    pb::SyncUpdate {
        update: Some(pb::sync_update::Update::Collateral(pb::CollateralUpdate {
            participant: participant.into(),
            asset: "ETH".into(),
            quantity: qty.into(),
        })),
    }
}

/// Syncs collateral as the dev broker, at its next sequence.
pub async fn own(server: &TestServer, participant: &str, qty: &str) {
    let broker = server.client("dev-broker").await;
    let seq = broker.sync_state().await.unwrap().last_applied_sequence + 1;
    let acks = broker
        .sync(vec![pb::SyncRequest {
            sequence: seq,
            updates: vec![collateral(participant, qty)],
        }])
        .await
        .unwrap();
    assert_eq!(acks.last().unwrap().applied_sequence, seq);
}

pub async fn set_limit(
    server: &TestServer,
    kind: pb::LimitKind,
    scope: pb::Scope,
    value: &str,
) -> pb::Limit {
    server
        .admin()
        .await
        .set_limit(pb::SetLimitRequest {
            kind: kind.into(),
            scope: Some(scope),
            value: value.into(),
            ..Default::default()
        })
        .await
        .unwrap()
}

pub fn code(e: interlock_client::ClientError) -> tonic::Code {
    match e {
        interlock_client::ClientError::Status(s) => s.code(),
        other => panic!("not a status: {other}"),
    }
}

pub fn message(e: &interlock_client::ClientError) -> String {
    e.to_string()
}
