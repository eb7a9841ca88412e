//! One round of liquidations over every participant: the pass both
//! `Stress` (one round, no price impact) and `Cascade` (rounds until
//! nothing breaks) are made of.
//!
//! A participant's figures depend only on its own holdings and accounts
//! and the round's prices, so a round is one streaming pass in the book's
//! order; what it adds up goes into [`Total`]s, which do not depend on that
//! order, and what it ranks is ranked by figure then id.

use std::cmp::Ordering;

use crate::book::Book;
use crate::error::AnalyticsError;
use interlock_ledger::VenueId;

use crate::rules::{Collateral, Rule};
use crate::total::Total;

/// Participants between two looks at the cancel flag.
const CANCEL_CHECK_EVERY: usize = 4096;

/// The quantities a cascade changes, round by round.
#[derive(Debug, Clone)]
pub struct Positions {
    /// O per holding (as `book.holdings`).
    pub owned: Vec<f64>,
    /// C per line (as `book.lines`).
    pub committed: Vec<f64>,
    /// The share of each account's debt still open (1 at the start).
    pub debt_scale: Vec<f64>,
    /// Per participant: whether a round changed any of its quantities
    /// (else they are still the book's, and so are its sums per asset).
    pub changed: Vec<bool>,
}

impl Positions {
    pub fn of(book: &Book) -> Positions {
        Positions {
            owned: book.holdings.iter().map(|h| h.owned).collect(),
            committed: book.lines.iter().map(|l| l.committed).collect(),
            debt_scale: vec![1.0; book.accounts.len()],
            changed: vec![false; book.participants.len()],
        }
    }
}

/// One account's figures at the round's prices.
#[derive(Debug, Clone, Default)]
pub struct AccountFigures {
    /// Index into `book.accounts`.
    pub account: usize,
    pub venue: u32,
    pub debt: f64,
    /// Σ C·P·LT and Σ Ĉ·P·LT: HF^claim and HF^true over D (divided only
    /// when asked: most accounts of a pass are never shown).
    pub weighted: f64,
    pub weighted_true: f64,
    /// HF^claim < 1.
    pub breached: bool,
    /// max(0, D − Σ Ĉ·P): what the venue would lose if p failed.
    pub shortfall: f64,
    /// What its liquidation repaid and wrote off (the seized quantities
    /// are in [`Figures::seized`]).
    pub repaid: f64,
    pub bad_debt: f64,
}

impl AccountFigures {
    fn hf(&self, w: f64) -> f64 {
        if self.debt > 0.0 {
            w / self.debt
        } else {
            f64::INFINITY
        }
    }

    pub fn hf_claim(&self) -> f64 {
        self.hf(self.weighted)
    }

    pub fn hf_true(&self) -> f64 {
        self.hf(self.weighted_true)
    }

    pub fn breached(&self) -> bool {
        self.breached
    }

    /// Whether HF^claim < 1, dividing only when it may be: W ≥ D > 0
    /// makes W / D ≥ 1 exactly (division rounds monotonically), so most
    /// accounts need no division at all.
    fn breaches(debt: f64, weighted: f64) -> bool {
        debt > 0.0 && weighted < debt && weighted / debt < 1.0
    }

    /// Debt repaid or written off.
    pub fn closed(&self) -> f64 {
        self.repaid + self.bad_debt
    }
}

/// One participant's figures at the round's prices.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Σ O·P·(1 − h).
    pub eco_numerator: f64,
    /// Σ O·P.
    pub owned_value: f64,
    /// Σ over venues of D.
    pub debt: f64,
    pub accounts: Vec<AccountFigures>,
    /// Seized quantity per line of the participant (its first line at 0).
    pub seized: Vec<f64>,
    /// The participant's first line in `book.lines`.
    pub first_line: usize,
    /// How many of `accounts` are breached.
    pub breached: usize,
}

impl Figures {
    /// What was seized on line `li` (of `book.lines`).
    pub fn seized_at(&self, li: usize) -> f64 {
        self.seized[li - self.first_line]
    }

    pub fn hf_eco(&self) -> f64 {
        if self.debt <= 0.0 {
            f64::INFINITY
        } else {
            self.eco_numerator / self.debt
        }
    }

    /// max(0, Σ D − Σ O·P).
    pub fn shortfall(&self) -> f64 {
        (self.debt - self.owned_value).max(0.0)
    }

    pub fn breached_venues(&self) -> usize {
        self.breached
    }

    /// Under water on Interlock's view while every venue sees it healthy.
    pub fn hidden_by_reuse(&self) -> bool {
        self.hf_eco() < 1.0 && self.breached_venues() == 0
    }
}

/// Per-asset scratch for one participant, reset between participants.
#[derive(Debug, Clone)]
pub struct Scratch {
    owned: Vec<f64>,
    claimed: Vec<f64>,
    share: Vec<f64>,
    touched: Vec<u32>,
    collateral: Vec<Collateral>,
    collateral_lines: Vec<usize>,
    seized: Vec<f64>,
}

impl Scratch {
    pub fn new(assets: usize) -> Scratch {
        Scratch {
            owned: vec![0.0; assets],
            claimed: vec![0.0; assets],
            share: vec![0.0; assets],
            touched: Vec::new(),
            collateral: Vec::new(),
            collateral_lines: Vec::new(),
            seized: Vec::new(),
        }
    }
}

/// Prices of a round: `now` (shocked, moved by sales), and `base` (the
/// moment's, at which implied debt stays valued); and the rule each venue
/// liquidates by in this run (its own, or the request's override).
#[derive(Debug, Clone, Copy)]
pub struct Prices<'a> {
    pub now: &'a [f64],
    pub base: &'a [f64],
    pub rules: &'a [Rule],
}

/// Each venue's rule for a run: its own, unless the request overrides it.
pub fn rules_for(book: &Book, overrides: &[(VenueId, Rule)]) -> Result<Vec<Rule>, AnalyticsError> {
    let mut rules: Vec<Rule> = book.venues.iter().map(|v| v.rule).collect();
    let mut seen = vec![false; rules.len()];
    for (venue, rule) in overrides {
        let v = book.venue_index(venue).ok_or_else(|| {
            crate::error::invalid(
                "rules.venue",
                format!("{venue} is not a venue of the ledger"),
            )
        })?;
        if std::mem::replace(&mut seen[v], true) {
            return Err(crate::error::invalid(
                "rules.venue",
                format!("{venue} is overridden twice"),
            ));
        }
        rules[v] = *rule;
    }
    Ok(rules)
}

/// Participant `p`'s figures, liquidations included, at `prices`.
pub fn figures(
    book: &Book,
    pos: Option<&Positions>,
    p: usize,
    prices: Prices<'_>,
    s: &mut Scratch,
    out: &mut Figures,
) {
    // The quantities: the book's, or a cascade's as its rounds left them.
    let owned_at = |h: usize| pos.map_or(book.holdings[h].owned, |x| x.owned[h]);
    let committed_at = |li: usize| pos.map_or(book.lines[li].committed, |x| x.committed[li]);
    let scale_at = |ai: usize| pos.map_or(1.0, |x| x.debt_scale[ai]);
    out.eco_numerator = 0.0;
    out.owned_value = 0.0;
    out.debt = 0.0;
    out.breached = 0;
    out.accounts.clear();
    for &a in &s.touched {
        s.owned[a as usize] = 0.0;
        s.claimed[a as usize] = 0.0;
        s.share[a as usize] = 0.0;
    }
    s.touched.clear();
    let accounts = book.accounts_range(p);
    let (first_line, end_line) = if accounts.is_empty() {
        (0, 0)
    } else {
        (
            book.accounts[accounts.start].first as usize,
            book.accounts[accounts.end - 1].end as usize,
        )
    };
    out.first_line = first_line;
    out.seized.clear();
    out.seized.resize(end_line - first_line, 0.0);
    let holdings_first = book.holdings_of_start(p);
    for (i, h) in book.holdings_of(p).iter().enumerate() {
        let o = owned_at(holdings_first + i);
        s.owned[h.asset as usize] = o;
        s.touched.push(h.asset);
        let asset = &book.assets[h.asset as usize];
        let value = o * prices.now[h.asset as usize];
        out.owned_value += value;
        out.eco_numerator += value * (1.0 - asset.haircut);
    }
    // The share of each claim a venue can seize, per asset: min(1, O/ΣC)
    // (0 for an asset not held). The book's quantities have ΣC per holding
    // already; a participant a cascade changed has its sums made again.
    let share = |owned: f64, claimed: f64| {
        if claimed > 0.0 {
            (owned / claimed).min(1.0)
        } else {
            0.0
        }
    };
    if pos.is_none_or(|x| !x.changed[p]) {
        for h in book.holdings_of(p) {
            s.share[h.asset as usize] = share(s.owned[h.asset as usize], h.claimed);
        }
    } else {
        for li in first_line..end_line {
            let a = book.lines[li].asset as usize;
            if s.claimed[a] == 0.0 {
                s.touched.push(a as u32);
            }
            s.claimed[a] += committed_at(li);
        }
        for &a in &s.touched {
            let a = a as usize;
            s.share[a] = share(s.owned[a], s.claimed[a]);
        }
    }
    for ai in accounts {
        let acc = book.accounts[ai];
        let lines = acc.first as usize..acc.end as usize;
        let mut debt = 0.0;
        let mut weighted = 0.0;
        let mut weighted_true = 0.0;
        let mut deliverable_value = 0.0;
        for li in lines.clone() {
            let line = book.lines[li];
            let a = line.asset as usize;
            // One addition to `debt` per line: the sum is a chain of
            // dependent additions, and its latency is the pass's.
            let owed = if line.owed.is_nan() { 0.0 } else { line.owed };
            debt += owed * prices.now[a] + line.implied * prices.base[a];
            let c = committed_at(li);
            if c > 0.0 {
                let lt = book.lt(acc.venue, line.asset);
                let value = c * prices.now[a];
                weighted += value * lt;
                weighted_true += value * s.share[a] * lt;
                deliverable_value += value * s.share[a];
            }
        }
        debt *= scale_at(ai);
        let mut f = AccountFigures {
            account: ai,
            venue: acc.venue,
            debt,
            weighted,
            weighted_true,
            breached: AccountFigures::breaches(debt, weighted),
            shortfall: (debt - deliverable_value).max(0.0),
            repaid: 0.0,
            bad_debt: 0.0,
        };
        if f.breached() {
            out.breached += 1;
            // Only now the collateral, line by line, for the venue's rule.
            s.collateral.clear();
            s.collateral_lines.clear();
            for li in lines {
                let c = committed_at(li);
                if c > 0.0 {
                    let line = book.lines[li];
                    let a = line.asset as usize;
                    s.collateral.push(Collateral {
                        claim: c,
                        deliverable: c * s.share[a],
                        price: prices.now[a],
                        lt: book.lt(acc.venue, line.asset),
                    });
                    s.collateral_lines.push(li);
                }
            }
            s.seized.clear();
            s.seized.resize(s.collateral.len(), 0.0);
            (f.repaid, f.bad_debt) =
                prices.rules[acc.venue as usize].liquidate_into(&s.collateral, debt, &mut s.seized);
            // Back from the collateral's order to the lines'.
            for (k, li) in s.collateral_lines.iter().enumerate() {
                out.seized[li - first_line] = s.seized[k];
            }
        }
        out.debt += debt;
        out.accounts.push(f);
    }
}

/// Applies a participant's liquidations of this round: seized quantities
/// leave the claims and the holdings, repaid debt leaves the debt, and an
/// account whose debt is closed releases whatever it still claims.
pub fn apply(book: &Book, pos: &mut Positions, p: usize, f: &Figures) {
    pos.changed[p] = true;
    let holdings = book.holdings_of_start(p)..book.holdings_of_start(p) + book.holdings_of(p).len();
    for a in f.accounts.iter().filter(|a| a.breached()) {
        let acc = book.accounts[a.account];
        for li in acc.first as usize..acc.end as usize {
            let q = f.seized_at(li);
            if q <= 0.0 {
                continue;
            }
            pos.committed[li] = (pos.committed[li] - q).max(0.0);
            let asset = book.lines[li].asset;
            if let Some(h) = holdings.clone().find(|&h| book.holdings[h].asset == asset) {
                pos.owned[h] = (pos.owned[h] - q).max(0.0);
            }
        }
        let closed = a.closed();
        if a.bad_debt > 0.0 || closed >= a.debt {
            pos.debt_scale[a.account] = 0.0;
            for li in acc.first as usize..acc.end as usize {
                pos.committed[li] = 0.0;
            }
        } else if a.debt > 0.0 {
            pos.debt_scale[a.account] *= (a.debt - closed) / a.debt;
        }
    }
}

/// Runs `each` over every participant in the book's order, looking at
/// `cancelled` every few thousand.
pub fn each_participant(
    book: &Book,
    cancelled: &dyn Fn() -> bool,
    mut each: impl FnMut(usize),
) -> Result<(), AnalyticsError> {
    for p in 0..book.participants.len() {
        if p % CANCEL_CHECK_EVERY == 0 && cancelled() {
            return Err(AnalyticsError::Cancelled);
        }
        each(p);
    }
    Ok(())
}

/// The `n` largest figures, ties broken by participant id: the same
/// answer whatever order the participants come in.
#[derive(Debug, Clone)]
pub struct TopN {
    n: usize,
    /// (figure, participant), best first.
    rows: Vec<(f64, usize)>,
}

impl TopN {
    pub fn new(n: usize) -> TopN {
        TopN {
            n,
            rows: Vec::with_capacity(n + 1),
        }
    }

    fn order(book: &Book, a: &(f64, usize), b: &(f64, usize)) -> Ordering {
        b.0.total_cmp(&a.0)
            .then_with(|| book.participants[a.1].cmp(&book.participants[b.1]))
    }

    pub fn offer(&mut self, book: &Book, figure: f64, p: usize) {
        if self.n == 0 {
            return;
        }
        if self.rows.len() == self.n {
            let last = self.rows[self.n - 1];
            if Self::order(book, &(figure, p), &last) != Ordering::Less {
                return;
            }
            self.rows.pop();
        }
        let at = self
            .rows
            .partition_point(|r| Self::order(book, r, &(figure, p)) == Ordering::Less);
        self.rows.insert(at, (figure, p));
    }

    pub fn rows(&self) -> &[(f64, usize)] {
        &self.rows
    }
}

/// Sums per venue and per asset of one round.
///
/// A pass adds only quantities ([`RoundTotals::add`]); the values and the
/// per-asset sums are made from them once, when the round closes
/// ([`RoundTotals::close`]): a round's prices are the same for every
/// participant, so Σ q·P is (Σ q)·P, and an asset's sales are the exact
/// sum of its venues'. One fixed-point addition per seized line instead of
/// four.
#[derive(Debug, Clone)]
pub struct RoundTotals {
    pub venue_breached: Vec<u64>,
    pub venue_debt_at_risk: Vec<Total>,
    pub venue_repaid: Vec<Total>,
    pub venue_bad_debt: Vec<Total>,
    /// Per venue × asset.
    pub venue_seized_qty: Vec<Total>,
    /// Per venue × asset, at the round's prices: made by `close`.
    pub venue_seized_value: Vec<Total>,
    /// Per asset: made by `close`.
    pub asset_sold_qty: Vec<Total>,
    pub asset_sold_value: Vec<Total>,
    pub breached_any: u64,
    pub breached_two: u64,
    pub accounts_liquidated: u64,
}

impl RoundTotals {
    pub fn new(book: &Book) -> RoundTotals {
        RoundTotals::sized(book.venues.len(), book.assets.len())
    }

    fn sized(nv: usize, na: usize) -> RoundTotals {
        RoundTotals {
            venue_breached: vec![0; nv],
            venue_debt_at_risk: vec![Total::default(); nv],
            venue_repaid: vec![Total::default(); nv],
            venue_bad_debt: vec![Total::default(); nv],
            venue_seized_qty: vec![Total::default(); nv * na],
            venue_seized_value: vec![Total::default(); nv * na],
            asset_sold_qty: vec![Total::default(); na],
            asset_sold_value: vec![Total::default(); na],
            breached_any: 0,
            breached_two: 0,
            accounts_liquidated: 0,
        }
    }

    /// Adds a participant's figures (its quantities: the values and the
    /// per-asset sums wait for [`RoundTotals::close`]).
    pub fn add(&mut self, book: &Book, f: &Figures) {
        let na = book.assets.len();
        let breached = f.breached_venues();
        if breached == 0 {
            return;
        }
        self.breached_any += 1;
        self.breached_two += u64::from(breached >= 2);
        for a in f.accounts.iter().filter(|a| a.breached()) {
            let v = a.venue as usize;
            self.venue_breached[v] += 1;
            self.venue_debt_at_risk[v].add(a.debt);
            if a.repaid != 0.0 {
                self.venue_repaid[v].add(a.repaid);
            }
            if a.bad_debt != 0.0 {
                self.venue_bad_debt[v].add(a.bad_debt);
            }
            if a.closed() > 0.0 {
                self.accounts_liquidated += 1;
            }
            let acc = book.accounts[a.account];
            for li in acc.first as usize..acc.end as usize {
                let q = f.seized_at(li);
                if q > 0.0 {
                    let asset = book.lines[li].asset as usize;
                    self.venue_seized_qty[v * na + asset].add(q);
                }
            }
        }
    }

    /// Ends a round at its `prices`: the seized values per venue and asset,
    /// and per asset the sales (the exact sums of its venues' totals).
    /// Before it, only quantities and debts are summed.
    pub fn close(&mut self, prices: &[f64]) {
        let na = self.asset_sold_qty.len();
        debug_assert!(prices.len() == na, "a price per asset");
        self.asset_sold_qty.fill(Total::default());
        self.asset_sold_value.fill(Total::default());
        for v in 0..self.venue_breached.len() {
            for (a, price) in prices.iter().enumerate() {
                let q = self.venue_seized_qty[v * na + a];
                if q.is_zero() {
                    continue;
                }
                let value = Total::of(q.value() * price);
                self.venue_seized_value[v * na + a] = value;
                self.asset_sold_qty[a].merge(q);
                self.asset_sold_value[a].merge(value);
            }
        }
    }

    pub fn debt_closed(&self) -> Total {
        let mut t = Total::default();
        for v in self.venue_repaid.iter().chain(&self.venue_bad_debt) {
            t.merge(*v);
        }
        t
    }

    pub fn bad_debt(&self) -> Total {
        let mut t = Total::default();
        self.venue_bad_debt.iter().for_each(|v| t.merge(*v));
        t
    }

    /// Adds another round's sums (a cascade's totals), each round closed
    /// at its own prices first (the sum is never closed again).
    pub fn merge(&mut self, o: &RoundTotals) {
        let pairs = |a: &mut Vec<Total>, b: &Vec<Total>| {
            a.iter_mut().zip(b).for_each(|(x, y)| x.merge(*y));
        };
        self.venue_breached
            .iter_mut()
            .zip(&o.venue_breached)
            .for_each(|(x, y)| *x += y);
        pairs(&mut self.venue_debt_at_risk, &o.venue_debt_at_risk);
        pairs(&mut self.venue_repaid, &o.venue_repaid);
        pairs(&mut self.venue_bad_debt, &o.venue_bad_debt);
        pairs(&mut self.venue_seized_qty, &o.venue_seized_qty);
        pairs(&mut self.venue_seized_value, &o.venue_seized_value);
        pairs(&mut self.asset_sold_qty, &o.asset_sold_qty);
        pairs(&mut self.asset_sold_value, &o.asset_sold_value);
        self.breached_any += o.breached_any;
        self.breached_two += o.breached_two;
        self.accounts_liquidated += o.accounts_liquidated;
    }
}

#[cfg(test)]
mod tests {
    use super::{AccountFigures, RoundTotals, Total};

    /// A round's values are its quantities at its prices, an asset's sales
    /// the sum of its venues', and closing twice changes nothing.
    #[test]
    fn a_round_closes_into_values_and_per_asset_sums() {
        // Two venues, two assets.
        let mut t = RoundTotals::sized(2, 2);
        t.venue_seized_qty[0].add(1.5);
        t.venue_seized_qty[0].add(0.25);
        t.venue_seized_qty[1].add(3.0);
        t.venue_seized_qty[2].add(2.0);
        let prices = [2000.0, 10.0];
        t.close(&prices);
        t.close(&prices);
        let v = |x: Total| x.value();
        assert_eq!(v(t.venue_seized_value[0]), 3500.0);
        assert_eq!(v(t.venue_seized_value[1]), 30.0);
        assert_eq!(v(t.venue_seized_value[2]), 4000.0);
        assert!(t.venue_seized_value[3].is_zero());
        assert_eq!(v(t.asset_sold_qty[0]), 3.75);
        assert_eq!(v(t.asset_sold_qty[1]), 3.0);
        assert_eq!(v(t.asset_sold_value[0]), 7500.0);
        assert_eq!(v(t.asset_sold_value[1]), 30.0);
    }

    /// Deciding a breach without dividing agrees with HF^claim < 1 on
    /// every case, the rounding edges included.
    #[test]
    fn a_breach_is_hf_claim_below_one() {
        let hf = |d: f64, w: f64| if d > 0.0 { w / d } else { f64::INFINITY };
        let mut cases = vec![
            (0.0, 1.0),
            (0.0, 0.0),
            (-1.0, 0.5),
            (1.0, f64::NAN),
            (f64::NAN, 1.0),
            (1.0, 1.0),
            (3.0, 2.9999999999999996),
            (1e300, 1e-300),
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = (x % 1_000_000) as f64 / 997.0 + 1e-9;
            // W within a few ulps of D, and farther.
            let ulps = (x >> 40) % 9;
            let w = f64::from_bits(d.to_bits() - ulps + 4);
            cases.push((d, w));
            cases.push((d, d * ((x >> 20) % 3) as f64 * 0.5));
        }
        for (d, w) in cases {
            assert_eq!(
                AccountFigures::breaches(d, w),
                hf(d, w) < 1.0,
                "D {d:e}, W {w:e}"
            );
        }
    }
}
