//! One consistent moment of the ledger for analytics (stress, cascade,
//! ranking), taken under the lock in O(participant chunks + settings) and
//! read without it: the participants are shared copy-on-write (see
//! `participants.rs`), the settings are small and copied. Everything is
//! in a fixed order, so no hash map's iteration order reaches a result.

use super::*;
pub use crate::participants::{ParticipantChunk, ParticipantsView, PARTICIPANTS_PER_CHUNK};

/// An asset with a class, as the moment's analytics value it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MomentAsset {
    pub asset: AssetId,
    pub class: AssetClass,
    /// The last accepted price, whatever its state; `None`: never priced.
    pub price: Option<Decimal>,
    pub state: PriceState,
    /// The haircut in force; `None`: the asset counts for nothing in HF^eco.
    pub haircut: Option<Decimal>,
}

/// The ledger at one moment, for analytics.
#[derive(Debug, Clone)]
pub struct Moment {
    /// The ledger's time when the moment was taken.
    pub at_ms: UnixMs,
    pub participants: ParticipantsView,
    /// Classed assets, by asset.
    pub assets: Vec<MomentAsset>,
    /// Configured venues, by venue.
    pub venues: Vec<VenueView>,
    pub stress_shocks: StressShocks,
    /// The scenario library, by name.
    pub scenarios: std::collections::BTreeMap<String, Scenario>,
}

impl State {
    /// The ledger as it is now, for analytics to read off the lock. Cheap:
    /// no participant is copied (their chunks are shared until written).
    pub fn moment(&self) -> Moment {
        let assets = self
            .prices()
            .into_iter()
            .map(|(asset, p)| MomentAsset {
                asset: asset.clone(),
                class: p.class,
                price: p.last_price(),
                state: p.state(),
                haircut: self.haircut_of(asset),
            })
            .collect();
        let venues = self.venues();
        Moment {
            at_ms: self.last_at_ms,
            participants: self.participants.view(),
            assets,
            venues,
            stress_shocks: self.stress_shocks,
            scenarios: self.scenarios.clone(),
        }
    }
}
