//! The ledger's state and the one place every command is applied.
//!
//! [`State::apply`] validates a command completely before it changes
//! anything, so a command that fails leaves the state as it was (time still
//! passes: reservations that are due expire first).

use std::collections::VecDeque;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::amount::{self, Overflow, QUANTITY_SCALE_MAX};
use crate::command::*;
use crate::error::LedgerError;
use crate::expiry::ExpiryQueue;
use crate::idempotency::{fingerprint, IdempotencyTable, Key, Remembered};
use crate::ids::{AssetId, BrokerId, LimitId, OrderId, ParticipantId, ReservationId, VenueId};
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
}

impl Default for Participant {
    /// A new participant, with room for its first open reservations.
    fn default() -> Self {
        Participant {
            trading_state: TradingState::default(),
            assets: SmallMap::new(),
            brokers: Vec::new(),
            open: OpenReservations::with_capacity(OPEN_RESERVATIONS_PRESIZED),
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

/// One cap that applies to a check: `usage + request ≤ cap`.
#[derive(Debug, Clone)]
struct Binding<'a> {
    kind: LimitKind,
    limit: Option<&'a Limit>,
    value: Decimal,
    cap: Decimal,
    usage: Decimal,
}

impl Binding<'_> {
    /// What is left under the cap, negative when usage is already above it
    /// (a broker's sync can leave it there). Limits are compared on this,
    /// not on the room clamped at zero: the one furthest over is the one to
    /// name, since raising any other would not help.
    fn slack(&self) -> Decimal {
        self.cap - self.usage
    }

    fn room(&self) -> Decimal {
        self.slack().max(Decimal::ZERO)
    }

    /// Whether the usage this cap counts is the calling venue's own: an
    /// order's own quantity, or a MAX_COMMITMENT scoped to the venue. Only
    /// such a cap's utilization may be shown to the venue.
    fn venue_local(&self) -> bool {
        match self.kind {
            LimitKind::MaxOrderQuantity => true,
            LimitKind::MaxCommitment => self.limit.is_some_and(|l| l.spec.scope.venue.is_some()),
            LimitKind::ReuseRatio | LimitKind::AssetCap => false,
        }
    }

    fn to_ref(&self) -> LimitRef {
        LimitRef {
            kind: self.kind,
            id: self.limit.map(|l| l.id.clone()),
            scope: self.limit.map(|l| l.spec.scope.clone()).unwrap_or_default(),
            value: self.value,
        }
    }
}

/// What a participant's position is measured against.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    owned: Decimal,
    committed: Decimal,
    on_venue: Decimal,
    asset_total: Decimal,
}

/// What a change of reserved headroom does to the participant's set of
/// open reservations.
#[derive(Debug, Clone, Copy)]
enum Open {
    Add(ReservationId),
    Remove(ReservationId),
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
    alerts: Vec<Alert>,
}

fn reject(order_id: &OrderId, code: RejectCode, dry_run: bool) -> CheckAnswer {
    CheckAnswer {
        order_id: order_id.clone(),
        verdict: Verdict::Rejected,
        reservation: None,
        approved: Decimal::ZERO,
        expires_at_ms: None,
        reason: Some(Box::new(RejectReason {
            code,
            limit: None,
            utilization: None,
        })),
        headroom: HeadroomBucket::None,
        dry_run,
    }
}

/// The participant a change of reserved headroom is for: one the ledger
/// knows (by slot), or a new one, created only once nothing can fail.
#[derive(Debug, Clone, Copy)]
enum Whose<'a> {
    Known(ParticipantSlot),
    New(&'a ParticipantId),
}

/// Adds `delta` (which may be negative) to a venue's reserved amount and
/// to the sums above it, and adds or removes the reservation among the
/// participant's open ones. It takes the fields it changes, not the whole
/// state, so that ending a reservation can pass the reservation's own ids,
/// borrowed, rather than clones of them. Returns the participant's slot.
#[allow(clippy::too_many_arguments)]
fn add_reserved_in(
    participants: &mut ParticipantTable,
    ids: &mut SharedIds,
    asset_totals: &mut HashMap<AssetId, Decimal>,
    whose: Whose<'_>,
    venue: &VenueId,
    asset: &AssetId,
    delta: Decimal,
    open: Open,
) -> Result<ParticipantSlot, LedgerError> {
    let total = asset_totals.get(asset).copied().unwrap_or_default();
    let new_total = amount::add(total, delta)?;
    let slot = match whose {
        Whose::Known(slot) => slot,
        Whose::New(id) => participants.slot_or_insert(id),
    };
    let p = participants.at_mut(slot);
    // A new position takes the ledger's shared copies of the ids.
    let pos = match p.assets.get_mut(asset) {
        Some(pos) => pos,
        None => p.assets.get_or_default(ids.asset(asset)),
    };
    let new_committed = amount::add(pos.committed, delta)?;
    let venue_pos = match pos.venues.get_mut(venue) {
        Some(v) => v,
        None => pos.venues.get_or_default(ids.venue(venue)),
    };
    venue_pos.reserved = amount::add(venue_pos.reserved, delta)?;
    pos.committed = new_committed;
    match open {
        Open::Add(id) => {
            // The ledger's ids only grow, so this appends.
            let added = p.open.push(id);
            debug_assert!(
                added,
                "reservation id {id} not above the participant's open ones"
            );
        }
        Open::Remove(id) => {
            p.open.remove(id);
        }
    }
    match asset_totals.get_mut(asset) {
        Some(t) => *t = new_total,
        None => {
            asset_totals.insert(ids.asset(asset), new_total);
        }
    }
    Ok(slot)
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
            alerts: Vec::new(),
        }
    }

    pub fn config(&self) -> &LedgerConfig {
        &self.cfg
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
            Command::ArchiveAudit { through_seq, .. } => self.archive_audit(*through_seq),
        };
        let changed = expired > 0
            || match (cmd, &outcome) {
                (_, Err(_)) => false,
                (Command::Check { request, .. }, Ok(_)) => !request.dry_run && !repeated,
                (Command::Configure { .. }, Ok(Outcome::Configured { changed })) => *changed,
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
    }

    /// Takes new settings; an admin-visible audit record says what changed.
    fn configure(&mut self, at: UnixMs, config: &LedgerConfig) -> Result<Outcome, LedgerError> {
        if *config == self.cfg {
            return Ok(Outcome::Configured { changed: false });
        }
        // A table may not be capped below what it holds: the state could
        // no longer be snapshotted and read back under its own settings.
        for (field, max, held) in [
            (
                "audit_records_max",
                config.audit_records_max,
                self.audit.len(),
            ),
            (
                "participants_max",
                config.participants_max,
                self.participants.len(),
            ),
            (
                "reservations_max",
                config.reservations_max,
                self.reservations.len(),
            ),
            (
                "idempotency_keys_max",
                config.idempotency_keys_max,
                self.idempotency.len(),
            ),
        ] {
            if max < held {
                return Err(LedgerError::InvalidArgument {
                    field,
                    reason: format!("{max} is below the {held} entries the ledger holds"),
                });
            }
        }
        // The record of this change must fit under the new settings: a full
        // audit log is relieved by raising its cap.
        self.ensure_capacity(self.audit.len(), config.audit_records_max, "audit log")?;
        let (old, new) = self.cfg.diff(config);
        self.cfg = config.clone();
        self.audit(
            at,
            "server",
            "configure",
            "ledger settings".to_owned(),
            old,
            new,
        );
        Ok(Outcome::Configured { changed: true })
    }

    // ---- checks -------------------------------------------------------

    fn ttl_ms(&self, asked: Option<u64>) -> Result<u64, LedgerError> {
        match asked {
            None => Ok(self.cfg.default_ttl_ms),
            Some(t) if t <= self.cfg.max_ttl_ms => Ok(t),
            Some(_) => Err(LedgerError::InvalidArgument {
                field: "ttl_ms",
                reason: format!("must be at most {} ms", self.cfg.max_ttl_ms),
            }),
        }
    }

    /// A check, and whether it repeated an order id already answered (then
    /// nothing changed).
    fn check(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
    ) -> (Result<Outcome, LedgerError>, bool) {
        // A bad request is refused as such, even under an order id already
        // answered.
        let ttl_ms = match self.ttl_ms(req.ttl_ms) {
            Ok(t) => t,
            Err(e) => return (Err(e), false),
        };
        let key = Key::of(venue, &req.order_id);
        if !req.dry_run {
            if let Some(rec) = self.idempotency.get(&key) {
                // TTLs are compared as judged, so the default asked for by
                // name (0 on the wire) and by value are the same request.
                let answer = if rec.request == fingerprint(req, ttl_ms) {
                    Ok(Outcome::Check(rec.answer(venue, req)))
                } else {
                    Err(LedgerError::IdempotencyConflict {
                        order_id: req.order_id.to_string(),
                    })
                };
                return (answer, true);
            }
        }
        (self.check_new(at, venue, req, ttl_ms, key), false)
    }

    fn check_new(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        ttl_ms: u64,
        key: Key,
    ) -> Result<Outcome, LedgerError> {
        if !req.dry_run && !self.idempotency_has_room() {
            return Err(LedgerError::CapacityExhausted {
                what: "idempotency table",
                max: self.cfg.idempotency_keys_max,
            });
        }
        // The participant is looked up once, for judging and reserving.
        let slot = self.participants.slot(&req.participant);
        let mut answer = self.judge(at, venue, req, slot)?;
        if req.dry_run {
            return Ok(Outcome::Check(answer));
        }
        if answer.verdict == Verdict::Rejected {
            self.alert_rejection(at, venue, req, &answer)?;
        } else {
            let held = if req.risk_reducing {
                Decimal::ZERO
            } else {
                answer.approved
            };
            let (id, expires) = self.reserve(at, venue, req, slot, held, ttl_ms)?;
            answer.reservation = Some(id);
            answer.expires_at_ms = Some(expires);
            self.alert_warnings(at, venue, req, held)?;
        }
        // Nothing can fail from here on: making room changes the state
        // only for a command that succeeds.
        self.make_idempotency_room();
        // `check` looked the key up and answered a repeat before this.
        self.idempotency.push(
            at,
            key,
            Remembered::new(venue, req, ttl_ms, &answer),
            self.cfg.idempotency_keys_max,
        );
        Ok(Outcome::Check(answer))
    }

    /// Whether one more idempotency record fits. A full table makes room
    /// by forgetting its oldest record early, once that order's reservation
    /// has ended (or it had none): a late retry then cannot hold headroom
    /// twice. Only the open reservations' answers must stay, so the table
    /// takes the server's full rate for as long as it runs; a table full of
    /// answers whose reservations are all open is too small for the
    /// traffic, and new checks are refused (fail closed) rather than such an
    /// answer forgotten.
    fn idempotency_has_room(&self) -> bool {
        self.idempotency.len() < self.cfg.idempotency_keys_max
            || self
                .idempotency
                .oldest()
                .is_some_and(|r| !self.holds_open_reservation(r))
    }

    /// Whether a remembered order's reservation is still open (open
    /// reservations are never forgotten, so a missing one has ended).
    fn holds_open_reservation(&self, r: &Remembered) -> bool {
        r.reservation()
            .and_then(|id| self.reservations.get(&id))
            .is_some_and(|res| res.state == ReservationState::Open)
    }

    fn make_idempotency_room(&mut self) {
        if self.idempotency.len() < self.cfg.idempotency_keys_max || !self.idempotency_has_room() {
            return;
        }
        self.idempotency.pop_oldest();
    }

    /// Whether one more reservation fits: a full table makes room by
    /// forgetting the reservation that ended first (ended ones are kept
    /// only to answer a repeated commit or release); open ones are never
    /// forgotten.
    fn reservation_has_room(&self) -> bool {
        self.reservations.len() < self.cfg.reservations_max || !self.ended.is_empty()
    }

    fn make_reservation_room(&mut self) {
        if self.reservations.len() < self.cfg.reservations_max {
            return;
        }
        if let Some((_, id)) = self.ended.pop_front() {
            self.reservations.remove(&id);
        }
    }

    fn ensure_capacity(
        &self,
        len: usize,
        max: usize,
        what: &'static str,
    ) -> Result<(), LedgerError> {
        if len >= max {
            return Err(LedgerError::CapacityExhausted { what, max });
        }
        Ok(())
    }

    fn broker_stale(&self, broker: &BrokerId, at: UnixMs) -> bool {
        self.brokers.get(broker).is_none_or(|b| {
            b.gapped || at.saturating_sub(b.last_seen_ms) > self.cfg.broker_stale_after_ms as i64
        })
    }

    fn usage(
        &self,
        participant: &ParticipantId,
        venue: Option<&VenueId>,
        asset: &AssetId,
    ) -> Result<Usage, Overflow> {
        self.usage_of(self.participants.get(participant), venue, asset)
    }

    /// [`State::usage`] of a participant already looked up.
    fn usage_of(
        &self,
        participant: Option<&Participant>,
        venue: Option<&VenueId>,
        asset: &AssetId,
    ) -> Result<Usage, Overflow> {
        let pos = participant.and_then(|p| p.assets.get(asset));
        let on_venue = match (pos, venue) {
            (Some(pos), Some(v)) => pos
                .venues
                .get(v)
                .map_or(Ok(Decimal::ZERO), VenuePosition::counted)?,
            _ => Decimal::ZERO,
        };
        Ok(Usage {
            owned: pos.map_or(Decimal::ZERO, |p| p.owned),
            committed: pos.map_or(Decimal::ZERO, |p| p.committed),
            on_venue,
            asset_total: self.asset_totals.get(asset).copied().unwrap_or_default(),
        })
    }

    /// The reuse ratio in force for a position: the most specific
    /// REUSE_RATIO limit, else the configured default.
    fn reuse_binding(
        &self,
        participant: &ParticipantId,
        asset: &AssetId,
        usage: &Usage,
    ) -> Result<Binding<'_>, Overflow> {
        let limit = self
            .limits
            .iter()
            .filter(|l| {
                l.spec.kind == LimitKind::ReuseRatio
                    && l.spec.scope.matches_position(participant, asset)
            })
            .max_by_key(|l| l.spec.scope.specificity());
        let ratio = limit.map_or(self.cfg.default_reuse_ratio, |l| l.spec.value);
        Ok(Binding {
            kind: LimitKind::ReuseRatio,
            limit,
            value: ratio,
            cap: amount::mul(ratio, usage.owned)?,
            usage: usage.committed,
        })
    }

    /// Calls `f` with every cap that applies to a check: the reuse ratio
    /// first, then every other matching limit. `venue` is `None` for the
    /// cross-venue caps of a position only (an ASSET_CAP among them, as the
    /// share of it the position could reach).
    fn each_cap<'a>(
        &'a self,
        participant: &ParticipantId,
        venue: Option<&VenueId>,
        asset: &AssetId,
        usage: &Usage,
        mut f: impl FnMut(Binding<'a>) -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        f(self.reuse_binding(participant, asset, usage)?)?;
        for limit in self.limits.iter() {
            let scope = &limit.spec.scope;
            let applies = match venue {
                Some(v) => scope.matches(participant, v, asset),
                None => scope.matches_position(participant, asset),
            };
            let value = limit.spec.value;
            let (usage, cap) = match limit.spec.kind {
                LimitKind::ReuseRatio => continue,
                _ if !applies => continue,
                LimitKind::MaxCommitment if scope.venue.is_some() => (usage.on_venue, value),
                LimitKind::MaxCommitment => (usage.committed, value),
                // Seen from one position, a cap shared with every other
                // participant allows what the position holds plus what the
                // cap has left (never below zero).
                LimitKind::AssetCap if venue.is_none() => {
                    let left = amount::sub(value, usage.asset_total)?;
                    let cap = amount::add(usage.committed, left)?.max(Decimal::ZERO);
                    (usage.committed, cap)
                }
                LimitKind::AssetCap => (usage.asset_total, value),
                LimitKind::MaxOrderQuantity if venue.is_none() => continue,
                LimitKind::MaxOrderQuantity => (Decimal::ZERO, value),
            };
            f(Binding {
                kind: limit.spec.kind,
                limit: Some(limit),
                value,
                cap,
                usage,
            })?;
        }
        Ok(())
    }

    /// Decides a check without changing anything.
    fn judge(
        &self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        slot: Option<ParticipantSlot>,
    ) -> Result<CheckAnswer, LedgerError> {
        let participant = slot.map(|s| self.participants.at(s));
        match participant.map_or(TradingState::Active, |p| p.trading_state) {
            TradingState::Halted => {
                return Ok(reject(
                    &req.order_id,
                    RejectCode::TradingHalted,
                    req.dry_run,
                ))
            }
            TradingState::ReduceOnly if !req.risk_reducing => {
                return Ok(reject(&req.order_id, RejectCode::ReduceOnly, req.dry_run))
            }
            _ => {}
        }
        if participant.is_some_and(|p| p.brokers.iter().any(|b| self.broker_stale(b, at))) {
            return Ok(reject(&req.order_id, RejectCode::StaleSync, req.dry_run));
        }
        let usage = self.usage_of(participant, Some(venue), &req.asset)?;
        if usage.owned.is_zero() && !req.risk_reducing {
            return Ok(reject(&req.order_id, RejectCode::NoCollateral, req.dry_run));
        }
        let mut tightest: Option<Binding<'_>> = None;
        self.each_cap(&req.participant, Some(venue), &req.asset, &usage, |b| {
            if tightest.as_ref().is_none_or(|t| b.slack() < t.slack()) {
                tightest = Some(b);
            }
            Ok(())
        })?;
        let Some(tight) = tightest else {
            return Err(LedgerError::Unavailable("no cap applied to a check"));
        };
        let room = tight.room();
        let approve = |verdict, approved: Decimal, left: Decimal| CheckAnswer {
            order_id: req.order_id.clone(),
            verdict,
            reservation: None,
            approved,
            expires_at_ms: None,
            reason: None,
            headroom: HeadroomBucket::of(left, req.quantity),
            dry_run: req.dry_run,
        };
        if req.risk_reducing {
            return Ok(approve(Verdict::Approved, req.quantity, room));
        }
        if req.quantity <= room {
            return Ok(approve(
                Verdict::Approved,
                req.quantity,
                room - req.quantity,
            ));
        }
        let part = room.round_dp_with_strategy(QUANTITY_SCALE_MAX, RoundingStrategy::ToZero);
        if req.allow_partial && part > Decimal::ZERO {
            return Ok(approve(
                Verdict::PartiallyApproved,
                part.normalize(),
                room - part,
            ));
        }
        let utilization = if tight.venue_local() {
            amount::utilization(amount::add(tight.usage, req.quantity)?, tight.cap)
        } else {
            None
        };
        let mut answer = reject(&req.order_id, RejectCode::LimitExceeded, req.dry_run);
        answer.reason = Some(Box::new(RejectReason {
            code: RejectCode::LimitExceeded,
            limit: Some(tight.to_ref()),
            utilization,
        }));
        answer.headroom = HeadroomBucket::of(room, req.quantity);
        Ok(answer)
    }

    /// Every limit a check of `req` would take past its cap, hardest first,
    /// with the exact utilization it would reach: for admins (the rejection
    /// alert), never for the venue.
    fn exceeded(
        &self,
        venue: &VenueId,
        req: &CheckRequest,
    ) -> Result<Vec<(LimitRef, Option<Decimal>)>, LedgerError> {
        let usage = self.usage(&req.participant, Some(venue), &req.asset)?;
        let mut over = Vec::new();
        self.each_cap(&req.participant, Some(venue), &req.asset, &usage, |b| {
            if req.quantity > b.slack() {
                let reached = amount::add(b.usage, req.quantity)?;
                over.push((b.slack(), b.to_ref(), amount::utilization(reached, b.cap)));
            }
            Ok(())
        })?;
        // Stable: among equal slack the order of evaluation stays, as in
        // `judge`, so the first is the limit the venue was told of.
        over.sort_by_key(|x| x.0);
        Ok(over.into_iter().map(|(_, l, u)| (l, u)).collect())
    }

    fn alert_rejection(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        answer: &CheckAnswer,
    ) -> Result<(), LedgerError> {
        let Some(reason) = &answer.reason else {
            return Ok(());
        };
        let mut utilization = None;
        let what = match reason.code {
            RejectCode::LimitExceeded => {
                let over = self.exceeded(venue, req)?;
                utilization = over.first().and_then(|(_, u)| *u);
                let named: Vec<String> = over
                    .iter()
                    .map(|(l, u)| {
                        format!(
                            "{} limit {} of {} (utilization {})",
                            l.kind.name(),
                            l.id.as_ref().map_or("default", |i| i.as_str()),
                            l.value.normalize(),
                            u.map_or("-".to_owned(), |u| u.to_string()),
                        )
                    })
                    .collect();
                if named.is_empty() {
                    "limit".to_owned()
                } else {
                    named.join(", ")
                }
            }
            RejectCode::NoCollateral => "no collateral".to_owned(),
            RejectCode::TradingHalted => "participant halted".to_owned(),
            RejectCode::ReduceOnly => "participant reduce-only".to_owned(),
            RejectCode::StaleSync => "broker sync stale".to_owned(),
        };
        let mut alert = Alert::new(
            at,
            AlertKind::LimitRejection,
            format!(
                "order {} for {} {} rejected: {what}",
                req.order_id, req.quantity, req.asset
            ),
        );
        alert.participant = Some(req.participant.clone());
        alert.asset = Some(req.asset.clone());
        alert.venue = Some(venue.clone());
        alert.limit_id = reason.limit.as_ref().and_then(|l| l.id.clone());
        alert.utilization = utilization;
        self.alerts.push(alert);
        Ok(())
    }

    /// Raises an alert for every warning level that `added` made a limit cross.
    fn alert_warnings(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        added: Decimal,
    ) -> Result<(), LedgerError> {
        if added.is_zero()
            || !self
                .limits
                .iter()
                .any(|l| !l.spec.warn_levels_pct.is_empty())
        {
            return Ok(());
        }
        // Usage after the reservation; "before" is that minus `added`.
        let usage = self.usage(&req.participant, Some(venue), &req.asset)?;
        let mut crossed = Vec::new();
        self.each_cap(&req.participant, Some(venue), &req.asset, &usage, |b| {
            let Some(limit) = b.limit else { return Ok(()) };
            let after = if b.kind == LimitKind::MaxOrderQuantity {
                added
            } else {
                b.usage
            };
            let before = after - added;
            for pct in &limit.spec.warn_levels_pct {
                let level = amount::mul(b.cap, *pct / Decimal::ONE_HUNDRED)?;
                if before < level && after >= level {
                    crossed.push((limit.id.clone(), *pct, amount::utilization(after, b.cap)));
                }
            }
            Ok(())
        })?;
        for (limit_id, pct, util) in crossed {
            let mut alert = Alert::new(
                at,
                AlertKind::WarningLevelCrossed,
                format!("limit {limit_id} crossed its {pct}% warning level"),
            );
            alert.participant = Some(req.participant.clone());
            alert.asset = Some(req.asset.clone());
            alert.venue = Some(venue.clone());
            alert.limit_id = Some(limit_id);
            alert.utilization = util;
            self.alerts.push(alert);
        }
        Ok(())
    }

    // ---- reservations -------------------------------------------------

    fn reserve(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        req: &CheckRequest,
        slot: Option<ParticipantSlot>,
        held: Decimal,
        ttl_ms: u64,
    ) -> Result<(ReservationId, UnixMs), LedgerError> {
        if !self.reservation_has_room() {
            return Err(LedgerError::CapacityExhausted {
                what: "reservation table",
                max: self.cfg.reservations_max,
            });
        }
        let open = match slot {
            Some(s) => self.participants.at(s).open.len(),
            None => {
                self.ensure_capacity(
                    self.participants.len(),
                    self.cfg.participants_max,
                    "participant table",
                )?;
                0
            }
        };
        self.ensure_capacity(
            open,
            self.cfg.reservations_per_participant_max,
            "participant's reservations",
        )?;
        let expires_at_ms = at.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
        self.next_reservation += 1;
        let id = ReservationId(self.next_reservation);
        // Creates the participant if it is new.
        let slot = add_reserved_in(
            &mut self.participants,
            &mut self.ids,
            &mut self.asset_totals,
            slot.map_or(Whose::New(&req.participant), Whose::Known),
            venue,
            &req.asset,
            held,
            Open::Add(id),
        )?;
        self.make_reservation_room();
        self.push_expiry(expires_at_ms, id);
        self.reservations.insert(
            id,
            Reservation {
                id,
                venue: venue.clone(),
                participant: slot,
                asset: req.asset.clone(),
                order_id: req.order_id.clone(),
                held,
                expires_at_ms,
                state: ReservationState::Open,
                commit_seq: None,
            },
            self.cfg.reservations_max,
        );
        Ok((id, expires_at_ms))
    }

    /// Ends an open reservation exactly once.
    fn end_reservation(
        &mut self,
        at: UnixMs,
        id: ReservationId,
        state: ReservationState,
    ) -> Result<(), LedgerError> {
        let Some(r) = self.reservations.get(&id) else {
            return Ok(());
        };
        if r.state != ReservationState::Open {
            return Ok(());
        }
        let held = r.held;
        // The reservation's ids are used where they are: no clones.
        add_reserved_in(
            &mut self.participants,
            &mut self.ids,
            &mut self.asset_totals,
            Whose::Known(r.participant),
            &r.venue,
            &r.asset,
            -held,
            Open::Remove(id),
        )?;
        let mut commit_seq = None;
        if state == ReservationState::Committed {
            self.commit_seq += 1;
            commit_seq = Some(self.commit_seq);
            if !held.is_zero() {
                let (participant, venue, asset) = (r.participant, r.venue.clone(), r.asset.clone());
                self.add_pending(participant, &venue, &asset, self.commit_seq, held)?;
            }
        }
        self.ended.push_back((at, id));
        if let Some(r) = self.reservations.get_mut(&id) {
            r.state = state;
            r.commit_seq = commit_seq;
        }
        Ok(())
    }

    /// Counts a venue commit on top of the broker's posted value until a
    /// sync covers it.
    fn add_pending(
        &mut self,
        participant: ParticipantSlot,
        venue: &VenueId,
        asset: &AssetId,
        seq: u64,
        qty: Decimal,
    ) -> Result<(), LedgerError> {
        let total = self.asset_totals.get(asset).copied().unwrap_or_default();
        let new_total = amount::add(total, qty)?;
        let p = self.participants.at_mut(participant);
        let pos = p.assets.get_or_default(asset.clone());
        let new_committed = amount::add(pos.committed, qty)?;
        let vp = pos.venues.get_or_default(venue.clone());
        vp.pending_total = amount::add(vp.pending_total, qty)?;
        if vp.pending.len() >= PENDING_COMMITS_PER_POSITION_MAX {
            // Merge the two oldest under the newer sequence: they stay
            // counted until that later commit is covered (never under-count).
            if let (Some((_, a)), Some((s, b))) = (vp.pending.pop_front(), vp.pending.pop_front()) {
                vp.pending.push_front((s, amount::add(a, b)?));
            }
        }
        vp.pending.push_back((seq, qty));
        pos.committed = new_committed;
        self.asset_totals.insert(asset.clone(), new_total);
        Ok(())
    }

    fn venue_reservation(
        &self,
        venue: &VenueId,
        id: ReservationId,
    ) -> Result<&Reservation, LedgerError> {
        // Another venue's reservation answers exactly like a missing one.
        self.reservations
            .get(&id)
            .filter(|r| &r.venue == venue)
            .ok_or(LedgerError::ReservationNotFound)
    }

    fn commit(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        id: ReservationId,
    ) -> Result<Outcome, LedgerError> {
        let r = self.venue_reservation(venue, id)?;
        match r.state {
            ReservationState::Committed => {
                return Ok(Outcome::Reservation(ReservationAnswer {
                    reservation: id,
                    state: r.state,
                    commit_seq: r.commit_seq,
                }))
            }
            ReservationState::Released | ReservationState::Expired => {
                return Err(LedgerError::ReservationEnded(r.state))
            }
            ReservationState::Open => {}
        }
        if r.expires_at_ms <= at {
            self.end_reservation(at, id, ReservationState::Expired)?;
            return Err(LedgerError::ReservationEnded(ReservationState::Expired));
        }
        self.end_reservation(at, id, ReservationState::Committed)?;
        Ok(Outcome::Reservation(ReservationAnswer {
            reservation: id,
            state: ReservationState::Committed,
            commit_seq: Some(self.commit_seq),
        }))
    }

    fn release(
        &mut self,
        at: UnixMs,
        venue: &VenueId,
        id: ReservationId,
    ) -> Result<Outcome, LedgerError> {
        let r = self.venue_reservation(venue, id)?;
        let state = match r.state {
            ReservationState::Committed => return Err(LedgerError::ReservationEnded(r.state)),
            ReservationState::Released | ReservationState::Expired => r.state,
            ReservationState::Open if r.expires_at_ms <= at => {
                self.end_reservation(at, id, ReservationState::Expired)?;
                ReservationState::Expired
            }
            ReservationState::Open => {
                self.end_reservation(at, id, ReservationState::Released)?;
                ReservationState::Released
            }
        };
        Ok(Outcome::Reservation(ReservationAnswer {
            reservation: id,
            state,
            commit_seq: None,
        }))
    }

    /// Whether an expiry entry is that of an open reservation (else it is
    /// stale: the reservation ended before its deadline).
    fn expiry_is_live(&self, deadline: UnixMs, id: ReservationId) -> bool {
        self.reservations
            .get(&id)
            .is_some_and(|r| r.state == ReservationState::Open && r.expires_at_ms == deadline)
    }

    fn push_expiry(&mut self, deadline: UnixMs, id: ReservationId) {
        self.expiry.push(deadline, id);
        // Stale entries belong to reservations ended within the last
        // max_ttl_ms; should they ever outnumber the reservations kept,
        // the queue is rebuilt from the open ones (amortised O(1)).
        if self.expiry.len() > 2 * self.reservations.len() + 1024 {
            self.expiry.rebuild(
                self.reservations
                    .values()
                    .filter(|r| r.state == ReservationState::Open)
                    .map(|r| (r.expires_at_ms, r.id)),
            );
        }
    }

    fn expire_due(&mut self, at: UnixMs, max: usize) -> u32 {
        let mut expired = 0;
        // Stale entries that are due are all dropped, without a bound of
        // their own: a replay, whose heap has none from before its
        // snapshot, must expire exactly the same reservations here. They
        // are bounded by the heap (see push_expiry), cost a pop each, and
        // the ticker drops them every second as they come due.
        while expired < max {
            let Some((deadline, id)) = self.expiry.peek() else {
                break;
            };
            if deadline > at {
                break;
            }
            self.expiry.pop();
            if !self.expiry_is_live(deadline, id) {
                continue;
            }
            // Releasing headroom only subtracts what was added: it cannot
            // overflow; if it ever did, the reservation stays counted (fail
            // closed) rather than being lost.
            if self
                .end_reservation(at, id, ReservationState::Expired)
                .is_ok()
            {
                expired += 1;
            }
        }
        u32::try_from(expired).unwrap_or(u32::MAX)
    }

    // ---- broker sync --------------------------------------------------

    fn sync(
        &mut self,
        at: UnixMs,
        broker_id: &BrokerId,
        batch: &SyncBatch,
    ) -> Result<Outcome, LedgerError> {
        let last = self.brokers.get(broker_id).map(|b| b.last_seq);
        if last.is_none() {
            self.ensure_capacity(self.brokers.len(), BROKERS_MAX, "broker table")?;
        }
        let expected = last.unwrap_or(0) + 1;
        if batch.sequence < expected {
            return Err(LedgerError::SequenceReplayed {
                expected,
                got: batch.sequence,
            });
        }
        if batch.sequence > expected {
            let broker = self.brokers.entry(broker_id.clone()).or_default();
            broker.gapped = true;
            let mut alert = Alert::new(at, AlertKind::SyncGap, format!("broker {broker_id} skipped to sequence {}; expected {expected}: its participants fail closed", batch.sequence));
            alert.broker = Some(broker_id.clone());
            self.alerts.push(alert);
            return Ok(Outcome::Sync(SyncAnswer::Gap {
                expected,
                got: batch.sequence,
            }));
        }
        self.check_sync_capacity(broker_id, batch)?;
        let mut touched: Vec<(ParticipantId, AssetId)> = Vec::new();
        for u in &batch.updates {
            let (p, a) = match u {
                SyncUpdate::Collateral {
                    participant, asset, ..
                }
                | SyncUpdate::Commitment {
                    participant, asset, ..
                } => (participant, asset),
            };
            if !touched.iter().any(|(tp, ta)| tp == p && ta == a) {
                touched.push((p.clone(), a.clone()));
            }
        }
        let before: Vec<bool> = touched
            .iter()
            .map(|(p, a)| self.breach(p, a).map(|b| b.is_some()))
            .collect::<Result<_, _>>()?;
        for u in &batch.updates {
            self.apply_sync_update(broker_id, u)?;
        }
        let broker = self.brokers.entry(broker_id.clone()).or_default();
        *broker = Broker {
            last_seq: batch.sequence,
            last_seen_ms: at,
            gapped: false,
            stale_alerted: false,
        };
        for ((p, a), was) in touched.iter().zip(before) {
            if let (false, Some(util)) = (was, self.breach(p, a)?) {
                let mut alert = Alert::new(at, AlertKind::Breach, format!("participant {p} commitments of {a} exceed the limit after a sync from broker {broker_id}"));
                alert.participant = Some(p.clone());
                alert.asset = Some(a.clone());
                alert.broker = Some(broker_id.clone());
                alert.utilization = util;
                self.alerts.push(alert);
            }
        }
        Ok(Outcome::Sync(SyncAnswer::Applied {
            sequence: batch.sequence,
        }))
    }

    /// Refuses a batch that would overflow a bounded table, before any of it
    /// is applied.
    fn check_sync_capacity(&self, broker: &BrokerId, batch: &SyncBatch) -> Result<(), LedgerError> {
        let mut new_participants = 0usize;
        for u in &batch.updates {
            let p = match u {
                SyncUpdate::Collateral { participant, .. }
                | SyncUpdate::Commitment { participant, .. } => participant,
            };
            match self.participants.get(p) {
                None => new_participants += 1,
                Some(known)
                    if !known.brokers.contains(broker)
                        && known.brokers.len() >= BROKERS_PER_PARTICIPANT_MAX =>
                {
                    return Err(LedgerError::CapacityExhausted {
                        what: "participant's brokers",
                        max: BROKERS_PER_PARTICIPANT_MAX,
                    });
                }
                Some(_) => {}
            }
        }
        if self.participants.len() + new_participants > self.cfg.participants_max {
            return Err(LedgerError::CapacityExhausted {
                what: "participant table",
                max: self.cfg.participants_max,
            });
        }
        Ok(())
    }

    fn apply_sync_update(
        &mut self,
        broker: &BrokerId,
        update: &SyncUpdate,
    ) -> Result<(), LedgerError> {
        match update {
            SyncUpdate::Collateral {
                participant,
                asset,
                quantity,
            } => {
                let (broker, asset) = (self.ids.broker(broker), self.ids.asset(asset));
                let p = self.participants.entry(participant);
                if !p.brokers.contains(&broker) {
                    p.brokers.push(broker.clone());
                }
                let pos = p.assets.get_or_default(asset);
                match pos.custody.iter_mut().find(|(b, _)| *b == broker) {
                    Some((_, q)) => *q = *quantity,
                    None => pos.custody.push((broker, *quantity)),
                }
                pos.owned = pos
                    .custody
                    .iter()
                    .try_fold(Decimal::ZERO, |acc, (_, q)| amount::add(acc, *q))?;
            }
            SyncUpdate::Commitment {
                participant,
                venue,
                asset,
                quantity,
                covers_commit_seq,
            } => {
                let total = self.asset_totals.get(asset).copied().unwrap_or_default();
                let (broker, venue) = (self.ids.broker(broker), self.ids.venue(venue));
                let asset = &self.ids.asset(asset);
                let p = self.participants.entry(participant);
                if !p.brokers.contains(&broker) {
                    p.brokers.push(broker);
                }
                let pos = p.assets.get_or_default(asset.clone());
                let vp = pos.venues.get_or_default(venue);
                let before = vp.counted()?;
                vp.posted = *quantity;
                while vp
                    .pending
                    .front()
                    .is_some_and(|(seq, _)| seq <= covers_commit_seq)
                {
                    if let Some((_, q)) = vp.pending.pop_front() {
                        vp.pending_total = amount::sub(vp.pending_total, q)?;
                    }
                }
                let delta = amount::sub(vp.counted()?, before)?;
                pos.committed = amount::add(pos.committed, delta)?;
                self.asset_totals
                    .insert(asset.clone(), amount::add(total, delta)?);
            }
        }
        Ok(())
    }

    /// The most restrictive cross-venue cap on a position's commitments,
    /// ASSET_CAP included (as the position's commitments plus what the
    /// shared cap has left).
    fn position_cap(
        &self,
        participant: &ParticipantId,
        asset: &AssetId,
    ) -> Result<(Usage, Decimal, Decimal), LedgerError> {
        let usage = self.usage(participant, None, asset)?;
        let mut cap: Option<Decimal> = None;
        let mut ratio = self.cfg.default_reuse_ratio;
        self.each_cap(participant, None, asset, &usage, |b| {
            if b.kind == LimitKind::ReuseRatio {
                ratio = b.value;
            }
            cap = Some(cap.map_or(b.cap, |c| c.min(b.cap)));
            Ok(())
        })?;
        Ok((usage, ratio, cap.unwrap_or_default()))
    }

    /// `Some(utilization)` when a position's commitments exceed its cap.
    fn breach(
        &self,
        participant: &ParticipantId,
        asset: &AssetId,
    ) -> Result<Option<Option<Decimal>>, LedgerError> {
        let (usage, _, cap) = self.position_cap(participant, asset)?;
        Ok((usage.committed > cap).then(|| amount::utilization(usage.committed, cap)))
    }

    // ---- admin --------------------------------------------------------

    fn set_limit(
        &mut self,
        at: UnixMs,
        by: &str,
        spec: &LimitSpec,
        expected_version: Option<u64>,
        force: Option<&str>,
    ) -> Result<Outcome, LedgerError> {
        spec.validate()?;
        let existing = self.limits.find(spec.kind, &spec.scope);
        if let Some(expected) = expected_version {
            let actual = existing.map_or(0, |l| l.version);
            if actual != expected {
                return Err(LedgerError::VersionMismatch { expected, actual });
            }
        }
        if let (Some(old), None) = (existing, force) {
            // Every kind is a cap: a higher value is looser.
            let step = Decimal::ONE + self.cfg.limit_loosen_step_pct / Decimal::ONE_HUNDRED;
            let allowed = amount::mul(old.spec.value, step)?;
            if spec.value > allowed {
                return Err(LedgerError::LoosensTooFar {
                    what: format!(
                        "{} {} from {} to {}",
                        old.id,
                        spec.kind.name(),
                        old.spec.value,
                        spec.value
                    ),
                    step_pct: self.cfg.limit_loosen_step_pct,
                });
            }
        }
        if existing.is_none() {
            self.ensure_capacity(self.limits.len(), LIMITS_MAX, "limit table")?;
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        let (limit, old) = self.limits.upsert(spec.clone(), at, by);
        let target = format!("{} {} {}", limit.id, spec.kind.name(), spec.scope);
        self.audit_with_outcome(
            at,
            by,
            "set_limit",
            target,
            old.as_ref().map_or_else(String::new, describe_limit),
            describe_limit(&limit),
            outcome(force),
        );
        Ok(Outcome::Limit(limit))
    }

    fn delete_limit(
        &mut self,
        at: UnixMs,
        by: &str,
        id: &LimitId,
        force: Option<&str>,
    ) -> Result<Outcome, LedgerError> {
        let Some(existing) = self.limits.get(id) else {
            return Err(LedgerError::LimitNotFound(id.to_string()));
        };
        if force.is_none() {
            return Err(LedgerError::LoosensTooFar {
                what: format!("deleting {} {}", id, existing.spec.kind.name()),
                step_pct: self.cfg.limit_loosen_step_pct,
            });
        }
        self.ensure_capacity(self.audit.len(), self.cfg.audit_records_max, "audit log")?;
        let Some(old) = self.limits.remove(id) else {
            return Err(LedgerError::LimitNotFound(id.to_string()));
        };
        let target = format!("{} {} {}", old.id, old.spec.kind.name(), old.spec.scope);
        self.audit_with_outcome(
            at,
            by,
            "delete_limit",
            target,
            describe_limit(&old),
            String::new(),
            outcome(force),
        );
        Ok(Outcome::LimitDeleted(old))
    }

    fn set_trading_state(
        &mut self,
        at: UnixMs,
        by: &str,
        participant: &ParticipantId,
        state: TradingState,
        reason: &str,
    ) -> Result<Outcome, LedgerError> {
        if !self.participants.contains(participant) {
            self.ensure_capacity(
                self.participants.len(),
                self.cfg.participants_max,
                "participant table",
            )?;
        }
        // A halt, reduce-only or resume is never refused for lack of audit
        // room: it may use a reserve beyond the cap that nothing else may.
        self.ensure_capacity(
            self.audit.len(),
            audit_records_hard_max(self.cfg.audit_records_max),
            "audit log (with its reserve for trading-state changes)",
        )?;
        let p = self.participants.entry(participant);
        let previous = p.trading_state;
        p.trading_state = state;
        let mut released = 0u32;
        if state == TradingState::Halted {
            let open: Vec<ReservationId> = p.open.iter().collect();
            for id in open {
                self.end_reservation(at, id, ReservationState::Released)?;
                released += 1;
            }
        }
        let new_value = if reason.is_empty() {
            state.name().to_owned()
        } else {
            format!("{} ({reason})", state.name())
        };
        self.audit(
            at,
            by,
            "set_trading_state",
            participant.to_string(),
            previous.name().to_owned(),
            new_value,
        );
        if previous != state {
            let mut alert = Alert::new(
                at,
                AlertKind::TradingStateChanged,
                format!(
                    "participant {participant}: {} -> {} by {by}",
                    previous.name(),
                    state.name()
                ),
            );
            alert.participant = Some(participant.clone());
            self.alerts.push(alert);
        }
        Ok(Outcome::TradingState(TradingStateAnswer {
            previous,
            state,
            released_reservations: released,
        }))
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

/// An audit outcome: "ok", or flagged when a guard-rail was forced.
fn outcome(force: Option<&str>) -> String {
    match force {
        None => "ok".to_owned(),
        Some(reason) => format!("ok; FORCED past the loosening guard-rail: {reason}"),
    }
}

fn describe_limit(l: &Limit) -> String {
    let warn: Vec<String> = l
        .spec
        .warn_levels_pct
        .iter()
        .map(|w| format!("{w}%"))
        .collect();
    if warn.is_empty() {
        format!("value={} v{}", l.spec.value, l.version)
    } else {
        format!(
            "value={} warn=[{}] v{}",
            l.spec.value,
            warn.join(","),
            l.version
        )
    }
}

mod audit;
mod snapshot;
mod view;
pub use audit::{audit_records_hard_max, AUDIT_TRADING_STATE_RESERVE};
pub use snapshot::SnapshotError;
pub use view::{AssetExposure, Exposure, TopEntry, VenueExposure};

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
