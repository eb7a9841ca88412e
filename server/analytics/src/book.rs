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
    /// Whether an admin gave it parameters or a rule.
    pub configured: bool,
}

/// What a participant holds of an asset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Holding {
    pub asset: u32,
    pub owned: f64,
    /// Σ C of the asset over the participant's lines, summed in line
    /// order (as a pass over the lines would): a stress, whose quantities
    /// are the book's, shares claims out without that pass.
    pub claimed: f64,
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
///
/// Each participant's holdings, accounts and lines are contiguous ranges of
/// the arrays; a [`BookCache`] re-encodes only the participants that
/// changed since its last moment, appending them (the old ranges become
/// dead space, reclaimed by a full rebuild once it outweighs the live).
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
    /// The LTV the lines' implied quantities were weighted with (1 where
    /// the venue has none for the asset).
    ltv: Vec<f64>,
    pub participants: Vec<ParticipantId>,
    holdings_of: Vec<[u32; 2]>,
    pub holdings: Vec<Holding>,
    accounts_of: Vec<[u32; 2]>,
    pub accounts: Vec<Account>,
    pub lines: Vec<Line>,
    /// The ledger's scenario library, by name.
    pub scenarios: BTreeMap<String, interlock_ledger::Scenario>,
    /// Per venue, the accounts on it; per asset, the lines and holdings
    /// of it (a venue or asset no one uses any more is left out of reports
    /// unless configured).
    venue_use: Vec<u64>,
    asset_use: Vec<u64>,
    /// Lines no participant's range covers any more.
    dead_lines: usize,
}

/// A changed participant names an asset or a venue the book has no index
/// for: the book is rebuilt.
struct Unindexed;

impl Book {
    /// The whole moment, encoded afresh.
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
        let n = m.participants.len();
        let mut book = Book {
            assets: asset_ids
                .into_iter()
                .map(|id| BookAsset {
                    id,
                    class: None,
                    price: 0.0,
                    priced: false,
                    haircut: 1.0,
                })
                .collect(),
            venues: venue_ids
                .into_iter()
                .map(|id| BookVenue {
                    id,
                    rule: Rule::DEFAULT,
                    rule_set: false,
                    configured: false,
                })
                .collect(),
            participants: Vec::with_capacity(n),
            holdings_of: Vec::with_capacity(n),
            holdings: Vec::with_capacity(holdings_n),
            accounts_of: Vec::with_capacity(n),
            // At most one account per line.
            accounts: Vec::with_capacity(lines_n),
            lines: Vec::with_capacity(lines_n),
            ..Book::default()
        };
        book.venue_use = vec![0; book.venues.len()];
        book.asset_use = vec![0; book.assets.len()];
        book.settings(m);
        book.ltv = book.ltv_of(m);
        let mut scratch = Vec::new();
        for (p, (id, participant)) in m.participants.iter().enumerate() {
            let ok = book.encode(p, id, participant, &mut scratch);
            debug_assert!(ok.is_ok(), "every asset and venue was indexed");
        }
        book
    }

    /// Takes the moment's settings: prices, classes, haircuts, venue
    /// thresholds and rules, the scenario library, the time. Cheap: no
    /// participant is read.
    fn settings(&mut self, m: &Moment) {
        self.at_ms = m.at_ms;
        for a in &mut self.assets {
            a.class = None;
            a.price = 0.0;
            a.priced = false;
            a.haircut = 1.0;
        }
        for c in &m.assets {
            if let Some(i) = self.asset_index(&c.asset) {
                let a = &mut self.assets[i];
                a.class = Some(c.class);
                a.price = c.price.map_or(0.0, f);
                a.priced = c.price.is_some();
                a.haircut = c.haircut.map_or(1.0, f);
            }
        }
        for v in &mut self.venues {
            v.rule = Rule::DEFAULT;
            v.rule_set = false;
            v.configured = false;
        }
        let na = self.assets.len();
        self.lt = vec![0.0; self.venues.len() * na];
        for c in &m.venues {
            let Some(vi) = self.venue_index(&c.venue) else {
                continue;
            };
            let v = &mut self.venues[vi];
            v.configured = true;
            if let Some(r) = c.rule {
                v.rule = Rule::from_ledger(&r);
                v.rule_set = true;
            }
            for (a, params) in &c.assets {
                if let Some(ai) = self.asset_index(a) {
                    self.lt[vi * na + ai] = f(params.threshold);
                }
            }
        }
        self.scenarios = m.scenarios.clone();
    }

    /// The LTV table of the moment's settings, as the lines weigh implied
    /// quantities with.
    fn ltv_of(&self, m: &Moment) -> Vec<f64> {
        let na = self.assets.len();
        let mut ltv = vec![1.0; self.venues.len() * na];
        for c in &m.venues {
            let Some(vi) = self.venue_index(&c.venue) else {
                continue;
            };
            for (a, params) in &c.assets {
                if let Some(ai) = self.asset_index(a) {
                    ltv[vi * na + ai] = f(params.ltv_or_threshold());
                }
            }
        }
        ltv
    }

    /// Whether the moment's settings name only indexed assets and venues.
    fn indexes(&self, m: &Moment) -> bool {
        m.assets
            .iter()
            .all(|a| self.asset_index(&a.asset).is_some())
            && m.venues
                .iter()
                .all(|v| self.venue_index(&v.venue).is_some())
    }

    /// Encodes participant `p` (a new slot, or one whose old ranges become
    /// dead) at the end of the arrays.
    fn encode(
        &mut self,
        p: usize,
        id: &ParticipantId,
        participant: &interlock_ledger::state::Participant,
        scratch: &mut Vec<(u32, Line)>,
    ) -> Result<(), Unindexed> {
        let na = self.assets.len();
        scratch.clear();
        let holdings_start = self.holdings.len() as u32;
        let mut new_holdings = 0usize;
        for (a, pos) in participant.assets.iter() {
            let Some(ai) = self.asset_index(a) else {
                self.holdings.truncate(holdings_start as usize);
                return Err(Unindexed);
            };
            let ai = ai as u32;
            if !pos.owned.is_zero() {
                self.holdings.push(Holding {
                    asset: ai,
                    owned: f(pos.owned),
                    claimed: 0.0,
                });
                new_holdings += 1;
            }
            for (v, vp) in pos.venues.iter() {
                let Some(vi) = self.venue_index(v) else {
                    self.holdings.truncate(holdings_start as usize);
                    return Err(Unindexed);
                };
                let vi = vi as u32;
                // The ledger keeps these sums within its decimals.
                let counted = vp.counted().unwrap_or(Decimal::MAX);
                let base = if participant.reports(v) {
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
                        implied: f(base) * self.ltv[vi as usize * na + ai as usize],
                    },
                ));
            }
        }
        // The old ranges, if any, become dead.
        if p < self.participants.len() {
            self.forget(p);
        }
        for h in &self.holdings[holdings_start as usize..] {
            self.asset_use[h.asset as usize] += 1;
        }
        // Venue order, then asset order (already the order within a venue).
        scratch.sort_by_key(|(v, _)| *v);
        let accounts_start = self.accounts.len() as u32;
        let mut i = 0;
        while i < scratch.len() {
            let venue = scratch[i].0;
            let first = self.lines.len() as u32;
            while i < scratch.len() && scratch[i].0 == venue {
                self.asset_use[scratch[i].1.asset as usize] += 1;
                self.lines.push(scratch[i].1);
                i += 1;
            }
            self.venue_use[venue as usize] += 1;
            self.accounts.push(Account {
                venue,
                first,
                end: self.lines.len() as u32,
            });
        }
        let holdings = [holdings_start, holdings_start + new_holdings as u32];
        let first_line = self.accounts[accounts_start as usize..]
            .first()
            .map_or(self.lines.len(), |a| a.first as usize);
        for h in &mut self.holdings[holdings[0] as usize..holdings[1] as usize] {
            for l in &self.lines[first_line..] {
                if l.asset == h.asset {
                    h.claimed += l.committed;
                }
            }
        }
        let accounts = [accounts_start, self.accounts.len() as u32];
        if p < self.participants.len() {
            self.holdings_of[p] = holdings;
            self.accounts_of[p] = accounts;
        } else {
            debug_assert_eq!(p, self.participants.len());
            self.participants.push(id.clone());
            self.holdings_of.push(holdings);
            self.accounts_of.push(accounts);
        }
        Ok(())
    }

    /// Marks participant `p`'s ranges dead and takes back their uses.
    fn forget(&mut self, p: usize) {
        let [h0, h1] = self.holdings_of[p];
        for h in &self.holdings[h0 as usize..h1 as usize] {
            self.asset_use[h.asset as usize] -= 1;
        }
        for ai in self.accounts_range(p) {
            let acc = self.accounts[ai];
            self.venue_use[acc.venue as usize] -= 1;
            for l in &self.lines[acc.first as usize..acc.end as usize] {
                self.asset_use[l.asset as usize] -= 1;
            }
            self.dead_lines += (acc.end - acc.first) as usize;
        }
    }

    /// Whether a report shows the venue: configured, or used by an account.
    pub fn venue_live(&self, v: usize) -> bool {
        self.venues[v].configured || self.venue_use[v] > 0
    }

    /// Whether a report shows the asset: classed, or held or committed.
    pub fn asset_live(&self, a: usize) -> bool {
        self.assets[a].class.is_some() || self.asset_use[a] > 0
    }

    /// The venue's threshold for an asset (0: none).
    pub fn lt(&self, venue: u32, asset: u32) -> f64 {
        self.lt[venue as usize * self.assets.len() + asset as usize]
    }

    /// Participant `p`'s holdings.
    pub fn holdings_of(&self, p: usize) -> &[Holding] {
        let [a, b] = self.holdings_of[p];
        &self.holdings[a as usize..b as usize]
    }

    /// Where participant `p`'s holdings start in `holdings`.
    pub fn holdings_of_start(&self, p: usize) -> usize {
        self.holdings_of[p][0] as usize
    }

    /// The range of participant `p`'s accounts in `accounts`.
    pub fn accounts_range(&self, p: usize) -> std::ops::Range<usize> {
        let [a, b] = self.accounts_of[p];
        a as usize..b as usize
    }

    pub fn asset_index(&self, a: &AssetId) -> Option<usize> {
        self.assets.binary_search_by(|x| x.id.cmp(a)).ok()
    }

    pub fn venue_index(&self, v: &VenueId) -> Option<usize> {
        self.venues.binary_search_by(|x| x.id.cmp(v)).ok()
    }

    /// Where each of `wanted` is among the participants: one pass over
    /// them, however many are wanted.
    pub fn participant_indices(&self, wanted: &[ParticipantId]) -> Vec<Option<usize>> {
        let mut out = vec![None; wanted.len()];
        if wanted.is_empty() {
            return out;
        }
        let at: std::collections::HashMap<&ParticipantId, usize> =
            wanted.iter().enumerate().map(|(i, p)| (p, i)).collect();
        for (p, id) in self.participants.iter().enumerate() {
            if let Some(&i) = at.get(id) {
                out[i] = Some(p);
            }
        }
        // A participant asked for twice: both places.
        for (i, w) in wanted.iter().enumerate() {
            if out[i].is_none() {
                out[i] = at.get(w).and_then(|&j| out[j]);
            }
        }
        out
    }
}

/// The book of the last moment, kept between runs: a new moment re-encodes
/// only the participants whose stamp changed (`ParticipantChunk::stamp`),
/// and chunks whose stamp did not are skipped whole. A new asset or venue,
/// a changed LTV, or dead space outweighing the live rebuilds it.
#[derive(Debug, Default)]
pub struct BookCache {
    book: Option<Book>,
    chunk_stamps: Vec<u64>,
    stamps: Vec<u64>,
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Refreshed {
    /// Rebuilt from scratch.
    pub rebuilt: bool,
    /// Participants re-encoded (all of them when rebuilt).
    pub encoded: usize,
}

/// A participant that changed since the cache's last moment.
struct Changed {
    p: usize,
    stamp: u64,
    id: ParticipantId,
    participant: std::sync::Arc<interlock_ledger::state::Participant>,
}

impl BookCache {
    /// The book of `m`, from what changed since the last one. The moment
    /// is let go as soon as the changed participants are in hand (each
    /// shared on its own), before they are encoded: from then on the
    /// ledger copies nothing it writes on the run's account, except those.
    pub fn refresh(&mut self, m: Moment) -> (&Book, Refreshed) {
        let changed = self.book.as_ref().and_then(|b| {
            let fits = b.indexes(&m) && b.ltv == b.ltv_of(&m) && b.dead_lines <= b.lines.len() / 2;
            fits.then(|| self.changed(b, &m)).flatten()
        });
        let Some(changed) = changed else {
            return self.rebuild(&m);
        };
        let book = self.book.as_mut().expect("a book to update");
        book.settings(&m);
        let chunk_stamps: Vec<u64> = m.participants.chunks().map(|c| c.stamp()).collect();
        drop(m);
        let mut scratch = Vec::new();
        for c in &changed {
            let encoded = book.encode(c.p, &c.id, &c.participant, &mut scratch);
            debug_assert!(encoded.is_ok(), "checked in `changed`");
            if c.p < self.stamps.len() {
                self.stamps[c.p] = c.stamp;
            } else {
                self.stamps.push(c.stamp);
            }
        }
        self.chunk_stamps = chunk_stamps;
        let done = Refreshed {
            rebuilt: false,
            encoded: changed.len(),
        };
        (self.book.as_ref().expect("a book was just updated"), done)
    }

    /// The participants whose stamp changed, if every asset and venue they
    /// name is indexed (else `None`: rebuild).
    fn changed(&self, book: &Book, m: &Moment) -> Option<Vec<Changed>> {
        let mut out = Vec::new();
        for (c, chunk) in m.participants.chunks().enumerate() {
            if self.chunk_stamps.get(c) == Some(&chunk.stamp()) {
                continue;
            }
            for i in 0..chunk.len() {
                let p = c * interlock_ledger::state::moment::PARTICIPANTS_PER_CHUNK + i;
                let stamp = chunk.stamp_of(i);
                if self.stamps.get(p) == Some(&stamp) {
                    continue;
                }
                let (id, participant) = chunk.shared(i)?;
                let indexed = participant.assets.iter().all(|(a, pos)| {
                    book.asset_index(a).is_some()
                        && pos.venues.keys().all(|v| book.venue_index(v).is_some())
                });
                if !indexed {
                    return None;
                }
                out.push(Changed {
                    p,
                    stamp,
                    id: id.clone(),
                    participant: participant.clone(),
                });
            }
        }
        Some(out)
    }

    fn rebuild(&mut self, m: &Moment) -> (&Book, Refreshed) {
        self.book = Some(Book::from_moment(m));
        self.chunk_stamps.clear();
        self.stamps.clear();
        for c in m.participants.chunks() {
            self.chunk_stamps.push(c.stamp());
            for i in 0..c.len() {
                self.stamps.push(c.stamp_of(i));
            }
        }
        let done = Refreshed {
            rebuilt: true,
            encoded: m.participants.len(),
        };
        (self.book.as_ref().expect("a book was just built"), done)
    }
}
