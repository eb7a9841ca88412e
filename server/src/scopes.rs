//! Which participants and venues each broker may report on.
//!
//! A broker is an authoritative source only for its own clients: a file
//! (`--broker-scopes`) lists, per broker id, the participants and venues it
//! may sync. An entry is an exact id or a prefix ending in `*`. With a
//! file, a broker not in it may sync nothing; without one, every broker may
//! sync everything (the server says so at start-up).

use std::collections::HashMap;
use std::path::Path;

use interlock_ledger::{SyncBatch, SyncUpdate};
use serde::Deserialize;
use tonic::Status;

/// Most brokers in a scopes file.
pub const BROKER_SCOPES_MAX: usize = 10_000;
/// Most patterns per list.
pub const SCOPE_PATTERNS_MAX: usize = 10_000;

#[derive(Deserialize)]
struct File {
    brokers: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    participants: Vec<String>,
    #[serde(default)]
    venues: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct Scope {
    participants: Vec<String>,
    venues: Vec<String>,
}

fn matches(patterns: &[String], id: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => id.starts_with(prefix),
        None => p == id,
    })
}

/// Broker scopes; `None` inside means unrestricted.
#[derive(Debug, Clone, Default)]
pub struct BrokerScopes {
    by_broker: Option<HashMap<String, Scope>>,
}

impl BrokerScopes {
    /// Every broker may sync everything.
    pub fn unrestricted() -> Self {
        BrokerScopes { by_broker: None }
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let file: File = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
        anyhow::ensure!(
            file.brokers.len() <= BROKER_SCOPES_MAX,
            "{}: more than {BROKER_SCOPES_MAX} brokers",
            path.display()
        );
        let mut by_broker = HashMap::new();
        for e in file.brokers {
            anyhow::ensure!(
                e.participants.len() <= SCOPE_PATTERNS_MAX && e.venues.len() <= SCOPE_PATTERNS_MAX,
                "{}: broker {}: more than {SCOPE_PATTERNS_MAX} patterns",
                path.display(),
                e.id
            );
            let scope = Scope {
                participants: e.participants,
                venues: e.venues,
            };
            anyhow::ensure!(
                by_broker.insert(e.id.clone(), scope).is_none(),
                "{}: broker {} listed twice",
                path.display(),
                e.id
            );
        }
        Ok(BrokerScopes {
            by_broker: Some(by_broker),
        })
    }

    pub fn is_restricted(&self) -> bool {
        self.by_broker.is_some()
    }

    /// Refuses a sync message with any update outside the broker's scope
    /// (nothing of it is applied).
    pub fn check(&self, broker: &str, batch: &SyncBatch) -> Result<(), Status> {
        let Some(map) = &self.by_broker else {
            return Ok(());
        };
        let empty = Scope::default();
        let scope = map.get(broker).unwrap_or(&empty);
        for (i, u) in batch.updates.iter().enumerate() {
            let (participant, venue) = match u {
                SyncUpdate::Collateral { participant, .. } => (participant, None),
                SyncUpdate::Commitment {
                    participant, venue, ..
                }
                | SyncUpdate::Liability {
                    participant, venue, ..
                } => (participant, Some(venue)),
            };
            if !matches(&scope.participants, participant.as_str()) {
                return Err(Status::permission_denied(format!(
                    "updates[{i}]: participant {participant} is outside this broker's scope"
                )));
            }
            if let Some(v) = venue {
                if !matches(&scope.venues, v.as_str()) {
                    return Err(Status::permission_denied(format!(
                        "updates[{i}]: venue {v} is outside this broker's scope"
                    )));
                }
            }
        }
        Ok(())
    }
}
