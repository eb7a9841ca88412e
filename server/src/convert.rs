//! The one place protobuf and domain types meet.
//!
//! Inbound functions validate every field and name the bad one; outbound
//! functions build `pb` messages. (Plain functions rather than `TryFrom`
//! impls: the generated types live in the `interlock` crate and the domain
//! types in `interlock-ledger`, so the orphan rule forbids the impls here.) Errors: [`status`] maps every
//! [`LedgerError`] to a gRPC status in one exhaustive match.

mod analytics;
pub use analytics::*;

use interlock::v1 as pb;
use interlock_ledger::amount::{self, AmountError};
use interlock_ledger::{self as domain, IdError, LedgerError};
use rust_decimal::Decimal;
use tonic::{Code, Status};

/// A request field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    pub field: &'static str,
    pub reason: String,
}

impl From<InvalidField> for Status {
    fn from(e: InvalidField) -> Status {
        Status::invalid_argument(e.to_string())
    }
}

fn bad(field: &'static str, reason: impl ToString) -> InvalidField {
    InvalidField {
        field,
        reason: reason.to_string(),
    }
}

fn id<T>(
    field: &'static str,
    s: &str,
    make: fn(&str) -> Result<T, IdError>,
) -> Result<T, InvalidField> {
    make(s).map_err(|e| bad(field, e))
}

fn opt_id<T>(
    field: &'static str,
    s: &str,
    make: fn(&str) -> Result<T, IdError>,
) -> Result<Option<T>, InvalidField> {
    if s.is_empty() {
        Ok(None)
    } else {
        id(field, s, make).map(Some)
    }
}

fn quantity(
    field: &'static str,
    s: &str,
    parse: fn(&str) -> Result<Decimal, AmountError>,
) -> Result<Decimal, InvalidField> {
    parse(s).map_err(|e| bad(field, e))
}

/// Parses a venue's reservation id.
pub fn reservation_id(s: &str) -> Result<domain::ReservationId, InvalidField> {
    s.parse()
        .map_err(|_| bad("reservation_id", "is not a reservation id (R<number>)"))
}

/// A validated check request.
pub fn check_request(r: pb::CheckRequest) -> Result<domain::CheckRequest, InvalidField> {
    Ok(domain::CheckRequest {
        order_id: id("order_id", &r.order_id, domain::OrderId::new)?,
        participant: id("participant", &r.participant, domain::ParticipantId::new)?,
        asset: id("asset", &r.asset, domain::AssetId::new)?,
        quantity: quantity("quantity", &r.quantity, amount::parse_positive_quantity)?,
        ttl_ms: (r.ttl_ms != 0).then_some(r.ttl_ms),
        risk_reducing: r.risk_reducing,
        dry_run: r.dry_run,
        allow_partial: r.allow_partial,
        liability: if r.liability.is_empty() {
            None
        } else {
            Some(quantity("liability", &r.liability, amount::parse_quantity)?)
        },
    })
}

fn scope(s: Option<pb::Scope>) -> Result<domain::Scope, InvalidField> {
    let s = s.unwrap_or_default();
    Ok(domain::Scope {
        participant: opt_id(
            "scope.participant",
            &s.participant,
            domain::ParticipantId::new,
        )?,
        venue: opt_id("scope.venue", &s.venue, domain::VenueId::new)?,
        asset: opt_id("scope.asset", &s.asset, domain::AssetId::new)?,
    })
}

fn limit_kind(k: i32) -> Result<domain::LimitKind, InvalidField> {
    match pb::LimitKind::try_from(k) {
        Ok(pb::LimitKind::ReuseRatio) => Ok(domain::LimitKind::ReuseRatio),
        Ok(pb::LimitKind::MaxCommitment) => Ok(domain::LimitKind::MaxCommitment),
        Ok(pb::LimitKind::AssetCap) => Ok(domain::LimitKind::AssetCap),
        Ok(pb::LimitKind::MaxOrderQuantity) => Ok(domain::LimitKind::MaxOrderQuantity),
        Ok(pb::LimitKind::MinHfEco) => Ok(domain::LimitKind::MinHfEco),
        Ok(pb::LimitKind::StressHfEco) => Ok(domain::LimitKind::StressHfEco),
        Ok(pb::LimitKind::ValueCap) => Ok(domain::LimitKind::ValueCap),
        Ok(pb::LimitKind::Unspecified) => Err(bad("kind", "must be set")),
        Err(_) => Err(bad("kind", format!("unknown value {k}"))),
    }
}

/// A validated SetLimit request: the spec, the optional expected version,
/// and the forced reason (if any).
pub fn limit_spec(
    r: pb::SetLimitRequest,
) -> Result<(domain::LimitSpec, Option<u64>, Option<String>), InvalidField> {
    let kind = limit_kind(r.kind)?;
    let value = match kind {
        // Ratios: a reuse ratio, a health floor.
        domain::LimitKind::ReuseRatio
        | domain::LimitKind::MinHfEco
        | domain::LimitKind::StressHfEco => quantity("value", &r.value, amount::parse_ratio)?,
        // Quantities, or a value in the numeraire (VALUE_CAP).
        domain::LimitKind::MaxCommitment
        | domain::LimitKind::AssetCap
        | domain::LimitKind::MaxOrderQuantity
        | domain::LimitKind::ValueCap => {
            quantity("value", &r.value, amount::parse_positive_quantity)?
        }
    };
    if r.warn_levels_pct.len() > domain::limits::WARN_LEVELS_MAX {
        return Err(bad(
            "warn_levels_pct",
            format!("at most {} levels", domain::limits::WARN_LEVELS_MAX),
        ));
    }
    let mut warn = r
        .warn_levels_pct
        .iter()
        .map(|w| quantity("warn_levels_pct", w, amount::parse_percent))
        .collect::<Result<Vec<_>, _>>()?;
    warn.sort();
    warn.dedup();
    let spec = domain::LimitSpec {
        kind,
        scope: scope(r.scope)?,
        value,
        warn_levels_pct: warn,
    };
    spec.validate().map_err(|e| bad("scope", e))?;
    Ok((spec, r.expected_version, force_reason(&r.force_reason)?))
}

/// A forced reason: empty means not forced.
pub fn force_reason(s: &str) -> Result<Option<String>, InvalidField> {
    if s.is_empty() {
        return Ok(None);
    }
    reason(s)
        .map(Some)
        .map_err(|e| bad("force_reason", e.reason))
}

/// A validated trading state (UNSPECIFIED and unknown values refused).
pub fn trading_state(s: i32) -> Result<domain::TradingState, InvalidField> {
    match pb::TradingState::try_from(s) {
        Ok(pb::TradingState::Active) => Ok(domain::TradingState::Active),
        Ok(pb::TradingState::ReduceOnly) => Ok(domain::TradingState::ReduceOnly),
        Ok(pb::TradingState::Halted) => Ok(domain::TradingState::Halted),
        Ok(pb::TradingState::Unspecified) => Err(bad("state", "must be set")),
        Err(_) => Err(bad("state", format!("unknown value {s}"))),
    }
}

/// Most characters in an audit reason.
pub const REASON_LEN_MAX: usize = 256;

/// A validated free-text reason: bounded, no control characters.
pub fn reason(s: &str) -> Result<String, InvalidField> {
    if s.chars().count() > REASON_LEN_MAX {
        return Err(bad(
            "reason",
            format!("longer than {REASON_LEN_MAX} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(bad("reason", "contains a control character"));
    }
    Ok(s.to_owned())
}

/// A validated participant id field.
pub fn participant(s: &str) -> Result<domain::ParticipantId, InvalidField> {
    id("participant", s, domain::ParticipantId::new)
}

/// A validated limit id field.
pub fn limit_id(s: &str) -> Result<domain::LimitId, InvalidField> {
    id("id", s, domain::LimitId::new)
}

/// A validated sync message.
pub fn sync_batch(r: pb::SyncRequest) -> Result<domain::SyncBatch, InvalidField> {
    if r.sequence == 0 {
        return Err(bad("sequence", "must be at least 1"));
    }
    if r.updates.len() > domain::SYNC_BATCH_MAX {
        return Err(bad(
            "updates",
            format!("at most {} per message", domain::SYNC_BATCH_MAX),
        ));
    }
    let updates = r
        .updates
        .into_iter()
        .map(sync_update)
        .collect::<Result<_, _>>()?;
    Ok(domain::SyncBatch {
        sequence: r.sequence,
        updates,
    })
}

fn sync_update(u: pb::SyncUpdate) -> Result<domain::SyncUpdate, InvalidField> {
    use pb::sync_update::Update;
    match u.update {
        Some(Update::Collateral(c)) => Ok(domain::SyncUpdate::Collateral {
            participant: id(
                "updates.collateral.participant",
                &c.participant,
                domain::ParticipantId::new,
            )?,
            asset: id("updates.collateral.asset", &c.asset, domain::AssetId::new)?,
            quantity: quantity(
                "updates.collateral.quantity",
                &c.quantity,
                amount::parse_quantity,
            )?,
        }),
        Some(Update::Commitment(c)) => Ok(domain::SyncUpdate::Commitment {
            participant: id(
                "updates.commitment.participant",
                &c.participant,
                domain::ParticipantId::new,
            )?,
            venue: id("updates.commitment.venue", &c.venue, domain::VenueId::new)?,
            asset: id("updates.commitment.asset", &c.asset, domain::AssetId::new)?,
            quantity: quantity(
                "updates.commitment.quantity",
                &c.quantity,
                amount::parse_quantity,
            )?,
            covers_commit_seq: c.covers_commit_seq,
        }),
        Some(Update::Liability(l)) => Ok(domain::SyncUpdate::Liability {
            participant: id(
                "updates.liability.participant",
                &l.participant,
                domain::ParticipantId::new,
            )?,
            venue: id("updates.liability.venue", &l.venue, domain::VenueId::new)?,
            asset: id("updates.liability.asset", &l.asset, domain::AssetId::new)?,
            quantity: quantity(
                "updates.liability.quantity",
                &l.quantity,
                amount::parse_quantity,
            )?,
        }),
        None => Err(bad("updates.update", "must be set")),
    }
}

// ---- prices (both ways) ------------------------------------------------

pub fn price_batch(r: pb::PublishRequest) -> Result<domain::PriceBatch, InvalidField> {
    if r.sequence == 0 {
        return Err(bad("sequence", "must be at least 1"));
    }
    if r.quotes.len() > domain::PRICE_BATCH_MAX {
        return Err(bad(
            "quotes",
            format!("at most {} per message", domain::PRICE_BATCH_MAX),
        ));
    }
    let quotes = r
        .quotes
        .into_iter()
        .map(|q| {
            Ok(domain::PriceQuote {
                asset: id("quotes.asset", &q.asset, domain::AssetId::new)?,
                // Zero is a quote the ledger refuses (REFUSED_NOT_POSITIVE);
                // a malformed or negative one is a bad message.
                price: quantity("quotes.price", &q.price, amount::parse_quantity)?,
                published_ms: q.published_ms,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(domain::PriceBatch {
        sequence: r.sequence,
        quotes,
    })
}

pub fn publish_ack(sequence: u64, verdicts: Vec<domain::QuoteVerdict>) -> pb::PublishAck {
    use domain::QuoteVerdict as V;
    use pb::QuoteStatus as S;
    let verdicts = verdicts
        .into_iter()
        .map(|v| {
            let (status, price, median) = match v {
                V::Accepted { price } => (S::Accepted, dec(price), String::new()),
                V::Held { median, last } => (S::Held, dec(last), dec(median)),
                V::Refused(r) => (
                    match r {
                        domain::Refused::NotPositive => S::RefusedNotPositive,
                        domain::Refused::TooOld => S::RefusedTooOld,
                        domain::Refused::FromTheFuture => S::RefusedFromTheFuture,
                        domain::Refused::OutOfOrder => S::RefusedOutOfOrder,
                        domain::Refused::TooManyOracles => S::RefusedTooManyOracles,
                    },
                    String::new(),
                    String::new(),
                ),
                V::UnknownAsset => (S::UnknownAsset, String::new(), String::new()),
            };
            pb::QuoteVerdict {
                status: status.into(),
                price,
                median,
            }
        })
        .collect();
    pb::PublishAck {
        applied_sequence: sequence,
        verdicts,
    }
}

pub fn asset_class(c: i32) -> Result<domain::AssetClass, InvalidField> {
    match pb::AssetClass::try_from(c) {
        Ok(pb::AssetClass::Stable) => Ok(domain::AssetClass::Stable),
        Ok(pb::AssetClass::Major) => Ok(domain::AssetClass::Major),
        Ok(pb::AssetClass::Alt) => Ok(domain::AssetClass::Alt),
        _ => Err(bad("class", "must be STABLE, MAJOR or ALT")),
    }
}

pub fn asset_class_pb(c: domain::AssetClass) -> pb::AssetClass {
    match c {
        domain::AssetClass::Stable => pb::AssetClass::Stable,
        domain::AssetClass::Major => pb::AssetClass::Major,
        domain::AssetClass::Alt => pb::AssetClass::Alt,
    }
}

pub fn asset(s: &str) -> Result<domain::AssetId, InvalidField> {
    id("asset", s, domain::AssetId::new)
}

pub fn asset_price_pb(
    asset: &domain::AssetId,
    p: &domain::value::prices::AssetPrice<domain::OracleId>,
    haircut: Option<Decimal>,
    model_haircut: Option<Decimal>,
) -> pb::AssetPrice {
    let (state, since) = match p.state() {
        domain::PriceState::Fresh => (pb::PriceState::Fresh, 0),
        domain::PriceState::Stale => (pb::PriceState::Stale, 0),
        domain::PriceState::Recovering { since_ms } => (pb::PriceState::Recovering, since_ms),
    };
    pb::AssetPrice {
        asset: asset.to_string(),
        class: asset_class_pb(p.class).into(),
        price: p.last_price().map(dec).unwrap_or_default(),
        state: state.into(),
        accepted_at_ms: p.accepted_at_ms().unwrap_or(0),
        recovering_since_ms: since,
        haircut: opt_dec(haircut),
        model_haircut: opt_dec(model_haircut),
        quotes: p
            .quotes()
            .iter()
            .map(|q| pb::OracleQuote {
                oracle: q.oracle.to_string(),
                price: dec(q.price),
                published_ms: q.published_ms,
            })
            .collect(),
    }
}

// ---- outbound --------------------------------------------------------

pub fn venue_asset_params(
    r: &pb::SetVenueAssetRequest,
) -> Result<domain::VenueAssetParams, InvalidField> {
    let ratio = |field: &'static str, s: &str| {
        amount::parse_decimal(s, amount::RATIO_SCALE_MAX, 1).map_err(|e| bad(field, e))
    };
    Ok(domain::VenueAssetParams {
        threshold: ratio("threshold", &r.threshold)?,
        ltv: if r.ltv.is_empty() {
            None
        } else {
            Some(ratio("ltv", &r.ltv)?)
        },
    })
}

pub fn haircut(s: &str) -> Result<Option<Decimal>, InvalidField> {
    if s.is_empty() {
        return Ok(None);
    }
    amount::parse_decimal(s, amount::RATIO_SCALE_MAX, 1)
        .map(Some)
        .map_err(|e| bad("haircut", e))
}

/// A venue's liquidation rule; bounds are the ledger's to check.
pub fn liquidation_rule(
    r: Option<pb::LiquidationRule>,
) -> Result<domain::LiquidationRule, InvalidField> {
    let ratio = |field: &'static str, s: &str| {
        amount::parse_decimal(s, amount::RATIO_SCALE_MAX, 1).map_err(|e| bad(field, e))
    };
    match r.and_then(|r| r.rule) {
        Some(pb::liquidation_rule::Rule::Aave(a)) => {
            Ok(domain::LiquidationRule::Aave(domain::AaveRule {
                close_factor: ratio("rule.aave.close_factor", &a.close_factor)?,
                hf_full: ratio("rule.aave.hf_full", &a.hf_full)?,
                min_full_base: quantity(
                    "rule.aave.min_full_base",
                    &a.min_full_base,
                    amount::parse_quantity,
                )?,
                bonus: ratio("rule.aave.bonus", &a.bonus)?,
            }))
        }
        Some(pb::liquidation_rule::Rule::Morpho(_)) => Ok(domain::LiquidationRule::Morpho),
        Some(pb::liquidation_rule::Rule::Exchange(e)) => Ok(domain::LiquidationRule::Exchange {
            penalty: ratio("rule.exchange.penalty", &e.penalty)?,
        }),
        None => Err(bad("rule", "must be set (aave, morpho or exchange)")),
    }
}

pub fn liquidation_rule_pb(r: domain::LiquidationRule) -> pb::LiquidationRule {
    use pb::liquidation_rule::Rule;
    let rule = match r {
        domain::LiquidationRule::Aave(a) => Rule::Aave(pb::AaveRule {
            close_factor: dec(a.close_factor),
            hf_full: dec(a.hf_full),
            min_full_base: dec(a.min_full_base),
            bonus: dec(a.bonus),
        }),
        domain::LiquidationRule::Morpho => Rule::Morpho(pb::MorphoRule {}),
        domain::LiquidationRule::Exchange { penalty } => Rule::Exchange(pb::ExchangeRule {
            penalty: dec(penalty),
        }),
    };
    pb::LiquidationRule { rule: Some(rule) }
}

pub fn venue_config_pb(v: domain::state::VenueView) -> pb::VenueConfig {
    pb::VenueConfig {
        venue: v.venue.to_string(),
        rule: v.rule.map(liquidation_rule_pb),
        assets: v
            .assets
            .into_iter()
            .map(|(a, p)| pb::VenueAssetConfig {
                asset: a.to_string(),
                threshold: dec(p.threshold),
                ltv: opt_dec(p.ltv),
            })
            .collect(),
    }
}

/// A stress shock: a share in [-1, 0] ("-0.35"), at most 6 places.
pub fn stress_shock(s: &str) -> Result<Decimal, InvalidField> {
    let field = "shock";
    let magnitude = match s.strip_prefix('-') {
        Some(m) => m,
        None if s.trim_start_matches(['0', '.']).is_empty() && !s.is_empty() => s,
        None => return Err(bad(field, "must be a fall: between -1 and 0 (e.g. -0.35)")),
    };
    let m =
        amount::parse_decimal(magnitude, amount::RATIO_SCALE_MAX, 1).map_err(|e| bad(field, e))?;
    if m > Decimal::ONE {
        return Err(bad(field, "must be between -1 and 0"));
    }
    Ok(-m)
}

pub fn stress_shocks_pb(s: domain::StressShocks) -> pb::StressShocks {
    pb::StressShocks {
        stable: dec(s.stable),
        major: dec(s.major),
        alt: dec(s.alt),
    }
}

pub fn venue(s: &str) -> Result<domain::VenueId, InvalidField> {
    id("venue", s, domain::VenueId::new)
}

/// An exposure line's price, haircut and value in HF^eco.
pub fn value_columns(
    a: &mut pb::AssetExposure,
    owned: Decimal,
    price: Option<&domain::value::prices::AssetPrice<domain::OracleId>>,
    haircut: Option<Decimal>,
) {
    a.haircut = opt_dec(haircut);
    let Some(p) = price else { return };
    a.price_state = match p.state() {
        domain::PriceState::Fresh => pb::PriceState::Fresh,
        domain::PriceState::Stale => pb::PriceState::Stale,
        domain::PriceState::Recovering { .. } => pb::PriceState::Recovering,
    }
    .into();
    let Some(last) = p.last_price() else { return };
    a.price = dec(last);
    let keep = haircut.map_or(Decimal::ZERO, |h| Decimal::ONE - h);
    a.collateral_value = owned
        .checked_mul(last)
        .and_then(|v| v.checked_mul(keep))
        .map(dec)
        .unwrap_or_default();
}

/// A health figure as the API spells it: a decimal, "no debt" or
/// "unknown".
pub fn health_str(h: domain::value::health::Health) -> String {
    use domain::value::health::Health;
    match h {
        Health::Ratio(r) => dec(r),
        Health::NoDebt => "no debt".to_owned(),
        Health::Unknown => "unknown".to_owned(),
    }
}

pub fn health_pb(h: domain::state::HealthView) -> pb::ParticipantHealth {
    pb::ParticipantHealth {
        participant: h.participant.to_string(),
        hf_eco: health_str(h.eco),
        collateral_value: dec(h.collateral_value),
        total_debt: opt_dec(h.total_debt),
        venues: h
            .venues
            .into_iter()
            .map(|v| pb::VenueHealth {
                venue: v.venue.to_string(),
                debt: opt_dec(v.debt),
                debt_implied: v.debt_implied,
                hf_claim: health_str(v.claim),
                hf_true: health_str(v.true_health),
                liquidation_prices: liquidation_prices_pb(&v.liquidation_prices),
            })
            .collect(),
        unpriced: h.unpriced.iter().map(|a| a.to_string()).collect(),
        stale: h.stale.iter().map(|a| a.to_string()).collect(),
        liquidation_prices: liquidation_prices_pb(&h.liquidation_prices),
        hf_eco_stressed: health_str(h.eco_stressed),
        distance_to_default: match h.distance_to_default {
            domain::state::Distance::Shock(s) => dec(s.round_dp(6)),
            domain::state::Distance::Never => "none".to_owned(),
            domain::state::Distance::Unknown => "unknown".to_owned(),
        },
        top_collateral: h
            .top_collateral
            .iter()
            .map(|(a, v)| pb::Contribution {
                name: a.to_string(),
                value: dec(*v),
            })
            .collect(),
        top_debt: h
            .top_debt
            .iter()
            .map(|(venue, v)| pb::Contribution {
                name: venue.to_string(),
                value: dec(*v),
            })
            .collect(),
        reuse: h
            .reuse
            .iter()
            .map(|(a, r)| pb::AssetReuse {
                asset: a.to_string(),
                reuse: opt_dec(*r),
            })
            .collect(),
    }
}

pub fn health_rank_pb(r: domain::state::HealthRank) -> pb::HealthRank {
    pb::HealthRank {
        participant: r.participant.to_string(),
        hf_eco: health_str(r.eco),
        collateral_value: dec(r.collateral_value),
        total_debt: opt_dec(r.total_debt),
        state: trading_state_pb(r.trading_state).into(),
    }
}

fn liquidation_prices_pb(
    prices: &[(domain::AssetId, Option<Decimal>)],
) -> Vec<pb::LiquidationPrice> {
    prices
        .iter()
        .map(|(asset, price)| pb::LiquidationPrice {
            asset: asset.to_string(),
            price: opt_dec(*price),
        })
        .collect()
}

fn dec(d: Decimal) -> String {
    d.normalize().to_string()
}

fn opt_dec(d: Option<Decimal>) -> String {
    d.map(dec).unwrap_or_default()
}

fn opt_str<T: ToString>(x: &Option<T>) -> String {
    x.as_ref().map(ToString::to_string).unwrap_or_default()
}

pub fn limit_kind_pb(k: domain::LimitKind) -> pb::LimitKind {
    match k {
        domain::LimitKind::ReuseRatio => pb::LimitKind::ReuseRatio,
        domain::LimitKind::MaxCommitment => pb::LimitKind::MaxCommitment,
        domain::LimitKind::AssetCap => pb::LimitKind::AssetCap,
        domain::LimitKind::MaxOrderQuantity => pb::LimitKind::MaxOrderQuantity,
        domain::LimitKind::MinHfEco => pb::LimitKind::MinHfEco,
        domain::LimitKind::StressHfEco => pb::LimitKind::StressHfEco,
        domain::LimitKind::ValueCap => pb::LimitKind::ValueCap,
    }
}

pub fn scope_pb(s: &domain::Scope) -> pb::Scope {
    pb::Scope {
        participant: opt_str(&s.participant),
        venue: opt_str(&s.venue),
        asset: opt_str(&s.asset),
    }
}

pub fn trading_state_pb(s: domain::TradingState) -> pb::TradingState {
    match s {
        domain::TradingState::Active => pb::TradingState::Active,
        domain::TradingState::ReduceOnly => pb::TradingState::ReduceOnly,
        domain::TradingState::Halted => pb::TradingState::Halted,
    }
}

pub fn reservation_state_pb(s: domain::ReservationState) -> pb::ReservationState {
    match s {
        domain::ReservationState::Open => pb::ReservationState::Open,
        domain::ReservationState::Committed => pb::ReservationState::Committed,
        domain::ReservationState::Released => pb::ReservationState::Released,
        domain::ReservationState::Expired => pb::ReservationState::Expired,
    }
}

fn reject_reason(r: &domain::RejectReason) -> pb::RejectReason {
    let code = match r.code {
        domain::RejectCode::LimitExceeded => pb::RejectCode::LimitExceeded,
        domain::RejectCode::NoCollateral => pb::RejectCode::NoCollateral,
        domain::RejectCode::TradingHalted => pb::RejectCode::TradingHalted,
        domain::RejectCode::ReduceOnly => pb::RejectCode::ReduceOnly,
        domain::RejectCode::StaleSync => pb::RejectCode::StaleSync,
        domain::RejectCode::PriceStale => pb::RejectCode::PriceStale,
    };
    let message = match (&r.code, &r.limit) {
        // The utilization is there only for a limit on this venue's own
        // usage (see `domain::RejectReason`).
        (domain::RejectCode::LimitExceeded, Some(l)) => format!(
            "{} limit {} ({}) of {} would be exceeded{}",
            l.kind.name(),
            l.id.as_ref().map_or("default", |i| i.as_str()),
            l.scope,
            dec(l.value),
            r.utilization
                .map(|u| format!(": utilization {}", dec(u)))
                .unwrap_or_default(),
        ),
        (domain::RejectCode::LimitExceeded, None) => "a limit would be exceeded".to_owned(),
        (domain::RejectCode::NoCollateral, _) => {
            "no synced collateral of this asset: zero headroom".to_owned()
        }
        (domain::RejectCode::TradingHalted, _) => "participant is halted".to_owned(),
        (domain::RejectCode::ReduceOnly, _) => {
            "participant is reduce-only: only risk-reducing orders pass".to_owned()
        }
        (domain::RejectCode::StaleSync, _) => {
            "broker sync for this participant is stale or gapped: failing closed".to_owned()
        }
        (domain::RejectCode::PriceStale, _) => {
            "a price the value limits need is not fresh: new risk fails closed".to_owned()
        }
    };
    pb::RejectReason {
        code: code.into(),
        kind: r
            .limit
            .as_ref()
            .map_or(pb::LimitKind::Unspecified, |l| limit_kind_pb(l.kind))
            .into(),
        limit_id: r.limit.as_ref().map(|l| opt_str(&l.id)).unwrap_or_default(),
        scope: r.limit.as_ref().map(|l| scope_pb(&l.scope)),
        limit_value: r.limit.as_ref().map(|l| dec(l.value)).unwrap_or_default(),
        utilization: opt_dec(r.utilization),
        message,
    }
}

pub fn check_response(a: domain::CheckAnswer) -> pb::CheckResponse {
    let verdict = match a.verdict {
        domain::Verdict::Approved => pb::Verdict::Approved,
        domain::Verdict::PartiallyApproved => pb::Verdict::PartiallyApproved,
        domain::Verdict::Rejected => pb::Verdict::Rejected,
    };
    let headroom = match a.headroom {
        domain::HeadroomBucket::None => pb::HeadroomBucket::None,
        domain::HeadroomBucket::Low => pb::HeadroomBucket::Low,
        domain::HeadroomBucket::Medium => pb::HeadroomBucket::Medium,
        domain::HeadroomBucket::High => pb::HeadroomBucket::High,
    };
    pb::CheckResponse {
        order_id: a.order_id.to_string(),
        verdict: verdict.into(),
        reservation_id: opt_str(&a.reservation),
        approved_quantity: dec(a.approved),
        expires_at_ms: a.expires_at_ms.unwrap_or_default(),
        reason: a.reason.as_deref().map(reject_reason),
        headroom: headroom.into(),
        dry_run: a.dry_run,
    }
}

pub fn commit_response(r: domain::ReservationAnswer) -> pb::CommitResponse {
    pb::CommitResponse {
        reservation_id: r.reservation.to_string(),
        state: reservation_state_pb(r.state).into(),
        commit_seq: r.commit_seq.unwrap_or_default(),
    }
}

pub fn release_response(r: domain::ReservationAnswer) -> pb::ReleaseResponse {
    pb::ReleaseResponse {
        reservation_id: r.reservation.to_string(),
        state: reservation_state_pb(r.state).into(),
    }
}

pub fn limit_pb(l: domain::Limit) -> pb::Limit {
    pb::Limit {
        id: l.id.to_string(),
        kind: limit_kind_pb(l.spec.kind).into(),
        scope: Some(scope_pb(&l.spec.scope)),
        value: dec(l.spec.value),
        warn_levels_pct: l.spec.warn_levels_pct.iter().map(|w| dec(*w)).collect(),
        version: l.version,
        updated_at_ms: l.updated_at_ms,
        updated_by: l.updated_by,
    }
}

pub fn exposure_pb(e: domain::state::Exposure) -> pb::Exposure {
    pb::Exposure {
        participant: e.participant.to_string(),
        state: trading_state_pb(e.trading_state).into(),
        assets: e
            .assets
            .into_iter()
            .map(|a| pb::AssetExposure {
                asset: a.asset.to_string(),
                owned: dec(a.owned),
                venues: a
                    .venues
                    .into_iter()
                    .map(|v| pb::VenueExposure {
                        venue: v.venue.to_string(),
                        posted: dec(v.posted),
                        reserved: dec(v.reserved),
                        owed: opt_dec(v.owed),
                    })
                    .collect(),
                committed: dec(a.committed),
                reuse_ratio: opt_dec(a.reuse_ratio),
                reuse_limit: dec(a.reuse_limit),
                effective_limit: dec(a.effective_limit),
                utilization: opt_dec(a.utilization),
                // Filled by `value_columns` where prices are known.
                price: String::new(),
                price_state: pb::PriceState::Unspecified.into(),
                haircut: String::new(),
                collateral_value: String::new(),
            })
            .collect(),
        brokers: e.brokers.iter().map(ToString::to_string).collect(),
        stale: e.stale,
        hf_eco: String::new(),
    }
}

pub fn top_entry_pb(e: domain::state::TopEntry) -> pb::TopEntry {
    pb::TopEntry {
        participant: e.participant.to_string(),
        asset: e.asset.to_string(),
        utilization: opt_dec(e.utilization),
        committed: dec(e.committed),
        effective_limit: dec(e.effective_limit),
        state: trading_state_pb(e.trading_state).into(),
    }
}

pub fn audit_record_pb(r: domain::AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        seq: r.seq,
        at_ms: r.at_ms,
        principal: r.principal,
        action: r.action,
        target: r.target,
        old_value: r.old_value,
        new_value: r.new_value,
        outcome: r.outcome,
        prev_hash: hex::encode(r.prev_hash),
        hash: hex::encode(r.hash),
    }
}

/// An alert kind as the proto names it.
pub fn alert_kind(k: domain::AlertKind) -> pb::AlertKind {
    match k {
        domain::AlertKind::WarningLevelCrossed => pb::AlertKind::WarningLevelCrossed,
        domain::AlertKind::LimitRejection => pb::AlertKind::LimitRejection,
        domain::AlertKind::Breach => pb::AlertKind::Breach,
        domain::AlertKind::TradingStateChanged => pb::AlertKind::TradingStateChanged,
        domain::AlertKind::BrokerStale => pb::AlertKind::BrokerStale,
        domain::AlertKind::SyncGap => pb::AlertKind::SyncGap,
        domain::AlertKind::PriceHeld => pb::AlertKind::PriceHeld,
        domain::AlertKind::PriceStale => pb::AlertKind::PriceStale,
        domain::AlertKind::PriceFresh => pb::AlertKind::PriceFresh,
        domain::AlertKind::HealthWarning => pb::AlertKind::HealthWarning,
        domain::AlertKind::HealthCritical => pb::AlertKind::HealthCritical,
        domain::AlertKind::VenuesAtRisk => pb::AlertKind::VenuesAtRisk,
        domain::AlertKind::PriceDeviation => pb::AlertKind::PriceDeviation,
        domain::AlertKind::StressMultiVenue => pb::AlertKind::StressMultiVenue,
        domain::AlertKind::StressHiddenByReuse => pb::AlertKind::StressHiddenByReuse,
    }
}

/// An alert kind's name without the enum's prefix (`BREACH`), for metric
/// labels.
pub fn alert_kind_name(k: domain::AlertKind) -> &'static str {
    let name = alert_kind(k).as_str_name();
    name.strip_prefix("ALERT_KIND_").unwrap_or(name)
}

/// A price state's name as the proto spells it without its prefix, for
/// metric labels.
pub fn price_state_name(s: domain::PriceState) -> &'static str {
    match s {
        domain::PriceState::Fresh => "FRESH",
        domain::PriceState::Stale => "STALE",
        domain::PriceState::Recovering { .. } => "RECOVERING",
    }
}

/// An alert for the admin stream, numbered by the caller.
pub fn alert(seq: u64, a: domain::Alert) -> pb::Alert {
    pb::Alert {
        seq,
        at_ms: a.at_ms,
        kind: alert_kind(a.kind).into(),
        participant: opt_str(&a.participant),
        asset: opt_str(&a.asset),
        venue: opt_str(&a.venue),
        broker: opt_str(&a.broker),
        limit_id: opt_str(&a.limit_id),
        utilization: opt_dec(a.utilization),
        message: a.message,
    }
}

/// Every ledger error as a gRPC status. No `_` arm: a new error must be
/// placed here on purpose.
pub fn status(e: LedgerError) -> Status {
    let code = match &e {
        LedgerError::InvalidArgument { .. }
        | LedgerError::InvalidLimit(_)
        | LedgerError::Overflow(_) => Code::InvalidArgument,
        LedgerError::IdempotencyConflict { .. } => Code::AlreadyExists,
        LedgerError::ReservationNotFound | LedgerError::LimitNotFound(_) => Code::NotFound,
        LedgerError::ReservationEnded(_)
        | LedgerError::SequenceReplayed { .. }
        | LedgerError::VersionMismatch { .. }
        | LedgerError::LoosensTooFar { .. } => Code::FailedPrecondition,
        LedgerError::CapacityExhausted { .. } => Code::ResourceExhausted,
        LedgerError::Unavailable(_) => Code::Unavailable,
    };
    Status::new(code, e.to_string())
}

/// A per-message error inside a stream.
pub fn stream_error(s: &Status) -> pb::StreamError {
    pb::StreamError {
        code: s.code() as i32,
        message: s.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(q: &str) -> pb::CheckRequest {
        pb::CheckRequest {
            order_id: "o1".into(),
            participant: "p".into(),
            asset: "ETH".into(),
            quantity: q.into(),
            ..Default::default()
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let e = check_request(check("1e5")).unwrap_err();
        assert_eq!(e.field, "quantity");
        let e = check_request(pb::CheckRequest {
            participant: String::new(),
            ..check("1")
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "participant: must not be empty");
        let e = limit_spec(pb::SetLimitRequest {
            kind: 99,
            value: "1".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "kind: unknown value 99");
        assert_eq!(trading_state(0).unwrap_err().field, "state");
        assert!(reservation_id("R12").is_ok());
        assert_eq!(reservation_id("12").unwrap_err().field, "reservation_id");
    }
}
