//! `interlockctl sync FILE`: stream a position file as a broker.

use std::path::Path;

use anyhow::{bail, Context};
use interlock_client::{pb, Client};
use serde::Deserialize;

/// Largest file `sync` reads.
pub const SYNC_FILE_BYTES_MAX: u64 = 512 * 1024 * 1024;
/// Most updates in one sync message (the server's limit).
pub const SYNC_BATCH_MAX: usize = 1000;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum JsonUpdate {
    Collateral {
        participant: String,
        asset: String,
        quantity: String,
    },
    Commitment {
        participant: String,
        venue: String,
        asset: String,
        quantity: String,
        #[serde(default)]
        covers_commit_seq: u64,
    },
    Liability {
        participant: String,
        venue: String,
        asset: String,
        quantity: String,
    },
}

fn update(u: JsonUpdate) -> pb::SyncUpdate {
    use pb::sync_update::Update;
    let update = match u {
        JsonUpdate::Collateral {
            participant,
            asset,
            quantity,
        } => Update::Collateral(pb::CollateralUpdate {
            participant,
            asset,
            quantity,
        }),
        JsonUpdate::Commitment {
            participant,
            venue,
            asset,
            quantity,
            covers_commit_seq,
        } => Update::Commitment(pb::CommitmentUpdate {
            participant,
            venue,
            asset,
            quantity,
            covers_commit_seq,
        }),
        JsonUpdate::Liability {
            participant,
            venue,
            asset,
            quantity,
        } => Update::Liability(pb::LiabilityUpdate {
            participant,
            venue,
            asset,
            quantity,
        }),
    };
    pb::SyncUpdate {
        update: Some(update),
    }
}

/// Parses CSV lines (see `interlockctl sync --help`).
pub fn parse_csv(text: &str) -> anyhow::Result<Vec<pb::SyncUpdate>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<String> = line.split(',').map(|s| s.trim().to_owned()).collect();
        let u = match (f[0].as_str(), f.len()) {
            ("collateral", 4) => JsonUpdate::Collateral {
                participant: f[1].clone(),
                asset: f[2].clone(),
                quantity: f[3].clone(),
            },
            ("commitment", 5 | 6) => JsonUpdate::Commitment {
                participant: f[1].clone(),
                venue: f[2].clone(),
                asset: f[3].clone(),
                quantity: f[4].clone(),
                covers_commit_seq: match f.get(5) {
                    Some(s) => s.parse().with_context(|| {
                        format!("line {}: covers_commit_seq {s:?} is not a number", n + 1)
                    })?,
                    None => 0,
                },
            },
            ("liability", 5) => JsonUpdate::Liability {
                participant: f[1].clone(),
                venue: f[2].clone(),
                asset: f[3].clone(),
                quantity: f[4].clone(),
            },
            _ => bail!(
                "line {}: expected `collateral,P,A,Q`, `commitment,P,V,A,Q[,SEQ]` or `liability,P,V,A,Q`, got {line:?}",
                n + 1
            ),
        };
        out.push(update(u));
    }
    Ok(out)
}

pub fn parse(path: &Path) -> anyhow::Result<Vec<pb::SyncUpdate>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    anyhow::ensure!(
        len <= SYNC_FILE_BYTES_MAX,
        "{} is larger than {SYNC_FILE_BYTES_MAX} bytes",
        path.display()
    );
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if text.trim_start().starts_with('[') {
        let items: Vec<JsonUpdate> = serde_json::from_str(&text)
            .with_context(|| format!("parsing {} as JSON", path.display()))?;
        Ok(items.into_iter().map(update).collect())
    } else {
        parse_csv(&text).with_context(|| format!("parsing {} as CSV", path.display()))
    }
}

pub async fn run(client: &Client, path: &Path, batch: usize, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=SYNC_BATCH_MAX).contains(&batch),
        "--batch must be 1..={SYNC_BATCH_MAX}"
    );
    let updates = parse(path)?;
    let total = updates.len();
    let start = client.sync_state().await?.last_applied_sequence + 1;
    let sizes: Vec<usize> = updates.chunks(batch).map(<[_]>::len).collect();
    let mut messages = Vec::with_capacity(sizes.len());
    let mut it = updates.into_iter();
    for (i, n) in sizes.iter().enumerate() {
        messages.push(pb::SyncRequest {
            sequence: start + i as u64,
            updates: it.by_ref().take(*n).collect(),
        });
    }
    let mut acks = client
        .position()
        .sync(client.request(tokio_stream::iter(messages)))
        .await?
        .into_inner();
    let (mut done, mut last) = (0usize, start.saturating_sub(1));
    let mut i = 0;
    if !json {
        crate::output::progress(0, total, "updates");
    }
    while let Some(ack) = acks
        .message()
        .await
        .map_err(interlock_client::ClientError::from)?
    {
        done += sizes.get(i).copied().unwrap_or(0);
        i += 1;
        last = ack.applied_sequence;
        if !json {
            crate::output::progress(done, total, "updates");
        }
    }
    if json {
        outln!(
            "{}",
            serde_json::json!({"updates": total, "messages": i, "last_applied_sequence": last})
        );
    } else {
        eprintln!();
        outln!("synced {total} updates in {i} messages; last applied sequence {last}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_parse_and_errors_name_the_line() {
        let u = parse_csv("# header\ncollateral,fund,ETH,100\ncommitment,fund,venue-a,ETH,50,7\n")
            .unwrap();
        assert_eq!(u.len(), 2);
        let e = parse_csv("collateral,fund,ETH\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1:"), "{e}");
    }
}
