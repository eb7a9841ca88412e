//! Systemic ranking: the damage each of the top N participants' positions
//! do to everyone else through the cascade, by leaving each out in turn
//! (`analytics.md`): SI_p = closed(full) − closed(without p) − p's own debt
//! closed in the full cascade. A ranking by SI can reverse one by debt:
//! that is the point.

use interlock_ledger::ParticipantId;

use crate::book::Book;
use crate::cascade::{self, CascadeRequest};
use crate::engine::{self, Figures, Prices, Scratch, TopN};
use crate::error::{invalid, AnalyticsError};
use crate::report::{EcoCover, VenueRow};
use crate::stress::{self, StressRequest};

/// The most participants a ranking may leave out in turn (each is a
/// cascade).
pub const TOP_MAX: usize = 1000;
/// Participants ranked when the request does not say.
pub const TOP_DEFAULT: usize = 100;

/// Which participants are candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankBy {
    /// The largest debt at the moment's prices.
    Size,
    /// The largest shortfall under the scenario's shock.
    Shortfall,
}

#[derive(Debug, Clone)]
pub struct SystemicRequest {
    pub cascade: CascadeRequest,
    pub top: usize,
    pub by: RankBy,
}

/// One participant's systemic impact.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemicRow {
    pub participant: ParticipantId,
    /// Its debt at the moment's prices.
    pub debt: f64,
    /// Its own debt closed in the full cascade.
    pub own_closed: f64,
    /// Debt closed in the cascade without it.
    pub closed_without: f64,
    /// SI: the debt closed of everyone else because of it.
    pub impact: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SystemicReport {
    pub scenario: String,
    pub at_ms: i64,
    /// Debt closed in the full cascade.
    pub closed: f64,
    /// By impact, largest first, then by id.
    pub rows: Vec<SystemicRow>,
    /// Cover-1 and Cover-2 per venue under the scenario's shock (as
    /// `Stress` reports them).
    pub venues: Vec<VenueRow>,
    /// The ecosystem's Cover-2.
    pub cover2: EcoCover,
}

/// Ranks the top participants; `progress(done, total, row)` hears of each
/// one as it is computed.
pub fn systemic(
    book: &Book,
    req: &SystemicRequest,
    cancelled: &dyn Fn() -> bool,
    progress: &mut dyn FnMut(usize, usize, &SystemicRow),
) -> Result<SystemicReport, AnalyticsError> {
    if req.top == 0 || req.top > TOP_MAX {
        return Err(invalid("top", format!("must be 1 to {TOP_MAX}")));
    }
    let (full, closed_by) = cascade::cascade_without(book, &req.cascade, None, cancelled)?;
    // The candidates, by size or by shortfall.
    let scenario = req.cascade.scenario.resolve(book)?;
    let (base, shocked, _) = stress::shocked(book, &scenario);
    let rules = engine::rules_for(book, &req.cascade.rules)?;
    let prices = match req.by {
        RankBy::Size => Prices {
            now: &base,
            base: &base,
            rules: &rules,
        },
        RankBy::Shortfall => Prices {
            now: &shocked,
            base: &base,
            rules: &rules,
        },
    };
    let mut scratch = Scratch::new(book.assets.len());
    let mut f = Figures::default();
    let mut top = TopN::new(req.top);
    let mut debt = vec![0.0; book.participants.len()];
    engine::each_participant(book, cancelled, |p| {
        engine::figures(book, None, p, prices, &mut scratch, &mut f);
        let figure = match req.by {
            RankBy::Size => f.debt,
            RankBy::Shortfall => f.shortfall(),
        };
        if f.debt > 0.0 {
            debt[p] = if req.by == RankBy::Size { f.debt } else { 0.0 };
            if figure > 0.0 {
                top.offer(book, figure, p);
            }
        }
    })?;
    let candidates: Vec<usize> = top.rows().iter().map(|r| r.1).collect();
    let total = candidates.len();
    let mut rows = Vec::with_capacity(total);
    for (done, p) in candidates.into_iter().enumerate() {
        let (without, _) = cascade::cascade_without(book, &req.cascade, Some(p), cancelled)?;
        let own = closed_by[p];
        let row = SystemicRow {
            participant: book.participants[p].clone(),
            debt: if req.by == RankBy::Size {
                debt[p]
            } else {
                engine::figures(
                    book,
                    None,
                    p,
                    Prices {
                        now: &base,
                        base: &base,
                        rules: &rules,
                    },
                    &mut scratch,
                    &mut f,
                );
                f.debt
            },
            own_closed: own,
            closed_without: without.debt_closed,
            impact: full.debt_closed - without.debt_closed - own,
        };
        progress(done + 1, total, &row);
        rows.push(row);
    }
    let covers = stress::stress(
        book,
        &StressRequest {
            scenario: req.cascade.scenario.clone(),
            rows: 0,
            participants: Vec::new(),
            depth: Vec::new(),
            collect_sets: false,
            watch: Vec::new(),
            rules: req.cascade.rules.clone(),
        },
        cancelled,
    )?;
    rows.sort_by(|a, b| {
        b.impact
            .total_cmp(&a.impact)
            .then_with(|| a.participant.cmp(&b.participant))
    });
    Ok(SystemicReport {
        scenario: scenario.name.clone(),
        at_ms: book.at_ms,
        closed: full.debt_closed,
        rows,
        venues: covers.venues,
        cover2: covers.ecosystem.cover2,
    })
}
