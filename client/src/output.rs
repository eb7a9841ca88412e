//! Human tables and JSON for `interlockctl`.

use interlock_client::pb;
use serde_json::{json, Value};

/// Prints rows under headers, columns aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        outln!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| (*h).to_owned()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for row in rows {
        line(row.clone());
    }
}

pub fn pct(fraction: &str) -> String {
    match fraction.parse::<rust_decimal::Decimal>() {
        Ok(f) => format!(
            "{}%",
            (f * rust_decimal::Decimal::ONE_HUNDRED)
                .round_dp(2)
                .normalize()
        ),
        Err(_) => "-".to_owned(),
    }
}

pub fn state_name(s: i32) -> &'static str {
    pb::TradingState::try_from(s).map_or("UNKNOWN", |s| {
        s.as_str_name().trim_start_matches("TRADING_STATE_")
    })
}

pub fn kind_name(k: i32) -> &'static str {
    pb::LimitKind::try_from(k).map_or("UNKNOWN", |k| {
        k.as_str_name().trim_start_matches("LIMIT_KIND_")
    })
}

fn scope_text(s: &Option<pb::Scope>) -> String {
    let s = s.clone().unwrap_or_default();
    let mut parts = Vec::new();
    for (k, v) in [
        ("participant", s.participant),
        ("venue", s.venue),
        ("asset", s.asset),
    ] {
        if !v.is_empty() {
            parts.push(format!("{k}={v}"));
        }
    }
    if parts.is_empty() {
        "ecosystem".to_owned()
    } else {
        parts.join(",")
    }
}

fn scope_json(s: &Option<pb::Scope>) -> Value {
    let s = s.clone().unwrap_or_default();
    json!({"participant": s.participant, "venue": s.venue, "asset": s.asset})
}

pub fn check_json(r: &pb::CheckResponse) -> Value {
    json!({
        "order_id": r.order_id,
        "verdict": r.verdict().as_str_name().trim_start_matches("VERDICT_"),
        "reservation_id": r.reservation_id,
        "approved_quantity": r.approved_quantity,
        "expires_at_ms": r.expires_at_ms,
        "headroom": r.headroom().as_str_name().trim_start_matches("HEADROOM_BUCKET_"),
        "dry_run": r.dry_run,
        "reason": r.reason.as_ref().map(|x| json!({
            "code": x.code().as_str_name().trim_start_matches("REJECT_CODE_"),
            "kind": kind_name(x.kind),
            "limit_id": x.limit_id,
            "scope": scope_json(&x.scope),
            "limit_value": x.limit_value,
            "utilization": x.utilization,
            "message": x.message,
        })),
    })
}

pub fn check_text(r: &pb::CheckResponse) -> String {
    let verdict = r.verdict().as_str_name().trim_start_matches("VERDICT_");
    let headroom = r
        .headroom()
        .as_str_name()
        .trim_start_matches("HEADROOM_BUCKET_");
    match &r.reason {
        Some(reason) => format!(
            "{verdict} order {}: {} (headroom {headroom})",
            r.order_id, reason.message
        ),
        None if r.dry_run => format!(
            "{verdict} (dry run) order {}: {} would fit (headroom {headroom})",
            r.order_id, r.approved_quantity
        ),
        None => format!(
            "{verdict} order {}: {} reserved as {} until {} (headroom {headroom})",
            r.order_id, r.approved_quantity, r.reservation_id, r.expires_at_ms
        ),
    }
}

pub fn limit_json(l: &pb::Limit) -> Value {
    json!({
        "id": l.id, "kind": kind_name(l.kind), "scope": scope_json(&l.scope), "value": l.value,
        "warn_levels_pct": l.warn_levels_pct, "version": l.version, "updated_at_ms": l.updated_at_ms,
        "updated_by": l.updated_by,
    })
}

pub fn limits_table(limits: &[pb::Limit]) {
    let rows: Vec<Vec<String>> = limits
        .iter()
        .map(|l| {
            vec![
                l.id.clone(),
                kind_name(l.kind).to_owned(),
                scope_text(&l.scope),
                l.value.clone(),
                l.warn_levels_pct
                    .iter()
                    .map(|w| format!("{w}%"))
                    .collect::<Vec<_>>()
                    .join(","),
                l.version.to_string(),
                l.updated_by.clone(),
            ]
        })
        .collect();
    table(
        &["ID", "KIND", "SCOPE", "VALUE", "WARN", "VERSION", "BY"],
        &rows,
    );
}

pub fn exposure_json(e: &pb::Exposure) -> Value {
    json!({
        "participant": e.participant, "state": state_name(e.state), "brokers": e.brokers, "stale": e.stale,
        "assets": e.assets.iter().map(|a| json!({
            "asset": a.asset, "owned": a.owned, "committed": a.committed, "reuse_ratio": a.reuse_ratio,
            "reuse_limit": a.reuse_limit, "effective_limit": a.effective_limit, "utilization": a.utilization,
            "venues": a.venues.iter().map(|v| json!({"venue": v.venue, "posted": v.posted, "reserved": v.reserved, "owed": v.owed})).collect::<Vec<_>>(),
            "price": a.price, "price_state": price_state_name(a.price_state()), "haircut": a.haircut,
            "collateral_value": a.collateral_value,
        })).collect::<Vec<_>>(),
        "hf_eco": e.hf_eco,
    })
}

pub fn exposure_text(e: &pb::Exposure) {
    outln!(
        "participant {}  state {}  brokers [{}]{}",
        e.participant,
        state_name(e.state),
        e.brokers.join(", "),
        if e.stale {
            "  STALE: checks fail closed"
        } else {
            ""
        }
    );
    let mut rows = Vec::new();
    for a in &e.assets {
        for v in &a.venues {
            rows.push(vec![
                a.asset.clone(),
                v.venue.clone(),
                v.posted.clone(),
                v.reserved.clone(),
                if v.owed.is_empty() {
                    "-".to_owned()
                } else {
                    v.owed.clone()
                },
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        rows.push(vec![
            a.asset.clone(),
            "TOTAL".to_owned(),
            String::new(),
            String::new(),
            String::new(),
            format!("{} of {} owned", a.committed, a.owned),
            format!(
                "{} (limit {}x)",
                if a.reuse_ratio.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{}x", a.reuse_ratio)
                },
                a.reuse_limit
            ),
            format!("{} of {}", pct(&a.utilization), a.effective_limit),
        ]);
    }
    table(
        &[
            "ASSET",
            "VENUE",
            "POSTED",
            "RESERVED",
            "OWED",
            "COMMITTED",
            "REUSE",
            "UTILIZATION",
        ],
        &rows,
    );
    // Value: what each owned asset is worth in HF^eco.
    let priced: Vec<Vec<String>> = e
        .assets
        .iter()
        .filter(|a| !a.price.is_empty())
        .map(|a| {
            vec![
                a.asset.clone(),
                a.price.clone(),
                price_state_name(a.price_state()).to_owned(),
                if a.haircut.is_empty() {
                    "none".to_owned()
                } else {
                    fig(&a.haircut)
                },
                fig(&a.collateral_value),
            ]
        })
        .collect();
    if !priced.is_empty() {
        table(
            &["ASSET", "PRICE", "STATE", "HAIRCUT", "VALUE IN HF^ECO"],
            &priced,
        );
    }
    if !e.hf_eco.is_empty() {
        outln!("HF^eco {}", fig(&e.hf_eco));
    }
}

pub fn top_json(entries: &[pb::TopEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| json!({"participant": e.participant, "asset": e.asset, "utilization": e.utilization,
                "committed": e.committed, "effective_limit": e.effective_limit, "state": state_name(e.state)}))
            .collect(),
    )
}

pub fn top_hf_json(ranks: &[pb::HealthRank]) -> Value {
    Value::Array(
        ranks
            .iter()
            .map(|r| {
                json!({"participant": r.participant, "hf_eco": r.hf_eco,
                "collateral_value": r.collateral_value, "total_debt": r.total_debt,
                "state": state_name(r.state)})
            })
            .collect(),
    )
}

pub fn top_hf_table(ranks: &[pb::HealthRank]) {
    let rows: Vec<Vec<String>> = ranks
        .iter()
        .enumerate()
        .map(|(i, r)| {
            vec![
                (i + 1).to_string(),
                r.participant.clone(),
                fig(&r.hf_eco),
                fig(&r.collateral_value),
                if r.total_debt.is_empty() {
                    "unknown".to_owned()
                } else {
                    fig(&r.total_debt)
                },
                state_name(r.state).to_owned(),
            ]
        })
        .collect();
    table(
        &["#", "PARTICIPANT", "HF^ECO", "COLLATERAL", "DEBT", "STATE"],
        &rows,
    );
}

pub fn top_table(entries: &[pb::TopEntry]) {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let util = if e.utilization.is_empty() {
                "over zero limit".to_owned()
            } else {
                pct(&e.utilization)
            };
            vec![
                (i + 1).to_string(),
                e.participant.clone(),
                e.asset.clone(),
                util,
                e.committed.clone(),
                e.effective_limit.clone(),
                state_name(e.state).to_owned(),
            ]
        })
        .collect();
    table(
        &[
            "#",
            "PARTICIPANT",
            "ASSET",
            "UTILIZATION",
            "COMMITTED",
            "LIMIT",
            "STATE",
        ],
        &rows,
    );
}

pub fn alert_json(a: &pb::Alert) -> Value {
    json!({"seq": a.seq, "at_ms": a.at_ms, "kind": a.kind().as_str_name().trim_start_matches("ALERT_KIND_"),
        "participant": a.participant, "asset": a.asset, "venue": a.venue, "broker": a.broker,
        "limit_id": a.limit_id, "utilization": a.utilization, "message": a.message})
}

pub fn alert_text(a: &pb::Alert) -> String {
    format!(
        "#{} {} {}: {}",
        a.seq,
        a.at_ms,
        a.kind().as_str_name().trim_start_matches("ALERT_KIND_"),
        a.message
    )
}

pub fn audit_json(records: &[pb::AuditRecord]) -> Value {
    Value::Array(
        records
            .iter()
            .map(|r| {
                json!({"seq": r.seq, "at_ms": r.at_ms, "principal": r.principal, "action": r.action,
                "target": r.target, "old": r.old_value, "new": r.new_value, "outcome": r.outcome,
                "prev_hash": r.prev_hash, "hash": r.hash})
            })
            .collect(),
    )
}

pub fn audit_table(records: &[pb::AuditRecord]) {
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                r.seq.to_string(),
                r.at_ms.to_string(),
                r.principal.clone(),
                r.action.clone(),
                r.target.clone(),
                r.old_value.clone(),
                r.new_value.clone(),
                r.outcome.clone(),
            ]
        })
        .collect();
    table(
        &[
            "SEQ", "AT_MS", "WHO", "ACTION", "TARGET", "OLD", "NEW", "OUTCOME",
        ],
        &rows,
    );
}

/// Writes one line to standard output. A closed pipe ends the program
/// quietly with success, as it does a Unix filter (the reader has what it
/// wanted); any other failure to write (a full disk) ends it with an error.
/// A progress bar on standard error, redrawn in place:
/// `[#####     ] 5/10 updates`.
pub fn progress(done: usize, total: usize, unit: &str) {
    use std::io::Write;
    const WIDTH: usize = 30;
    let filled = (done * WIDTH)
        .checked_div(total)
        .unwrap_or(WIDTH)
        .min(WIDTH);
    eprint!(
        "\r[{}{}] {done}/{total} {unit}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
    let _ = std::io::stderr().flush();
}

pub fn write_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

pub fn class_name(c: pb::AssetClass) -> &'static str {
    match c {
        pb::AssetClass::Stable => "STABLE",
        pb::AssetClass::Major => "MAJOR",
        pb::AssetClass::Alt => "ALT",
        pb::AssetClass::Unspecified => "-",
    }
}

fn price_state_name(s: pb::PriceState) -> &'static str {
    match s {
        pb::PriceState::Fresh => "FRESH",
        pb::PriceState::Stale => "STALE",
        pb::PriceState::Recovering => "RECOVERING",
        pb::PriceState::Unspecified => "-",
    }
}

fn quote_status_name(s: pb::QuoteStatus) -> &'static str {
    use pb::QuoteStatus::*;
    match s {
        Accepted => "ACCEPTED",
        Held => "HELD (jump guard)",
        RefusedNotPositive => "REFUSED: not positive",
        RefusedTooOld => "REFUSED: too old",
        RefusedFromTheFuture => "REFUSED: from the future",
        RefusedOutOfOrder => "REFUSED: older than this oracle's last",
        RefusedTooManyOracles => "REFUSED: too many oracles for the asset",
        UnknownAsset => "REFUSED: the asset has no class",
        Unspecified => "-",
    }
}

pub fn publish_json(quotes: &[(String, String)], ack: &pb::PublishAck) -> Value {
    json!({
        "sequence": ack.applied_sequence,
        "quotes": quotes.iter().zip(&ack.verdicts).map(|((asset, quoted), v)| json!({
            "asset": asset, "quoted": quoted, "status": quote_status_name(v.status()),
            "price": v.price, "median": v.median,
        })).collect::<Vec<_>>(),
    })
}

pub fn publish_table(quotes: &[(String, String)], ack: &pb::PublishAck) {
    println!("sequence {}", ack.applied_sequence);
    let rows: Vec<Vec<String>> = quotes
        .iter()
        .zip(&ack.verdicts)
        .map(|((asset, quoted), v)| {
            vec![
                asset.clone(),
                quoted.clone(),
                quote_status_name(v.status()).to_owned(),
                v.price.clone(),
            ]
        })
        .collect();
    table(&["ASSET", "QUOTED", "VERDICT", "PRICE NOW"], &rows);
}

pub fn prices_json(prices: &[pb::AssetPrice]) -> Value {
    Value::Array(
        prices
            .iter()
            .map(|p| {
                json!({
                    "asset": p.asset, "class": class_name(p.class()), "price": p.price,
                    "state": price_state_name(p.state()), "accepted_at_ms": p.accepted_at_ms,
                    "recovering_since_ms": p.recovering_since_ms,
                    "quotes": p.quotes.iter().map(|q| json!({"oracle": q.oracle, "price": q.price,
                        "published_ms": q.published_ms})).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

pub fn prices_table(prices: &[pb::AssetPrice]) {
    let rows: Vec<Vec<String>> = prices
        .iter()
        .map(|p| {
            vec![
                p.asset.clone(),
                class_name(p.class()).to_owned(),
                if p.price.is_empty() {
                    "-".to_owned()
                } else {
                    p.price.clone()
                },
                price_state_name(p.state()).to_owned(),
                p.quotes.len().to_string(),
                if p.haircut.is_empty() {
                    "-".to_owned()
                } else {
                    fig(&p.haircut)
                },
                if p.model_haircut.is_empty() {
                    "-".to_owned()
                } else {
                    fig(&p.model_haircut)
                },
            ]
        })
        .collect();
    table(
        &[
            "ASSET", "CLASS", "PRICE", "STATE", "ORACLES", "HAIRCUT", "MODEL",
        ],
        &rows,
    );
}

fn prices_of(ps: &[pb::LiquidationPrice]) -> Value {
    Value::Array(
        ps.iter()
            .map(|p| json!({"asset": p.asset, "price": p.price}))
            .collect(),
    )
}

pub fn health_json(h: &pb::ParticipantHealth) -> Value {
    json!({
        "participant": h.participant, "hf_eco": h.hf_eco, "collateral_value": h.collateral_value,
        "total_debt": h.total_debt, "unpriced": h.unpriced, "stale": h.stale,
        "venues": h.venues.iter().map(|v| json!({"venue": v.venue, "debt": v.debt,
            "debt_implied": v.debt_implied, "hf_claim": v.hf_claim, "hf_true": v.hf_true,
            "liquidation_prices": prices_of(&v.liquidation_prices)})).collect::<Vec<_>>(),
        "liquidation_prices": prices_of(&h.liquidation_prices),
        "hf_eco_stressed": h.hf_eco_stressed, "distance_to_default": h.distance_to_default,
        "top_collateral": contributions(&h.top_collateral),
        "top_debt": contributions(&h.top_debt),
        "reuse": h.reuse.iter().map(|r| json!({"asset": r.asset, "reuse": r.reuse}))
            .collect::<Vec<_>>(),
    })
}

fn contributions(c: &[pb::Contribution]) -> Vec<Value> {
    c.iter()
        .map(|c| json!({"name": c.name, "value": c.value}))
        .collect()
}

/// A figure for a reader: a decimal to 6 places (the API keeps them all);
/// words ("no debt", "unknown") as they are.
fn fig(s: &str) -> String {
    s.parse::<rust_decimal::Decimal>()
        .map_or_else(|_| s.to_owned(), |d| d.round_dp(6).normalize().to_string())
}

/// The distance to default in words.
fn distance_text(d: &str) -> String {
    match d {
        "0" => "none left: HF^eco is at or below 1".to_owned(),
        "none" => "none: no uniform fall brings HF^eco to 1".to_owned(),
        "unknown" | "" => "unknown (a price is missing)".to_owned(),
        s => match s.strip_prefix('-') {
            Some(m) => format!("a fall of {} in every non-stable asset", percent(m)),
            None => s.to_owned(),
        },
    }
}

/// "0.397590" as "39.759%".
fn percent(share: &str) -> String {
    match share.parse::<rust_decimal::Decimal>() {
        Ok(d) => format!(
            "{}%",
            (d * rust_decimal::Decimal::ONE_HUNDRED)
                .round_dp(3)
                .normalize()
        ),
        Err(_) => share.to_owned(),
    }
}

pub fn health_text(h: &pb::ParticipantHealth) {
    outln!(
        "participant {}  HF^eco {}  (collateral after haircuts {} / debt everywhere {})",
        h.participant,
        fig(&h.hf_eco),
        fig(&h.collateral_value),
        if h.total_debt.is_empty() {
            "unknown"
        } else {
            &h.total_debt
        }
    );
    outln!(
        "under the standard shock: HF^eco {}; distance to default: {}",
        fig(&h.hf_eco_stressed),
        distance_text(&h.distance_to_default)
    );
    let named = |c: &[pb::Contribution]| {
        c.iter()
            .map(|c| format!("{} {}", c.name, c.value))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !h.top_collateral.is_empty() || !h.top_debt.is_empty() {
        outln!(
            "why: collateral {}; debt {}",
            if h.top_collateral.is_empty() {
                "none".to_owned()
            } else {
                named(&h.top_collateral)
            },
            if h.top_debt.is_empty() {
                "none".to_owned()
            } else {
                named(&h.top_debt)
            }
        );
    }
    let reused: Vec<String> = h
        .reuse
        .iter()
        .filter(|r| !r.reuse.is_empty())
        .map(|r| format!("{} {}x", r.asset, r.reuse))
        .collect();
    if !reused.is_empty() {
        outln!("pledged over owned: {}", reused.join(", "));
    }
    // Venues that see a healthy position but would not recover their
    // debt if every venue called at once: they call margin together.
    let below = |s: &str| {
        s.parse::<rust_decimal::Decimal>()
            .is_ok_and(|x| x < rust_decimal::Decimal::ONE)
    };
    let together: Vec<&str> = h
        .venues
        .iter()
        .filter(|v| below(&v.hf_true))
        .map(|v| v.venue.as_str())
        .collect();
    if together.len() > 1 {
        outln!(
            "venues under water if they call together (HF^true < 1): {}",
            together.join(", ")
        );
    }
    let rows: Vec<Vec<String>> = h
        .venues
        .iter()
        .map(|v| {
            vec![
                v.venue.clone(),
                if v.debt.is_empty() {
                    "unknown".to_owned()
                } else {
                    v.debt.clone()
                },
                if v.debt_implied {
                    "implied".to_owned()
                } else {
                    "reported".to_owned()
                },
                fig(&v.hf_claim),
                fig(&v.hf_true),
            ]
        })
        .collect();
    table(&["VENUE", "DEBT", "", "HF^CLAIM", "HF^TRUE"], &rows);
    let show = |ps: &[pb::LiquidationPrice]| {
        ps.iter()
            .map(|p| {
                let price = if p.price.is_empty() { "n/a" } else { &p.price };
                format!("{} {}", p.asset, fig(price))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !h.liquidation_prices.is_empty() {
        outln!("HF^eco reaches 1 at: {}", show(&h.liquidation_prices));
    }
    for v in &h.venues {
        if !v.liquidation_prices.is_empty() {
            outln!("{} liquidates at: {}", v.venue, show(&v.liquidation_prices));
        }
    }
    if !h.unpriced.is_empty() {
        outln!(
            "no price (counted as worth nothing): {}",
            h.unpriced.join(", ")
        );
    }
    if !h.stale.is_empty() {
        outln!(
            "valued at a price that is not fresh: {}",
            h.stale.join(", ")
        );
    }
}

/// A liquidation rule in one line ("-" for none).
pub fn rule_text(r: Option<&pb::LiquidationRule>) -> String {
    use pb::liquidation_rule::Rule;
    match r.and_then(|r| r.rule.as_ref()) {
        None => "-".to_owned(),
        Some(Rule::Aave(a)) => format!(
            "aave close_factor={} hf_full={} min_full_base={} bonus={}",
            a.close_factor, a.hf_full, a.min_full_base, a.bonus
        ),
        Some(Rule::Morpho(_)) => "morpho".to_owned(),
        Some(Rule::Exchange(e)) => format!("exchange penalty={}", e.penalty),
    }
}

pub fn venues_json(venues: &[pb::VenueConfig]) -> Value {
    Value::Array(
        venues
            .iter()
            .map(|v| {
                json!({"venue": v.venue, "rule": rule_text(v.rule.as_ref()),
                    "assets": v.assets.iter().map(|a| json!({"asset": a.asset,
                        "threshold": a.threshold, "ltv": a.ltv})).collect::<Vec<_>>()})
            })
            .collect(),
    )
}

pub fn venues_table(venues: &[pb::VenueConfig]) {
    let mut rows = Vec::new();
    for v in venues {
        let rule = rule_text(v.rule.as_ref());
        if v.assets.is_empty() {
            rows.push(vec![
                v.venue.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                rule,
            ]);
            continue;
        }
        for a in &v.assets {
            rows.push(vec![
                v.venue.clone(),
                a.asset.clone(),
                a.threshold.clone(),
                if a.ltv.is_empty() {
                    "-".into()
                } else {
                    a.ltv.clone()
                },
                rule.clone(),
            ]);
        }
    }
    table(
        &["VENUE", "ASSET", "THRESHOLD", "LTV", "LIQUIDATION"],
        &rows,
    );
}
