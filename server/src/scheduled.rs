//! The scheduled stress: every `--stress-every-ms` the server stresses the
//! ledger under `--stress-scenario` (a run like any other: off the lock,
//! one at a time), keeps the worst participants for `top --by stress`, and
//! alerts on what changed since the previous run: participants who would
//! now breach on two venues or more at once, and the hidden-by-reuse list.
//! A participant the desk opted in (`SetStressGuard`) that would breach on
//! its number of venues or more is set REDUCE_ONLY, by `scheduled-stress`,
//! audited like any admin change.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interlock_analytics::scenario::Choice;
use interlock_analytics::stress::{StressRequest, ROWS_MAX};
use interlock_ledger::{Alert, AlertKind, ParticipantId};

use crate::analytics::AnalyticsApi;
use crate::api::Shared;

/// Alerts naming one participant each that one run may raise; beyond
/// them, one alert says how many more.
pub const STRESS_ALERTS_PER_RUN_MAX: usize = 100;
/// Names an alert about the hidden-by-reuse list spells out.
const NAMES_IN_AN_ALERT: usize = 10;

/// One participant of the last scheduled stress, for `top --by stress`.
#[derive(Debug, Clone, PartialEq)]
pub struct StressRank {
    pub participant: ParticipantId,
    pub shortfall: f64,
    pub hf_eco_after: f64,
    pub breached_on: Vec<String>,
}

/// What the last scheduled stress found.
#[derive(Debug, Clone, Default)]
pub struct LastStress {
    pub scenario: String,
    /// The ledger's time of the moment it read.
    pub at_ms: i64,
    /// The worst by shortfall (of those breached or short).
    pub worst: Vec<StressRank>,
    breached_on_two: BTreeSet<ParticipantId>,
    hidden: BTreeSet<ParticipantId>,
}

pub type LastStressCell = Arc<Mutex<Option<LastStress>>>;

/// Runs the scheduled stress until the server stops (the task is aborted).
pub async fn run(api: AnalyticsApi, shared: Shared, every: Duration, scenario: String) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let guards = match shared.ledger.read(|s| s.stress_guards().clone()) {
            Ok(g) => g,
            Err(_) => continue,
        };
        let req = StressRequest {
            scenario: Choice::Named {
                name: scenario.clone(),
                multiple: 1,
            },
            rows: ROWS_MAX,
            participants: Vec::new(),
            depth: Vec::new(),
            collect_sets: true,
            watch: guards.keys().cloned().collect(),
            rules: Vec::new(),
        };
        let report = match api
            .run(move |book, cancelled| interlock_analytics::stress::stress(book, &req, cancelled))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e.message(), %scenario, "scheduled stress not run");
                continue;
            }
        };
        guard(&shared, &guards, &report.watched, &report.scenario).await;
        let sets = report.sets.unwrap_or_default();
        let now = LastStress {
            scenario: report.scenario.clone(),
            at_ms: report.at_ms,
            worst: report
                .participants
                .iter()
                .map(|p| StressRank {
                    participant: p.participant.clone(),
                    shortfall: p.shortfall,
                    hf_eco_after: p.hf_eco_after,
                    breached_on: p
                        .venues
                        .iter()
                        .filter(|v| v.breached)
                        .map(|v| v.venue.to_string())
                        .collect(),
                })
                .collect(),
            breached_on_two: sets.breached_on_two.into_iter().collect(),
            hidden: sets.hidden.into_iter().collect(),
        };
        let alerts = {
            let mut last = shared.last_stress.lock().unwrap_or_else(|e| e.into_inner());
            let alerts = changes(last.as_ref(), &now, shared.clock.now_ms());
            *last = Some(now);
            alerts
        };
        if !alerts.is_empty() {
            shared.alerts.publish(alerts);
        }
    }
}

/// The principal the scheduled stress's changes are audited under.
pub const BY: &str = "scheduled-stress";

/// Sets REDUCE_ONLY each opted-in participant, still ACTIVE, that would
/// breach on its number of venues or more.
async fn guard(
    shared: &Shared,
    guards: &std::collections::BTreeMap<ParticipantId, u32>,
    watched: &[(ParticipantId, u32)],
    scenario: &str,
) {
    for (p, breached) in watched {
        let Some(&at_least) = guards.get(p) else {
            continue;
        };
        if *breached < at_least {
            continue;
        }
        let state = shared.ledger.read(|s| s.trading_state(p));
        if state != Ok(Some(interlock_ledger::TradingState::Active)) {
            continue;
        }
        let cmd = interlock_ledger::Command::SetTradingState {
            at_ms: shared.clock.now_ms(),
            by: BY.to_owned(),
            participant: p.clone(),
            state: interlock_ledger::TradingState::ReduceOnly,
            reason: format!(
                "under {scenario} it would breach on {breached} venues (its guard: {at_least})"
            ),
        };
        if let Err(e) = shared.apply(cmd).await {
            tracing::warn!(error = %e.message(), participant = %p, "stress guard not applied");
        }
    }
}

/// The alerts for what changed from `before` (none: the first run) to
/// `now`.
pub fn changes(before: Option<&LastStress>, now: &LastStress, at_ms: i64) -> Vec<Alert> {
    let empty = BTreeSet::new();
    let (was_two, was_hidden) =
        before.map_or((&empty, &empty), |b| (&b.breached_on_two, &b.hidden));
    let mut alerts = Vec::new();
    let newly: Vec<&ParticipantId> = now.breached_on_two.difference(was_two).collect();
    for p in newly.iter().take(STRESS_ALERTS_PER_RUN_MAX) {
        let mut a = Alert::new(
            at_ms,
            AlertKind::StressMultiVenue,
            format!(
                "under {} participant {p} would breach on two or more venues at once",
                now.scenario
            ),
        );
        a.participant = Some((*p).clone());
        alerts.push(a);
    }
    if newly.len() > STRESS_ALERTS_PER_RUN_MAX {
        alerts.push(Alert::new(
            at_ms,
            AlertKind::StressMultiVenue,
            format!(
                "under {}: {} more participants would now breach on two or more venues at once (`interlockctl top --by stress`)",
                now.scenario,
                newly.len() - STRESS_ALERTS_PER_RUN_MAX
            ),
        ));
    }
    if *was_hidden != now.hidden {
        let names = |s: Vec<&ParticipantId>| {
            let shown: Vec<String> = s
                .iter()
                .take(NAMES_IN_AN_ALERT)
                .map(|p| p.to_string())
                .collect();
            let more = s.len().saturating_sub(NAMES_IN_AN_ALERT);
            if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            }
        };
        let added: Vec<&ParticipantId> = now.hidden.difference(was_hidden).collect();
        let gone: Vec<&ParticipantId> = was_hidden.difference(&now.hidden).collect();
        let mut parts = vec![format!(
            "under {} {} participant(s) are hidden by reuse (HF^eco < 1, every venue healthy)",
            now.scenario,
            now.hidden.len()
        )];
        if !added.is_empty() {
            parts.push(format!("new: {}", names(added)));
        }
        if !gone.is_empty() {
            parts.push(format!("no longer: {}", names(gone)));
        }
        alerts.push(Alert::new(
            at_ms,
            AlertKind::StressHiddenByReuse,
            parts.join("; "),
        ));
    }
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ParticipantId {
        ParticipantId::new(s).unwrap()
    }

    fn last(two: &[&str], hidden: &[&str]) -> LastStress {
        LastStress {
            scenario: "CHAOS_TIERS".into(),
            breached_on_two: two.iter().map(|s| p(s)).collect(),
            hidden: hidden.iter().map(|s| p(s)).collect(),
            ..LastStress::default()
        }
    }

    #[test]
    fn alerts_say_what_changed() {
        let first = last(&["a"], &["h"]);
        let a = changes(None, &first, 1);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].kind, a[0].participant.clone()),
            (AlertKind::StressMultiVenue, Some(p("a")))
        );
        assert_eq!(a[1].kind, AlertKind::StressHiddenByReuse);
        assert!(a[1].message.contains("new: h"), "{}", a[1].message);
        // Nothing changed: nothing to say.
        assert!(changes(Some(&first), &first, 2).is_empty());
        // b newly on two venues; h left the hidden list.
        let a = changes(Some(&first), &last(&["a", "b"], &[]), 3);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].participant, Some(p("b")));
        assert!(a[1].message.contains("no longer: h"), "{}", a[1].message);
    }

    #[test]
    fn a_flood_is_one_alert_per_participant_up_to_a_bound() {
        let many: Vec<String> = (0..150).map(|i| format!("p{i:03}")).collect();
        let names: Vec<&str> = many.iter().map(String::as_str).collect();
        let a = changes(None, &last(&names, &[]), 1);
        assert_eq!(a.len(), STRESS_ALERTS_PER_RUN_MAX + 1);
        assert!(a.last().unwrap().message.contains("50 more"));
    }
}
