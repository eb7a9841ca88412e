//! The ledger's state and the one place every command is applied.
//!
//! [`State::apply`] validates a command completely before it changes
//! anything, so a command that fails leaves the state as it was (time still
//! passes: reservations that are due expire first).
//!
//! This file holds the state's types, [`State::apply`] and the clock's
//! tick; each family of commands is applied in its own file: `check.rs`
//! (judging and reserving), `lifecycle.rs` (commit, release, expiry),
//! `sync.rs` (broker sync), `admin.rs` (settings, limits, trading states),
//! `audit.rs` (the audit log), with `snapshot.rs` (the binary form) and
//! `view.rs` (read views).

use std::collections::VecDeque;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::amount::{self, Overflow, QUANTITY_SCALE_MAX};
use crate::command::*;
use crate::error::LedgerError;
use crate::expiry::ExpiryQueue;
use crate::idempotency::{fingerprint, IdempotencyTable, Key, Remembered};
use crate::ids::{
    AssetId, BrokerId, LimitId, OracleId, OrderId, ParticipantId, ReservationId, VenueId,
};
use crate::limits::{Limit, LimitKind, LimitSet, LimitSpec, LIMITS_MAX};
use crate::participants::ParticipantTable;
pub use crate::participants::{OpenReservations, ParticipantSlot};
use crate::reservations::ReservationTable;
use crate::small_map::SmallMap;

/// The ledger's hash maps: foldhash, seeded per process (so ids chosen by
/// clients cannot be aimed at collisions), several times faster than SipHash
/// on short ids.
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Most brokers that may report on one participant.
pub const BROKERS_PER_PARTICIPANT_MAX: usize = 16;
/// Most brokers the ledger tracks.
pub const BROKERS_MAX: usize = 10_000;
/// Most uncovered venue commits kept per (participant, venue, asset); older
/// ones are merged (which only keeps them counted longer).
pub const PENDING_COMMITS_PER_POSITION_MAX: usize = 1024;
/// Most reservations expired by one command before it runs (the ticker
/// expires the rest), so no single request pays for a burst of expiries.
pub const EXPIRE_PER_COMMAND_MAX: usize = 64;
/// Most reservations expired by one tick.
pub const EXPIRE_PER_TICK_MAX: usize = 1_000_000;
/// The share of the audit log (percent of `audit_records_max`) that
/// records of refused calls may fill. The rest is kept for admin changes:
/// each source's denials are rate-limited, but sources are many, and a
/// flood of refused calls must never leave the risk desk unable to halt a
/// participant.
pub const AUDIT_DENIALS_SHARE_PCT: usize = 90;

/// How many audit records refused calls may fill, of `audit_records_max`.
pub fn audit_denials_max(audit_records_max: usize) -> usize {
    // In two parts, so that no product overflows.
    audit_records_max / 100 * AUDIT_DENIALS_SHARE_PCT
        + audit_records_max % 100 * AUDIT_DENIALS_SHARE_PCT / 100
}

/// The memory the idempotency table takes by default: 1 GiB, 6,407,964
/// answers.
pub const IDEMPOTENCY_MEMORY_DEFAULT: usize = 1 << 30;

/// The ledger's settings. Every bound is named and has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerConfig {
    /// The reuse ratio in force where no REUSE_RATIO limit applies.
    pub default_reuse_ratio: Decimal,
    /// TTL of a reservation whose check asked for none.
    pub default_ttl_ms: u64,
    /// Longest TTL a check may ask for.
    pub max_ttl_ms: u64,
    /// A broker silent for longer than this is stale: its participants fail
    /// closed.
    pub broker_stale_after_ms: u64,
    /// How long an order id's answer is remembered, at most: a full
    /// idempotency table forgets its oldest answer early once that order's
    /// reservation has ended.
    pub idempotency_retention_ms: u64,
    /// How long an ended reservation is remembered (for repeated commits
    /// and releases), at most: a full reservation table forgets the one
    /// that ended first.
    pub reservation_retention_ms: u64,
    pub participants_max: usize,
    /// Idempotency records kept (the server sets it from a memory budget,
    /// [`IDEMPOTENCY_MEMORY_DEFAULT`] by default: see
    /// [`crate::idempotency_records_for`]). Full, it forgets its oldest record once
    /// that order's reservation has ended; full of records whose
    /// reservations are all open, it refuses new checks (RESOURCE_EXHAUSTED,
    /// fail closed).
    pub idempotency_keys_max: usize,
    pub reservations_max: usize,
    pub reservations_per_participant_max: usize,
    /// Audit records kept (every one, for good: the log is append-only).
    /// Refused calls may fill only [`AUDIT_DENIALS_SHARE_PCT`] of it; a
    /// full log refuses admin changes, until it is raised.
    pub audit_records_max: usize,
    /// A limit change may raise a limit by at most this percentage without
    /// a forced reason (deleting a limit always needs one).
    pub limit_loosen_step_pct: Decimal,
}

impl LedgerConfig {
    /// The settings that differ, as "name=old ..." and "name=new ...".
    pub fn diff(&self, other: &LedgerConfig) -> (String, String) {
        let a = self.fields();
        let b = other.fields();
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            if x != y {
                old.push(format!("{name}={x}"));
                new.push(format!("{name}={y}"));
            }
        }
        (old.join(" "), new.join(" "))
    }

    fn fields(&self) -> [(&'static str, String); 12] {
        [
            ("default_reuse_ratio", self.default_reuse_ratio.to_string()),
            ("default_ttl_ms", self.default_ttl_ms.to_string()),
            ("max_ttl_ms", self.max_ttl_ms.to_string()),
            (
                "broker_stale_after_ms",
                self.broker_stale_after_ms.to_string(),
            ),
            (
                "idempotency_retention_ms",
                self.idempotency_retention_ms.to_string(),
            ),
            (
                "reservation_retention_ms",
                self.reservation_retention_ms.to_string(),
            ),
            ("participants_max", self.participants_max.to_string()),
            (
                "idempotency_keys_max",
                self.idempotency_keys_max.to_string(),
            ),
            ("reservations_max", self.reservations_max.to_string()),
            (
                "reservations_per_participant_max",
                self.reservations_per_participant_max.to_string(),
            ),
            ("audit_records_max", self.audit_records_max.to_string()),
            (
                "limit_loosen_step_pct",
                self.limit_loosen_step_pct.to_string(),
            ),
        ]
    }
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            default_reuse_ratio: Decimal::ONE,
            default_ttl_ms: 30_000,
            max_ttl_ms: 600_000,
            broker_stale_after_ms: 30_000,
            idempotency_retention_ms: 24 * 3600 * 1000,
            reservation_retention_ms: 3600 * 1000,
            participants_max: 2_000_000,
            idempotency_keys_max: crate::idempotency_records_for(IDEMPOTENCY_MEMORY_DEFAULT),
            reservations_max: 4_000_000,
            reservations_per_participant_max: 10_000,
            audit_records_max: 1_000_000,
            limit_loosen_step_pct: Decimal::from(50),
        }
    }
}

/// One venue's share of a participant's commitments of one asset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VenuePosition {
    /// Posted, as last reported by a broker.
    pub posted: Decimal,
    /// Venue commits not yet covered by a broker sync: (commit_seq, quantity).
    pub pending: VecDeque<(u64, Decimal)>,
    pub pending_total: Decimal,
    /// Held by open reservations.
    pub reserved: Decimal,
    /// What the participant owes this venue in this asset, as last
    /// reported by a broker; `None` if never reported (unknown, which the
    /// value layer counts conservatively, never as zero).
    pub owed: Option<Decimal>,
}

impl VenuePosition {
    /// What counts against limits: posted + uncovered commits + reserved.
    pub fn counted(&self) -> Result<Decimal, Overflow> {
        amount::add(amount::add(self.posted, self.pending_total)?, self.reserved)
    }
}

/// A participant's holdings and commitments of one asset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// Collateral per reporting broker.
    pub custody: Vec<(BrokerId, Decimal)>,
    /// Σ custody.
    pub owned: Decimal,
    pub venues: SmallMap<VenueId, VenuePosition>,
    /// Σ over venues of `counted()`.
    pub committed: Decimal,
    /// Σ over venues of the quantity owed as reported (derived: see
    /// `state/debt.rs`).
    pub owed: Decimal,
    /// Σ over venues of the commitment whose debt is implied, weighted by
    /// each venue's LTV (derived: see `state/debt.rs`).
    pub implied: Decimal,
}

/// Open reservations a participant has room for when it is created, so
/// that its first checks do not allocate on the approve path.
pub const OPEN_RESERVATIONS_PRESIZED: usize = 3;

/// Everything the ledger knows about one participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub trading_state: TradingState,
    pub assets: SmallMap<AssetId, Position>,
    /// Brokers that report on this participant.
    pub brokers: Vec<BrokerId>,
    /// Open reservations, in id order.
    pub open: OpenReservations,
    /// The venues on which a broker reported a liability of this
    /// participant (derived from the positions' `owed`: see
    /// `state/debt.rs`). Usually empty: reading it touches no other memory.
    pub reporting: Vec<VenueId>,
}

impl Default for Participant {
    /// A new participant, with room for its first open reservations.
    fn default() -> Self {
        Participant {
            trading_state: TradingState::default(),
            assets: SmallMap::new(),
            brokers: Vec::new(),
            open: OpenReservations::with_capacity(OPEN_RESERVATIONS_PRESIZED),
            reporting: Vec::new(),
        }
    }
}

/// A reservation, open or ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ReservationId,
    pub venue: VenueId,
    pub participant: ParticipantSlot,
    pub asset: AssetId,
    pub order_id: OrderId,
    /// Headroom held (zero for a risk-reducing check).
    pub held: Decimal,
    pub expires_at_ms: UnixMs,
    pub state: ReservationState,
    pub commit_seq: Option<u64>,
}

/// A broker's sync progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Broker {
    pub last_seq: u64,
    pub last_seen_ms: UnixMs,
    pub gapped: bool,
    pub stale_alerted: bool,
}

/// Most distinct venue, asset and broker ids the ledger shares (beyond it,
/// new ids are kept as they come: correct, only less compact).
pub const SHARED_IDS_MAX: usize = 100_000;

/// One copy of each venue, asset and broker id, shared by every position
/// that names it. Ids arrive freshly parsed with every request; without
/// sharing, each (participant, venue, asset) entry would hold copies of its
/// own (about 37 more bytes per entry at 1M participants, and a cache miss
/// per key compared). Derived data: not part of snapshots or digests.
#[derive(Debug, Clone, Default)]
struct SharedIds {
    venues: HashSet<VenueId>,
    assets: HashSet<AssetId>,
    brokers: HashSet<BrokerId>,
}

fn share<T: Clone + Eq + std::hash::Hash>(set: &mut HashSet<T>, id: &T) -> T {
    if let Some(shared) = set.get(id) {
        return shared.clone();
    }
    if set.len() < SHARED_IDS_MAX {
        set.insert(id.clone());
    }
    id.clone()
}

impl SharedIds {
    fn venue(&mut self, id: &VenueId) -> VenueId {
        share(&mut self.venues, id)
    }

    fn asset(&mut self, id: &AssetId) -> AssetId {
        share(&mut self.assets, id)
    }

    fn broker(&mut self, id: &BrokerId) -> BrokerId {
        share(&mut self.brokers, id)
    }

    /// A decoded position whose ids are shared.
    fn position(&mut self, mut pos: Position) -> Position {
        for (b, _) in &mut pos.custody {
            *b = self.broker(b);
        }
        pos.venues = std::mem::take(&mut pos.venues)
            .into_iter()
            .map(|(v, vp)| (self.venue(&v), vp))
            .collect();
        pos
    }
}

/// The whole ledger. Plain data and synchronous code: no I/O, no locks.
#[derive(Debug, Clone)]
pub struct State {
    cfg: LedgerConfig,
    ids: SharedIds,
    last_at_ms: UnixMs,
    participants: ParticipantTable,
    limits: LimitSet,
    reservations: ReservationTable,
    /// Open reservations by deadline, earliest first. A reservation that
    /// ends early leaves its entry behind (taking it out costs O(n)); such
    /// stale entries are recognised and dropped when they come up. Pushing
    /// allocates nothing once the queue has grown.
    expiry: ExpiryQueue,
    ended: VecDeque<(UnixMs, ReservationId)>,
    /// The answer to every check (one kept per order id for a day), oldest
    /// first.
    idempotency: IdempotencyTable,
    asset_totals: HashMap<AssetId, Decimal>,
    brokers: HashMap<BrokerId, Broker>,
    /// The audit records still in memory, oldest first: those after
    /// `audit_archived` (the ones before are in the archive on disk).
    audit: VecDeque<AuditRecord>,
    /// How many audit records (seq 1..=this) were moved to the archive.
    audit_archived: u64,
    /// The hash of the last archived record (zeros if none): the first
    /// record in memory chains on from it.
    audit_anchor: [u8; 32],
    next_reservation: u64,
    commit_seq: u64,
    /// Prices of the assets that have a class (`state/prices.rs`).
    prices: HashMap<AssetId, crate::value::prices::AssetPrice<OracleId>>,
    /// Each oracle's last applied sequence.
    oracles: HashMap<OracleId, u64>,
    price_rules: PriceRules,
    /// How each venue values each asset (`state/value.rs`).
    venue_assets: HashMap<(VenueId, AssetId), VenueAssetParams>,
    /// Interlock's pinned haircuts, by classed asset.
    haircuts: HashMap<AssetId, Decimal>,
    /// The standard shock vector STRESS_HF_ECO judges under.
    stress_shocks: StressShocks,
    /// The volatility model's state per priced asset (`state/haircuts.rs`).
    haircut_models: HashMap<AssetId, crate::value::haircut::Haircut>,
    /// The UTC day (days since the epoch) of the last daily close.
    close_day: Option<i64>,
    /// How each venue liquidates (`SetVenueRule`).
    venue_rules: HashMap<VenueId, LiquidationRule>,
    /// Every venue an admin has given asset parameters or a rule (derived:
    /// venues are only ever added; see `State::admit`).
    configured_venues: HashSet<VenueId>,
    /// The named stress scenarios (`state/scenarios.rs`).
    scenarios: std::collections::BTreeMap<String, Scenario>,
    /// Participants opted into reduce-only by the scheduled stress, with
    /// the venue count that trips it (`state/scenarios.rs`).
    stress_guards: std::collections::BTreeMap<ParticipantId, u32>,
    /// How many times each value setting was set, by "KIND TARGET"
    /// (`State::setting_version`).
    setting_versions: HashMap<String, u64>,
    /// What checks read of each priced asset (derived: see
    /// `state/value_limits.rs`).
    factors: HashMap<AssetId, value_limits::Factors>,
    alerts: Vec<Alert>,
}

impl State {
    /// An empty ledger.
    pub fn new(cfg: LedgerConfig) -> Self {
        State {
            cfg,
            ids: SharedIds::default(),
            last_at_ms: 0,
            participants: ParticipantTable::default(),
            limits: LimitSet::default(),
            reservations: ReservationTable::default(),
            expiry: ExpiryQueue::default(),
            ended: VecDeque::new(),
            idempotency: IdempotencyTable::default(),
            asset_totals: HashMap::default(),
            brokers: HashMap::default(),
            audit: VecDeque::new(),
            audit_archived: 0,
            audit_anchor: [0u8; 32],
            next_reservation: 0,
            commit_seq: 0,
            prices: HashMap::default(),
            oracles: HashMap::default(),
            price_rules: PriceRules::default(),
            venue_assets: HashMap::default(),
            haircuts: HashMap::default(),
            stress_shocks: StressShocks::default(),
            haircut_models: HashMap::default(),
            close_day: None,
            venue_rules: HashMap::default(),
            configured_venues: HashSet::default(),
            scenarios: scenarios::builtin_scenarios(),
            stress_guards: Default::default(),
            setting_versions: HashMap::default(),
            factors: HashMap::default(),
            alerts: Vec::new(),
        }
    }

    pub fn config(&self) -> &LedgerConfig {
        &self.cfg
    }

    /// Admission: the rules on new input that depend on the state but that
    /// a replay must not judge again, because a journal written before a
    /// rule existed must still replay to the same state. [`Ledger::apply`]
    /// runs it under the lock before [`State::apply`]; recovery does not.
    /// It changes nothing. What it reads only ever grows (configured
    /// venues), so an admitted command stays admissible.
    pub fn admit(&self, cmd: &Command) -> Result<(), LedgerError> {
        match cmd {
            Command::Sync { batch, .. } => self.admit_sync(batch),
            _ => Ok(()),
        }
    }

    /// Applies one command: the only way the state changes.
    pub fn apply(&mut self, cmd: &Command) -> Result<Applied, LedgerError> {
        self.apply_tracked(cmd).0
    }

    /// The time a command is applied at: its own, or later if the ledger
    /// has already seen a later time (the clock never runs backwards inside
    /// the ledger).
    pub fn effective_at(&self, cmd: &Command) -> UnixMs {
        cmd.at_ms().max(self.last_at_ms)
    }

    /// Applies one command and says whether it changed the state, that is,
    /// whether a journal must record it for a replay to reach the same
    /// state. A failed command, a dry run or a repeated order id changes
    /// nothing unless reservations expired first; a tick with nothing due
    /// is not applied at all.
    pub fn apply_tracked(&mut self, cmd: &Command) -> (Result<Applied, LedgerError>, bool) {
        let at = self.effective_at(cmd);
        if matches!(cmd, Command::Tick { .. }) && !self.tick_due(at) {
            let nothing = Applied {
                outcome: Outcome::Tick { expired: 0 },
                alerts: Vec::new(),
            };
            return (Ok(nothing), false);
        }
        let clock_before = self.last_at_ms;
        self.last_at_ms = at;
        let expired = self.expire_due(at, EXPIRE_PER_COMMAND_MAX);
        let mut repeated = false;
        let mut ticked = false;
        let outcome = match cmd {
            Command::Check { venue, request, .. } => {
                let (outcome, again) = self.check(at, venue, request);
                repeated = again;
                outcome
            }
            Command::Commit {
                venue, reservation, ..
            } => self.commit(at, venue, *reservation),
            Command::Release {
                venue, reservation, ..
            } => self.release(at, venue, *reservation),
            Command::Sync { broker, batch, .. } => self.sync(at, broker, batch),
            Command::SetLimit {
                by,
                spec,
                expected_version,
                force,
                ..
            } => self.set_limit(at, by, spec, *expected_version, force.as_deref()),
            Command::DeleteLimit { by, id, force, .. } => {
                self.delete_limit(at, by, id, force.as_deref())
            }
            Command::SetTradingState {
                by,
                participant,
                state,
                reason,
                ..
            } => self.set_trading_state(at, by, participant, *state, reason),
            Command::Tick { .. } => {
                let (outcome, changed) = self.tick(at);
                ticked = changed;
                Ok(outcome)
            }
            Command::Configure { config, .. } => self.configure(at, config),
            Command::RecordDenial {
                principal,
                action,
                reason,
                ..
            } => self.record_denial(at, principal, action, reason),
            Command::RecordClusterChange {
                by,
                action,
                node,
                old_value,
                new_value,
                ..
            } => self.record_cluster_change(at, by, action, *node, old_value, new_value),
            Command::ArchiveAudit { through_seq, .. } => self.archive_audit(*through_seq),
            Command::PublishPrices { oracle, batch, .. } => self.publish_prices(at, oracle, batch),
            Command::SetAssetClass {
                by, asset, class, ..
            } => self.set_asset_class(at, by, asset, *class),
            Command::ConfigurePrices { rules, .. } => self.configure_prices(rules),
            Command::SetVenueAsset {
                by,
                venue,
                asset,
                params,
                ..
            } => self.set_venue_asset(at, by, venue, asset, *params),
            Command::SetHaircut {
                by,
                asset,
                haircut,
                force,
                ..
            } => self.set_haircut(at, by, asset, *haircut, force.as_deref()),
            Command::SetStressShock {
                by,
                class,
                shock,
                force,
                ..
            } => self.set_stress_shock(at, by, *class, *shock, force.as_deref()),
            Command::SetVenueRule {
                by, venue, rule, ..
            } => self.set_venue_rule(at, by, venue, *rule),
            Command::SetScenario {
                by, name, scenario, ..
            } => self.set_scenario(at, by, name, scenario.as_ref()),
            Command::SetStressGuard {
                by,
                participant,
                min_venues,
                ..
            } => self.set_stress_guard(at, by, participant, *min_venues),
        };
        let changed = expired > 0
            || match (cmd, &outcome) {
                (_, Err(_)) => false,
                (Command::Check { request, .. }, Ok(_)) => !request.dry_run && !repeated,
                (Command::Configure { .. }, Ok(Outcome::Configured { changed }))
                | (Command::ConfigurePrices { .. }, Ok(Outcome::Configured { changed })) => {
                    *changed
                }
                (Command::PublishPrices { .. }, Ok(Outcome::Prices(PriceAnswer::Gap { .. }))) => {
                    false
                }
                (Command::Tick { .. }, Ok(_)) => ticked,
                (_, Ok(_)) => true,
            };
        if !changed {
            // A command that changed nothing leaves no trace, not even on
            // the clock, so a replay without it reaches the same state.
            self.last_at_ms = clock_before;
        }
        let alerts = std::mem::take(&mut self.alerts);
        let applied = outcome.map(|outcome| Applied { outcome, alerts });
        (applied, changed)
    }

    /// Makes room for `records` more commands before a replay (each can add
    /// at most one reservation and one idempotency record), so the tables
    /// do not grow step by step. Bounded by the configured table sizes.
    pub fn reserve_for_replay(&mut self, records: usize) {
        let idem = self.cfg.idempotency_keys_max;
        self.idempotency
            .reserve(records.min(idem.saturating_sub(self.idempotency.len())));
        let kept = self.cfg.reservations_max;
        self.reservations
            .reserve(records.min(kept.saturating_sub(self.reservations.len())));
    }

    /// Would a tick at `at` change anything?
    pub fn tick_due(&self, at: UnixMs) -> bool {
        let stale_after = self.cfg.broker_stale_after_ms as i64;
        self.expiry.peek().is_some_and(|(d, _)| d <= at)
            || self.brokers.values().any(|b| {
                !b.gapped && !b.stale_alerted && at.saturating_sub(b.last_seen_ms) > stale_after
            })
            || self
                .idempotency
                .oldest_at()
                .is_some_and(|t| at.saturating_sub(t) > self.cfg.idempotency_retention_ms as i64)
            || self.ended.front().is_some_and(|&(t, _)| {
                at.saturating_sub(t) > self.cfg.reservation_retention_ms as i64
            })
            || self.prices_due(at)
            || self.closes_due(at)
    }

    // ---- time ---------------------------------------------------------

    /// Applies a tick; says whether it changed the state (dropping stale
    /// expiry entries alone does not: they are derived data).
    fn tick(&mut self, at: UnixMs) -> (Outcome, bool) {
        let expired = self.expire_due(at, EXPIRE_PER_TICK_MAX);
        let stale_after = self.cfg.broker_stale_after_ms as i64;
        let mut newly_stale: Vec<BrokerId> = self
            .brokers
            .iter()
            .filter(|(_, b)| {
                !b.gapped && !b.stale_alerted && at.saturating_sub(b.last_seen_ms) > stale_after
            })
            .map(|(id, _)| id.clone())
            .collect();
        newly_stale.sort();
        let mut changed = expired > 0 || !newly_stale.is_empty();
        changed |= self.tick_prices(at);
        // Only an overflow could fail: the day is then not closed.
        changed |= self.daily_closes(at).unwrap_or(false);
        for id in newly_stale {
            if let Some(b) = self.brokers.get_mut(&id) {
                b.stale_alerted = true;
            }
            let mut alert = Alert::new(
                at,
                AlertKind::BrokerStale,
                format!(
                    "broker {id} silent for over {stale_after} ms: its participants fail closed"
                ),
            );
            alert.broker = Some(id);
            self.alerts.push(alert);
        }
        let keep_idem = self.cfg.idempotency_retention_ms as i64;
        while let Some(t) = self.idempotency.oldest_at() {
            if at.saturating_sub(t) <= keep_idem {
                break;
            }
            self.idempotency.pop_oldest();
            changed = true;
        }
        let keep_ended = self.cfg.reservation_retention_ms as i64;
        while let Some(&(t, id)) = self.ended.front() {
            if at.saturating_sub(t) <= keep_ended {
                break;
            }
            self.reservations.remove(&id);
            self.ended.pop_front();
            changed = true;
        }
        (Outcome::Tick { expired }, changed)
    }
}

mod admin;
mod audit;
mod check;
mod debt;
mod haircuts;
mod lifecycle;
pub mod moment;
mod prices;
mod scenarios;
mod snapshot;
mod sync;
mod value;
mod value_limits;
mod view;
pub use audit::{audit_records_hard_max, AUDIT_TRADING_STATE_RESERVE};
pub use prices::{class_name, ORACLES_MAX, PRICED_ASSETS_MAX};
pub use scenarios::{
    builtin_scenarios, invalid_scenario_name, SCENARIOS_MAX, SCENARIO_ASSETS_MAX,
    SCENARIO_NAME_MAX, SCENARIO_SHOCK_MAX, SCENARIO_SOURCE_MAX, STRESS_GUARDS_MAX,
    STRESS_GUARD_VENUES_MAX,
};
pub use snapshot::SnapshotError;
pub use value::{
    Distance, HealthLevel, HealthRank, HealthScan, HealthView, VenueHealth, VenueView, EXPLAIN_TOP,
    VENUE_ASSETS_MAX, VENUE_RULES_MAX,
};
pub use view::{AssetExposure, Exposure, Fill, TopEntry, VenueExposure};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reservations::RING_SLACK;
    use crate::testkit::{req, World};

    /// Full tables used as queues (one record in, the oldest out, for each
    /// check) keep their rings at the tables' caps, not at the next power
    /// of two: the ring's head travels round its whole allocation, so any
    /// capacity beyond the cap would become resident memory for nothing.
    #[test]
    fn full_tables_keep_their_rings_at_their_caps() {
        let cfg = LedgerConfig {
            idempotency_keys_max: 1500,
            reservations_max: 3000,
            max_ttl_ms: 100,
            default_ttl_ms: 50,
            ..LedgerConfig::default()
        };
        let mut w = World::new();
        w.state = State::new(cfg.clone());
        w.own("fund", "ETH", "1000000000");
        let mut state = w.state;
        for i in 0..10_000 {
            let at = w.now + i;
            let cmd = Command::Check {
                at_ms: at,
                venue: VenueId::new("v1").unwrap(),
                request: req(&format!("o{i}"), "fund", "ETH", "1"),
            };
            state.apply(&cmd).unwrap();
        }
        state.check_invariants().unwrap();
        assert_eq!(state.idempotency.len(), cfg.idempotency_keys_max);
        assert_eq!(state.reservations.len(), cfg.reservations_max);
        // 2048 and 4096 before.
        assert_eq!(state.idempotency.ring_capacity(), 1500);
        assert_eq!(
            state.reservations.ring_capacity(),
            cfg.reservations_max + RING_SLACK
        );
    }
}
