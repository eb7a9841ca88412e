//! Limits: what they are, where they apply, and the set the ledger keeps.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::ids::{AssetId, LimitId, ParticipantId, VenueId};

/// Most limits the ledger keeps.
pub const LIMITS_MAX: usize = 100_000;
/// Most warning levels on one limit.
pub const WARN_LEVELS_MAX: usize = 8;

/// The kinds of limit. See `proto/interlock/v1/common.proto` for meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKind {
    /// Σ commitments of an asset ≤ value × collateral owned.
    ReuseRatio,
    /// Quantity cap on one participant's commitments of one asset.
    MaxCommitment,
    /// Ecosystem-wide cap on the commitments of one asset.
    AssetCap,
    /// Cap on the quantity of one check.
    MaxOrderQuantity,
    /// HF^eco after the check must stay at or above the value (a ratio).
    MinHfEco,
    /// HF^eco under the standard shock vector, after the check, must stay
    /// at or above the value (a ratio).
    StressHfEco,
    /// Ecosystem-wide cap on the committed value of one asset, in the
    /// numeraire.
    ValueCap,
}

impl LimitKind {
    /// The kind's name as the API and the audit log spell it.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::ReuseRatio => "REUSE_RATIO",
            LimitKind::MaxCommitment => "MAX_COMMITMENT",
            LimitKind::AssetCap => "ASSET_CAP",
            LimitKind::MaxOrderQuantity => "MAX_ORDER_QUANTITY",
            LimitKind::MinHfEco => "MIN_HF_ECO",
            LimitKind::StressHfEco => "STRESS_HF_ECO",
            LimitKind::ValueCap => "VALUE_CAP",
        }
    }

    /// Whether a higher value allows more: true for caps, false for the
    /// health floors (a lower floor is the looser one).
    pub fn higher_is_looser(self) -> bool {
        !self.is_health_floor()
    }

    /// MIN_HF_ECO and STRESS_HF_ECO: floors on the participant's
    /// cross-venue health, not caps on a quantity.
    pub fn is_health_floor(self) -> bool {
        matches!(self, LimitKind::MinHfEco | LimitKind::StressHfEco)
    }

    /// The kinds judged on prices (the value layer's).
    pub fn needs_prices(self) -> bool {
        matches!(
            self,
            LimitKind::MinHfEco | LimitKind::StressHfEco | LimitKind::ValueCap
        )
    }
}

/// Where a limit applies; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub participant: Option<ParticipantId>,
    pub venue: Option<VenueId>,
    pub asset: Option<AssetId>,
}

impl Scope {
    /// Does this scope cover a request by `participant` on `venue` for `asset`?
    pub fn matches(&self, participant: &ParticipantId, venue: &VenueId, asset: &AssetId) -> bool {
        self.participant.as_ref().is_none_or(|p| p == participant)
            && self.venue.as_ref().is_none_or(|v| v == venue)
            && self.asset.as_ref().is_none_or(|a| a == asset)
    }

    /// Does this scope cover `participant`'s commitments of `asset` on every venue?
    pub fn matches_position(&self, participant: &ParticipantId, asset: &AssetId) -> bool {
        self.venue.is_none()
            && self.participant.as_ref().is_none_or(|p| p == participant)
            && self.asset.as_ref().is_none_or(|a| a == asset)
    }

    /// How specific the scope is: participant outranks asset.
    pub fn specificity(&self) -> u8 {
        u8::from(self.participant.is_some()) * 2 + u8::from(self.asset.is_some())
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = &self.participant {
            parts.push(format!("participant={p}"));
        }
        if let Some(v) = &self.venue {
            parts.push(format!("venue={v}"));
        }
        if let Some(a) = &self.asset {
            parts.push(format!("asset={a}"));
        }
        if parts.is_empty() {
            f.write_str("ecosystem")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// What an admin asks for: a limit without its identity and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSpec {
    pub kind: LimitKind,
    pub scope: Scope,
    /// A ratio for `ReuseRatio`, a quantity otherwise (parsed and bounded at
    /// the boundary).
    pub value: Decimal,
    /// Percentages in (0, 100], ascending and distinct.
    pub warn_levels_pct: Vec<Decimal>,
}

/// Why a limit specification is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitSpecError {
    #[error("scope.{field} {what} for {kind}")]
    Scope {
        field: &'static str,
        what: &'static str,
        kind: &'static str,
    },
    #[error("warn_levels_pct has more than {WARN_LEVELS_MAX} levels")]
    TooManyWarnLevels,
}

impl LimitSpec {
    /// Checks which scope fields the kind requires or forbids.
    pub fn validate(&self) -> Result<(), LimitSpecError> {
        let kind = self.kind.name();
        let need = |present: bool, field: &'static str| {
            if present {
                Ok(())
            } else {
                Err(LimitSpecError::Scope {
                    field,
                    what: "is required",
                    kind,
                })
            }
        };
        let forbid = |present: bool, field: &'static str| {
            if present {
                Err(LimitSpecError::Scope {
                    field,
                    what: "must be empty",
                    kind,
                })
            } else {
                Ok(())
            }
        };
        let s = &self.scope;
        match self.kind {
            LimitKind::ReuseRatio => forbid(s.venue.is_some(), "venue")?,
            LimitKind::MaxCommitment => {
                need(s.participant.is_some(), "participant")?;
                need(s.asset.is_some(), "asset")?;
            }
            LimitKind::AssetCap => {
                need(s.asset.is_some(), "asset")?;
                forbid(s.participant.is_some(), "participant")?;
                forbid(s.venue.is_some(), "venue")?;
            }
            LimitKind::MaxOrderQuantity => need(s.asset.is_some(), "asset")?,
            // A participant's health is one figure across venues and
            // assets: a floor on it names a participant or no one.
            LimitKind::MinHfEco | LimitKind::StressHfEco => {
                forbid(s.venue.is_some(), "venue")?;
                forbid(s.asset.is_some(), "asset")?;
            }
            LimitKind::ValueCap => {
                need(s.asset.is_some(), "asset")?;
                forbid(s.participant.is_some(), "participant")?;
                forbid(s.venue.is_some(), "venue")?;
            }
        }
        if self.warn_levels_pct.len() > WARN_LEVELS_MAX {
            return Err(LimitSpecError::TooManyWarnLevels);
        }
        Ok(())
    }
}

/// A stored, versioned limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub id: LimitId,
    pub spec: LimitSpec,
    /// Starts at 1; every change adds 1.
    pub version: u64,
    pub updated_at_ms: i64,
    pub updated_by: String,
}

/// The ledger's limits, one per (kind, scope).
#[derive(Debug, Default, Clone)]
pub struct LimitSet {
    pub(crate) by_id: BTreeMap<LimitId, Limit>,
    pub(crate) next_id: u64,
}

impl LimitSet {
    /// All limits, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Limit> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn get(&self, id: &LimitId) -> Option<&Limit> {
        self.by_id.get(id)
    }

    /// The limit of this kind and scope, if any.
    pub fn find(&self, kind: LimitKind, scope: &Scope) -> Option<&Limit> {
        self.by_id
            .values()
            .find(|l| l.spec.kind == kind && &l.spec.scope == scope)
    }

    /// Inserts or replaces; returns the previous version of the limit.
    pub(crate) fn upsert(
        &mut self,
        spec: LimitSpec,
        at_ms: i64,
        by: &str,
    ) -> (Limit, Option<Limit>) {
        let old = self.find(spec.kind, &spec.scope).cloned();
        let (id, version) = match &old {
            Some(o) => (o.id.clone(), o.version + 1),
            None => {
                self.next_id += 1;
                (LimitId::new_trusted(&format!("L{}", self.next_id)), 1)
            }
        };
        let limit = Limit {
            id: id.clone(),
            spec,
            version,
            updated_at_ms: at_ms,
            updated_by: by.to_owned(),
        };
        self.by_id.insert(id, limit.clone());
        (limit, old)
    }

    pub(crate) fn remove(&mut self, id: &LimitId) -> Option<Limit> {
        self.by_id.remove(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(a: &str) -> Option<AssetId> {
        Some(AssetId::new(a).unwrap())
    }

    #[test]
    fn scope_rules_per_kind() {
        let spec = |kind, scope| LimitSpec {
            kind,
            scope,
            value: Decimal::ONE,
            warn_levels_pct: vec![],
        };
        assert!(spec(LimitKind::ReuseRatio, Scope::default())
            .validate()
            .is_ok());
        let with_venue = Scope {
            venue: Some(VenueId::new("v").unwrap()),
            ..Scope::default()
        };
        assert!(spec(LimitKind::ReuseRatio, with_venue).validate().is_err());
        assert!(spec(LimitKind::AssetCap, Scope::default())
            .validate()
            .is_err());
        assert!(spec(
            LimitKind::AssetCap,
            Scope {
                asset: asset("ETH"),
                ..Scope::default()
            }
        )
        .validate()
        .is_ok());
        let e = spec(
            LimitKind::MaxCommitment,
            Scope {
                asset: asset("ETH"),
                ..Scope::default()
            },
        )
        .validate();
        assert_eq!(
            e.unwrap_err().to_string(),
            "scope.participant is required for MAX_COMMITMENT"
        );
    }

    #[test]
    fn upsert_versions_by_kind_and_scope() {
        let mut set = LimitSet::default();
        let spec = LimitSpec {
            kind: LimitKind::ReuseRatio,
            scope: Scope::default(),
            value: Decimal::ONE,
            warn_levels_pct: vec![],
        };
        let (a, old) = set.upsert(spec.clone(), 1, "admin");
        assert!(old.is_none());
        assert_eq!((a.id.as_str(), a.version), ("L1", 1));
        let (b, old) = set.upsert(
            LimitSpec {
                value: Decimal::TWO,
                ..spec
            },
            2,
            "admin",
        );
        assert_eq!(old.unwrap().version, 1);
        assert_eq!((b.id.as_str(), b.version), ("L1", 2));
        assert_eq!(set.len(), 1);
    }
}
