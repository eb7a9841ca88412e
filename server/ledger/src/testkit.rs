//! Helpers for tests of the ledger and of the crates built on it: terse
//! ids, requests, and [`World`], a state with a clock that checks the
//! invariants after every command and can hand every state change to a
//! [`Durability`] (a journal) and restart from it.

use rust_decimal::Decimal;

use crate::*;

/// Where a [`World`] sends the commands that changed its state, and how it
/// comes back after a restart.
pub trait Durability {
    /// Makes an applied command durable before the world goes on.
    fn record(&mut self, cmd: &Command);
    /// Drops everything in memory and recovers; `current` is the state
    /// before the restart (for a snapshot first, if the journal wants one).
    fn restart(&mut self, current: &State) -> State;
}

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}
pub fn p(s: &str) -> ParticipantId {
    ParticipantId::new(s).unwrap()
}
pub fn v(s: &str) -> VenueId {
    VenueId::new(s).unwrap()
}
pub fn a(s: &str) -> AssetId {
    AssetId::new(s).unwrap()
}
pub fn b(s: &str) -> BrokerId {
    BrokerId::new(s).unwrap()
}

pub fn req(order: &str, participant: &str, asset: &str, qty: &str) -> CheckRequest {
    CheckRequest {
        order_id: OrderId::new(order).unwrap(),
        participant: p(participant),
        asset: a(asset),
        quantity: d(qty),
        ttl_ms: None,
        risk_reducing: false,
        dry_run: false,
        allow_partial: false,
        liability: None,
    }
}

/// A state plus a clock and a broker sequence, for terse scenarios.
pub struct World {
    pub state: State,
    pub now: UnixMs,
    pub seq: u64,
    pub durability: Option<Box<dyn Durability>>,
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    pub fn new() -> Self {
        World {
            state: State::new(LedgerConfig::default()),
            now: 1_000_000,
            seq: 0,
            durability: None,
        }
    }

    /// Applies a command the way [`Ledger::apply`] does (at the ledger's
    /// time; journaled if it changed the state), then checks invariants.
    pub fn apply(&mut self, mut cmd: Command) -> Result<Applied, LedgerError> {
        self.state.admit(&cmd)?;
        cmd.set_at_ms(self.state.effective_at(&cmd));
        let (r, changed) = self.state.apply_tracked(&cmd);
        self.state.check_invariants().unwrap();
        if changed {
            if let Some(d) = self.durability.as_mut() {
                d.record(&cmd);
            }
        }
        r
    }

    /// Restarts from the durable copy; the recovered state must be the
    /// state before the restart, byte for byte.
    pub fn restart(&mut self) {
        if let Some(d) = self.durability.as_mut() {
            let recovered = d.restart(&self.state);
            recovered.check_invariants().unwrap();
            assert!(
                recovered.to_snapshot() == self.state.to_snapshot(),
                "the recovered state differs from the state before the restart"
            );
            self.state = recovered;
        }
    }

    pub fn sync(&mut self, updates: Vec<SyncUpdate>) -> Applied {
        self.seq += 1;
        let batch = SyncBatch {
            sequence: self.seq,
            updates,
        };
        self.apply(Command::Sync {
            at_ms: self.now,
            broker: b("prime-1"),
            batch,
        })
        .unwrap()
    }

    pub fn own(&mut self, participant: &str, asset: &str, qty: &str) -> Applied {
        self.sync(vec![SyncUpdate::Collateral {
            participant: p(participant),
            asset: a(asset),
            quantity: d(qty),
        }])
    }

    pub fn check(&mut self, venue: &str, r: CheckRequest) -> CheckAnswer {
        match self
            .apply(Command::Check {
                at_ms: self.now,
                venue: v(venue),
                request: r,
            })
            .unwrap()
            .outcome
        {
            Outcome::Check(c) => c,
            o => panic!("unexpected {o:?}"),
        }
    }

    /// A check's answer and the alerts it raised.
    pub fn check_alerts(&mut self, venue: &str, r: CheckRequest) -> (CheckAnswer, Vec<Alert>) {
        let applied = self
            .apply(Command::Check {
                at_ms: self.now,
                venue: v(venue),
                request: r,
            })
            .unwrap();
        match applied.outcome {
            Outcome::Check(c) => (c, applied.alerts),
            o => panic!("unexpected {o:?}"),
        }
    }

    pub fn try_check(&mut self, venue: &str, r: CheckRequest) -> Result<CheckAnswer, LedgerError> {
        self.apply(Command::Check {
            at_ms: self.now,
            venue: v(venue),
            request: r,
        })
        .map(|a| match a.outcome {
            Outcome::Check(c) => c,
            o => panic!("unexpected {o:?}"),
        })
    }

    pub fn set_limit(
        &mut self,
        kind: LimitKind,
        scope: Scope,
        value: &str,
        warn: &[&str],
    ) -> Limit {
        let spec = LimitSpec {
            kind,
            scope,
            value: d(value),
            warn_levels_pct: warn.iter().map(|w| d(w)).collect(),
        };
        match self
            .apply(Command::SetLimit {
                at_ms: self.now,
                by: "admin".into(),
                spec,
                expected_version: None,
                // Scenarios move limits freely; the guard-rail has its own
                // tests.
                force: Some("test".into()),
            })
            .unwrap()
            .outcome
        {
            Outcome::Limit(l) => l,
            o => panic!("unexpected {o:?}"),
        }
    }

    pub fn commit(
        &mut self,
        venue: &str,
        id: ReservationId,
    ) -> Result<ReservationAnswer, LedgerError> {
        self.apply(Command::Commit {
            at_ms: self.now,
            venue: v(venue),
            reservation: id,
        })
        .map(|a| match a.outcome {
            Outcome::Reservation(r) => r,
            o => panic!("unexpected {o:?}"),
        })
    }

    pub fn release(
        &mut self,
        venue: &str,
        id: ReservationId,
    ) -> Result<ReservationAnswer, LedgerError> {
        self.apply(Command::Release {
            at_ms: self.now,
            venue: v(venue),
            reservation: id,
        })
        .map(|a| match a.outcome {
            Outcome::Reservation(r) => r,
            o => panic!("unexpected {o:?}"),
        })
    }

    pub fn trading(&mut self, participant: &str, state: TradingState) -> TradingStateAnswer {
        self.try_trading(participant, state).unwrap()
    }

    pub fn try_trading(
        &mut self,
        participant: &str,
        state: TradingState,
    ) -> Result<TradingStateAnswer, LedgerError> {
        let cmd = Command::SetTradingState {
            at_ms: self.now,
            by: "admin".into(),
            participant: p(participant),
            state,
            reason: String::new(),
        };
        self.apply(cmd).map(|a| match a.outcome {
            Outcome::TradingState(t) => t,
            o => panic!("unexpected {o:?}"),
        })
    }

    /// Sets how `venue` liquidates, which also makes it a configured venue
    /// (one that liabilities may name).
    pub fn venue_rule(&mut self, venue: &str, rule: LiquidationRule) -> Applied {
        self.apply(Command::SetVenueRule {
            at_ms: self.now,
            by: "admin".into(),
            venue: v(venue),
            rule,
        })
        .unwrap()
    }

    pub fn tick(&mut self) -> Applied {
        self.apply(Command::Tick { at_ms: self.now }).unwrap()
    }

    pub fn committed(&self, participant: &str, asset: &str) -> Decimal {
        self.state
            .exposure(&p(participant), self.now)
            .unwrap()
            .map_or(Decimal::ZERO, |e| {
                e.assets
                    .iter()
                    .find(|x| x.asset.as_str() == asset)
                    .map_or(Decimal::ZERO, |x| x.committed)
            })
    }
}

/// This process's resident memory (VmRSS), in KiB; 0 where `/proc` has none.
/// For the benchmarks and examples that measure memory.
pub fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Asserts that the crate at `manifest_dir` knows no transport: no tonic,
/// prost, tokio, futures or async crate in its `[dependencies]`, and no
/// `async`, `.await` or transport path in its `src/` code (comments may
/// speak of them). Each transport-free crate's `tests/no_transport.rs`
/// calls it.
pub fn assert_no_transport(name: &str, manifest_dir: &std::path::Path) {
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let manifest = std::fs::read_to_string(manifest_dir.join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for banned in ["tonic", "prost", "tokio", "futures", "async"] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(banned)),
            "{name} must not depend on {banned}"
        );
    }
    let mut files = Vec::new();
    rust_files(&manifest_dir.join("src"), &mut files);
    assert!(files.len() >= 5, "found only {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Code only: comments may talk about what the crate does not do.
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        // Spelled in pieces, so that this file does not name them itself.
        for banned in [
            concat!(".", "await"),
            concat!("async", " fn"),
            concat!("async", " move"),
            concat!("tokio", "::"),
            concat!("tonic", "::"),
            concat!("prost", "::"),
        ] {
            assert!(
                !code.contains(banned),
                "{} contains `{banned}`",
                file.display()
            );
        }
    }
}
