//! Carrying out a parsed command line: one client, one call (or a few),
//! the answer printed as a table or as JSON.

use anyhow::Context;
use interlock_client::{cluster_pb, pb, Client};

use super::*;
use crate::output::{self, table};

/// `--endpoint`: one endpoint, or a cluster's, comma-separated.
fn endpoint_list(endpoint: &str) -> Vec<String> {
    endpoint
        .split(',')
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect()
}

/// Where `interlockctl bench` sends its load: the one endpoint given, or,
/// given a cluster's (`A,B,C`), its leader's as the cluster says (asked
/// with the admin token), said on stderr. The load does not follow a later
/// change of leader: a benchmark measures one node.
async fn bench_target(
    endpoints: &[String],
    tls: Option<&interlock_client::TlsOptions>,
    args: &crate::bench::BenchArgs,
) -> anyhow::Result<String> {
    if endpoints.len() < 2 {
        return Ok(endpoints.first().cloned().unwrap_or_default());
    }
    let admin = Client::connect_cluster(endpoints, tls, Some(&args.admin_token))?;
    let status = admin
        .cluster_status()
        .await
        .context("finding the cluster's leader for the benchmark")?;
    anyhow::ensure!(
        !status.leader_api_addr.is_empty(),
        "the cluster has no leader now (an election?): try again"
    );
    let leader = endpoints
        .iter()
        .find(|e| interlock_client::failover::address_of(e) == status.leader_api_addr)
        .cloned()
        .unwrap_or_else(|| {
            let scheme = if tls.is_some() { "https" } else { "http" };
            format!("{scheme}://{}", status.leader_api_addr)
        });
    eprintln!("note: the cluster's leader is {leader}: the benchmark runs against it");
    Ok(leader)
}

fn fresh_id(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{nanos:x}")
}

pub fn print_json(v: &serde_json::Value) {
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
        let target = bench_target(&endpoint_list(&cli.endpoint), tls.as_ref(), args).await?;
        let r = crate::bench::run(&target, tls.as_ref(), token, args).await?;
        if cli.json {
            print_json(&serde_json::to_value(&r)?);
        } else {
            crate::bench::print(&r);
        }
        return Ok(());
    }
    let endpoints = endpoint_list(&cli.endpoint);
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
                    "disk": n.disk,
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
                if n.disk.is_empty() { "-" } else { &n.disk }.to_owned(),
                opt(n.matched_index),
                opt(n.lag),
            ]
        })
        .collect();
    output::table(
        &["node", "cluster", "api", "kind", "disk", "matched", "lag"],
        &rows,
    );
    if s.role() != cluster_pb::NodeRole::Leader {
        outln!("(matched and lag are known to the leader: ask it for them)");
    }
}
