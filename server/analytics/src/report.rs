//! What runs answer: plain data, in a fixed order, figures in f64 (a
//! report, not an admission: `analytics.md`). The server turns them into
//! decimal strings on the wire.

use interlock_ledger::{AssetId, ParticipantId, VenueId};

/// `-0.35` as `-35%`.
pub fn pct(s: f64) -> String {
    format!("{}%", (s * 1e6).round() / 1e4)
}

/// An asset's price before and after the shock.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetMove {
    pub asset: AssetId,
    pub shock: f64,
    pub before: f64,
    pub after: f64,
}

/// One venue's figures for a participant, after the shock.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueFigure {
    pub venue: VenueId,
    pub debt: f64,
    pub hf_claim: f64,
    pub hf_true: f64,
    pub breached: bool,
    /// What the venue would lose if the participant failed.
    pub shortfall: f64,
}

/// A participant under the shock.
#[derive(Debug, Clone, PartialEq)]
pub struct ParticipantRow {
    pub participant: ParticipantId,
    pub hf_eco_before: f64,
    pub hf_eco_after: f64,
    /// max(0, Σ D − Σ O·P').
    pub shortfall: f64,
    pub venues: Vec<VenueFigure>,
    /// Per asset held: the price at which HF^eco reaches 1, the others at
    /// their shocked prices; `None` where it cannot be solved (debt in the
    /// same asset, nothing held after haircuts).
    pub liquidation_prices: Vec<(AssetId, Option<f64>)>,
}

/// A participant's loss to a venue (Cover-1 / Cover-2).
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub participant: ParticipantId,
    pub shortfall: f64,
}

/// What was seized of an asset.
#[derive(Debug, Clone, PartialEq)]
pub struct Seized {
    pub asset: AssetId,
    pub quantity: f64,
    pub value: f64,
}

/// A venue under the shock.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueRow {
    pub venue: VenueId,
    /// No rule was set: Aave v3.3 with a 5% bonus stood in.
    pub default_rule: bool,
    pub accounts_breached: u64,
    /// Σ D of the breached accounts.
    pub debt_at_risk: f64,
    pub seized: Vec<Seized>,
    pub repaid: f64,
    pub bad_debt: f64,
    /// The largest single participant's shortfall here, and who.
    pub cover1: Option<Exposure>,
    /// The two largest, summed; who.
    pub cover2: f64,
    pub cover2_participants: Vec<Exposure>,
}

/// An asset's forced sales.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetRow {
    pub asset: AssetId,
    pub sold_quantity: f64,
    pub sold_value: f64,
    /// M_a, when given: what the market absorbs for a 10% move.
    pub depth: Option<f64>,
    pub share_of_depth: Option<f64>,
}

/// The ecosystem's Cover-2: the two participants with the largest total
/// shortfall, and what each venue would lose to them.
#[derive(Debug, Clone, PartialEq)]
pub struct EcoCover {
    pub participants: Vec<Exposure>,
    /// Per venue, the two participants' shortfall there, summed.
    pub by_venue: Vec<(VenueId, f64)>,
}

/// The whole ecosystem under the shock.
#[derive(Debug, Clone, PartialEq)]
pub struct Ecosystem {
    pub participants: u64,
    pub breached_on_one: u64,
    pub breached_on_two: u64,
    pub debt_closed: f64,
    pub bad_debt: f64,
    /// HF^eco below 1 while every venue sees HF^claim ≥ 1: how many, and
    /// the first of them by id.
    pub hidden_by_reuse_count: u64,
    pub hidden_by_reuse: Vec<ParticipantId>,
    pub cover2: EcoCover,
}

/// `Stress(S)`'s answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StressReport {
    pub scenario: String,
    pub source: String,
    /// The ledger's time of the moment the run read.
    pub at_ms: i64,
    pub prices: Vec<AssetMove>,
    /// Worst first by shortfall, then those asked for.
    pub participants: Vec<ParticipantRow>,
    pub venues: Vec<VenueRow>,
    pub assets: Vec<AssetRow>,
    pub ecosystem: Ecosystem,
    /// Assets held or owed with no price: valued at 0.
    pub unpriced: Vec<AssetId>,
    /// Everyone breached on two venues or more, and everyone hidden by
    /// reuse, by id, when asked for.
    pub sets: Option<StressSets>,
    /// The watched participants the ledger knows, with the number of
    /// venues each breaches on (in the request's order).
    pub watched: Vec<(ParticipantId, u32)>,
}

/// Whole lists of a stress, by id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StressSets {
    pub breached_on_two: Vec<ParticipantId>,
    pub hidden: Vec<ParticipantId>,
}
