//! `interlockctl demo`: the Interlock story in one command, against a
//! `--dev` server and its demo tokens.

use interlock_client::{pb, Client};

use crate::output;

const ADMIN: &str = "dev-admin";
const BROKER: &str = "dev-broker";
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
    outln!("\nSee also: interlockctl --token dev-admin audit | top | watch");
    Ok(())
}
