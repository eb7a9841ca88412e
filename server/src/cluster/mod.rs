//! One node of a replicated cluster: openraft over the replication crate's
//! log and state machine, the cluster port's service and the network to the
//! peers, and what the rest of the server asks of it (propose a command,
//! who leads, where the leader's API is).
//!
//! The write path: the API hands a command to [`Node::propose`]; the leader
//! gathers the commands waiting into one entry ([`propose`]), appends it
//! to its log (one fdatasync per batch of entries, as the journal's group
//! commit), replicates it, and once a majority has it on disk applies it on
//! every node; the answer decided by that apply goes back to the caller.
//! Only a leader that can still commit ever answers: a deposed one's
//! proposals fail, so it acknowledges nothing its successor lacks.

pub mod archive;
pub mod disks;
pub mod membership;
pub mod network;
pub mod propose;
pub mod service;
pub mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use interlock_journal::audit::AuditArchive;
use interlock_journal::{JournalConfig, Storage};
use interlock_ledger::{Applied, Command, LedgerConfig, LedgerError};
use interlock_replication::{ClusterNode, LogStore, NodeId, StateMachine, TypeConfig};
use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::{Raft, ServerState, SnapshotPolicy};
use tonic::metadata::MetadataValue;
use tonic::Status;

/// Rounds of confirming heartbeats a read index may take
/// ([`Node::current`]).
pub const READ_INDEX_ROUNDS: u32 = 5;
/// The trailer naming the leader's API address on a follower's refusal.
pub const LEADER_TRAILER: &str = "interlock-leader";
/// The most nodes a cluster may list.
pub const NODES_MAX: usize = interlock_replication::codec::NODES_MAX;
/// The most entries one AppendEntries carries. openraft gives every
/// AppendEntries the heartbeat interval (T / 5, 30 ms at the default T) to
/// be answered, and sends the same range again after a timeout. Its
/// default, 300 entries, of up to a thousand commands each once commands
/// are batched, is a message of tens of megabytes for a follower that fell
/// behind: more than any follower decodes, writes and syncs in time, again
/// and again. Sixty-four entries are about 80 KB while a follower catches
/// up (entries of ~20 commands at 64 clients) and at most ~2.4 MB (entries
/// of [`propose::ENTRY_WEIGHT_MAX`]). A follower 40,000 entries behind
/// caught up in 2.4 s with 64, 3.6 s with 16 (`bench/cluster_load.sh
/// rejoin 45`, 2026-12-01).
pub const APPEND_ENTRIES_PER_MESSAGE: u64 = 64;
/// How long a stopping leader waits for a follower to have its last entry
/// before it stops without handing over.
pub const HANDOVER_WAIT: Duration = Duration::from_secs(1);

/// The cluster as the flags give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    pub id: NodeId,
    pub nodes: BTreeMap<NodeId, ClusterNode>,
    /// Where this node's cluster port listens.
    pub listen: SocketAddr,
    pub election_timeout: Duration,
    pub snapshot_after_entries: u64,
    /// Entries kept in the log behind a snapshot.
    pub log_kept_after_snapshot: u64,
    /// Mutual TLS between the nodes, when configured.
    pub tls: Option<ClusterTls>,
    /// A new node of a running cluster (`--join`): it waits to be added
    /// rather than proposing `nodes` as the membership of a new cluster.
    pub join: bool,
}

/// This node's certificate and key and the CA of every node's certificate
/// (PEM).
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterTls {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    pub ca: Vec<u8>,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("ClusterTls")
    }
}

impl ClusterTls {
    /// What the cluster port serves with: this node's certificate, and
    /// only clients with a certificate of the CA.
    pub fn server(&self) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&self.cert, &self.key))
            .client_ca_root(tonic::transport::Certificate::from_pem(&self.ca))
    }

    /// What this node presents to its peers, and what it trusts of theirs.
    pub fn client(&self) -> tonic::transport::ClientTlsConfig {
        tonic::transport::ClientTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&self.cert, &self.key))
            .ca_certificate(tonic::transport::Certificate::from_pem(&self.ca))
    }
}

impl ClusterSpec {
    /// From `--node-id`, `--cluster` and the rest; `None` without them.
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Option<ClusterSpec>> {
        let Some(list) = &config.cluster else {
            return Ok(None);
        };
        let id = match (config.node_id, config.node_index) {
            (Some(id), _) => id,
            (None, Some(index)) => index
                .checked_add(1)
                .ok_or_else(|| anyhow::anyhow!("--node-index {index} is too large"))?,
            (None, None) => anyhow::bail!("--cluster needs --node-id (or --node-index)"),
        };
        let nodes = parse_nodes(list).map_err(|e| anyhow::anyhow!("--cluster: {e}"))?;
        let me = nodes
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("--node-id {id} is not in --cluster"))?;
        let listen = match config.cluster_listen {
            Some(a) => a,
            None => me.raft_addr.parse().map_err(|e| {
                anyhow::anyhow!(
                    "node {id}'s cluster address {:?} is not an ip:port to listen on ({e}); give --cluster-listen",
                    me.raft_addr
                )
            })?,
        };
        let tls = match (
            &config.cluster_tls_cert,
            &config.cluster_tls_key,
            &config.cluster_tls_ca,
        ) {
            (Some(cert), Some(key), Some(ca)) => {
                let read = |p: &std::path::PathBuf| {
                    std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
                };
                Some(ClusterTls {
                    cert: read(cert)?,
                    key: read(key)?,
                    ca: read(ca)?,
                })
            }
            _ => None,
        };
        let off_loopback =
            !listen.ip().is_loopback() || nodes.values().any(|n| !on_loopback(&n.raft_addr));
        anyhow::ensure!(
            tls.is_some() || !off_loopback,
            "a cluster address is off loopback: give --cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca (nodes authenticate each other with mutual TLS)"
        );
        Ok(Some(ClusterSpec {
            id,
            nodes,
            listen,
            election_timeout: Duration::from_millis(config.election_timeout_ms),
            snapshot_after_entries: config.snapshot_after_entries,
            log_kept_after_snapshot: config.log_kept_after_snapshot,
            tls,
            join: config.join,
        }))
    }
}

/// Is `addr` an IP address on loopback (a host name never is: it may
/// resolve anywhere)? A cluster with an address that is not runs only with
/// mutual TLS between nodes.
pub fn on_loopback(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback())
}

/// Parses `ID=CLUSTER_ADDR/API_ADDR,...`.
pub fn parse_nodes(s: &str) -> Result<BTreeMap<NodeId, ClusterNode>, String> {
    let mut nodes = BTreeMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addrs) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not ID=CLUSTER_ADDR/API_ADDR"))?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| format!("{id:?} is not a node id (a whole number)"))?;
        if id == 0 {
            return Err("node ids start at 1".into());
        }
        let (raft, api) = addrs
            .split_once('/')
            .ok_or_else(|| format!("{addrs:?} is not CLUSTER_ADDR/API_ADDR"))?;
        for a in [raft, api] {
            if a.is_empty() || a.len() > interlock_replication::codec::ADDRESS_MAX {
                return Err(format!("{a:?} is not an address"));
            }
        }
        let node = ClusterNode::at(raft.trim(), api.trim());
        if nodes.insert(id, node).is_some() {
            return Err(format!("node {id} is listed twice"));
        }
    }
    if nodes.is_empty() {
        return Err("no node listed".into());
    }
    if nodes.len() > NODES_MAX {
        return Err(format!("at most {NODES_MAX} nodes"));
    }
    Ok(nodes)
}

/// A running node.
pub struct Node {
    pub id: NodeId,
    pub raft: Raft<TypeConfig>,
    pub machine: StateMachine,
    log: LogStore,
    proposer: propose::Proposer,
    network: network::Network,
    raft_stopped: std::sync::atomic::AtomicBool,
    /// This node's audit archive (in its data directory).
    pub archive: Arc<AuditArchive>,
    /// Through which seq the archive is known whole ([`archive::Copier`]).
    audit_copied: std::sync::atomic::AtomicU64,
    /// Held by whoever changes the membership from this node (an add, a
    /// removal, disks recorded), so that one change never finds another
    /// under way.
    changing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("id", &self.id).finish()
    }
}

impl Node {
    /// Opens the log and state in `storage` and starts Raft. A new cluster
    /// (every log empty) is founded by its lowest id, which proposes the
    /// membership of `spec`; another node does so only if no leader has
    /// reached it within two election timeouts (they agree on it, and the
    /// first elected leader's wins). A node started with `--join` waits.
    pub async fn start(
        spec: &ClusterSpec,
        storage: Arc<dyn Storage>,
        ledger: LedgerConfig,
        journal: JournalConfig,
        network: network::Network,
    ) -> anyhow::Result<Arc<Node>> {
        let (log, machine) = {
            let (storage, id) = (storage.clone(), spec.id);
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let log = LogStore::open(storage.clone(), journal)?;
                let machine = StateMachine::open_with_log(storage.clone(), ledger, log.clone())?;
                let set = machine.archive_audit_to(AuditArchive::new(storage.clone()));
                assert!(set.is_ok(), "a new machine has no archive yet");
                let membership = log
                    .last_membership()
                    .unwrap_or_else(|| machine.applied_membership().membership().clone());
                if let Some(known) = membership.get_node(&id).and_then(|n| n.disk) {
                    if known != log.disk() {
                        log.close();
                        anyhow::bail!(
                            "{}: this data directory is disk {}, but its own log records node {} as disk {}: its identity file ({}) was replaced or the directory holds another node's files; start this node from its own directory, or remove node {} from the cluster and add this one under a new id",
                            storage.describe("."),
                            disks::text(log.disk()),
                            id,
                            disks::text(known),
                            interlock_replication::log::DISK_FILE,
                            id
                        );
                    }
                }
                Ok((log, machine))
            })
            .await??
        };
        let timeout = spec.election_timeout.as_millis() as u64;
        let config = openraft::Config {
            cluster_name: "interlock".into(),
            // Also every AppendEntries' deadline (openraft's): see
            // APPEND_ENTRIES_PER_MESSAGE. Not longer: openraft checks the
            // election timer on a tick of 1.5 heartbeats, and at T / 3
            // (ticks of 75 ms across a 75 ms random window) the nodes' bids
            // fell on the same ticks and split: the median outage after a
            // leader kill went from 471 to 793 ms (2026-12-01).
            heartbeat_interval: (timeout / 5).max(10),
            max_payload_entries: APPEND_ENTRIES_PER_MESSAGE,
            election_timeout_min: timeout,
            election_timeout_max: timeout + timeout / 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(spec.snapshot_after_entries),
            max_in_snapshot_log_to_keep: spec.log_kept_after_snapshot,
            ..Default::default()
        }
        .validate()?;
        let raft = Raft::new(
            spec.id,
            Arc::new(config),
            network.clone(),
            log.clone(),
            machine.clone(),
        )
        .await?;
        let node = Arc::new(Node {
            id: spec.id,
            proposer: propose::Proposer::start(raft.clone()),
            network,
            raft_stopped: Default::default(),
            archive: Arc::new(AuditArchive::new(storage)),
            audit_copied: Default::default(),
            changing: Default::default(),
            raft,
            machine,
            log,
        });
        if node.raft.is_initialized().await? {
            tracing::info!(
                node = spec.id,
                "rejoining the cluster from the data directory"
            );
        } else if spec.join {
            tracing::info!(
                node = spec.id,
                "a new node of a running cluster: waiting for the leader to add it (interlockctl cluster add)"
            );
        } else if spec.nodes.keys().next() == Some(&spec.id) {
            node.found(spec.nodes.clone()).await;
        } else {
            // openraft bids at once on the node that founds a cluster: when
            // every node founded it, all three bid in the same moment and
            // split the vote (no start elected in term 1), and the timers
            // that followed split it again now and then (terms 5 and 8 in
            // twenty starts, `bench/cluster_load.sh start 20`, 2026-12-01).
            // So the lowest id founds it and the others wait for its
            // leader, founding it themselves only if none has reached them
            // in time.
            let (waiting, nodes) = (node.clone(), spec.nodes.clone());
            let wait = 2 * Duration::from_millis(waiting.raft.config().election_timeout_max);
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                if !waiting.raft.is_initialized().await.unwrap_or(true) {
                    waiting.found(nodes).await;
                }
            });
        }
        Ok(node)
    }

    /// Proposes `nodes` as the membership of a new cluster (and bids).
    async fn found(&self, nodes: BTreeMap<NodeId, ClusterNode>) {
        let n = nodes.len();
        match self.raft.initialize(nodes).await {
            Ok(()) => tracing::info!(node = self.id, nodes = n, "new cluster"),
            // Another node's membership got here first: fine.
            Err(e) => {
                tracing::info!(node = self.id, error = %e, "joining a cluster already started")
            }
        }
    }

    /// Proposes `cmd`; its answer once a majority has it on disk and it is
    /// applied. UNAVAILABLE (with the leader's address) on a follower or a
    /// leader that lost its majority.
    pub async fn propose(&self, cmd: Command) -> Result<Result<Applied, LedgerError>, Status> {
        self.proposer.propose(cmd).await
    }

    /// For a read a risk decision rests on: succeeds only on a leader that
    /// a majority still follows, once everything committed before the call
    /// is applied here (openraft's read index), so the read that follows
    /// sees every change acknowledged before it. A follower answers
    /// UNAVAILABLE naming the leader.
    ///
    /// openraft gives the confirming heartbeats one heartbeat interval
    /// (T / 5) to come back; on a busy machine they can miss it, so an
    /// unconfirmed round is tried again, [`READ_INDEX_ROUNDS`] in all.
    pub async fn current(&self) -> Result<(), Status> {
        let mut round = 1;
        loop {
            match self.raft.ensure_linearizable().await {
                Ok(_) => return Ok(()),
                Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                    return Err(not_leader(f.leader_id, f.leader_node.map(|n| n.api_addr)))
                }
                Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e))) => {
                    if round == READ_INDEX_ROUNDS {
                        return Err(Status::unavailable(format!(
                            "this node could not confirm it still leads ({e}); retry"
                        )));
                    }
                    round += 1;
                }
                Err(RaftError::Fatal(e)) => {
                    return Err(Status::unavailable(format!(
                        "this node's consensus stopped ({e})"
                    )))
                }
            }
        }
    }

    /// Is this node the leader (as far as it knows)?
    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.state == ServerState::Leader && m.current_leader == Some(self.id)
    }

    /// The leader's id and API address, if one is known.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?;
        Some((id, node.api_addr.clone()))
    }

    /// Through which seq this node's audit archive is known whole (every
    /// record from the first present and chained).
    pub fn audit_copied(&self) -> u64 {
        self.audit_copied.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The other nodes of the current membership, the leader first: whom to
    /// ask for audit records.
    fn peers(&self) -> Vec<(NodeId, ClusterNode)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let mut peers: Vec<(NodeId, ClusterNode)> = m
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id != self.id)
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        peers.sort_by_key(|(id, _)| Some(*id) != m.current_leader);
        peers
    }

    /// This node's data directory's identity.
    pub fn disk(&self) -> interlock_replication::DiskId {
        self.log.disk()
    }

    /// The voters of the current membership.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// A leader that is stopping hands over: once a follower has every
    /// entry this node wrote (waiting at most [`HANDOVER_WAIT`]), Raft
    /// stops here (no more heartbeats) and that follower is told to bid as
    /// soon as the lease has run out (`TimeoutNow`), rather than everyone
    /// waiting for a timer: a planned stop costs the lease and one vote,
    /// not the lease, a random timeout and the vote. Call it once changes
    /// are no longer taken; on a follower it only stops Raft.
    pub async fn hand_over(&self) {
        let successor = if self.is_leader() {
            self.caught_up_follower().await
        } else {
            None
        };
        let term = self.raft.metrics().borrow().current_term;
        self.stop_raft().await;
        let Some((id, node)) = successor else {
            return;
        };
        match self.network.timeout_now(&node, self.id, term).await {
            Ok(true) => tracing::info!(node = id, term, "handed over to node {id}"),
            Ok(false) => tracing::warn!(node = id, term, "node {id} declined the handover"),
            Err(e) => tracing::warn!(node = id, error = %e, "could not hand over to node {id}"),
        }
    }

    /// A follower whose log matches this leader's last entry.
    async fn caught_up_follower(&self) -> Option<(NodeId, ClusterNode)> {
        let mut metrics = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + HANDOVER_WAIT;
        loop {
            let found = {
                let m = metrics.borrow_and_update();
                let last = m.last_log_index;
                m.replication.as_ref().and_then(|r| {
                    r.iter()
                        .filter(|(id, _)| **id != self.id)
                        .find(|(_, matched)| matched.map(|l| l.index) == last)
                        .and_then(|(id, _)| {
                            let node = m.membership_config.membership().get_node(id)?;
                            Some((*id, node.clone()))
                        })
                })
            };
            if found.is_some() {
                return found;
            }
            if tokio::time::timeout_at(deadline, metrics.changed())
                .await
                .map_or(true, |r| r.is_err())
            {
                tracing::warn!("no follower caught up in time: stopping without a handover");
                return None;
            }
        }
    }

    /// Stops Raft (once).
    async fn stop_raft(&self) {
        if self
            .raft_stopped
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not stop cleanly");
        }
    }

    /// Stops Raft and the log's writer.
    pub async fn shutdown(&self) {
        self.stop_raft().await;
        let log = self.log.clone();
        let _ = tokio::task::spawn_blocking(move || log.close()).await;
    }
}

/// Serves the cluster port until `shutdown`. With `spec.tls` only the
/// other nodes of `spec` may call it (see [`peers_only`]).
pub async fn serve(
    node: Arc<Node>,
    spec: &ClusterSpec,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let raft =
        interlock::cluster::v1::raft_service_server::RaftServiceServer::new(service::RaftApi {
            raft: node.raft.clone(),
            ledger: node.machine.ledger().clone(),
            archive: node.archive.clone(),
            disk: node.disk(),
        })
        .max_decoding_message_size(CLUSTER_MESSAGE_MAX)
        .max_encoding_message_size(CLUSTER_MESSAGE_MAX);
    let mut builder = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .initial_stream_window_size(CLUSTER_WINDOW)
        .initial_connection_window_size(CLUSTER_WINDOW);
    if let Some(tls) = &spec.tls {
        builder = builder.tls_config(tls.server())?;
    }
    builder
        .add_service(tonic::service::interceptor::InterceptedService::new(
            raft,
            peers_only(spec, node.raft.clone(), node.disk()),
        ))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Admits a caller of the cluster port: with mutual TLS, only a verified
/// certificate naming `spiffe://interlock/node/<id>` for another node of
/// the cluster (a venue's certificate from the same CA, or a node's of
/// another cluster, is refused before any message is read); without TLS
/// (every address on loopback, checked at start) anyone on this machine.
/// The cluster is the current membership (nodes added and removed
/// since start included); before this node has one (a new node waiting
/// to be added), the nodes of `--cluster`. Either way, a request that
/// knows this node by another disk than `disk` is refused
/// ([`disks::check`]; said once in this node's log).
pub fn peers_only(
    spec: &ClusterSpec,
    raft: Raft<TypeConfig>,
    disk: interlock_replication::DiskId,
) -> impl Fn(tonic::Request<()>) -> Result<tonic::Request<()>, Status> + Clone {
    let tls = spec.tls.is_some();
    let me = spec.id;
    let said = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let not_replaced = move |req: &tonic::Request<()>| {
        disks::check(req.metadata(), me, disk).inspect_err(|s| {
            if !said.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::error!("{}", s.message());
            }
        })
    };
    let listed: BTreeSet<NodeId> = spec.nodes.keys().copied().collect();
    let is_peer = move |id: NodeId| {
        if id == me {
            return false;
        }
        let m = raft.metrics();
        let m = m.borrow();
        if m.membership_config.log_id().is_some() {
            m.membership_config.membership().get_node(&id).is_some()
        } else {
            listed.contains(&id)
        }
    };
    move |req: tonic::Request<()>| {
        if !tls {
            not_replaced(&req)?;
            return Ok(req);
        }
        let certs = req.peer_certs().filter(|c| !c.is_empty()).ok_or_else(|| {
            Status::unauthenticated("the cluster port needs a node's certificate")
        })?;
        let p = crate::auth::cert_principal(&certs[0])?;
        if p.role != crate::auth::Role::Node {
            return Err(crate::auth::needs(crate::auth::Role::Node));
        }
        match p.id.parse::<NodeId>() {
            Ok(id) if is_peer(id) => {
                not_replaced(&req)?;
                Ok(req)
            }
            _ => Err(Status::permission_denied(format!(
                "node {:?} is not another node of this cluster",
                p.id
            ))),
        }
    }
}

/// HTTP/2 flow-control window of the cluster port's streams and
/// connections, both ways. At h2's default (64 KB) an AppendEntries
/// larger than the window waited on the follower's window updates, and
/// about one in twenty missed openraft's 30 ms deadline and was sent
/// again: five a second to live followers in ten minutes of steady load,
/// two dozen a second to a follower catching up, which then took the log
/// at 6,000 entries a second; 18,000 with this window
/// (`bench/cluster_load.sh rejoin 45`, 2026-12-01).
pub const CLUSTER_WINDOW: u32 = 8 * 1024 * 1024;

/// The largest message between nodes (a batch of entries or a snapshot
/// chunk; openraft's chunks are 3 MiB).
pub const CLUSTER_MESSAGE_MAX: usize = 256 * 1024 * 1024;

/// What leading takes, until `stop`: health is SERVING only while this node
/// leads, and each time it becomes leader it proposes its settings (so a
/// replay judges every later command under the settings it was judged
/// under, as a single node does at start) and a tick (reservations that
/// expired while no one led are released). Every node of a cluster should
/// run with the same settings.
#[allow(clippy::too_many_arguments)]
pub async fn lead(
    node: Arc<Node>,
    health: tonic_health::server::HealthReporter,
    services: [&'static str; 3],
    ledger: LedgerConfig,
    prices: interlock_ledger::PriceRules,
    clock: crate::clock::Clock,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use tonic_health::ServingStatus;
    let mut metrics = node.raft.metrics();
    let mut led_term: Option<u64> = None;
    let mut serving: Option<bool> = None;
    loop {
        let (leading, term) = {
            let m = metrics.borrow_and_update();
            (
                m.state == ServerState::Leader && m.current_leader == Some(node.id),
                m.current_term,
            )
        };
        if serving != Some(leading) {
            serving = Some(leading);
            let status = if leading {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            for name in services {
                health.set_service_status(name, status).await;
            }
            tracing::info!(node = node.id, term, leading, "cluster role changed");
        }
        if !leading {
            led_term = None;
        } else if led_term != Some(term) {
            led_term = Some(term);
            // On a task of its own: the health above must follow every
            // change of role, even while a proposal waits for a majority.
            let node = node.clone();
            let now = clock.now_ms();
            let settings = [
                Command::Configure {
                    at_ms: now,
                    config: ledger.clone(),
                },
                Command::ConfigurePrices {
                    at_ms: now,
                    rules: prices.clone(),
                },
                Command::Tick { at_ms: now },
            ];
            tokio::spawn(async move {
                for cmd in settings {
                    match node.propose(cmd).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "the ledger refused this leader's settings")
                        }
                        Err(e) => {
                            tracing::warn!(error = %e.message(), "this leader's settings were not committed");
                            break;
                        }
                    }
                }
            });
        }
        tokio::select! {
            changed = metrics.changed() => if changed.is_err() { return },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The response headers saying what a node's answer is worth: its role,
/// the last entry it applied, and `interlock-stale: true` when it knows no
/// leader (alone, or during an election), so its reads may be behind by
/// anything the others committed since.
pub const ROLE_HEADER: &str = "interlock-node-role";
pub const APPLIED_HEADER: &str = "interlock-applied-index";
pub const STALE_HEADER: &str = "interlock-stale";

impl Node {
    /// Adds [`ROLE_HEADER`], [`APPLIED_HEADER`] and (when so)
    /// [`STALE_HEADER`] to an answer of the API port.
    pub fn stamp(
        &self,
        mut resp: http::Response<tonic::body::Body>,
    ) -> http::Response<tonic::body::Body> {
        let (role, applied, leader) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.state, m.last_applied.map(|l| l.index), m.current_leader)
        };
        let role = match role {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        let headers = resp.headers_mut();
        headers.insert(ROLE_HEADER, http::HeaderValue::from_static(role));
        if let Some(i) = applied {
            headers.insert(APPLIED_HEADER, http::HeaderValue::from(i));
        }
        if leader.is_none() {
            headers.insert(STALE_HEADER, http::HeaderValue::from_static("true"));
        }
        resp
    }
}

/// Resolves once `node` no longer leads (never for a single node, `None`).
pub async fn until_not_leading(node: Option<&Node>) {
    let Some(node) = node else {
        return std::future::pending().await;
    };
    let mut metrics = node.raft.metrics();
    while node.is_leader() {
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// A follower's (or leaderless node's) refusal of a change.
pub fn not_leader(leader: Option<NodeId>, api_addr: Option<String>) -> Status {
    let msg = match (&leader, &api_addr) {
        (Some(id), Some(addr)) => format!(
            "this node is not the leader: node {id} is, at {addr}; retry there with the same order id"
        ),
        _ => "this node is not the leader and no leader is known yet (an election is under way); retry with the same order id".to_owned(),
    };
    let mut status = Status::unavailable(msg);
    if let Some(v) = api_addr.and_then(|a| MetadataValue::try_from(a).ok()) {
        status.metadata_mut().insert(LEADER_TRAILER, v);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_list_parses_and_refuses_mistakes() {
        let nodes = parse_nodes("1=127.0.0.1:7401/127.0.0.1:50051, 2=h2:7401/h2:50051").unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[&2].api_addr, "h2:50051");
        for bad in [
            "",
            "1=a:1",
            "x=a:1/b:2",
            "0=a:1/b:2",
            "1=a:1/b:2,1=c:1/d:2",
            "1=/b:2",
        ] {
            assert!(parse_nodes(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_node_id_comes_from_the_id_or_the_index_and_is_required() {
        use clap::Parser;
        let list = "1=127.0.0.1:7401/127.0.0.1:50051,2=127.0.0.1:7402/127.0.0.1:50052";
        let spec = |args: &[&str]| {
            let mut all = vec!["interlock-server", "--dev", "--cluster", list];
            all.extend(args);
            ClusterSpec::from_config(&crate::config::Config::parse_from(all))
        };
        assert_eq!(spec(&["--node-id", "2"]).unwrap().unwrap().id, 2);
        assert_eq!(spec(&["--node-index", "0"]).unwrap().unwrap().id, 1);
        let e = spec(&[]).unwrap_err().to_string();
        assert!(e.contains("--node-id"), "{e}");
        let e = spec(&["--node-index", "2"]).unwrap_err().to_string();
        assert!(e.contains("not in --cluster"), "{e}");
        assert!(crate::config::Config::try_parse_from([
            "interlock-server",
            "--cluster",
            list,
            "--node-id",
            "1",
            "--node-index",
            "0"
        ])
        .is_err());
    }

    #[test]
    fn a_refusal_names_the_leader_in_its_trailer() {
        let s = not_leader(Some(2), Some("10.0.0.2:50051".into()));
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert_eq!(
            s.metadata().get(LEADER_TRAILER).unwrap().to_str().unwrap(),
            "10.0.0.2:50051"
        );
        assert!(s.message().contains("node 2"));
        let s = not_leader(None, None);
        assert!(s.metadata().get(LEADER_TRAILER).is_none());
    }
}
