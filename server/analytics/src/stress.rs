//! `Stress(S)`: every price moved once by S, no price impact; who breaches
//! where, what the venues' rules then do, and what only a cross-venue
//! ledger can see (`analytics.md`).

use interlock_ledger::{AssetId, ParticipantId};

use crate::book::Book;
use crate::engine::{self, Figures, Prices, RoundTotals, Scratch, TopN};
use crate::error::{invalid, AnalyticsError};
use crate::report::*;
use crate::scenario::{Choice, Scenario};

/// Most participant rows a run returns.
pub const ROWS_MAX: usize = 1000;
/// Most participants a request may ask for by name.
pub const ASKED_MAX: usize = 100;
/// Most names in the hidden-by-reuse list (all are counted).
pub const HIDDEN_LISTED_MAX: usize = 1000;

/// What to stress.
#[derive(Debug, Clone)]
pub struct StressRequest {
    pub scenario: Choice,
    /// Rows of the worst participants by shortfall (of those breached on
    /// a venue or short).
    pub rows: usize,
    /// Participants to show whatever their rank.
    pub participants: Vec<ParticipantId>,
    /// M_a per asset, for forced sales as a share of depth.
    pub depth: Vec<(AssetId, f64)>,
    /// Also list every participant breached on two venues or more and
    /// every one hidden by reuse (for the scheduled stress's alerts).
    pub collect_sets: bool,
    /// Venues that liquidate by another rule in this run.
    pub rules: Vec<(interlock_ledger::VenueId, crate::rules::Rule)>,
    /// Participants whose count of breached venues the report gives
    /// (`StressReport::watched`), however they rank; unknown ones are
    /// left out.
    pub watch: Vec<ParticipantId>,
}

/// The prices before and after the scenario, per book asset.
pub(crate) fn shocked(book: &Book, s: &Scenario) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let base: Vec<f64> = book.assets.iter().map(|a| a.price).collect();
    let shocks: Vec<f64> = book
        .assets
        .iter()
        .map(|a| a.class.map_or(0.0, |c| s.shock_of(&a.id, c)))
        .collect();
    let now = base
        .iter()
        .zip(&shocks)
        .map(|(p, s)| p * (1.0 + s))
        .collect();
    (base, now, shocks)
}

/// Refuses what a run cannot answer: a shocked asset the ledger does not
/// price (for the request's own shocks; a named scenario may name assets
/// this ledger does not hold), rows or names beyond their maximum,
/// unknown participants, a depth that is not positive.
pub(crate) fn validate(
    book: &Book,
    scenario: &Scenario,
    strict_assets: bool,
    depth: &[(AssetId, f64)],
) -> Result<(), AnalyticsError> {
    if strict_assets {
        for (a, _) in &scenario.by_asset {
            match book.asset_index(a) {
                Some(i) if book.assets[i].class.is_some() => {}
                _ => {
                    return Err(invalid(
                        "shocks.asset",
                        format!("{a} is not an asset with a class (a price)"),
                    ))
                }
            }
        }
    }
    for (a, m) in depth {
        if !(m.is_finite() && *m > 0.0) {
            return Err(invalid("depth", format!("{a}: must be above 0")));
        }
        if book.asset_index(a).is_none() {
            return Err(invalid(
                "depth.asset",
                format!("{a} is not an asset of the ledger"),
            ));
        }
    }
    Ok(())
}

pub fn stress(
    book: &Book,
    req: &StressRequest,
    cancelled: &dyn Fn() -> bool,
) -> Result<StressReport, AnalyticsError> {
    let scenario = req.scenario.resolve(book)?;
    validate(book, &scenario, req.scenario.is_given(), &req.depth)?;
    if req.rows > ROWS_MAX {
        return Err(invalid("rows", format!("at most {ROWS_MAX}")));
    }
    if req.watch.len() > interlock_ledger::state::STRESS_GUARDS_MAX {
        return Err(invalid(
            "watch",
            format!("at most {}", interlock_ledger::state::STRESS_GUARDS_MAX),
        ));
    }
    if req.participants.len() > ASKED_MAX {
        return Err(invalid("participants", format!("at most {ASKED_MAX}")));
    }
    let found = book.participant_indices(&req.participants);
    let asked: Vec<usize> = req
        .participants
        .iter()
        .zip(found)
        .map(|(p, i)| i.ok_or_else(|| invalid("participants", format!("{p} is not known"))))
        .collect::<Result<_, _>>()?;
    let (base, now, shocks) = shocked(book, &scenario);
    let rules = engine::rules_for(book, &req.rules)?;
    let prices = Prices {
        now: &now,
        base: &base,
        rules: &rules,
    };
    let mut scratch = Scratch::new(book.assets.len());
    let mut f = Figures::default();
    let mut totals = RoundTotals::new(book);
    let mut worst = TopN::new(req.rows);
    let mut eco_cover = TopN::new(2);
    let mut covers: Vec<TopN> = (0..book.venues.len()).map(|_| TopN::new(2)).collect();
    let mut hidden = TopN::new(HIDDEN_LISTED_MAX);
    let mut hidden_count = 0u64;
    let mut sets = req.collect_sets.then(StressSets::default);
    let watch: std::collections::HashMap<usize, usize> = book
        .participant_indices(&req.watch)
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (p, i)))
        .collect();
    let mut watched: Vec<Option<u32>> = vec![None; req.watch.len()];
    engine::each_participant(book, cancelled, |p| {
        engine::figures(book, None, p, prices, &mut scratch, &mut f);
        totals.add(book, &f);
        if f.shortfall() > 0.0 || f.breached_venues() > 0 {
            worst.offer(book, f.shortfall(), p);
        }
        let mut total_shortfall = 0.0;
        for a in &f.accounts {
            if a.shortfall > 0.0 {
                covers[a.venue as usize].offer(book, a.shortfall, p);
                total_shortfall += a.shortfall;
            }
        }
        if total_shortfall > 0.0 {
            eco_cover.offer(book, total_shortfall, p);
        }
        if f.debt > 0.0 && f.hidden_by_reuse() {
            hidden_count += 1;
            // Listed by id: every figure the same, so the tie-break decides.
            hidden.offer(book, 0.0, p);
            if let Some(s) = sets.as_mut() {
                s.hidden.push(book.participants[p].clone());
            }
        }
        if !watch.is_empty() {
            if let Some(&i) = watch.get(&p) {
                watched[i] = Some(f.breached_venues() as u32);
            }
        }
        if let Some(s) = sets.as_mut() {
            if f.breached_venues() >= 2 {
                s.breached_on_two.push(book.participants[p].clone());
            }
        }
    })?;
    totals.close(&now);
    let mut shown: Vec<usize> = worst.rows().iter().map(|r| r.1).collect();
    for p in asked {
        if !shown.contains(&p) {
            shown.push(p);
        }
    }
    let participants = shown
        .into_iter()
        .map(|p| participant_row(book, p, prices, &mut scratch))
        .collect();
    let na = book.assets.len();
    let exposure = |book: &Book, (s, p): (f64, usize)| Exposure {
        participant: book.participants[p].clone(),
        shortfall: s,
    };
    let venues = book
        .venues
        .iter()
        .enumerate()
        .filter(|(v, _)| book.venue_live(*v))
        .map(|(v, venue)| {
            let top = covers[v].rows();
            VenueRow {
                venue: venue.id.clone(),
                default_rule: !venue.rule_set && !req.rules.iter().any(|(o, _)| *o == venue.id),
                accounts_breached: totals.venue_breached[v],
                debt_at_risk: totals.venue_debt_at_risk[v].value(),
                seized: (0..na)
                    .filter(|a| !totals.venue_seized_qty[v * na + a].is_zero())
                    .map(|a| Seized {
                        asset: book.assets[a].id.clone(),
                        quantity: totals.venue_seized_qty[v * na + a].value(),
                        value: totals.venue_seized_value[v * na + a].value(),
                    })
                    .collect(),
                repaid: totals.venue_repaid[v].value(),
                bad_debt: totals.venue_bad_debt[v].value(),
                cover1: top.first().map(|r| exposure(book, *r)),
                cover2: top.iter().map(|r| r.0).sum(),
                cover2_participants: top.iter().map(|r| exposure(book, *r)).collect(),
            }
        })
        .collect();
    let assets = asset_rows(book, &totals, &req.depth);
    // The ecosystem's Cover-2: the two, and each venue's loss to them.
    let mut by_venue = vec![0.0; book.venues.len()];
    for &(_, p) in eco_cover.rows() {
        engine::figures(book, None, p, prices, &mut scratch, &mut f);
        for a in &f.accounts {
            by_venue[a.venue as usize] += a.shortfall;
        }
    }
    let ecosystem = Ecosystem {
        participants: book.participants.len() as u64,
        breached_on_one: totals.breached_any,
        breached_on_two: totals.breached_two,
        debt_closed: totals.debt_closed().value(),
        bad_debt: totals.bad_debt().value(),
        hidden_by_reuse_count: hidden_count,
        hidden_by_reuse: hidden
            .rows()
            .iter()
            .map(|r| book.participants[r.1].clone())
            .collect(),
        cover2: EcoCover {
            participants: eco_cover
                .rows()
                .iter()
                .map(|r| exposure(book, *r))
                .collect(),
            by_venue: book
                .venues
                .iter()
                .zip(by_venue)
                .filter(|(_, s)| *s > 0.0)
                .map(|(v, s)| (v.id.clone(), s))
                .collect(),
        },
    };
    Ok(StressReport {
        scenario: scenario.name.clone(),
        source: scenario.source.clone(),
        at_ms: book.at_ms,
        prices: moves(book, &base, &now, &shocks),
        participants,
        venues,
        assets,
        ecosystem,
        unpriced: unpriced(book),
        watched: req
            .watch
            .iter()
            .zip(watched)
            .filter_map(|(p, n)| n.map(|n| (p.clone(), n)))
            .collect(),
        sets: sets.map(|mut s| {
            s.hidden.sort();
            s.breached_on_two.sort();
            s
        }),
    })
}

pub(crate) fn moves(book: &Book, base: &[f64], now: &[f64], shocks: &[f64]) -> Vec<AssetMove> {
    book.assets
        .iter()
        .enumerate()
        .filter(|(_, a)| a.priced)
        .map(|(i, a)| AssetMove {
            asset: a.id.clone(),
            shock: shocks[i],
            before: base[i],
            after: now[i],
        })
        .collect()
}

pub(crate) fn unpriced(book: &Book) -> Vec<AssetId> {
    book.assets
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.priced && book.asset_live(*i))
        .map(|(_, a)| a.id.clone())
        .collect()
}

pub(crate) fn asset_rows(
    book: &Book,
    totals: &RoundTotals,
    depth: &[(AssetId, f64)],
) -> Vec<AssetRow> {
    book.assets
        .iter()
        .enumerate()
        .filter(|(i, _)| !totals.asset_sold_qty[*i].is_zero())
        .map(|(i, a)| {
            let m = depth.iter().find(|(d, _)| *d == a.id).map(|(_, m)| *m);
            let sold = totals.asset_sold_qty[i].value();
            AssetRow {
                asset: a.id.clone(),
                sold_quantity: sold,
                sold_value: totals.asset_sold_value[i].value(),
                depth: m,
                share_of_depth: m.map(|m| sold / m),
            }
        })
        .collect()
}

/// A participant's row: its figures after the shock, HF^eco before it,
/// and its liquidation price per asset held.
pub(crate) fn participant_row(
    book: &Book,
    p: usize,
    prices: Prices<'_>,
    scratch: &mut Scratch,
) -> ParticipantRow {
    let mut before = Figures::default();
    engine::figures(
        book,
        None,
        p,
        Prices {
            now: prices.base,
            base: prices.base,
            rules: prices.rules,
        },
        scratch,
        &mut before,
    );
    let mut f = Figures::default();
    engine::figures(book, None, p, prices, scratch, &mut f);
    let holdings = book.holdings_of(p);
    let first = book.holdings_of_start(p);
    let liquidation_prices = holdings
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let a = h.asset as usize;
            let asset = &book.assets[a];
            let own = book.holdings[first + i].owned * (1.0 - asset.haircut);
            let owes_it = book.accounts_range(p).any(|ai| {
                let acc = book.accounts[ai];
                book.lines[acc.first as usize..acc.end as usize]
                    .iter()
                    .any(|l| l.asset as usize == a && !l.owed.is_nan() && l.owed > 0.0)
            });
            let others = f.eco_numerator
                - book.holdings[first + i].owned * prices.now[a] * (1.0 - asset.haircut);
            let solved =
                (own > 0.0 && !owes_it && f.debt > 0.0).then(|| ((f.debt - others) / own).max(0.0));
            (asset.id.clone(), solved)
        })
        .collect();
    ParticipantRow {
        participant: book.participants[p].clone(),
        hf_eco_before: before.hf_eco(),
        hf_eco_after: f.hf_eco(),
        shortfall: f.shortfall(),
        venues: f
            .accounts
            .iter()
            .map(|a| VenueFigure {
                venue: book.venues[a.venue as usize].id.clone(),
                debt: a.debt,
                hf_claim: a.hf_claim(),
                hf_true: a.hf_true(),
                breached: a.breached(),
                shortfall: a.shortfall,
            })
            .collect(),
        liquidation_prices,
    }
}
