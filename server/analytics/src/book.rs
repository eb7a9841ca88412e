//! A moment of the ledger as compact arrays of f64, the form every run
//! streams over: per participant its holdings, and its accounts (one per
//! venue) with their lines (one per asset committed or owed there).
//!
//! Participants keep the moment's slot order; within a participant,
//! accounts are in venue order and lines in asset order, so everything a
//! participant's figures are computed from comes in a fixed order.

use std::collections::{BTreeMap, BTreeSet};

use interlock_ledger::state::moment::Moment;
use interlock_ledger::{AssetClass, AssetId, ParticipantId, VenueId};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::rules::Rule;

/// Powers of ten a decimal's scale divides by (rust_decimal's scale is at
/// most 28).
const POW10: [f64; 29] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
];

/// A decimal as f64: its mantissa over a power of ten, within an ulp or
/// two of the nearest (analytics report; the ledger decides). Several
/// times faster than `to_f64`, and the same input gives the same output.
pub fn f(d: Decimal) -> f64 {
    let m = d.mantissa();
    let scale = d.scale() as usize;
    if scale < POW10.len() {
        m as f64 / POW10[scale]
    } else {
        d.to_f64().unwrap_or(0.0)
    }
}

/// An asset as runs value it.
#[derive(Debug, Clone, PartialEq)]
pub struct BookAsset {
    pub id: AssetId,
    /// `None`: never classed, so never priced.
    pub class: Option<AssetClass>,
    /// The last accepted price; 0 when there is none (`priced` false).
    pub price: f64,
    pub priced: bool,
    /// Interlock's haircut; 1 (counts for nothing) when there is none.
    pub haircut: f64,
}

/// A venue as runs liquidate on it.
#[derive(Debug, Clone, PartialEq)]
pub struct BookVenue {
    pub id: VenueId,
    pub rule: Rule,
    /// Whether an admin set the rule (else [`Rule::DEFAULT`] stands in).
    pub rule_set: bool,
}

/// What a participant holds of an asset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Holding {
    pub asset: u32,
    pub owned: f64,
}

/// A participant's position on one venue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Account {
    pub venue: u32,
    /// Its lines: `lines[first..end]`.
    pub first: u32,
    pub end: u32,
}

/// One asset of an account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub asset: u32,
    /// C: committed (posted, uncovered commits and reserved).
    pub committed: f64,
    /// L: owed as a broker reported it; NaN when never reported.
    pub owed: f64,
    /// The quantity whose debt is implied, already weighted by the venue's
    /// LTV: valued at the moment's price, never shocked (`value.md`).
    pub implied: f64,
}

/// The moment, compact.
#[derive(Debug, Clone, Default)]
pub struct Book {
    pub at_ms: i64,
    /// Every asset classed or held, by id.
    pub assets: Vec<BookAsset>,
    /// Every venue configured or used, by id.
    pub venues: Vec<BookVenue>,
    /// Threshold per venue and asset (`venue * assets + asset`); 0 where
    /// the venue has none (no collateral value).
    lt: Vec<f64>,
    pub participants: Vec<ParticipantId>,
    holdings_at: Vec<u32>,
    pub holdings: Vec<Holding>,
    accounts_at: Vec<u32>,
    pub accounts: Vec<Account>,
    pub lines: Vec<Line>,
    /// The ledger's scenario library, by name.
    pub scenarios: BTreeMap<String, interlock_ledger::Scenario>,
}

impl Book {
    pub fn from_moment(m: &Moment) -> Book {
        let mut asset_ids: BTreeSet<AssetId> = m.assets.iter().map(|a| a.asset.clone()).collect();
        let mut venue_ids: BTreeSet<VenueId> = m.venues.iter().map(|v| v.venue.clone()).collect();
        // Sizes first, so that the arrays are allocated once.
        let (mut holdings_n, mut lines_n) = (0usize, 0usize);
        for (_, p) in m.participants.iter() {
            for (a, pos) in p.assets.iter() {
                holdings_n += 1;
                lines_n += pos.venues.len();
                if !asset_ids.contains(a) {
                    asset_ids.insert(a.clone());
                }
                for v in pos.venues.keys() {
                    if !venue_ids.contains(v) {
                        venue_ids.insert(v.clone());
                    }
                }
            }
        }
        let classed: BTreeMap<&AssetId, _> = m.assets.iter().map(|a| (&a.asset, a)).collect();
        let assets: Vec<BookAsset> = asset_ids
            .into_iter()
            .map(|id| {
                let c = classed.get(&id);
                let price = c.and_then(|c| c.price);
                BookAsset {
                    class: c.map(|c| c.class),
                    price: price.map_or(0.0, f),
                    priced: price.is_some(),
                    haircut: c.and_then(|c| c.haircut).map_or(1.0, f),
                    id,
                }
            })
            .collect();
        let configured: BTreeMap<&VenueId, _> = m.venues.iter().map(|v| (&v.venue, v)).collect();
        let venues: Vec<BookVenue> = venue_ids
            .into_iter()
            .map(|id| {
                let rule = configured.get(&id).and_then(|v| v.rule);
                BookVenue {
                    rule: rule.map_or(Rule::DEFAULT, |r| Rule::from_ledger(&r)),
                    rule_set: rule.is_some(),
                    id,
                }
            })
            .collect();
        let na = assets.len();
        let asset_ix = |a: &AssetId| {
            assets
                .binary_search_by(|x| x.id.cmp(a))
                .expect("every asset was collected") as u32
        };
        let venue_ix = |v: &VenueId| {
            venues
                .binary_search_by(|x| x.id.cmp(v))
                .expect("every venue was collected") as u32
        };
        let mut lt = vec![0.0; venues.len() * na];
        let mut ltv = vec![1.0; venues.len() * na];
        for v in &m.venues {
            let vi = venue_ix(&v.venue) as usize;
            for (a, p) in &v.assets {
                let ai = asset_ix(a) as usize;
                lt[vi * na + ai] = f(p.threshold);
                ltv[vi * na + ai] = f(p.ltv_or_threshold());
            }
        }
        let n = m.participants.len();
        let mut book = Book {
            at_ms: m.at_ms,
            participants: Vec::with_capacity(n),
            holdings_at: Vec::with_capacity(n + 1),
            holdings: Vec::with_capacity(holdings_n),
            accounts_at: Vec::with_capacity(n + 1),
            // At most one account per line.
            accounts: Vec::with_capacity(lines_n.min(n * venues.len().max(1))),
            lines: Vec::with_capacity(lines_n),
            ..Book::default()
        };
        book.holdings_at.push(0);
        book.accounts_at.push(0);
        let mut scratch: Vec<(u32, Line)> = Vec::new();
        for (id, p) in m.participants.iter() {
            book.participants.push(id.clone());
            scratch.clear();
            for (a, pos) in p.assets.iter() {
                let ai = asset_ix(a);
                if !pos.owned.is_zero() {
                    book.holdings.push(Holding {
                        asset: ai,
                        owned: f(pos.owned),
                    });
                }
                for (v, vp) in pos.venues.iter() {
                    let vi = venue_ix(v);
                    // The ledger keeps these sums within its decimals.
                    let counted = vp.counted().unwrap_or(Decimal::MAX);
                    let base = if p.reports(v) {
                        vp.pending_total
                            .checked_add(vp.reserved)
                            .unwrap_or(Decimal::MAX)
                    } else {
                        counted
                    };
                    scratch.push((
                        vi,
                        Line {
                            asset: ai,
                            committed: f(counted),
                            owed: vp.owed.map_or(f64::NAN, f),
                            implied: f(base) * ltv[vi as usize * na + ai as usize],
                        },
                    ));
                }
            }
            // Venue order, then asset order (already the order within a venue).
            scratch.sort_by_key(|(v, _)| *v);
            let mut i = 0;
            while i < scratch.len() {
                let venue = scratch[i].0;
                let first = book.lines.len() as u32;
                while i < scratch.len() && scratch[i].0 == venue {
                    book.lines.push(scratch[i].1);
                    i += 1;
                }
                book.accounts.push(Account {
                    venue,
                    first,
                    end: book.lines.len() as u32,
                });
            }
            book.holdings_at.push(book.holdings.len() as u32);
            book.accounts_at.push(book.accounts.len() as u32);
        }
        book.assets = assets;
        book.venues = venues;
        book.scenarios = m.scenarios.clone();
        book.lt = lt;
        book
    }

    /// The venue's threshold for an asset (0: none).
    pub fn lt(&self, venue: u32, asset: u32) -> f64 {
        self.lt[venue as usize * self.assets.len() + asset as usize]
    }

    /// Participant `p`'s holdings.
    pub fn holdings_of(&self, p: usize) -> &[Holding] {
        &self.holdings[self.holdings_at[p] as usize..self.holdings_at[p + 1] as usize]
    }

    /// Where participant `p`'s holdings start in `holdings`.
    pub fn holdings_of_start(&self, p: usize) -> usize {
        self.holdings_at[p] as usize
    }

    /// The range of participant `p`'s accounts in `accounts`.
    pub fn accounts_range(&self, p: usize) -> std::ops::Range<usize> {
        self.accounts_at[p] as usize..self.accounts_at[p + 1] as usize
    }

    pub fn asset_index(&self, a: &AssetId) -> Option<usize> {
        self.assets.binary_search_by(|x| x.id.cmp(a)).ok()
    }

    pub fn venue_index(&self, v: &VenueId) -> Option<usize> {
        self.venues.binary_search_by(|x| x.id.cmp(v)).ok()
    }

    pub fn participant_index(&self, p: &ParticipantId) -> Option<usize> {
        self.participants.iter().position(|x| x == p)
    }
}
