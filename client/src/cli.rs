//! Command-line definitions and dispatch.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use interlock_client::{cluster_pb, pb, Client};

use crate::output::{self, table};

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

fn fresh_id(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{nanos:x}")
}

pub(crate) fn print_json(v: &serde_json::Value) {
    outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Certs {
        command:
            CertsCommand::Init {
                dir,
                venues,
                brokers,
                oracles,
                admins,
                auditors,
                nodes,
                hosts,
            },
    } = &cli.command
    {
        let eco = interlock_client::pki::Ecosystem {
            venues: venues.clone(),
            brokers: brokers.clone(),
            oracles: oracles.clone(),
            admins: admins.clone(),
            auditors: auditors.clone(),
            nodes: nodes.clone(),
            hosts: hosts.clone(),
        };
        let written = interlock_client::pki::write_dev_pki(dir, &eco)?;
        if cli.json {
            print_json(&serde_json::json!({ "written": written }));
        } else {
            for w in &written {
                outln!("wrote {}", w.display());
            }
            outln!(
                "(private keys are mode 0600; the CA key is not kept: re-run to make a new set)"
            );
        }
        return Ok(());
    }
    let tls = match &cli.ca {
        Some(ca) => {
            let pair = cli.cert.as_deref().zip(cli.key.as_deref());
            Some(interlock_client::TlsOptions::from_files(ca, pair)?)
        }
        None => None,
    };
    if let Command::Health { participant: None } = cli.command {
        return health(&cli.endpoint, tls.as_ref(), cli.json).await;
    }
    if let Command::Bench(args) = &cli.command {
        let token = cli.token.as_deref().or(if cli.cert.is_some() {
            None
        } else {
            Some("dev-venue-a")
        });
        let r = crate::bench::run(&cli.endpoint, tls.as_ref(), token, args).await?;
        if cli.json {
            print_json(&serde_json::to_value(&r)?);
        } else {
            crate::bench::print(&r);
        }
        return Ok(());
    }
    let endpoints: Vec<String> = cli
        .endpoint
        .split(',')
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect();
    let client = if endpoints.len() > 1 {
        Client::connect_cluster(&endpoints, tls.as_ref(), cli.token.as_deref())?
    } else {
        Client::connect_with(&cli.endpoint, tls.as_ref(), cli.token.as_deref()).await?
    };
    let result = command(cli, &client).await;
    for m in client.failovers() {
        eprintln!("note: moved from {} to {} ({})", m.from, m.to, m.reason);
    }
    result
}

async fn command(cli: Cli, client: &Client) -> anyhow::Result<()> {
    let client = client.clone();
    let json = cli.json;
    match cli.command {
        Command::Check {
            participant,
            asset,
            quantity,
            order_id,
            ttl_ms,
            risk_reducing,
            dry_run,
            allow_partial,
            liability,
        } => {
            let r = client
                .check(pb::CheckRequest {
                    order_id: order_id.unwrap_or_else(|| fresh_id("cli")),
                    participant,
                    asset,
                    quantity,
                    ttl_ms: ttl_ms.unwrap_or(0),
                    risk_reducing,
                    dry_run,
                    allow_partial,
                    liability: liability.unwrap_or_default(),
                })
                .await?;
            if json {
                print_json(&output::check_json(&r));
            } else {
                outln!("{}", output::check_text(&r));
            }
        }
        Command::Commit { reservation_id } => {
            let r = client.commit(&reservation_id).await?;
            if json {
                print_json(
                    &serde_json::json!({"reservation_id": r.reservation_id, "state": r.state().as_str_name(), "commit_seq": r.commit_seq}),
                );
            } else {
                outln!(
                    "{} committed (commit_seq {}: give it to your broker)",
                    r.reservation_id,
                    r.commit_seq
                );
            }
        }
        Command::Release { reservation_id } => {
            let r = client.release(&reservation_id).await?;
            let state = r
                .state()
                .as_str_name()
                .trim_start_matches("RESERVATION_STATE_");
            if json {
                print_json(
                    &serde_json::json!({"reservation_id": r.reservation_id, "state": state}),
                );
            } else {
                outln!("{} {}", r.reservation_id, state.to_lowercase());
            }
        }
        Command::Sync { file, batch } => crate::syncfile::run(&client, &file, batch, json).await?,
        Command::Limit(cmd) => limit(&client, cmd, json).await?,
        Command::Halt {
            participant,
            reason,
        } => {
            trading(
                &client,
                &participant,
                pb::TradingState::Halted,
                &reason,
                json,
            )
            .await?
        }
        Command::ReduceOnly {
            participant,
            reason,
        } => {
            trading(
                &client,
                &participant,
                pb::TradingState::ReduceOnly,
                &reason,
                json,
            )
            .await?
        }
        Command::Resume {
            participant,
            reason,
        } => {
            trading(
                &client,
                &participant,
                pb::TradingState::Active,
                &reason,
                json,
            )
            .await?
        }
        Command::Stress(args) => crate::systemic::stress(&client, args, json).await?,
        Command::Cascade(args) => crate::systemic::cascade(&client, args, json).await?,
        Command::Scenarios { command } => {
            crate::systemic::scenario_command(&client, command, json).await?
        }
        Command::Systemic(args) => crate::systemic::systemic(&client, args, json).await?,
        Command::StressGuard {
            participant,
            min_venues,
            off,
        } => {
            let n = if off { 0 } else { min_venues.unwrap_or(0) };
            anyhow::ensure!(off || n > 0, "--min-venues must be at least 1 (or --off)");
            let r = client.set_stress_guard(&participant, n).await?;
            let show = |n: u32| {
                if n == 0 {
                    "-".to_owned()
                } else {
                    format!("reduce-only at {n} venues")
                }
            };
            if json {
                print_json(&serde_json::json!({"participant": participant,
                    "min_venues": n, "previous": r.previous, "version": r.version}));
            } else {
                outln!(
                    "{participant}: {} -> {} (version {})",
                    show(r.previous),
                    show(n),
                    r.version
                );
            }
        }
        Command::VenueReport { venue } => {
            crate::systemic::venue_report(&client, venue, json).await?
        }
        Command::Price(cmd) => crate::value::price(&client, cmd, json).await?,
        Command::Asset(cmd) => crate::value::asset(&client, cmd, json).await?,
        Command::Venue(cmd) => crate::value::venue(&client, cmd, json).await?,
        Command::Health {
            participant: Some(participant),
        } => crate::value::participant_health(&client, &participant, json).await?,
        Command::StressShock {
            class,
            shock,
            force_reason,
        } => {
            let class = crate::value::class_arg(&class);
            let r = client
                .set_stress_shock(class, &shock, &force_reason)
                .await?;
            let name = output::class_name(class);
            if json {
                print_json(
                    &serde_json::json!({"class": name, "shock": shock, "previous": r.previous}),
                );
            } else {
                outln!("{name}: stress shock {} -> {shock}", r.previous);
            }
        }
        Command::Cluster { command } => match command {
            ClusterCommand::Status => print_cluster_status(&client.cluster_status().await?, json),
            ClusterCommand::Add {
                node_id,
                cluster_addr,
                api_addr,
            } => {
                let r = client.add_node(node_id, &cluster_addr, &api_addr).await?;
                if !json {
                    outln!("node {node_id} added as a voter");
                }
                if let Some(s) = r.status {
                    print_cluster_status(&s, json);
                }
            }
            ClusterCommand::Remove { node_id } => {
                let r = client.remove_node(node_id).await?;
                if !json {
                    outln!("node {node_id} removed: stop its process");
                }
                if let Some(s) = r.status {
                    print_cluster_status(&s, json);
                }
            }
        },
        Command::Exposure { participant } => {
            let e = client.exposure(&participant).await?;
            if json {
                print_json(&output::exposure_json(&e));
            } else {
                output::exposure_text(&e);
            }
        }
        Command::Top {
            limit,
            by: TopBy::Stress,
        } => {
            let r = client.top_by_stress(limit).await?;
            if json {
                print_json(&serde_json::to_value(&r.by_stress)?);
            } else {
                outln!(
                    "under {} (the scheduled stress of the ledger at {} ms)",
                    r.stress_scenario,
                    r.stress_at_ms
                );
                let rows: Vec<Vec<String>> = r
                    .by_stress
                    .iter()
                    .map(|x| {
                        vec![
                            x.participant.clone(),
                            x.shortfall.clone(),
                            if x.hf_eco_after.is_empty() {
                                "no debt".to_owned()
                            } else {
                                x.hf_eco_after.clone()
                            },
                            if x.breached_on.is_empty() {
                                "-".to_owned()
                            } else {
                                x.breached_on.join(",")
                            },
                        ]
                    })
                    .collect();
                table(
                    &["PARTICIPANT", "SHORTFALL", "HF^ECO", "BREACHED ON"],
                    &rows,
                );
            }
        }
        Command::Top {
            limit,
            by: TopBy::Hf,
        } => {
            let ranks = client.top_by_hf(limit).await?;
            if json {
                print_json(&output::top_hf_json(&ranks));
            } else {
                output::top_hf_table(&ranks);
            }
        }
        Command::Top { limit, .. } => {
            let entries = client.top(limit).await?;
            if json {
                print_json(&output::top_json(&entries));
            } else {
                output::top_table(&entries);
            }
        }
        Command::Watch { count } => {
            let mut stream = client.watch_alerts().await?;
            let (mut seen, mut last) = (0u64, 0u64);
            while count.is_none_or(|c| seen < c) {
                let a = match stream.message().await {
                    Ok(Some(a)) => a,
                    Ok(None) => break,
                    // The node stopped leading (or went away): resume on
                    // the next leader after the last alert shown (from
                    // then on if none was shown yet).
                    Err(s) if s.code() == tonic::Code::Unavailable => {
                        eprintln!(
                            "note: the alert stream ended ({}); resuming after seq {last}",
                            s.message()
                        );
                        stream = client.watch_alerts_after(last).await?;
                        continue;
                    }
                    Err(s) => return Err(s.into()),
                };
                last = last.max(a.seq);
                seen += 1;
                if json {
                    outln!("{}", output::alert_json(&a));
                } else {
                    outln!("{}", output::alert_text(&a));
                }
            }
        }
        Command::Audit {
            command: Some(AuditCommand::Verify),
            ..
        } => {
            let (n, head) = client.audit_verify().await?;
            if json {
                print_json(&serde_json::json!({"records": n, "chain": "intact", "head": head}));
            } else {
                outln!("audit log: {n} records, hash chain intact, head {head}");
            }
        }
        Command::Audit {
            command: None,
            after,
            limit,
        } => {
            let records = client.audit(after, limit).await?;
            if json {
                print_json(&output::audit_json(&records));
            } else {
                output::audit_table(&records);
            }
        }
        Command::Demo { participant } => {
            crate::demo::run(&client, participant.unwrap_or_else(|| fresh_id("fund"))).await?
        }
        Command::Health { participant: None } | Command::Bench(_) | Command::Certs { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(())
}

async fn limit(client: &Client, cmd: LimitCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        LimitCommand::Set {
            kind,
            value,
            participant,
            venue,
            asset,
            warn,
            expected_version,
            force,
        } => {
            let l = client
                .set_limit(pb::SetLimitRequest {
                    kind: pb::LimitKind::from(kind).into(),
                    scope: Some(pb::Scope {
                        participant: participant.unwrap_or_default(),
                        venue: venue.unwrap_or_default(),
                        asset: asset.unwrap_or_default(),
                    }),
                    value,
                    warn_levels_pct: warn,
                    expected_version,
                    force_reason: force.unwrap_or_default(),
                })
                .await?;
            if json {
                print_json(&output::limit_json(&l));
            } else {
                output::limits_table(std::slice::from_ref(&l));
            }
        }
        LimitCommand::Delete { id, force } => {
            let r = client
                .delete_limit(&id, force.as_deref().unwrap_or_default())
                .await?;
            if json {
                print_json(
                    &r.deleted
                        .as_ref()
                        .map(output::limit_json)
                        .unwrap_or_default(),
                );
            } else {
                outln!("deleted limit {id}");
            }
        }
        LimitCommand::List => {
            let limits = client.list_limits().await?;
            if json {
                print_json(&serde_json::Value::Array(
                    limits.iter().map(output::limit_json).collect(),
                ));
            } else {
                output::limits_table(&limits);
            }
        }
    }
    Ok(())
}

async fn trading(
    client: &Client,
    participant: &str,
    state: pb::TradingState,
    reason: &str,
    json: bool,
) -> anyhow::Result<()> {
    let r = client.set_trading_state(participant, state, reason).await?;
    if json {
        print_json(&serde_json::json!({
            "participant": r.participant, "previous": output::state_name(r.previous),
            "state": output::state_name(r.state), "released_reservations": r.released_reservations,
        }));
    } else {
        outln!(
            "{}: {} -> {} on every venue ({} open reservations released)",
            r.participant,
            output::state_name(r.previous),
            output::state_name(r.state),
            r.released_reservations
        );
    }
    Ok(())
}

async fn health(
    endpoint: &str,
    tls: Option<&interlock_client::TlsOptions>,
    json: bool,
) -> anyhow::Result<()> {
    let client = Client::connect_with(endpoint, tls, None).await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(client.channel());
    let mut rows = Vec::new();
    let mut all_ok = true;
    for service in [
        "",
        "interlock.v1.PreTradeService",
        "interlock.v1.PositionService",
        "interlock.v1.AdminService",
    ] {
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .with_context(|| format!("health check of {service:?}"))?;
        let status = r.into_inner().status();
        all_ok &= status == tonic_health::pb::health_check_response::ServingStatus::Serving;
        rows.push(vec![
            if service.is_empty() {
                "(server)".to_owned()
            } else {
                service.to_owned()
            },
            status.as_str_name().to_owned(),
        ]);
    }
    if json {
        print_json(&serde_json::Value::Object(
            rows.iter()
                .map(|r| (r[0].clone(), serde_json::Value::from(r[1].clone())))
                .collect(),
        ));
    } else {
        table(&["SERVICE", "STATUS"], &rows);
    }
    anyhow::ensure!(all_ok, "not every service is serving");
    Ok(())
}

fn print_cluster_status(s: &cluster_pb::GetClusterStatusResponse, json: bool) {
    let role = s
        .role()
        .as_str_name()
        .trim_start_matches("NODE_ROLE_")
        .to_lowercase();
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    if json {
        let nodes: Vec<serde_json::Value> = s
            .nodes
            .iter()
            .map(|n| {
                serde_json::json!({
                    "node_id": n.node_id,
                    "cluster_addr": n.cluster_addr,
                    "api_addr": n.api_addr,
                    "voter": n.voter,
                    "matched_index": n.matched_index,
                    "lag": n.lag,
                })
            })
            .collect();
        print_json(&serde_json::json!({
            "node_id": s.node_id,
            "role": role,
            "term": s.term,
            "leader_id": s.leader_id,
            "leader_api_addr": s.leader_api_addr,
            "last_log_index": s.last_log_index,
            "last_applied_index": s.last_applied_index,
            "snapshot_index": s.snapshot_index,
            "millis_since_quorum_ack": s.millis_since_quorum_ack,
            "nodes": nodes,
        }));
        return;
    }
    outln!(
        "node {} is {role} in term {}; leader: {}",
        s.node_id,
        s.term,
        match s.leader_id {
            Some(id) => format!("node {id} at {}", s.leader_api_addr),
            None => "none known (an election is under way)".to_owned(),
        }
    );
    outln!(
        "log up to {}, applied up to {}, snapshot at {}{}",
        opt(s.last_log_index),
        opt(s.last_applied_index),
        opt(s.snapshot_index),
        s.millis_since_quorum_ack
            .map_or(String::new(), |ms| format!(
                "; a majority acknowledged {ms} ms ago"
            ))
    );
    let rows: Vec<Vec<String>> = s
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.node_id.to_string(),
                n.cluster_addr.clone(),
                n.api_addr.clone(),
                if n.voter { "voter" } else { "learner" }.to_owned(),
                opt(n.matched_index),
                opt(n.lag),
            ]
        })
        .collect();
    output::table(&["node", "cluster", "api", "kind", "matched", "lag"], &rows);
    if s.role() != cluster_pb::NodeRole::Leader {
        outln!("(matched and lag are known to the leader: ask it for them)");
    }
}
