//! Commands (every state change), their answers, alerts and audit records.
//!
//! A [`Command`] carries everything needed to apply it, including the time
//! it is applied at, so that applying the same commands in the same order to
//! the same state always gives the same state: a journal can record them and
//! replay them, and a model test can replay them too.

use rust_decimal::Decimal;

use crate::ids::{
    AssetId, BrokerId, LimitId, OracleId, OrderId, ParticipantId, ReservationId, VenueId,
};
use crate::limits::{Limit, LimitKind, LimitSpec, Scope};
pub use crate::value::liquidation::{AaveRule, LiquidationRule};
pub use crate::value::prices::{AssetClass, PriceRules, PriceState, QuoteOutcome, Refused};

/// Milliseconds since the Unix epoch, on the server's clock.
pub type UnixMs = i64;

/// Most updates in one sync message.
pub const SYNC_BATCH_MAX: usize = 1000;

/// Most quotes in one price message.
pub const PRICE_BATCH_MAX: usize = 256;

/// Every state change the ledger knows.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A venue's pre-trade check (a dry run changes nothing).
    Check {
        at_ms: UnixMs,
        venue: VenueId,
        request: CheckRequest,
    },
    /// A venue turns its open reservation into a posted commitment.
    Commit {
        at_ms: UnixMs,
        venue: VenueId,
        reservation: ReservationId,
    },
    /// A venue frees its open reservation.
    Release {
        at_ms: UnixMs,
        venue: VenueId,
        reservation: ReservationId,
    },
    /// One message of a broker's sync stream.
    Sync {
        at_ms: UnixMs,
        broker: BrokerId,
        batch: SyncBatch,
    },
    /// An admin creates or updates a limit.
    SetLimit {
        at_ms: UnixMs,
        by: String,
        spec: LimitSpec,
        expected_version: Option<u64>,
        /// The reason for loosening beyond the step (Risk Stewards' rule):
        /// without it such a change is refused.
        force: Option<String>,
    },
    /// An admin deletes a limit (a loosening: it needs `force`).
    DeleteLimit {
        at_ms: UnixMs,
        by: String,
        id: LimitId,
        force: Option<String>,
    },
    /// An admin changes a participant's trading state.
    SetTradingState {
        at_ms: UnixMs,
        by: String,
        participant: ParticipantId,
        state: TradingState,
        reason: String,
    },
    /// Time passes: expire reservations, notice stale brokers, forget old
    /// idempotency records.
    Tick { at_ms: UnixMs },
    /// The audit records up to `through_seq` are in the audit archive on
    /// disk (written and synced before this command is applied): they
    /// leave memory, and the hash of the last becomes the anchor the
    /// records kept in memory chain on from.
    ArchiveAudit { at_ms: UnixMs, through_seq: u64 },
    /// A call was refused (authentication or authorization): recorded in
    /// the audit log.
    RecordDenial {
        at_ms: UnixMs,
        principal: String,
        action: String,
        reason: String,
    },
    /// An admin changed a cluster's membership (`interlockctl cluster add`
    /// or `remove`): recorded in the audit log once the change is
    /// committed. The ledger only records it (the membership itself lives
    /// in the replication log); like a halt, never refused for lack of room.
    RecordClusterChange {
        at_ms: UnixMs,
        by: String,
        /// `add_node` or `remove_node`.
        action: String,
        node: u64,
        /// What the membership was and became, as text (the voters, and an
        /// added node's addresses).
        old_value: String,
        new_value: String,
    },
    /// The server started with these settings. Journaled, so that a replay
    /// judges every command under the settings it was judged under live.
    Configure {
        at_ms: UnixMs,
        config: crate::state::LedgerConfig,
    },
    /// One message of an oracle's price stream.
    PublishPrices {
        at_ms: UnixMs,
        oracle: OracleId,
        batch: PriceBatch,
    },
    /// An admin sets an asset's class (which prices it takes, later its
    /// haircut). An asset takes prices only once it has a class.
    SetAssetClass {
        at_ms: UnixMs,
        by: String,
        asset: AssetId,
        class: AssetClass,
    },
    /// The server started with these price rules (journaled, as
    /// `Configure`). A ledger that never had one uses the defaults.
    ConfigurePrices { at_ms: UnixMs, rules: PriceRules },
    /// An admin sets how a venue values an asset as collateral: its
    /// liquidation threshold and, where it has one, its loan-to-value.
    SetVenueAsset {
        at_ms: UnixMs,
        by: String,
        venue: VenueId,
        asset: AssetId,
        params: VenueAssetParams,
    },
    /// An admin pins Interlock's haircut for a classed asset (`None`
    /// unpins it: an asset without a haircut counts for nothing in HF^eco).
    /// Lowering a haircut is a loosening: by more than the loosening step
    /// it needs `force`, a reason.
    SetHaircut {
        at_ms: UnixMs,
        by: String,
        asset: AssetId,
        haircut: Option<Decimal>,
        force: Option<String>,
    },
    /// An admin sets the standard shock of an asset class (the shock
    /// vector STRESS_HF_ECO judges under): a share in [-1, 0]. A milder
    /// shock is a loosening: by more than the loosening step it needs
    /// `force`, a reason.
    SetStressShock {
        at_ms: UnixMs,
        by: String,
        class: AssetClass,
        shock: Decimal,
        force: Option<String>,
    },
    /// An admin sets how a venue liquidates (stress and cascade read it).
    SetVenueRule {
        at_ms: UnixMs,
        by: String,
        venue: VenueId,
        rule: LiquidationRule,
    },
    /// An admin sets a named stress scenario, or deletes it (`None`).
    SetScenario {
        at_ms: UnixMs,
        by: String,
        name: String,
        scenario: Option<Scenario>,
    },
    /// An admin opts a participant into reduce-only whenever the scheduled
    /// stress finds it breaching on `min_venues` venues or more at once,
    /// or out of it (`None`).
    SetStressGuard {
        at_ms: UnixMs,
        by: String,
        participant: ParticipantId,
        min_venues: Option<u32>,
    },
}

/// A named stress scenario (analytics.md): a move per asset class and per
/// asset, each a share in (-1, 10] (an asset's own move wins over its
/// class's). The ledger keeps the library, versioned and audited; the
/// analytics run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Where its figures come from (historical days: secondary sources).
    pub source: String,
    /// STABLE, MAJOR, ALT; `None`: the class does not move.
    pub by_class: [Option<Decimal>; 3],
    /// By asset, in asset order, each asset once.
    pub by_asset: Vec<(AssetId, Decimal)>,
}

impl Scenario {
    /// The scenario as the audit log spells it.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = ["STABLE", "MAJOR", "ALT"]
            .iter()
            .zip(&self.by_class)
            .filter_map(|(c, s)| s.map(|s| format!("{c}={s}")))
            .collect();
        parts.extend(self.by_asset.iter().map(|(a, s)| format!("{a}={s}")));
        parts.join(" ")
    }
}

/// The standard shock vector: per asset class, the share by which its
/// prices fall (negative) in the stress STRESS_HF_ECO judges under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StressShocks {
    pub stable: Decimal,
    pub major: Decimal,
    pub alt: Decimal,
}

impl Default for StressShocks {
    /// MAJOR −35%, ALT −50%, STABLE −5% (after Chaos Labs' stress tiers
    /// for Aave).
    fn default() -> Self {
        StressShocks {
            stable: Decimal::new(-5, 2),
            major: Decimal::new(-35, 2),
            alt: Decimal::new(-50, 2),
        }
    }
}

impl StressShocks {
    pub fn of(&self, class: AssetClass) -> Decimal {
        match class {
            AssetClass::Stable => self.stable,
            AssetClass::Major => self.major,
            AssetClass::Alt => self.alt,
        }
    }

    pub fn set(&mut self, class: AssetClass, shock: Decimal) {
        match class {
            AssetClass::Stable => self.stable = shock,
            AssetClass::Major => self.major = shock,
            AssetClass::Alt => self.alt = shock,
        }
    }
}

/// How a venue values an asset as collateral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueAssetParams {
    /// Liquidation threshold (Aave LT, Morpho LLTV), in (0, 1].
    pub threshold: Decimal,
    /// Loan-to-value, in (0, threshold]; `None` for a venue with none
    /// (Morpho-style): the threshold stands in for it.
    pub ltv: Option<Decimal>,
}

impl VenueAssetParams {
    /// The LTV the implied liability uses.
    pub fn ltv_or_threshold(&self) -> Decimal {
        self.ltv.unwrap_or(self.threshold)
    }
}

impl Command {
    /// The time the command is applied at.
    pub fn at_ms(&self) -> UnixMs {
        match self {
            Command::Check { at_ms, .. }
            | Command::Commit { at_ms, .. }
            | Command::Release { at_ms, .. }
            | Command::Sync { at_ms, .. }
            | Command::SetLimit { at_ms, .. }
            | Command::DeleteLimit { at_ms, .. }
            | Command::SetTradingState { at_ms, .. }
            | Command::Tick { at_ms }
            | Command::ArchiveAudit { at_ms, .. }
            | Command::RecordDenial { at_ms, .. }
            | Command::RecordClusterChange { at_ms, .. }
            | Command::Configure { at_ms, .. }
            | Command::PublishPrices { at_ms, .. }
            | Command::SetAssetClass { at_ms, .. }
            | Command::ConfigurePrices { at_ms, .. }
            | Command::SetVenueAsset { at_ms, .. }
            | Command::SetHaircut { at_ms, .. }
            | Command::SetStressShock { at_ms, .. }
            | Command::SetVenueRule { at_ms, .. }
            | Command::SetScenario { at_ms, .. }
            | Command::SetStressGuard { at_ms, .. } => *at_ms,
        }
    }

    /// Moves the command's time; the ledger uses it so that the time a
    /// journal records is the time the command was applied at.
    pub fn set_at_ms(&mut self, at: UnixMs) {
        match self {
            Command::Check { at_ms, .. }
            | Command::Commit { at_ms, .. }
            | Command::Release { at_ms, .. }
            | Command::Sync { at_ms, .. }
            | Command::SetLimit { at_ms, .. }
            | Command::DeleteLimit { at_ms, .. }
            | Command::SetTradingState { at_ms, .. }
            | Command::Tick { at_ms }
            | Command::ArchiveAudit { at_ms, .. }
            | Command::RecordDenial { at_ms, .. }
            | Command::RecordClusterChange { at_ms, .. }
            | Command::Configure { at_ms, .. }
            | Command::PublishPrices { at_ms, .. }
            | Command::SetAssetClass { at_ms, .. }
            | Command::ConfigurePrices { at_ms, .. }
            | Command::SetVenueAsset { at_ms, .. }
            | Command::SetHaircut { at_ms, .. }
            | Command::SetStressShock { at_ms, .. }
            | Command::SetVenueRule { at_ms, .. }
            | Command::SetScenario { at_ms, .. }
            | Command::SetStressGuard { at_ms, .. } => *at_ms = at,
        }
    }
}

/// A validated pre-trade check request. Equality of two requests (minus
/// `dry_run`) is what makes a repeated order id "the same request".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    pub order_id: OrderId,
    pub participant: ParticipantId,
    pub asset: AssetId,
    /// Positive, bounded by [`crate::amount::parse_positive_quantity`].
    pub quantity: Decimal,
    /// `None` means the ledger's default TTL.
    pub ttl_ms: Option<u64>,
    pub risk_reducing: bool,
    pub dry_run: bool,
    pub allow_partial: bool,
    /// The debt the order creates, in the numeraire, where the venue knows
    /// it; `None`: the implied one (quantity × price × the venue's LTV).
    /// Only the value limits read it.
    pub liability: Option<Decimal>,
}

/// A participant's ecosystem-wide trading state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TradingState {
    #[default]
    Active,
    ReduceOnly,
    Halted,
}

impl TradingState {
    pub fn name(self) -> &'static str {
        match self {
            TradingState::Active => "ACTIVE",
            TradingState::ReduceOnly => "REDUCE_ONLY",
            TradingState::Halted => "HALTED",
        }
    }
}

/// The verdict of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    PartiallyApproved,
    Rejected,
}

/// Why a check was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    LimitExceeded,
    NoCollateral,
    TradingHalted,
    ReduceOnly,
    StaleSync,
    /// A value limit needs a price that is not FRESH (or missing): new
    /// risk fails closed; a risk-reducing check is never refused for it.
    PriceStale,
}

/// The limit that bound a check. `id` is `None` for the built-in default
/// reuse ratio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitRef {
    pub kind: LimitKind,
    pub id: Option<LimitId>,
    pub scope: Scope,
    pub value: Decimal,
}

/// A rejection, naming the limit that binds hardest.
///
/// What a venue may learn is [`HeadroomBucket`]'s and this type's whole
/// content: nothing in it depends on the participant's collateral or on its
/// commitments on other venues beyond the headroom this venue has (see
/// ARCHITECTURE.md, "What a venue learns").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectReason {
    pub code: RejectCode,
    pub limit: Option<LimitRef>,
    /// The utilization the request would have reached, only for a limit
    /// that counts nothing but this venue's own usage (MAX_ORDER_QUANTITY, a
    /// MAX_COMMITMENT scoped to this venue). For a limit that spans venues
    /// it would tell the venue what the others hold: admins see it in the
    /// rejection alert instead.
    pub utilization: Option<Decimal>,
}

/// Coarse headroom left after the answer, measured against the request's
/// own quantity: a function of the headroom this venue sees and nothing
/// else, so it reveals no collateral and no other venue's commitments (a
/// share of the cap would: the cap is the reuse ratio times collateral).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadroomBucket {
    /// Nothing left.
    None,
    /// Less than one more order of this quantity would fit.
    Low,
    /// One to fewer than ten more.
    Medium,
    /// Ten or more.
    High,
}

impl HeadroomBucket {
    /// How many more orders of `quantity` fit in `left`: none left at all,
    /// under one, one to ten, ten or more.
    pub fn of(left: Decimal, quantity: Decimal) -> Self {
        if left <= Decimal::ZERO {
            return HeadroomBucket::None;
        }
        if left < quantity {
            HeadroomBucket::Low
        } else if quantity
            .checked_mul(Decimal::TEN)
            .is_some_and(|ten| left < ten)
        {
            HeadroomBucket::Medium
        } else {
            HeadroomBucket::High
        }
    }
}

/// The answer to a check. Stored whole under its order id, so a retry gets
/// exactly this answer back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckAnswer {
    pub order_id: OrderId,
    pub verdict: Verdict,
    pub reservation: Option<ReservationId>,
    pub approved: Decimal,
    pub expires_at_ms: Option<UnixMs>,
    /// Boxed: most answers are approvals, and answers are kept for every
    /// order id (idempotency), so the common case stays small.
    pub reason: Option<Box<RejectReason>>,
    pub headroom: HeadroomBucket,
    pub dry_run: bool,
}

/// Where a reservation stands. It leaves `Open` exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationState {
    Open,
    Committed,
    Released,
    Expired,
}

impl ReservationState {
    pub fn name(self) -> &'static str {
        match self {
            ReservationState::Open => "OPEN",
            ReservationState::Committed => "COMMITTED",
            ReservationState::Released => "RELEASED",
            ReservationState::Expired => "EXPIRED",
        }
    }
}

/// The answer to a commit or a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationAnswer {
    pub reservation: ReservationId,
    pub state: ReservationState,
    /// Set for committed reservations.
    pub commit_seq: Option<u64>,
}

/// One sync message: a sequence number and absolute values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBatch {
    pub sequence: u64,
    /// At most [`SYNC_BATCH_MAX`]; empty is a heartbeat.
    pub updates: Vec<SyncUpdate>,
}

/// An absolute value reported by a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncUpdate {
    /// What the participant owns of the asset in this broker's custody.
    Collateral {
        participant: ParticipantId,
        asset: AssetId,
        quantity: Decimal,
    },
    /// What the participant has posted on a venue; venue commits with a
    /// sequence above `covers_commit_seq` stay counted on top.
    Commitment {
        participant: ParticipantId,
        venue: VenueId,
        asset: AssetId,
        quantity: Decimal,
        covers_commit_seq: u64,
    },
    /// What the participant owes a venue in an asset (absolute; 0 is "no
    /// debt", which is not the same as never reported).
    Liability {
        participant: ParticipantId,
        venue: VenueId,
        asset: AssetId,
        quantity: Decimal,
    },
}

/// One message of an oracle's stream: a sequence number and quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBatch {
    pub sequence: u64,
    /// At most [`PRICE_BATCH_MAX`]; empty is a heartbeat.
    pub quotes: Vec<PriceQuote>,
}

/// One quote: an asset's price in the numeraire, as the oracle published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceQuote {
    pub asset: AssetId,
    /// Positive.
    pub price: Decimal,
    /// When the oracle's source published it.
    pub published_ms: UnixMs,
}

/// What became of one quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteVerdict {
    /// The asset's price is now this (the median of the fresh quotes).
    Accepted {
        price: Decimal,
    },
    /// The median moved past the jump guard and too few oracles agree: the
    /// last price stays (admins are alerted).
    Held {
        median: Decimal,
        last: Decimal,
    },
    Refused(Refused),
    /// No class is set for the asset: it takes no prices.
    UnknownAsset,
}

/// The answer to a price message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceAnswer {
    /// Applied: one verdict per quote, in order.
    Applied {
        sequence: u64,
        verdicts: Vec<QuoteVerdict>,
    },
    /// The message skipped sequences: nothing applied; resend from
    /// `expected`.
    Gap { expected: u64, got: u64 },
}

/// The answer to a sync message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncAnswer {
    /// Applied; this is now the last applied sequence.
    Applied { sequence: u64 },
    /// The message skipped sequences: nothing applied, the broker is marked
    /// gapped (its participants fail closed) until `expected` arrives.
    Gap { expected: u64, got: u64 },
}

/// The answer to a trading-state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradingStateAnswer {
    pub previous: TradingState,
    pub state: TradingState,
    pub released_reservations: u32,
}

/// What a command produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Check(CheckAnswer),
    Reservation(ReservationAnswer),
    Sync(SyncAnswer),
    Limit(Limit),
    LimitDeleted(Limit),
    TradingState(TradingStateAnswer),
    Tick {
        expired: u32,
    },
    /// The settings in force (after a `Configure`).
    Configured {
        changed: bool,
    },
    /// A denial was recorded as this audit record.
    DenialRecorded {
        seq: u64,
    },
    /// A cluster's membership change was recorded as this audit record.
    ClusterChangeRecorded {
        seq: u64,
    },
    /// Audit records up to this one left memory for the archive.
    AuditArchived {
        through_seq: u64,
    },
    Prices(PriceAnswer),
    /// Each value setting answers with its new version: 1 for the first
    /// value set, one more for each change (as limits count theirs).
    AssetClassSet {
        previous: Option<AssetClass>,
        class: AssetClass,
        version: u64,
    },
    VenueAssetSet {
        previous: Option<VenueAssetParams>,
        params: VenueAssetParams,
        version: u64,
    },
    HaircutSet {
        previous: Option<Decimal>,
        haircut: Option<Decimal>,
        version: u64,
    },
    StressShockSet {
        previous: Decimal,
        shock: Decimal,
        version: u64,
    },
    ScenarioSet {
        previous: Option<Scenario>,
        version: u64,
    },
    StressGuardSet {
        previous: Option<u32>,
        version: u64,
    },
    VenueRuleSet {
        previous: Option<LiquidationRule>,
        version: u64,
    },
}

/// The kinds of alert. See `AlertKind` in `admin.proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    WarningLevelCrossed,
    LimitRejection,
    Breach,
    TradingStateChanged,
    BrokerStale,
    SyncGap,
    /// A price move past the jump guard was held.
    PriceHeld,
    /// An asset's price went stale: new risk that needs it fails closed.
    PriceStale,
    /// An asset's price is fresh again after its grace period.
    PriceFresh,
    /// A participant's HF^eco fell below the warning level.
    HealthWarning,
    /// A participant's HF^eco fell below the critical level.
    HealthCritical,
    /// Several venues of one participant would not recover their debt if
    /// they called at once (HF^true < 1 on two or more).
    VenuesAtRisk,
    /// An asset's oracles disagree: a fresh quote is further than the
    /// agreement band from their median.
    PriceDeviation,
    /// Under the scheduled stress scenario a participant would now breach
    /// on two or more venues at once (it did not at the previous run).
    StressMultiVenue,
    /// Under the scheduled stress scenario the participants hidden by
    /// reuse (HF^eco < 1, every venue healthy) changed.
    StressHiddenByReuse,
}

/// Something the risk desk should see. Alerts go to admins only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub at_ms: UnixMs,
    pub kind: AlertKind,
    pub participant: Option<ParticipantId>,
    pub asset: Option<AssetId>,
    pub venue: Option<VenueId>,
    pub broker: Option<BrokerId>,
    pub limit_id: Option<LimitId>,
    pub utilization: Option<Decimal>,
    pub message: String,
}

impl Alert {
    pub fn new(at_ms: UnixMs, kind: AlertKind, message: String) -> Self {
        Alert {
            at_ms,
            kind,
            participant: None,
            asset: None,
            venue: None,
            broker: None,
            limit_id: None,
            utilization: None,
            message,
        }
    }
}

/// One admin change or denied call: who, when, what, old → new, outcome.
///
/// Records form a hash chain: `hash` = SHA-256 over `prev_hash` and the
/// record's fields ([`AuditRecord::compute_hash`]), `prev_hash` is the
/// previous record's `hash` (all zeros for the first). Changing, removing
/// or reordering any record breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: u64,
    pub at_ms: UnixMs,
    pub principal: String,
    pub action: String,
    pub target: String,
    pub old_value: String,
    pub new_value: String,
    /// "ok", or "denied: <why>".
    pub outcome: String,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

impl AuditRecord {
    /// The chain hash of a record: SHA-256 of `prev_hash`, then `seq` and
    /// `at_ms` as 8-byte big-endian integers, then each text field
    /// (principal, action, target, old_value, new_value, outcome) as an
    /// 8-byte big-endian length and its UTF-8 bytes.
    pub fn compute_hash(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.prev_hash);
        h.update(self.seq.to_be_bytes());
        h.update(self.at_ms.to_be_bytes());
        for f in [
            &self.principal,
            &self.action,
            &self.target,
            &self.old_value,
            &self.new_value,
            &self.outcome,
        ] {
            h.update((f.len() as u64).to_be_bytes());
            h.update(f.as_bytes());
        }
        h.finalize().into()
    }
}

/// Checks a run of audit records: each hash is right and links to the one
/// before (`anchor` is the `prev_hash` the first must carry). Returns the
/// sequence number of the first bad record.
pub fn verify_audit_chain<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    anchor: [u8; 32],
) -> Result<(), u64> {
    let mut prev = anchor;
    for r in records {
        if r.prev_hash != prev || r.compute_hash() != r.hash {
            return Err(r.seq);
        }
        prev = r.hash;
    }
    Ok(())
}

/// A command's outcome plus the alerts it raised.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub outcome: Outcome,
    pub alerts: Vec<Alert>,
}
