//! Command-line definitions (clap); [`run`] carries them out.

use clap::{Parser, Subcommand, ValueEnum};
use interlock_client::pb;

/// interlockctl: talk to an Interlock server as an admin, a venue, a broker or an oracle.
///
/// Interlock stops one participant from pledging the same collateral on
/// several venues at once. Admins set limits, halt participants and watch
/// exposure; venues check, commit and release; brokers sync positions.
///
/// Try it: start `interlock-server --dev`, then run `interlockctl demo`.
#[derive(Debug, Parser)]
#[command(name = "interlockctl", version, about, long_about)]
pub struct Cli {
    /// Server address; for a replicated cluster, its nodes' addresses
    /// separated by commas: checks, commits, releases and the admin's
    /// changes then follow the leader (and say so on stderr when they move).
    #[arg(
        long,
        global = true,
        env = "INTERLOCK_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    pub endpoint: String,

    /// Bearer token of the principal you act as (dev mode: dev-admin,
    /// dev-broker, dev-oracle, dev-venue-a, dev-venue-b, dev-venue-c).
    #[arg(long, global = true, env = "INTERLOCK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Print JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,

    /// CA certificate that signed the server's certificate (PEM). Turns on
    /// TLS: use an https:// endpoint.
    #[arg(long, global = true, env = "INTERLOCK_CA")]
    pub ca: Option<std::path::PathBuf>,

    /// Your client certificate (PEM), for mutual TLS: the server takes your
    /// identity from it (`interlockctl certs init` makes a dev set).
    #[arg(long, global = true, env = "INTERLOCK_CERT", requires = "key")]
    pub cert: Option<std::path::PathBuf>,

    /// The private key of --cert (PEM).
    #[arg(long, global = true, env = "INTERLOCK_KEY", requires = "cert")]
    pub key: Option<std::path::PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// (venue) Ask whether a participant may commit more of an asset here, and reserve it.
    Check {
        #[arg(long)]
        participant: String,
        #[arg(long)]
        asset: String,
        /// Decimal quantity, e.g. 100 or 0.5.
        #[arg(long)]
        quantity: String,
        /// Your order id (the idempotency key); default: a fresh one.
        #[arg(long)]
        order_id: Option<String>,
        /// Reservation lifetime in ms (server default if omitted).
        #[arg(long)]
        ttl_ms: Option<u64>,
        /// The order reduces exposure (passes in REDUCE_ONLY, needs no headroom).
        #[arg(long)]
        risk_reducing: bool,
        /// Judge only: reserve nothing.
        #[arg(long)]
        dry_run: bool,
        /// Approve the part that fits instead of rejecting.
        #[arg(long)]
        allow_partial: bool,
        /// The debt the order creates, in the numeraire, if known (the
        /// value limits read it; omitted: quantity × price × the venue's
        /// LTV).
        #[arg(long)]
        liability: Option<String>,
    },
    /// (venue) Turn a reservation into a posted commitment.
    Commit { reservation_id: String },
    /// (venue) Free a reservation's headroom.
    Release { reservation_id: String },
    /// (broker) Stream a CSV or JSON file of absolute positions to the server.
    ///
    /// CSV lines: `collateral,PARTICIPANT,ASSET,QUANTITY` or
    /// `commitment,PARTICIPANT,VENUE,ASSET,QUANTITY[,COVERS_COMMIT_SEQ]` or
    /// `liability,PARTICIPANT,VENUE,ASSET,QUANTITY` (owed to the venue, in
    /// the asset; the venue must be configured first, by
    /// `venue set` or `venue rule`; `#` starts a comment). JSON: an array of objects with
    /// "type" ("collateral", "commitment" or "liability") and the same
    /// fields in lower case.
    Sync {
        file: std::path::PathBuf,
        /// Updates per sync message (at most 1000).
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Prices: `price publish` (oracle) quotes, `price list` (admin,
    /// auditor) every classed asset's price and state.
    #[command(subcommand)]
    Price(crate::value::PriceCommand),
    /// (admin) Assets: `asset set` a class and a haircut, `asset list`.
    #[command(subcommand)]
    Asset(crate::value::AssetCommand),
    /// (admin) Venues: `venue set` an asset's threshold and LTV, `venue
    /// rule` how it liquidates, `venue list`.
    #[command(subcommand)]
    Venue(crate::value::VenueCommand),
    /// (admin) Set the standard shock of an asset class: the fall that
    /// STRESS_HF_ECO limits judge under, e.g. `stress-shock MAJOR -0.35`.
    StressShock {
        #[arg(value_parser = ["STABLE", "MAJOR", "ALT"], ignore_case = true)]
        class: String,
        /// A share in [-1, 0]: -0.35 is a 35% fall.
        #[arg(allow_hyphen_values = true)]
        shock: String,
        /// Why: required to make a shock milder past the loosening step.
        /// Audited.
        #[arg(long, default_value = "")]
        force_reason: String,
    },
    /// (admin, auditor) Every price moved once by a scenario: who breaches
    /// on which venues, what each venue's rule does, forced sales, and who
    /// is under water while every venue still sees them healthy.
    Stress(crate::systemic::StressArgs),
    /// (admin, auditor) Shock, liquidate by each venue's rule, sell into a
    /// market of given depth, re-price, until nothing more breaks: a table
    /// per round, amplification, contagion victims and a price chart.
    Cascade(crate::systemic::CascadeArgs),
    /// (admin, auditor) The named scenarios stress, cascade and systemic
    /// take; `scenarios set` / `delete` (admin) edit the library.
    Scenarios {
        #[command(subcommand)]
        command: Option<crate::systemic::ScenarioCommand>,
    },
    /// (admin) Opt a participant into REDUCE_ONLY whenever the scheduled
    /// stress (--stress-scenario) finds it breaching on N venues or more at
    /// once; --off opts it out. Audited, and so is each switch it makes.
    StressGuard {
        participant: String,
        /// N: the breached venues that switch it to reduce-only.
        #[arg(long, required_unless_present = "off", conflicts_with = "off")]
        min_venues: Option<u32>,
        #[arg(long)]
        off: bool,
    },
    /// (admin, auditor) Who matters most: for the top participants, the
    /// debt everyone else would close in the cascade because of them (each
    /// left out in turn), with a progress bar; Cover-1/Cover-2 per venue.
    Systemic(crate::systemic::SystemicArgs),
    /// (venue: its own, in aggregates over at least k participants; admin,
    /// auditor: any, or every venue without one) How much of a venue's
    /// collateral is over-pledged elsewhere, and on how many other venues.
    VenueReport { venue: Option<String> },
    /// (admin) Limits: set, delete, list.
    #[command(subcommand)]
    Limit(LimitCommand),
    /// (admin) Halt a participant on every venue: every check is rejected and open reservations are released.
    Halt {
        participant: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// (admin) Only risk-reducing checks pass for this participant, on every venue.
    ReduceOnly {
        participant: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// (admin) Return a participant to ACTIVE.
    Resume {
        participant: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// (admin) A participant's exposure across venues, per asset.
    Exposure { participant: String },
    /// (admin) The most utilized participants, or (--by hf) the weakest
    /// HF^eco first.
    Top {
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// Rank by utilization of the cross-venue limits, or by HF^eco.
        #[arg(long, value_enum, default_value_t = TopBy::Utilization)]
        by: TopBy,
    },
    /// (admin) Stream alerts as they happen. On a cluster the stream
    /// follows a new leader and resumes after the last alert shown.
    Watch {
        /// Stop after this many alerts.
        #[arg(long)]
        count: Option<u64>,
    },
    /// (admin, auditor) The audit log: every admin change and every
    /// refused call, hash-chained. `audit verify` checks the chain.
    Audit {
        #[command(subcommand)]
        command: Option<AuditCommand>,
        /// Only records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Is the server serving? (no token needed). `health P` (admin,
    /// auditor): P's health across venues.
    ///
    /// With a participant: HF^claim (what each venue sees), HF^true (if
    /// every venue called at once) and HF^eco (Interlock's: collateral
    /// after haircuts over all debt), HF^eco under the standard shock,
    /// liquidation prices, the distance to default and what drives it.
    Health { participant: Option<String> },
    /// Load-test pre-trade checks (as a venue; --token defaults to
    /// dev-venue-a) and print throughput, latency and server CPU per request.
    /// Point it at a server on this machine you may load.
    Bench(crate::bench::BenchArgs),
    /// Create a development PKI for mutual TLS: a CA, a server certificate
    /// and one client certificate per principal (no server needed).
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// (admin, auditor) A replicated cluster as the node at --endpoint sees
    /// it: its role and term, the leader, log and applied positions, and
    /// (asked of the leader) how far behind each node is; (admin) add and
    /// remove nodes.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Tell the Interlock story against a --dev server, with its demo tokens.
    Demo {
        /// Participant id to use (default: a fresh one).
        #[arg(long)]
        participant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Role, term, leader, positions and each node's lag.
    Status,
    /// (admin) Add a node. Start it first with `--join` (and --node-id,
    /// and --cluster listing the running nodes and itself). The leader adds
    /// it as a learner, sends it the log until it has caught up (at most a
    /// minute; asking again continues), then makes it a voter. Give every
    /// node's endpoint with --endpoint A,B,C so the call finds the leader.
    Add {
        /// The new node's id (its --node-id).
        #[arg(long)]
        node_id: u64,
        /// Where the other nodes reach its cluster port (HOST:PORT).
        #[arg(long)]
        cluster_addr: String,
        /// Where clients reach its API (HOST:PORT).
        #[arg(long)]
        api_addr: String,
    },
    /// (admin) Remove a node, a voter or a learner; then stop its process.
    /// Not the leader: stop the leader with SIGTERM (it hands over to a
    /// follower), then remove it through the new one.
    Remove {
        /// The node's id.
        #[arg(long)]
        node_id: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Read the whole audit log and check its hash chain; exits 1 naming
    /// the first record that does not fit.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Write ca.pem, server.pem/.key, <role>-<id>.pem/.key and
    /// node-<id>.pem/.key into DIR.
    ///
    /// Then: interlock-server --tls-cert DIR/server.pem --tls-key
    /// DIR/server.key --tls-client-ca DIR/ca.pem, and interlockctl
    /// --endpoint https://127.0.0.1:50051 --ca DIR/ca.pem --cert
    /// DIR/admin-admin.pem --key DIR/admin-admin.key ... A cluster's node 1
    /// adds --cluster-tls-cert DIR/node-1.pem --cluster-tls-key
    /// DIR/node-1.key --cluster-tls-ca DIR/ca.pem.
    Init {
        dir: std::path::PathBuf,
        /// Venue ids (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "venue-a,venue-b,venue-c")]
        venues: Vec<String>,
        /// Broker ids.
        #[arg(long, value_delimiter = ',', default_value = "prime-1")]
        brokers: Vec<String>,
        /// Oracle (price source) ids.
        #[arg(long, value_delimiter = ',', default_value = "oracle-1")]
        oracles: Vec<String>,
        /// Admin ids.
        #[arg(long, value_delimiter = ',', default_value = "admin")]
        admins: Vec<String>,
        /// Read-only auditor ids.
        #[arg(long, value_delimiter = ',', default_value = "auditor")]
        auditors: Vec<String>,
        /// Node ids of a cluster (--node-id), each with a certificate for
        /// the cluster port.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        nodes: Vec<String>,
        /// Names and addresses the server's and nodes' certificates are
        /// valid for.
        #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1")]
        hosts: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopBy {
    /// Utilization of the cross-venue limits, highest first.
    Utilization,
    /// HF^eco, weakest first.
    Hf,
    /// Shortfall under the last scheduled stress (--stress-scenario),
    /// worst first.
    Stress,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    /// Σ commitments of an asset ≤ value × collateral owned (value is a ratio).
    ReuseRatio,
    /// A participant's commitments of an asset (optionally on one venue) ≤ value.
    MaxCommitment,
    /// Ecosystem-wide commitments of an asset ≤ value.
    AssetCap,
    /// A single check's quantity ≤ value.
    MaxOrderQuantity,
    /// HF^eco after the check ≥ value (a ratio, e.g. 1.1; participant
    /// scope optional). Needs fresh prices.
    MinHfEco,
    /// HF^eco under the standard shock vector after the check ≥ value.
    StressHfEco,
    /// Ecosystem-wide committed value of an asset ≤ value (numeraire).
    ValueCap,
}

impl From<Kind> for pb::LimitKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::ReuseRatio => pb::LimitKind::ReuseRatio,
            Kind::MaxCommitment => pb::LimitKind::MaxCommitment,
            Kind::AssetCap => pb::LimitKind::AssetCap,
            Kind::MaxOrderQuantity => pb::LimitKind::MaxOrderQuantity,
            Kind::MinHfEco => pb::LimitKind::MinHfEco,
            Kind::StressHfEco => pb::LimitKind::StressHfEco,
            Kind::ValueCap => pb::LimitKind::ValueCap,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum LimitCommand {
    /// Create or update the limit of a kind and scope (empty scope = ecosystem).
    Set {
        #[arg(long, value_enum)]
        kind: Kind,
        #[arg(long)]
        value: String,
        #[arg(long)]
        participant: Option<String>,
        #[arg(long)]
        venue: Option<String>,
        #[arg(long)]
        asset: Option<String>,
        /// Warning levels in percent, comma-separated (e.g. 80,90).
        #[arg(long, value_delimiter = ',')]
        warn: Vec<String>,
        /// Only write if the limit is at this version (0: only if it does
        /// not exist yet). A mismatch fails with FAILED_PRECONDITION.
        #[arg(long)]
        expected_version: Option<u64>,
        /// Raising a limit by more than the server's step (default 50%) is
        /// refused unless forced with a reason; the audit log flags it.
        #[arg(long, value_name = "REASON")]
        force: Option<String>,
    },
    /// Delete a limit by id.
    /// Delete a limit by id. Deleting loosens the limit entirely, so it
    /// needs --force with a reason (recorded in the audit log).
    Delete {
        id: String,
        #[arg(long, value_name = "REASON")]
        force: Option<String>,
    },
    /// List every limit.
    List,
}

mod run;
pub use run::{print_json, run};
