//! `interlockctl demo`: the Interlock story in one command, against a
//! `--dev` server and its demo tokens.

use interlock_client::{pb, Client};

use crate::output;

const ADMIN: &str = "dev-admin";
const BROKER: &str = "dev-broker";
const ORACLE: &str = "dev-oracle";
const VENUES: [(&str, &str); 3] = [
    ("venue-a", "dev-venue-a"),
    ("venue-b", "dev-venue-b"),
    ("venue-c", "dev-venue-c"),
];

fn step(n: u32, text: &str) {
    outln!("\n== {n}. {text}");
}

fn check(participant: &str, order: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        order_id: order.to_owned(),
        participant: participant.to_owned(),
        asset: "ETH".into(),
        quantity: "100".into(),
        ttl_ms: 600_000,
        ..Default::default()
    }
}

pub async fn run(client: &Client, p: String) -> anyhow::Result<()> {
    let admin = client.as_token(ADMIN)?;
    let broker = client.as_token(BROKER)?;
    outln!("Interlock demo: participant {p} owns 100 ETH and tries to pledge it on three venues.");

    step(1, "The broker syncs what the participant owns: 100 ETH.");
    let seq = broker.sync_state().await?.last_applied_sequence + 1;
    let collateral = pb::SyncUpdate {
        update: Some(pb::sync_update::Update::Collateral(pb::CollateralUpdate {
            participant: p.clone(),
            asset: "ETH".into(),
            quantity: "100".into(),
        })),
    };
    broker
        .sync(vec![pb::SyncRequest {
            sequence: seq,
            updates: vec![collateral],
        }])
        .await?;
    outln!("synced (sequence {seq})");

    step(
        2,
        "The risk desk allows a reuse ratio of 2x for this participant's ETH.",
    );
    let scope = pb::Scope {
        participant: p.clone(),
        venue: String::new(),
        asset: "ETH".into(),
    };
    let limit = pb::SetLimitRequest {
        kind: pb::LimitKind::ReuseRatio.into(),
        scope: Some(scope.clone()),
        value: "2".into(),
        warn_levels_pct: vec!["80".into()],
        expected_version: None,
        force_reason: String::new(),
    };
    let l = admin.set_limit(limit.clone()).await?;
    output::limits_table(std::slice::from_ref(&l));

    step(3, "Each venue asks to commit 100 ETH of margin.");
    let mut reservations = Vec::new();
    for (venue, token) in VENUES {
        let r = client
            .as_token(token)?
            .check(check(&p, &format!("{p}-{venue}-1")))
            .await?;
        outln!("{venue}: {}", output::check_text(&r));
        reservations.push((venue, token, r));
    }
    let (_, token_a, first) = &reservations[0];
    let committed = client
        .as_token(token_a)?
        .commit(&first.reservation_id)
        .await?;
    outln!(
        "venue-a commits {} (commit_seq {})",
        committed.reservation_id,
        committed.commit_seq
    );

    step(4, "The third venue was rejected: 300 ETH of claims on 100 ETH would breach 2x. The desk raises the limit to 3x.");
    let l = admin
        .set_limit(pb::SetLimitRequest {
            value: "3".into(),
            ..limit
        })
        .await?;
    output::limits_table(std::slice::from_ref(&l));
    let r = client
        .as_token(VENUES[2].1)?
        .check(check(&p, &format!("{p}-venue-c-2")))
        .await?;
    outln!(
        "venue-c retries with a new order: {}",
        output::check_text(&r)
    );

    step(
        5,
        "Prices fall; the desk halts the participant on every venue at once.",
    );
    let h = admin
        .set_trading_state(&p, pb::TradingState::Halted, "demo: margin stress")
        .await?;
    outln!(
        "{p}: {} -> {} ({} open reservations released)",
        output::state_name(h.previous),
        output::state_name(h.state),
        h.released_reservations
    );
    let r = client
        .as_token(VENUES[0].1)?
        .check(check(&p, &format!("{p}-venue-a-2")))
        .await?;
    outln!("venue-a tries again: {}", output::check_text(&r));

    step(6, "The exposure table across venues.");
    output::exposure_text(&admin.exposure(&p).await?);
    act_two(client, &format!("{p}-lev")).await?;
    outln!("\nSee also: interlockctl --token dev-admin audit | top | watch | health PARTICIPANT");
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The oracle's next message: ETH at `eth`, USDC at 1.
async fn publish(oracle: &Client, eth: &str) -> anyhow::Result<()> {
    let sequence = oracle.publish_state().await?.last_applied_sequence + 1;
    let published_ms = now_ms();
    let quotes = [("ETH", eth), ("USDC", "1")]
        .iter()
        .map(|(asset, price)| pb::Quote {
            asset: (*asset).into(),
            price: (*price).into(),
            published_ms,
        })
        .collect();
    oracle
        .publish(vec![pb::PublishRequest { sequence, quotes }])
        .await?;
    Ok(())
}

/// The broker's next message.
async fn sync(broker: &Client, updates: Vec<pb::sync_update::Update>) -> anyhow::Result<()> {
    let sequence = broker.sync_state().await?.last_applied_sequence + 1;
    let updates = updates
        .into_iter()
        .map(|u| pb::SyncUpdate { update: Some(u) })
        .collect();
    broker
        .sync(vec![pb::SyncRequest { sequence, updates }])
        .await?;
    Ok(())
}

/// One line of a participant's health: what each venue sees, what it
/// would recover if all called at once, and Interlock's figure.
async fn health_line(admin: &Client, p: &str, eth: &str) -> anyhow::Result<()> {
    let h = admin.health_of(p).await?;
    let venues: Vec<String> = h
        .venues
        .iter()
        .map(|v| {
            format!(
                "{} sees {} (true {})",
                v.venue,
                short(&v.hf_claim),
                short(&v.hf_true)
            )
        })
        .collect();
    outln!(
        "ETH {eth:>5}: {}; Interlock HF^eco {}",
        venues.join(", "),
        short(&h.hf_eco)
    );
    Ok(())
}

/// A health figure to 3 places.
fn short(s: &str) -> String {
    s.parse::<rust_decimal::Decimal>()
        .map_or_else(|_| s.to_owned(), |d| d.round_dp(3).normalize().to_string())
}

/// The second act: the same ETH pledged on two venues, prices fall, each
/// venue still sees a healthy loan while Interlock sees the truth, and a
/// new loan elsewhere is refused on value.
async fn act_two(client: &Client, p: &str) -> anyhow::Result<()> {
    use pb::sync_update::Update;
    let admin = client.as_token(ADMIN)?;
    let broker = client.as_token(BROKER)?;
    let oracle = client.as_token(ORACLE)?;
    outln!("\n== Act two: value. Participant {p} borrows 60,000 USDC on venue-a and on venue-b against the same 100 ETH.");

    step(7, "The desk values collateral: classes, each venue's threshold and LTV, Interlock's 17% haircut on ETH, and a floor: HF^eco at least 1 for new risk.");
    admin.set_asset_class("ETH", pb::AssetClass::Major).await?;
    admin
        .set_asset_class("USDC", pb::AssetClass::Stable)
        .await?;
    for (venue, threshold, ltv) in [
        ("venue-a", "0.83", "0.8"),
        ("venue-b", "0.86", ""),
        ("venue-c", "0.8", "0.75"),
    ] {
        admin
            .set_venue_asset(pb::SetVenueAssetRequest {
                venue: venue.into(),
                asset: "ETH".into(),
                threshold: threshold.into(),
                ltv: ltv.into(),
            })
            .await?;
    }
    admin.set_haircut("ETH", "0.17", "").await?;
    let scope = |asset: &str| pb::Scope {
        participant: p.to_owned(),
        venue: String::new(),
        asset: asset.into(),
    };
    for (kind, asset, value) in [
        (pb::LimitKind::ReuseRatio, "ETH", "3"),
        (pb::LimitKind::MinHfEco, "", "1"),
    ] {
        let l = admin
            .set_limit(pb::SetLimitRequest {
                kind: kind.into(),
                scope: Some(scope(asset)),
                value: value.into(),
                ..Default::default()
            })
            .await?;
        output::limits_table(std::slice::from_ref(&l));
    }

    step(
        8,
        "The oracle publishes ETH at 2,000; the broker syncs the pledges and the loans.",
    );
    publish(&oracle, "2000").await?;
    let mut updates = vec![Update::Collateral(pb::CollateralUpdate {
        participant: p.into(),
        asset: "ETH".into(),
        quantity: "100".into(),
    })];
    for venue in ["venue-a", "venue-b"] {
        updates.push(Update::Commitment(pb::CommitmentUpdate {
            participant: p.into(),
            venue: venue.into(),
            asset: "ETH".into(),
            quantity: "100".into(),
            covers_commit_seq: 0,
        }));
        updates.push(Update::Liability(pb::LiabilityUpdate {
            participant: p.into(),
            venue: venue.into(),
            asset: "USDC".into(),
            quantity: "60000".into(),
        }));
    }
    sync(&broker, updates).await?;
    // A new price is FRESH after the grace period (--price-grace-ms);
    // the broker keeps its sync alive meanwhile.
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        let prices = admin.list_prices().await?;
        let fresh = ["ETH", "USDC"].iter().all(|a| {
            prices
                .iter()
                .any(|x| x.asset == *a && x.state() == pb::PriceState::Fresh)
        });
        if fresh {
            break;
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            anyhow::bail!("prices not FRESH after 120 s: is an oracle's jump guard holding them?");
        }
        if !said && started.elapsed() > std::time::Duration::from_secs(1) {
            outln!("(waiting for the prices' grace period: 30 s by default, none with --price-grace-ms 0)");
            said = true;
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        sync(&broker, vec![]).await?;
        publish(&oracle, "2000").await?;
    }
    health_line(&admin, p, "2000").await?;

    step(9, "ETH falls in three steps. Each venue still sees a healthy loan; Interlock sees the same ETH backing both.");
    for eth in ["1700", "1450", "1300"] {
        publish(&oracle, eth).await?;
        sync(&broker, vec![]).await?;
        health_line(&admin, p, eth).await?;
    }
    outln!("\nThe risk officer's view:");
    output::health_text(&admin.health_of(p).await?);

    step(10, "A new loan of 10 ETH on venue-c: the quantity rule (3x) passes it, the value floor does not.");
    let r = client
        .as_token(VENUES[2].1)?
        .check(pb::CheckRequest {
            asset: "ETH".into(),
            quantity: "10".into(),
            ..check(p, &format!("{p}-venue-c-1"))
        })
        .await?;
    outln!("venue-c: {}", output::check_text(&r));
    act_three(&admin, p).await
}

/// The third act: what no single venue can ask. At today's prices every
/// venue sees the participant healthy while Interlock sees it under
/// water; a fall makes both venues call at once, and their sales feed the
/// next round.
async fn act_three(admin: &Client, p: &str) -> anyhow::Result<()> {
    use pb::liquidation_rule::Rule;
    outln!("\n== Act three: the cascade. What happens to {p}, and to the market, if ETH falls further?");
    step(11, "The desk records how each venue liquidates: venue-a as Aave (5% bonus), venue-b as Morpho.");
    for (venue, rule) in [
        (
            "venue-a",
            Rule::Aave(pb::AaveRule {
                close_factor: "0.5".into(),
                hf_full: "0.95".into(),
                min_full_base: "2000".into(),
                bonus: "1.05".into(),
            }),
        ),
        ("venue-b", Rule::Morpho(pb::MorphoRule {})),
    ] {
        admin.set_venue_rule(venue, rule).await?;
    }
    output::venues_table(&admin.list_venues().await?);

    step(12, "Stress under the standard tiers (CHAOS_TIERS): who breaches where, and who is under water while every venue still sees them healthy.");
    let r = admin
        .stress(pb::StressRequest {
            scenario: Some(pb::ScenarioSpec {
                name: "CHAOS_TIERS".into(),
                ..Default::default()
            }),
            rows: 5,
            participants: vec![p.to_owned()],
            ..Default::default()
        })
        .await?;
    crate::systemic::print_stress(&r);

    step(13, "A cascade: ETH falls 50%; both venues call at once and sell the seized ETH into a market that absorbs 300 ETH per 10% move.");
    let c = admin
        .cascade(pb::CascadeRequest {
            scenario: Some(pb::ScenarioSpec {
                shocks: vec![pb::Shock {
                    asset: "ETH".into(),
                    shock: "-0.5".into(),
                }],
                ..Default::default()
            }),
            impact: pb::PriceImpact::Exp.into(),
            markets: vec![pb::Market {
                asset: "ETH".into(),
                depth: "300".into(),
                floor: String::new(),
            }],
            ..Default::default()
        })
        .await?;
    crate::systemic::print_cascade(&c);
    outln!("\nIn step 10 the value floor refused a third loan against the same ETH, on venue-c: one venue fewer in that first round.");
    Ok(())
}
