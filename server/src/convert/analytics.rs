//! Analytics requests and reports (`analytics.proto`) ↔ the analytics
//! crate. Figures leave as decimal strings of at most 6 places; errors as
//! statuses in one exhaustive match ([`analytics_status`]).

use interlock::v1 as pb;
use interlock_analytics::cascade::{CascadeReport, CascadeRequest, Impact, Market, ROUNDS_DEFAULT};
use interlock_analytics::report::*;
use interlock_analytics::reuse::ReuseReport;
use interlock_analytics::scenario::{Choice, Scenario};
use interlock_analytics::stress::StressRequest;
use interlock_analytics::systemic::{
    RankBy, SystemicReport, SystemicRequest, SystemicRow, TOP_DEFAULT,
};
use interlock_analytics::AnalyticsError;
use interlock_ledger as domain;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use tonic::{Code, Status};

use super::{bad, id, InvalidField};

/// Participant rows when the request does not say.
pub const ROWS_DEFAULT: u32 = 20;

/// Every analytics error as a gRPC status. No `_` arm.
pub fn analytics_status(e: AnalyticsError) -> Status {
    let code = match &e {
        AnalyticsError::InvalidArgument { .. } => Code::InvalidArgument,
        AnalyticsError::Cancelled => Code::Cancelled,
    };
    Status::new(code, e.to_string())
}

/// A figure: at most 6 places, no trailing zeros; empty when infinite (a
/// health factor without debt) or not a number.
pub fn fig(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    let s = format!("{:.6}", x);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

fn opt_fig(x: Option<f64>) -> String {
    x.map_or_else(String::new, fig)
}

/// A decimal field read as f64 (the range checks are the analytics').
fn number(field: &'static str, s: &str) -> Result<f64, InvalidField> {
    let d: Decimal = s
        .trim()
        .parse()
        .map_err(|_| bad(field, format!("{s:?} is not a decimal number")))?;
    d.to_f64()
        .ok_or_else(|| bad(field, format!("{s:?} is out of range")))
}

fn scenario(spec: Option<pb::ScenarioSpec>) -> Result<Choice, Status> {
    let spec = spec.unwrap_or_default();
    let base = match (spec.name.trim().is_empty(), spec.shocks.is_empty()) {
        (false, false) => {
            return Err(bad("scenario", "a name or shocks, not both").into());
        }
        (true, true) => return Err(bad("scenario", "must name a scenario or give shocks").into()),
        // Looked up in the library of the moment the run reads.
        (false, true) => {
            return Ok(Choice::Named {
                name: spec.name.trim().to_owned(),
                multiple: spec.multiple,
            })
        }
        (true, false) => {
            let shocks = spec
                .shocks
                .into_iter()
                .map(|s| {
                    Ok((
                        id("shocks.asset", &s.asset, domain::AssetId::new)?,
                        number("shocks.shock", &s.shock)?,
                    ))
                })
                .collect::<Result<Vec<_>, InvalidField>>()?;
            Scenario::of_assets(shocks).map_err(analytics_status)?
        }
    };
    match spec.multiple {
        0 | 1 => Ok(Choice::Given(base)),
        k => base.times(k).map(Choice::Given).map_err(analytics_status),
    }
}

/// A scenario of the library for `SetScenario`: decimals, checked by the
/// ledger.
pub fn scenario_spec(r: &pb::SetScenarioRequest) -> Result<domain::Scenario, InvalidField> {
    let class = |field: &'static str, s: &str| -> Result<Option<Decimal>, InvalidField> {
        if s.trim().is_empty() {
            return Ok(None);
        }
        s.trim()
            .parse::<Decimal>()
            .map(Some)
            .map_err(|_| bad(field, format!("{s:?} is not a decimal share")))
    };
    let mut by_asset = r
        .shocks
        .iter()
        .map(|s| {
            Ok((
                id("shocks.asset", &s.asset, domain::AssetId::new)?,
                s.shock.trim().parse::<Decimal>().map_err(|_| {
                    bad(
                        "shocks.shock",
                        format!("{:?} is not a decimal share", s.shock),
                    )
                })?,
            ))
        })
        .collect::<Result<Vec<_>, InvalidField>>()?;
    by_asset.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(domain::Scenario {
        source: r.source.clone(),
        by_class: [
            class("stable", &r.stable)?,
            class("major", &r.major)?,
            class("alt", &r.alt)?,
        ],
        by_asset,
    })
}

/// A scenario of the library as the API shows it.
pub fn scenario_pb(name: &str, s: &domain::Scenario, version: u64) -> pb::ScenarioShocks {
    let dec = |d: Option<Decimal>| d.map_or_else(String::new, |d| d.normalize().to_string());
    pb::ScenarioShocks {
        name: name.to_owned(),
        source: s.source.clone(),
        stable: dec(s.by_class[0]),
        major: dec(s.by_class[1]),
        alt: dec(s.by_class[2]),
        shocks: s
            .by_asset
            .iter()
            .map(|(a, x)| pb::Shock {
                asset: a.to_string(),
                shock: x.normalize().to_string(),
            })
            .collect(),
        version,
    }
}

fn markets(ms: Vec<pb::Market>) -> Result<Vec<Market>, InvalidField> {
    ms.into_iter()
        .map(|m| {
            Ok(Market {
                asset: id("markets.asset", &m.asset, domain::AssetId::new)?,
                depth: number("markets.depth", &m.depth)?,
                floor: if m.floor.is_empty() {
                    0.0
                } else {
                    number("markets.floor", &m.floor)?
                },
            })
        })
        .collect()
}

/// The request's rule overrides, each checked as `SetVenueRule` checks a
/// rule.
fn rule_overrides(
    rules: Vec<pb::RuleOverride>,
) -> Result<Vec<(domain::VenueId, interlock_analytics::rules::Rule)>, Status> {
    rules
        .into_iter()
        .map(|o| {
            let venue = id("rules.venue", &o.venue, domain::VenueId::new)?;
            let rule = super::liquidation_rule(o.rule)?;
            if let Some((field, reason)) = rule.invalid() {
                return Err(bad(field, reason).into());
            }
            Ok((venue, interlock_analytics::rules::Rule::from_ledger(&rule)))
        })
        .collect()
}

pub fn stress_request(r: pb::StressRequest) -> Result<StressRequest, Status> {
    Ok(StressRequest {
        scenario: scenario(r.scenario)?,
        rows: if r.rows == 0 { ROWS_DEFAULT } else { r.rows } as usize,
        participants: r
            .participants
            .iter()
            .map(|p| id("participants", p, domain::ParticipantId::new))
            .collect::<Result<_, _>>()?,
        depth: markets(r.markets)?
            .into_iter()
            .map(|m| (m.asset, m.depth))
            .collect(),
        collect_sets: false,
        rules: rule_overrides(r.rules)?,
        watch: Vec::new(),
    })
}

pub fn cascade_request(r: pb::CascadeRequest) -> Result<CascadeRequest, Status> {
    let impact = match pb::PriceImpact::try_from(r.impact) {
        Ok(pb::PriceImpact::Exp) | Ok(pb::PriceImpact::Unspecified) => Impact::Exp,
        Ok(pb::PriceImpact::Linear) => Impact::Linear,
        Err(_) => return Err(bad("impact", format!("unknown value {}", r.impact)).into()),
    };
    Ok(CascadeRequest {
        scenario: scenario(r.scenario)?,
        impact,
        markets: markets(r.markets)?,
        max_rounds: if r.max_rounds == 0 {
            ROUNDS_DEFAULT
        } else {
            r.max_rounds
        },
        rules: rule_overrides(r.rules)?,
    })
}

pub fn systemic_request(r: pb::SystemicRequest) -> Result<SystemicRequest, Status> {
    let by = match pb::RankBy::try_from(r.by) {
        Ok(pb::RankBy::Size) | Ok(pb::RankBy::Unspecified) => RankBy::Size,
        Ok(pb::RankBy::Shortfall) => RankBy::Shortfall,
        Err(_) => return Err(bad("by", format!("unknown value {}", r.by)).into()),
    };
    Ok(SystemicRequest {
        cascade: cascade_request(r.cascade.unwrap_or_default())?,
        top: if r.top == 0 {
            TOP_DEFAULT
        } else {
            r.top as usize
        },
        by,
    })
}

pub fn systemic_row_pb(r: &SystemicRow) -> pb::SystemicRow {
    pb::SystemicRow {
        participant: r.participant.to_string(),
        debt: fig(r.debt),
        own_closed: fig(r.own_closed),
        closed_without: fig(r.closed_without),
        impact: fig(r.impact),
    }
}

pub fn systemic_report_pb(r: SystemicReport) -> pb::SystemicReport {
    pb::SystemicReport {
        scenario: r.scenario,
        at_ms: r.at_ms,
        closed: fig(r.closed),
        rows: r.rows.iter().map(systemic_row_pb).collect(),
        venues: r.venues.into_iter().map(stress_venue_pb).collect(),
        cover2: losses(r.cover2.participants),
        cover2_by_venue: venue_losses(r.cover2.by_venue),
    }
}

pub fn reuse_pb(r: ReuseReport) -> pb::VenueReuse {
    pb::VenueReuse {
        venue: r.venue.to_string(),
        at_ms: r.at_ms,
        participants: r.participants,
        committed_value: fig(r.committed_value),
        over_pledged_value: fig(r.over_pledged_value),
        over_pledged_share: if r.committed_value > 0.0 {
            fig(r.over_pledged_value / r.committed_value)
        } else {
            String::new()
        },
        buckets: r
            .buckets
            .into_iter()
            .map(|b| pb::ReuseBucket {
                others_min: b.others_min,
                others_max: b.others_max.map_or_else(String::new, |m| m.to_string()),
                participants: b.participants,
                committed_value: fig(b.committed_value),
                over_pledged_value: fig(b.over_pledged_value),
            })
            .collect(),
        min_participants: r.min_participants.unwrap_or(0) as u32,
        withheld: r.withheld,
        overlap: r
            .overlap
            .into_iter()
            .map(|(v, x)| pb::VenueValue {
                venue: v.to_string(),
                value: fig(x),
            })
            .collect(),
    }
}

pub fn stress_rank_pb(r: &crate::scheduled::StressRank) -> pb::StressRank {
    pb::StressRank {
        participant: r.participant.to_string(),
        shortfall: fig(r.shortfall),
        hf_eco_after: fig(r.hf_eco_after),
        breached_on: r.breached_on.clone(),
    }
}

fn venue_losses(v: Vec<(domain::VenueId, f64)>) -> Vec<pb::VenueLoss> {
    v.into_iter()
        .map(|(v, s)| pb::VenueLoss {
            venue: v.to_string(),
            shortfall: fig(s),
        })
        .collect()
}

fn stress_venue_pb(v: VenueRow) -> pb::StressVenue {
    pb::StressVenue {
        venue: v.venue.to_string(),
        default_rule: v.default_rule,
        accounts_breached: v.accounts_breached,
        debt_at_risk: fig(v.debt_at_risk),
        seized: v
            .seized
            .into_iter()
            .map(|s| pb::SeizedAsset {
                asset: s.asset.to_string(),
                quantity: fig(s.quantity),
                value: fig(s.value),
            })
            .collect(),
        repaid: fig(v.repaid),
        bad_debt: fig(v.bad_debt),
        cover1: fig(v.cover1.as_ref().map_or(0.0, |c| c.shortfall)),
        cover2: fig(v.cover2),
        cover_participants: losses(v.cover2_participants),
    }
}

fn moves(m: Vec<AssetMove>) -> Vec<pb::AssetMove> {
    m.into_iter()
        .map(|m| pb::AssetMove {
            asset: m.asset.to_string(),
            shock: fig(m.shock),
            before: fig(m.before),
            after: fig(m.after),
        })
        .collect()
}

fn losses(e: Vec<Exposure>) -> Vec<pb::ParticipantLoss> {
    e.into_iter()
        .map(|e| pb::ParticipantLoss {
            participant: e.participant.to_string(),
            shortfall: fig(e.shortfall),
        })
        .collect()
}

fn forced_sales(a: Vec<AssetRow>) -> Vec<pb::ForcedSales> {
    a.into_iter()
        .map(|a| pb::ForcedSales {
            asset: a.asset.to_string(),
            quantity: fig(a.sold_quantity),
            value: fig(a.sold_value),
            depth: opt_fig(a.depth),
            share_of_depth: opt_fig(a.share_of_depth),
        })
        .collect()
}

fn names<T: ToString>(v: Vec<T>) -> Vec<String> {
    v.into_iter().map(|x| x.to_string()).collect()
}

pub fn stress_report_pb(r: StressReport) -> pb::StressReport {
    pb::StressReport {
        scenario: r.scenario,
        source: r.source,
        at_ms: r.at_ms,
        prices: moves(r.prices),
        participants: r
            .participants
            .into_iter()
            .map(|p| pb::StressParticipant {
                participant: p.participant.to_string(),
                hf_eco_before: fig(p.hf_eco_before),
                hf_eco_after: fig(p.hf_eco_after),
                shortfall: fig(p.shortfall),
                venues: p
                    .venues
                    .into_iter()
                    .map(|v| pb::VenueFigure {
                        venue: v.venue.to_string(),
                        debt: fig(v.debt),
                        hf_claim: fig(v.hf_claim),
                        hf_true: fig(v.hf_true),
                        breached: v.breached,
                        shortfall: fig(v.shortfall),
                    })
                    .collect(),
                liquidation_prices: p
                    .liquidation_prices
                    .into_iter()
                    .map(|(a, price)| pb::AssetPriceAt {
                        asset: a.to_string(),
                        price: opt_fig(price),
                    })
                    .collect(),
            })
            .collect(),
        venues: r.venues.into_iter().map(stress_venue_pb).collect(),
        assets: forced_sales(r.assets),
        ecosystem: Some(pb::StressEcosystem {
            participants: r.ecosystem.participants,
            breached_on_one: r.ecosystem.breached_on_one,
            breached_on_two: r.ecosystem.breached_on_two,
            debt_closed: fig(r.ecosystem.debt_closed),
            bad_debt: fig(r.ecosystem.bad_debt),
            hidden_by_reuse_count: r.ecosystem.hidden_by_reuse_count,
            hidden_by_reuse: names(r.ecosystem.hidden_by_reuse),
            cover2: losses(r.ecosystem.cover2.participants),
            cover2_by_venue: venue_losses(r.ecosystem.cover2.by_venue),
        }),
        unpriced: names(r.unpriced),
    }
}

fn ratios(v: Vec<(domain::AssetId, Option<f64>)>) -> Vec<pb::AssetRatio> {
    v.into_iter()
        .map(|(a, r)| pb::AssetRatio {
            asset: a.to_string(),
            ratio: opt_fig(r),
        })
        .collect()
}

pub fn cascade_report_pb(r: CascadeReport) -> pb::CascadeReport {
    pb::CascadeReport {
        scenario: r.scenario,
        at_ms: r.at_ms,
        impact: match r.impact {
            Impact::Exp => pb::PriceImpact::Exp,
            Impact::Linear => pb::PriceImpact::Linear,
        }
        .into(),
        prices: moves(r.prices),
        final_prices: r.final_prices.into_iter().map(fig).collect(),
        rounds: r
            .rounds
            .into_iter()
            .map(|k| pb::CascadeRound {
                round: k.round,
                prices: k.prices.into_iter().map(fig).collect(),
                accounts_liquidated: k.accounts_liquidated,
                debt_closed: fig(k.debt_closed),
                bad_debt: fig(k.bad_debt),
                venues: k
                    .venues
                    .into_iter()
                    .map(|v| pb::RoundVenue {
                        venue: v.venue.to_string(),
                        accounts: v.accounts,
                        repaid: fig(v.repaid),
                        bad_debt: fig(v.bad_debt),
                    })
                    .collect(),
                sold: k
                    .sold
                    .into_iter()
                    .map(|(a, q)| pb::AssetQuantity {
                        asset: a.to_string(),
                        quantity: fig(q),
                    })
                    .collect(),
                newly_breached_count: k.newly_breached_count,
                newly_breached: names(k.newly_breached),
            })
            .collect(),
        settled: r.settled,
        debt_closed: fig(r.debt_closed),
        bad_debt: fig(r.bad_debt),
        breached_on_one: r.breached_on_one,
        breached_on_two: r.breached_on_two,
        assets: forced_sales(r.assets),
        amplification_debt_closed: opt_fig(r.amplification.debt_closed),
        amplification_sold: ratios(r.amplification.sold),
        amplification_price_fall: ratios(r.amplification.price_fall),
        victims_count: r.victims_count,
        victims: names(r.victims),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_short_decimals() {
        assert_eq!(fig(0.9485714285714286), "0.948571");
        assert_eq!(fig(70000.0), "70000");
        assert_eq!(fig(-0.0000001), "0");
        assert_eq!(fig(f64::INFINITY), "");
        assert_eq!(fig(-0.35), "-0.35");
    }
}
