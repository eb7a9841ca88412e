//! Following a replicated cluster's leader: a client given several
//! endpoints sends to the one it believes leads; when that node says it
//! is not the leader (UNAVAILABLE with the leader's API address in the
//! `interlock-leader` trailer) the client moves there, and when a node does
//! not answer at all it tries the next one, retrying the same request
//! (a check keeps its order id, so a retry can never reserve twice) until
//! an answer or the budget ([`FAILOVER_BUDGET_MS`]) runs out. Every move is
//! recorded ([`crate::Client::failovers`]) and logged.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use tonic::transport::Channel;
use tonic::Code;

use crate::ClientError;

/// How long one call keeps trying other nodes before it gives up with the
/// last error: long enough for an election (under a second) and a
/// leader's restart, short enough for a venue to decide.
pub const FAILOVER_BUDGET_MS: u64 = 5_000;
/// A unary call's deadline on a cluster: a node that hangs (paused, or its
/// host gone) is given up on after this and the next one tried.
pub const CALL_TIMEOUT_MS: u64 = 1_000;
/// How long connecting to one node may take on a cluster.
pub const CONNECT_TIMEOUT_MS: u64 = 500;
/// The trailer a follower names the leader in.
pub const LEADER_TRAILER: &str = "interlock-leader";
/// The most moves remembered for [`crate::Client::failovers`].
pub const FAILOVERS_KEPT: usize = 64;

/// One move from a node to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failover {
    pub from: String,
    pub to: String,
    /// Why: the error the first node gave.
    pub reason: String,
}

/// The cluster's nodes as a client sees them.
#[derive(Debug)]
pub(crate) struct Nodes {
    endpoints: Vec<String>,
    channels: Vec<Channel>,
    current: AtomicUsize,
    budget: Duration,
    moves: Mutex<Vec<Failover>>,
}

impl Nodes {
    pub(crate) fn new(endpoints: Vec<String>, channels: Vec<Channel>) -> Self {
        assert_eq!(endpoints.len(), channels.len());
        assert!(!endpoints.is_empty());
        Nodes {
            endpoints,
            channels,
            current: AtomicUsize::new(0),
            budget: Duration::from_millis(FAILOVER_BUDGET_MS),
            moves: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn channel(&self) -> Channel {
        self.channels[self.current.load(Ordering::Relaxed)].clone()
    }

    pub(crate) fn take_moves(&self) -> Vec<Failover> {
        std::mem::take(&mut *self.moves.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The index of the node an endpoint list names by its API address
    /// ("host:port", as the trailer gives it).
    fn by_address(&self, addr: &str) -> Option<usize> {
        self.endpoints.iter().position(|e| address_of(e) == addr)
    }

    /// Where to go after node `at` gave `e`, if anywhere: the hinted
    /// leader, or the next node. `silent` are the nodes that gave no
    /// answer in this call: a hint to one of them is stale (the followers
    /// have not yet noticed their leader is gone) and is not followed.
    fn after(&self, at: usize, e: &ClientError, silent: &[usize]) -> Option<(usize, bool)> {
        let ClientError::Status(s) = e else {
            return None;
        };
        if !worth_another_node(s) {
            return None;
        }
        let hint = s
            .metadata()
            .get(LEADER_TRAILER)
            .and_then(|v| v.to_str().ok())
            .and_then(|a| self.by_address(a));
        Some(match hint {
            Some(i) if i != at && !silent.contains(&i) => (i, true),
            _ => ((at + 1) % self.endpoints.len(), false),
        })
    }

    /// Runs `op` against the current node, moving and retrying as the
    /// module says.
    pub(crate) async fn call<T, F, Fut>(&self, op: F) -> Result<T, ClientError>
    where
        F: Fn(Channel) -> Fut,
        Fut: std::future::Future<Output = Result<T, ClientError>>,
    {
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut silent = Vec::new();
        loop {
            let at = self.current.load(Ordering::Relaxed);
            let e = match op(self.channels[at].clone()).await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let Some((next, hinted)) = self.after(at, &e, &silent) else {
                return Err(e);
            };
            if !hinted && !silent.contains(&at) && no_answer(&e) {
                silent.push(at);
            }
            if started.elapsed() >= self.budget {
                return Err(e);
            }
            attempt += 1;
            if self
                .current
                .compare_exchange(at, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
                && next != at
            {
                let m = Failover {
                    from: self.endpoints[at].clone(),
                    to: self.endpoints[next].clone(),
                    reason: e.to_string(),
                };
                tracing::info!(from = %m.from, to = %m.to, reason = %m.reason, "moved to another node");
                let mut moves = self.moves.lock().unwrap_or_else(|p| p.into_inner());
                if moves.len() < FAILOVERS_KEPT {
                    moves.push(m);
                }
            }
            // A hint is followed at once; a round of nodes that all fail
            // (an election under way) waits a little longer each time.
            if !hinted {
                let pause = Duration::from_millis(10u64 << attempt.min(4));
                tokio::time::sleep(pause.min(self.budget.saturating_sub(started.elapsed()))).await;
            }
        }
    }
}

/// tonic's status for a connection that broke during a call: UNKNOWN
/// with its transport error ("transport error", or on a stream "h2
/// protocol error: error reading a body from connection"), never a status
/// the server sent, which carries no source error.
fn broken_connection(s: &tonic::Status) -> bool {
    let transport = std::error::Error::source(s).is_some();
    match s.code() {
        Code::Unknown => s.message().starts_with("transport error") || transport,
        // The peer reset the stream or the connection (RST_STREAM or
        // GOAWAY, from a node stopping or dying) without a gRPC status:
        // h2's error, which tonic gives as INTERNAL with the h2 error as
        // its source. A node's own INTERNAL answer has none.
        Code::Internal => transport,
        _ => false,
    }
}

/// An endpoint's "host:port", as a node names an API address (the
/// `interlock-leader` trailer, `GetClusterStatus`).
pub fn address_of(endpoint: &str) -> &str {
    endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
}

/// Whether a call that ended with `s` is worth sending to another node (the
/// same request again: a check keeps its order id). Yes when the node
/// refused it as a follower or during an election, did not answer in time,
/// or its connection broke during the call (it may have applied it); no
/// when it answered.
pub fn worth_another_node(s: &tonic::Status) -> bool {
    match s.code() {
        // A refused or unreachable node, or an election under way.
        Code::Unavailable => true,
        // The node may have applied it: the same request again is safe.
        Code::DeadlineExceeded | Code::Cancelled => true,
        // The connection broke during the call (the node died or stopped).
        Code::Unknown | Code::Internal => broken_connection(s),
        _ => false,
    }
}

/// Did the node fail to answer at all (rather than refuse)?
fn no_answer(e: &ClientError) -> bool {
    match e {
        ClientError::Status(s) => {
            s.metadata().get(LEADER_TRAILER).is_none()
                && (matches!(s.code(), Code::DeadlineExceeded | Code::Cancelled)
                    || broken_connection(s)
                    || s.message().contains("connect"))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Nodes {
        let ch = || tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        Nodes::new(
            vec![
                "http://10.0.0.1:50051".into(),
                "http://10.0.0.2:50051".into(),
                "http://10.0.0.3:50051".into(),
            ],
            vec![ch(), ch(), ch()],
        )
    }

    fn unavailable(hint: Option<&str>) -> ClientError {
        let mut s = tonic::Status::unavailable("not the leader");
        if let Some(h) = hint {
            s.metadata_mut().insert(LEADER_TRAILER, h.parse().unwrap());
        }
        ClientError::Status(s)
    }

    #[tokio::test]
    async fn a_hint_is_followed_and_a_silent_node_skipped() {
        let n = nodes();
        assert_eq!(
            n.after(0, &unavailable(Some("10.0.0.3:50051")), &[]),
            Some((2, true))
        );
        assert_eq!(n.after(0, &unavailable(None), &[]), Some((1, false)));
        assert_eq!(
            n.after(2, &unavailable(Some("10.9.9.9:1")), &[]),
            Some((0, false))
        );
        let broken = ClientError::Status(tonic::Status::unknown("transport error"));
        assert_eq!(
            n.after(1, &broken, &[]),
            Some((2, false)),
            "a broken call moves on"
        );
        // A stream whose connection broke: UNKNOWN with the I/O error as
        // its source; the server's own UNKNOWN has none and is an answer.
        let cut = ClientError::Status(tonic::Status::from_error(Box::new(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "stream closed because of a broken pipe",
        ))));
        assert!(matches!(&cut, ClientError::Status(s) if s.code() == Code::Unknown));
        assert_eq!(n.after(1, &cut, &[]), Some((2, false)));
        let unknown = ClientError::Status(tonic::Status::unknown("the server's own error"));
        assert_eq!(n.after(1, &unknown, &[]), None);
        // A stream reset by a node going away: INTERNAL with h2's error as
        // its source; the node's own INTERNAL answer has none.
        let mut reset = tonic::Status::internal("h2 protocol error: http2 error");
        reset.set_source(std::sync::Arc::new(std::io::Error::other("stream reset")));
        let reset = ClientError::Status(reset);
        assert_eq!(n.after(1, &reset, &[]), Some((2, false)));
        let internal = ClientError::Status(tonic::Status::internal("the server's own error"));
        assert_eq!(n.after(1, &internal, &[]), None);
        let refused = ClientError::Status(tonic::Status::failed_precondition("gap"));
        assert_eq!(n.after(0, &refused, &[]), None, "an answer is not retried");
        // A hint to a node that did not answer is stale: the next one.
        assert_eq!(
            n.after(1, &unavailable(Some("10.0.0.1:50051")), &[0]),
            Some((2, false))
        );
        // Node 1 refuses naming node 3, which answers.
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let r = n
            .call(|_| {
                let k = calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    if k == 0 {
                        Err(unavailable(Some("10.0.0.3:50051")))
                    } else {
                        Ok(k)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(r, 1);
        assert_eq!(n.current.load(Ordering::Relaxed), 2);
        let moves = n.take_moves();
        assert_eq!(moves.len(), 1);
        assert_eq!(moves[0].to, "http://10.0.0.3:50051");
        assert!(n.take_moves().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_ends_the_retries() {
        let n = nodes();
        let e = n
            .call(|_| async { Err::<(), _>(unavailable(None)) })
            .await
            .unwrap_err();
        assert!(matches!(e, ClientError::Status(s) if s.code() == Code::Unavailable));
    }
}
