//! `Cascade(S, impact)`: shock, liquidate by each venue's rule, sell what
//! was seized into a market of given depth, re-price, repeat until a round
//! liquidates nothing (`analytics.md`).

use interlock_ledger::{AssetId, ParticipantId};

use crate::book::Book;
use crate::engine::{self, Figures, Positions, Prices, RoundTotals, Scratch};
use crate::error::{invalid, AnalyticsError};
use crate::report::{AssetMove, AssetRow};
use crate::scenario::Choice;
use crate::stress;

/// The most rounds a request may ask for.
pub const ROUNDS_MAX: u32 = 200;
/// Rounds when the request does not say.
pub const ROUNDS_DEFAULT: u32 = 50;
/// Most names listed per round and among the victims (all are counted).
pub const NAMES_LISTED_MAX: usize = 1000;

/// How a sale moves a price: with M_a the quantity the market absorbs for
/// a 10% move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impact {
    /// P·exp(−β·q/M), β = −ln(0.9)/0.1.
    Exp,
    /// P·(1 − q/M).
    Linear,
}

/// β of the exponential impact: selling M/10 moves the price by 10%.
pub fn beta() -> f64 {
    -(0.9f64.ln()) / 0.1
}

/// An asset's market: depth M_a and the price floor.
#[derive(Debug, Clone, PartialEq)]
pub struct Market {
    pub asset: AssetId,
    pub depth: f64,
    pub floor: f64,
}

#[derive(Debug, Clone)]
pub struct CascadeRequest {
    pub scenario: Choice,
    pub impact: Impact,
    /// Assets without a market here do not move when sold.
    pub markets: Vec<Market>,
    /// Venues that liquidate by another rule in this run.
    pub rules: Vec<(interlock_ledger::VenueId, crate::rules::Rule)>,
    pub max_rounds: u32,
}

/// One round: the prices it liquidated at and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub round: u32,
    /// Per priced asset (the report's `prices` order).
    pub prices: Vec<f64>,
    pub accounts_liquidated: u64,
    pub debt_closed: f64,
    pub bad_debt: f64,
    /// Per venue that liquidated: accounts, debt repaid, bad debt.
    pub venues: Vec<RoundVenue>,
    /// Seized per asset this round (sold into the market).
    pub sold: Vec<(AssetId, f64)>,
    pub newly_breached_count: u64,
    /// The first [`NAMES_LISTED_MAX`] by id.
    pub newly_breached: Vec<ParticipantId>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoundVenue {
    pub venue: interlock_ledger::VenueId,
    pub accounts: u64,
    pub repaid: f64,
    pub bad_debt: f64,
}

/// Total over the rounds divided by round 0's; `None` when round 0's is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Amplification {
    pub debt_closed: Option<f64>,
    /// Per asset sold: (asset, quantity, price fall).
    pub sold: Vec<(AssetId, Option<f64>)>,
    pub price_fall: Vec<(AssetId, Option<f64>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CascadeReport {
    pub scenario: String,
    pub at_ms: i64,
    pub impact: Impact,
    /// Before the shock, after it (round 0's prices), and at the end.
    pub prices: Vec<AssetMove>,
    pub final_prices: Vec<f64>,
    pub rounds: Vec<Round>,
    /// Whether it stopped because a round liquidated nothing (else it
    /// reached `max_rounds`).
    pub settled: bool,
    pub debt_closed: f64,
    pub bad_debt: f64,
    pub breached_on_one: u64,
    pub breached_on_two: u64,
    pub assets: Vec<AssetRow>,
    pub amplification: Amplification,
    /// First breached in a round ≥ 1.
    pub victims_count: u64,
    pub victims: Vec<ParticipantId>,
}

/// The price after selling `q` into a market.
pub fn impacted(impact: Impact, price: f64, q: f64, m: &Market) -> f64 {
    let moved = match impact {
        Impact::Exp => price * (-beta() * q / m.depth).exp(),
        Impact::Linear => price * (1.0 - q / m.depth),
    };
    moved.max(m.floor)
}

pub fn cascade(
    book: &Book,
    req: &CascadeRequest,
    cancelled: &dyn Fn() -> bool,
) -> Result<CascadeReport, AnalyticsError> {
    cascade_without(book, req, None, cancelled).map(|(r, _)| r)
}

/// The cascade with participant `left_out`'s positions removed (systemic
/// ranking), and the debt closed per participant index asked for.
pub(crate) fn cascade_without(
    book: &Book,
    req: &CascadeRequest,
    left_out: Option<usize>,
    cancelled: &dyn Fn() -> bool,
) -> Result<(CascadeReport, Vec<f64>), AnalyticsError> {
    let depth: Vec<(AssetId, f64)> = req
        .markets
        .iter()
        .map(|m| (m.asset.clone(), m.depth))
        .collect();
    let scenario = req.scenario.resolve(book)?;
    stress::validate(book, &scenario, req.scenario.is_given(), &depth)?;
    for m in &req.markets {
        if !(m.floor.is_finite() && m.floor >= 0.0) {
            return Err(invalid("floor", format!("{}: must be at least 0", m.asset)));
        }
    }
    if req.max_rounds == 0 || req.max_rounds > ROUNDS_MAX {
        return Err(invalid("max_rounds", format!("must be 1 to {ROUNDS_MAX}")));
    }
    let market: Vec<Option<&Market>> = book
        .assets
        .iter()
        .map(|a| req.markets.iter().find(|m| m.asset == a.id))
        .collect();
    let (base, start, shocks) = stress::shocked(book, &scenario);
    let rules = engine::rules_for(book, &req.rules)?;
    let mut now = start.clone();
    let mut pos = Positions::of(book);
    if let Some(p) = left_out {
        remove(book, &mut pos, p);
    }
    let mut scratch = Scratch::new(book.assets.len());
    let mut f = Figures::default();
    let mut first_round: Vec<Option<u32>> = vec![None; book.participants.len()];
    let mut closed_by: Vec<f64> = vec![0.0; book.participants.len()];
    let mut totals = RoundTotals::new(book);
    let mut round0 = None;
    let mut rounds = Vec::new();
    let mut settled = false;
    let mut breached_two = vec![false; book.participants.len()];
    for k in 0..req.max_rounds {
        let mut t = RoundTotals::new(book);
        let mut newly = Vec::new();
        let prices = Prices {
            now: &now,
            base: &base,
            rules: &rules,
        };
        engine::each_participant(book, cancelled, |p| {
            engine::figures(book, Some(&pos), p, prices, &mut scratch, &mut f);
            let breached = f.breached_venues();
            if breached == 0 {
                return;
            }
            t.add(book, &f);
            if breached >= 2 {
                breached_two[p] = true;
            }
            if first_round[p].is_none() {
                first_round[p] = Some(k);
                newly.push(p);
            }
            closed_by[p] += f.accounts.iter().map(|a| a.closed()).sum::<f64>();
            engine::apply(book, &mut pos, p, &f);
        })?;
        t.close(&now);
        newly.sort_by(|a, b| book.participants[*a].cmp(&book.participants[*b]));
        let sold: Vec<(usize, f64)> = (0..book.assets.len())
            .filter(|a| !t.asset_sold_qty[*a].is_zero())
            .map(|a| (a, t.asset_sold_qty[a].value()))
            .collect();
        let quiet = t.accounts_liquidated == 0;
        rounds.push(Round {
            round: k,
            prices: priced(book, &now),
            accounts_liquidated: t.accounts_liquidated,
            debt_closed: t.debt_closed().value(),
            bad_debt: t.bad_debt().value(),
            venues: book
                .venues
                .iter()
                .enumerate()
                .filter(|(v, _)| t.venue_breached[*v] > 0)
                .map(|(v, venue)| RoundVenue {
                    venue: venue.id.clone(),
                    accounts: t.venue_breached[v],
                    repaid: t.venue_repaid[v].value(),
                    bad_debt: t.venue_bad_debt[v].value(),
                })
                .collect(),
            sold: sold
                .iter()
                .map(|(a, q)| (book.assets[*a].id.clone(), *q))
                .collect(),
            newly_breached_count: newly.len() as u64,
            newly_breached: newly
                .iter()
                .take(NAMES_LISTED_MAX)
                .map(|p| book.participants[*p].clone())
                .collect(),
        });
        totals.merge(&t);
        if round0.is_none() {
            round0 = Some(t);
        }
        if quiet {
            settled = true;
            break;
        }
        for (a, q) in sold {
            if let Some(m) = market[a] {
                now[a] = impacted(req.impact, now[a], q, m);
            }
        }
    }
    let round0 = round0.expect("at least one round ran");
    let ratio = |total: f64, first: f64| (first != 0.0).then(|| total / first);
    let amplification = Amplification {
        debt_closed: ratio(totals.debt_closed().value(), round0.debt_closed().value()),
        sold: (0..book.assets.len())
            .filter(|a| !totals.asset_sold_qty[*a].is_zero())
            .map(|a| {
                (
                    book.assets[a].id.clone(),
                    ratio(
                        totals.asset_sold_qty[a].value(),
                        round0.asset_sold_qty[a].value(),
                    ),
                )
            })
            .collect(),
        price_fall: (0..book.assets.len())
            .filter(|a| book.assets[*a].priced)
            .map(|a| {
                (
                    book.assets[a].id.clone(),
                    ratio(base[a] - now[a], base[a] - start[a]),
                )
            })
            .collect(),
    };
    let mut victims: Vec<usize> = (0..book.participants.len())
        .filter(|p| first_round[*p].is_some_and(|r| r >= 1))
        .collect();
    let victims_count = victims.len() as u64;
    victims.sort_by(|a, b| book.participants[*a].cmp(&book.participants[*b]));
    let report = CascadeReport {
        scenario: scenario.name.clone(),
        at_ms: book.at_ms,
        impact: req.impact,
        prices: stress::moves(book, &base, &start, &shocks),
        final_prices: priced(book, &now),
        rounds,
        settled,
        debt_closed: totals.debt_closed().value(),
        bad_debt: totals.bad_debt().value(),
        breached_on_one: first_round.iter().filter(|r| r.is_some()).count() as u64,
        breached_on_two: breached_two.iter().filter(|b| **b).count() as u64,
        assets: stress::asset_rows(book, &totals, &depth),
        amplification,
        victims_count,
        victims: victims
            .into_iter()
            .take(NAMES_LISTED_MAX)
            .map(|p| book.participants[p].clone())
            .collect(),
    };
    Ok((report, closed_by))
}

/// The priced assets' entries of a per-asset price vector.
fn priced(book: &Book, prices: &[f64]) -> Vec<f64> {
    book.assets
        .iter()
        .zip(prices)
        .filter(|(a, _)| a.priced)
        .map(|(_, p)| *p)
        .collect()
}

/// Takes a participant out of the market: no holdings, claims or debts.
fn remove(book: &Book, pos: &mut Positions, p: usize) {
    pos.changed[p] = true;
    let first = book.holdings_of_start(p);
    for h in first..first + book.holdings_of(p).len() {
        pos.owned[h] = 0.0;
    }
    for ai in book.accounts_range(p) {
        pos.debt_scale[ai] = 0.0;
        let acc = book.accounts[ai];
        for li in acc.first as usize..acc.end as usize {
            pos.committed[li] = 0.0;
        }
    }
}
