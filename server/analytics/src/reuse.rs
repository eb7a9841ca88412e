//! The venue reuse report: how much of the collateral committed at a venue
//! is over-pledged elsewhere, and on how many other venues it is pledged
//! too (`analytics.md`). At the moment's prices, no shock.
//!
//! A venue may read its own report only as aggregates over at least k
//! participants: buckets with fewer are merged into their neighbour (fewer
//! other venues), so every published figure covers k or more participants
//! and the buckets add up to the totals (nothing to subtract one from
//! another); with fewer than k participants in all, only that is said.

use interlock_ledger::VenueId;

use crate::book::Book;
use crate::engine;
use crate::error::{invalid, AnalyticsError};
use crate::total::Total;

/// Buckets of "pledged on n other venues too": 0, 1, 2, 3, 4 or more.
pub const BUCKETS: usize = 5;
/// The smallest k a request may ask for.
pub const K_MIN: usize = 2;

/// Collateral at the venue pledged on `others_min..=others_max` other
/// venues too.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub others_min: u32,
    /// `None`: and more.
    pub others_max: Option<u32>,
    pub participants: u64,
    pub committed_value: f64,
    pub over_pledged_value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReuseReport {
    pub venue: VenueId,
    pub at_ms: i64,
    /// Participants with collateral committed here.
    pub participants: u64,
    pub committed_value: f64,
    /// Σ (C − Ĉ)·P: what the venue claims beyond its pro-rata share.
    pub over_pledged_value: f64,
    pub buckets: Vec<Bucket>,
    /// The k the report was aggregated over (`None`: an admin's, exact).
    pub min_participants: Option<usize>,
    /// Fewer than k participants in all: no figure is given.
    pub withheld: bool,
    /// Per other venue: the value of this venue's collateral pledged
    /// there too, Σ min(C_v, C_w)·P (admins only).
    pub overlap: Vec<(VenueId, f64)>,
}

impl ReuseReport {
    /// A report with no figure: fewer than k participants.
    pub fn withheld(venue: VenueId, at_ms: i64, k: Option<usize>) -> ReuseReport {
        ReuseReport {
            venue,
            at_ms,
            participants: 0,
            committed_value: 0.0,
            over_pledged_value: 0.0,
            buckets: Vec::new(),
            min_participants: k,
            withheld: true,
            overlap: Vec::new(),
        }
    }
}

/// The report of `venue`; aggregated over at least `k` participants when
/// `k` is given (a venue reading its own), exact with the overlap matrix
/// row otherwise (an admin).
pub fn reuse_report(
    book: &Book,
    venue: &VenueId,
    k: Option<usize>,
    cancelled: &dyn Fn() -> bool,
) -> Result<ReuseReport, AnalyticsError> {
    if let Some(k) = k {
        if k < K_MIN {
            return Err(invalid("min_participants", format!("at least {K_MIN}")));
        }
    }
    let Some(v) = book.venue_index(venue) else {
        return Err(invalid(
            "venue",
            format!("{venue} has no positions or settings"),
        ));
    };
    let v = v as u32;
    let prices: Vec<f64> = book.assets.iter().map(|a| a.price).collect();
    let mut masks = [0u64; 1 << BUCKETS];
    let mut committed = [Total::default(); BUCKETS];
    let mut over = [Total::default(); BUCKETS];
    let mut overlap = vec![Total::default(); book.venues.len()];
    let mut claimed = vec![0.0; book.assets.len()];
    let mut owned = vec![0.0; book.assets.len()];
    engine::each_participant(book, cancelled, |p| {
        let accounts = book.accounts_range(p);
        let Some(here) = accounts.clone().find(|&ai| book.accounts[ai].venue == v) else {
            return;
        };
        // Σ_w C and O per asset, for the pro-rata share.
        for ai in accounts.clone() {
            let acc = book.accounts[ai];
            for l in &book.lines[acc.first as usize..acc.end as usize] {
                claimed[l.asset as usize] += l.committed;
            }
        }
        for h in book.holdings_of(p) {
            owned[h.asset as usize] = h.owned;
        }
        let acc = book.accounts[here];
        let mut mask = 0u32;
        for l in &book.lines[acc.first as usize..acc.end as usize] {
            let c = l.committed;
            if c <= 0.0 {
                continue;
            }
            let a = l.asset as usize;
            let share = (owned[a] / claimed[a]).min(1.0);
            let price = prices[a];
            let mut others = 0u32;
            for ai in accounts.clone().filter(|&ai| ai != here) {
                let w = book.accounts[ai];
                if let Some(o) = book.lines[w.first as usize..w.end as usize]
                    .iter()
                    .find(|x| x.asset == l.asset && x.committed > 0.0)
                {
                    others += 1;
                    if k.is_none() {
                        overlap[w.venue as usize].add(c.min(o.committed) * price);
                    }
                }
            }
            let b = (others as usize).min(BUCKETS - 1);
            mask |= 1 << b;
            committed[b].add(c * price);
            over[b].add(c * (1.0 - share) * price);
        }
        for ai in accounts {
            let acc = book.accounts[ai];
            for l in &book.lines[acc.first as usize..acc.end as usize] {
                claimed[l.asset as usize] = 0.0;
            }
        }
        for h in book.holdings_of(p) {
            owned[h.asset as usize] = 0.0;
        }
        if mask != 0 {
            masks[mask as usize] += 1;
        }
    })?;
    // Distinct participants whose lines fall in buckets lo..=hi.
    let in_range = |lo: usize, hi: usize| -> u64 {
        let range: usize = ((1 << (hi + 1)) - 1) & !((1 << lo) - 1);
        masks
            .iter()
            .enumerate()
            .filter(|(m, _)| m & range != 0)
            .map(|(_, n)| *n)
            .sum()
    };
    let participants = in_range(0, BUCKETS - 1);
    // Ranges lo..=hi, merged downwards until each covers k participants.
    let mut ranges: Vec<(usize, usize)> = (0..BUCKETS).map(|b| (b, b)).collect();
    if let Some(k) = k {
        let mut i = ranges.len() - 1;
        while i > 0 {
            let (lo, hi) = ranges[i];
            if (in_range(lo, hi) as usize) < k {
                ranges[i - 1].1 = hi;
                ranges.remove(i);
            }
            i -= 1;
        }
    }
    let sum = |t: &[Total], lo: usize, hi: usize| {
        let mut s = Total::default();
        t[lo..=hi].iter().for_each(|x| s.merge(*x));
        s.value()
    };
    let withheld = k.is_some_and(|k| (participants as usize) < k);
    let buckets = if withheld {
        Vec::new()
    } else {
        ranges
            .iter()
            .filter(|(lo, hi)| in_range(*lo, *hi) > 0 || k.is_none())
            .map(|&(lo, hi)| Bucket {
                others_min: lo as u32,
                others_max: (hi < BUCKETS - 1).then_some(hi as u32),
                participants: in_range(lo, hi),
                committed_value: sum(&committed, lo, hi),
                over_pledged_value: sum(&over, lo, hi),
            })
            .collect()
    };
    let (cv, ov) = if withheld {
        (0.0, 0.0)
    } else {
        (sum(&committed, 0, BUCKETS - 1), sum(&over, 0, BUCKETS - 1))
    };
    Ok(ReuseReport {
        venue: venue.clone(),
        at_ms: book.at_ms,
        participants: if withheld { 0 } else { participants },
        committed_value: cv,
        over_pledged_value: ov,
        buckets,
        min_participants: k,
        withheld,
        overlap: if k.is_some() {
            Vec::new()
        } else {
            book.venues
                .iter()
                .zip(&overlap)
                .filter(|(_, t)| !t.is_zero())
                .map(|(w, t)| (w.id.clone(), t.value()))
                .collect()
        },
    })
}
