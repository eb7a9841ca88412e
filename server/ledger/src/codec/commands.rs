//! The encoding of [`Command`]: a tag, the time, then the fields.

use super::*;

// ---- commands ----------------------------------------------------------

impl Encode for Command {
    fn encode(&self, w: &mut Writer) {
        match self {
            Command::Check {
                at_ms,
                venue,
                request,
            } => {
                w.u8(1);
                w.i64(*at_ms);
                w.put(venue);
                w.put(request);
            }
            Command::Commit {
                at_ms,
                venue,
                reservation,
            } => {
                w.u8(2);
                w.i64(*at_ms);
                w.put(venue);
                w.put(reservation);
            }
            Command::Release {
                at_ms,
                venue,
                reservation,
            } => {
                w.u8(3);
                w.i64(*at_ms);
                w.put(venue);
                w.put(reservation);
            }
            Command::Sync {
                at_ms,
                broker,
                batch,
            } => {
                w.u8(4);
                w.i64(*at_ms);
                w.put(broker);
                w.put(batch);
            }
            Command::SetLimit {
                at_ms,
                by,
                spec,
                expected_version,
                force,
            } => {
                w.u8(5);
                w.i64(*at_ms);
                w.str(by);
                w.put(spec);
                w.put(expected_version);
                w.put(force);
            }
            Command::DeleteLimit {
                at_ms,
                by,
                id,
                force,
            } => {
                w.u8(6);
                w.i64(*at_ms);
                w.str(by);
                w.put(id);
                w.put(force);
            }
            Command::SetTradingState {
                at_ms,
                by,
                participant,
                state,
                reason,
            } => {
                w.u8(7);
                w.i64(*at_ms);
                w.str(by);
                w.put(participant);
                w.put(state);
                w.str(reason);
            }
            Command::Tick { at_ms } => {
                w.u8(8);
                w.i64(*at_ms);
            }
            Command::Configure { at_ms, config } => {
                w.u8(9);
                w.i64(*at_ms);
                w.put(config);
            }
            Command::ArchiveAudit { at_ms, through_seq } => {
                w.u8(11);
                w.i64(*at_ms);
                w.u64(*through_seq);
            }
            Command::RecordDenial {
                at_ms,
                principal,
                action,
                reason,
            } => {
                w.u8(10);
                w.i64(*at_ms);
                w.str(principal);
                w.str(action);
                w.str(reason);
            }
            Command::RecordClusterChange {
                at_ms,
                by,
                action,
                node,
                old_value,
                new_value,
            } => {
                w.u8(21);
                w.i64(*at_ms);
                w.str(by);
                w.str(action);
                w.u64(*node);
                w.str(old_value);
                w.str(new_value);
            }
            Command::PublishPrices {
                at_ms,
                oracle,
                batch,
            } => {
                w.u8(12);
                w.i64(*at_ms);
                w.put(oracle);
                w.put(batch);
            }
            Command::SetAssetClass {
                at_ms,
                by,
                asset,
                class,
            } => {
                w.u8(13);
                w.i64(*at_ms);
                w.str(by);
                w.put(asset);
                w.put(class);
            }
            Command::ConfigurePrices { at_ms, rules } => {
                w.u8(14);
                w.i64(*at_ms);
                w.put(rules);
            }
            Command::SetVenueAsset {
                at_ms,
                by,
                venue,
                asset,
                params,
            } => {
                w.u8(15);
                w.i64(*at_ms);
                w.str(by);
                w.put(venue);
                w.put(asset);
                w.put(params);
            }
            Command::SetHaircut {
                at_ms,
                by,
                asset,
                haircut,
                force,
            } => {
                w.u8(16);
                w.i64(*at_ms);
                w.str(by);
                w.put(asset);
                w.bool(haircut.is_some());
                if let Some(h) = haircut {
                    w.decimal(*h);
                }
                w.put(force);
            }
            Command::SetStressShock {
                at_ms,
                by,
                class,
                shock,
                force,
            } => {
                w.u8(17);
                w.i64(*at_ms);
                w.str(by);
                w.put(class);
                w.decimal(*shock);
                w.put(force);
            }
            Command::SetVenueRule {
                at_ms,
                by,
                venue,
                rule,
            } => {
                w.u8(18);
                w.i64(*at_ms);
                w.str(by);
                w.put(venue);
                w.put(rule);
            }
            Command::SetStressGuard {
                at_ms,
                by,
                participant,
                min_venues,
            } => {
                w.u8(20);
                w.i64(*at_ms);
                w.str(by);
                w.put(participant);
                w.bool(min_venues.is_some());
                if let Some(n) = min_venues {
                    w.u64(u64::from(*n));
                }
            }
            Command::SetScenario {
                at_ms,
                by,
                name,
                scenario,
            } => {
                w.u8(19);
                w.i64(*at_ms);
                w.str(by);
                w.str(name);
                w.bool(scenario.is_some());
                if let Some(s) = scenario {
                    w.put(s);
                }
            }
        }
    }
}

impl Decode for Command {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.u8()?;
        let at_ms = r.i64()?;
        Ok(match tag {
            1 => Command::Check {
                at_ms,
                venue: r.get()?,
                request: r.get()?,
            },
            2 => Command::Commit {
                at_ms,
                venue: r.get()?,
                reservation: r.get()?,
            },
            3 => Command::Release {
                at_ms,
                venue: r.get()?,
                reservation: r.get()?,
            },
            4 => Command::Sync {
                at_ms,
                broker: r.get()?,
                batch: r.get()?,
            },
            5 => Command::SetLimit {
                at_ms,
                by: r.text()?,
                spec: r.get()?,
                expected_version: r.get()?,
                force: r.get()?,
            },
            6 => Command::DeleteLimit {
                at_ms,
                by: r.text()?,
                id: r.get()?,
                force: r.get()?,
            },
            7 => Command::SetTradingState {
                at_ms,
                by: r.text()?,
                participant: r.get()?,
                state: r.get()?,
                reason: r.text()?,
            },
            8 => Command::Tick { at_ms },
            9 => Command::Configure {
                at_ms,
                config: r.get()?,
            },
            10 => Command::RecordDenial {
                at_ms,
                principal: r.text()?,
                action: r.text()?,
                reason: r.text()?,
            },
            21 => Command::RecordClusterChange {
                at_ms,
                by: r.text()?,
                action: r.text()?,
                node: r.u64()?,
                old_value: r.text()?,
                new_value: r.text()?,
            },
            11 => Command::ArchiveAudit {
                at_ms,
                through_seq: r.u64()?,
            },
            12 => Command::PublishPrices {
                at_ms,
                oracle: r.get()?,
                batch: r.get()?,
            },
            13 => Command::SetAssetClass {
                at_ms,
                by: r.text()?,
                asset: r.get()?,
                class: r.get()?,
            },
            14 => Command::ConfigurePrices {
                at_ms,
                rules: r.get()?,
            },
            15 => Command::SetVenueAsset {
                at_ms,
                by: r.text()?,
                venue: r.get()?,
                asset: r.get()?,
                params: r.get()?,
            },
            16 => Command::SetHaircut {
                at_ms,
                by: r.text()?,
                asset: r.get()?,
                haircut: if r.bool()? { Some(r.decimal()?) } else { None },
                force: r.get()?,
            },
            17 => Command::SetStressShock {
                at_ms,
                by: r.text()?,
                class: r.get()?,
                shock: r.decimal()?,
                force: r.get()?,
            },
            18 => Command::SetVenueRule {
                at_ms,
                by: r.text()?,
                venue: r.get()?,
                rule: r.get()?,
            },
            20 => Command::SetStressGuard {
                at_ms,
                by: r.text()?,
                participant: r.get()?,
                min_venues: if r.bool()? {
                    Some(u32::try_from(r.u64()?).map_err(|_| r.error("bad venue count"))?)
                } else {
                    None
                },
            },
            19 => Command::SetScenario {
                at_ms,
                by: r.text()?,
                name: r.text()?,
                scenario: if r.bool()? { Some(r.get()?) } else { None },
            },
            _ => return Err(r.error("bad command tag")),
        })
    }
}
