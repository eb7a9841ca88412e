//! `AdminService`: limits, trading states, exposure, top, alerts, audit,
//! asset classes and value settings, for admins (and auditors, who read).

use super::*;

/// `AdminService`.
#[derive(Debug, Clone)]
pub struct AdminApi(pub Shared);

impl AdminApi {
    /// The admin making a change (auditors may only read; a refusal is
    /// audited).
    fn admin_of<T>(&self, req: &Request<T>) -> Result<String, Status> {
        match crate::auth::admin(req) {
            Ok(p) => Ok(p.id.clone()),
            Err(status) => {
                let who = crate::auth::source_of(req, principal(req).ok());
                self.0
                    .denials
                    .record(&who, &crate::auth::method_of(req), &status);
                Err(status)
            }
        }
    }
}

#[tonic::async_trait]
impl pb::admin_service_server::AdminService for AdminApi {
    async fn set_asset_class(
        &self,
        req: Request<pb::SetAssetClassRequest>,
    ) -> Result<Response<pb::SetAssetClassResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let asset = convert::asset(&r.asset)?;
        let class = convert::asset_class(r.class)?;
        let cmd = Command::SetAssetClass {
            at_ms: self.0.clock.now_ms(),
            by,
            asset,
            class,
        };
        match self.0.apply(cmd).await? {
            Outcome::AssetClassSet {
                previous,
                class,
                version,
            } => Ok(Response::new(pb::SetAssetClassResponse {
                previous: previous
                    .map_or(pb::AssetClass::Unspecified, convert::asset_class_pb)
                    .into(),
                class: convert::asset_class_pb(class).into(),
                version,
            })),
            _ => Err(mismatch()),
        }
    }

    async fn set_venue_asset(
        &self,
        req: Request<pb::SetVenueAssetRequest>,
    ) -> Result<Response<pb::SetVenueAssetResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let cmd = Command::SetVenueAsset {
            at_ms: self.0.clock.now_ms(),
            by,
            venue: convert::venue(&r.venue)?,
            asset: convert::asset(&r.asset)?,
            params: convert::venue_asset_params(&r)?,
        };
        match self.0.apply(cmd).await? {
            Outcome::VenueAssetSet {
                previous, version, ..
            } => Ok(Response::new(pb::SetVenueAssetResponse {
                version,
                previous_threshold: previous
                    .map(|p| p.threshold.normalize().to_string())
                    .unwrap_or_default(),
                previous_ltv: previous
                    .and_then(|p| p.ltv)
                    .map(|l| l.normalize().to_string())
                    .unwrap_or_default(),
            })),
            _ => Err(mismatch()),
        }
    }

    async fn set_haircut(
        &self,
        req: Request<pb::SetHaircutRequest>,
    ) -> Result<Response<pb::SetHaircutResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let cmd = Command::SetHaircut {
            at_ms: self.0.clock.now_ms(),
            by,
            asset: convert::asset(&r.asset)?,
            haircut: convert::haircut(&r.haircut)?,
            force: convert::force_reason(&r.force_reason)?,
        };
        match self.0.apply(cmd).await? {
            Outcome::HaircutSet {
                previous, version, ..
            } => Ok(Response::new(pb::SetHaircutResponse {
                version,
                previous: previous
                    .map(|h| h.normalize().to_string())
                    .unwrap_or_default(),
            })),
            _ => Err(mismatch()),
        }
    }

    async fn set_stress_shock(
        &self,
        req: Request<pb::SetStressShockRequest>,
    ) -> Result<Response<pb::SetStressShockResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let cmd = Command::SetStressShock {
            at_ms: self.0.clock.now_ms(),
            by,
            class: convert::asset_class(r.class)?,
            shock: convert::stress_shock(&r.shock)?,
            force: convert::force_reason(&r.force_reason)?,
        };
        match self.0.apply(cmd).await? {
            Outcome::StressShockSet {
                previous, version, ..
            } => Ok(Response::new(pb::SetStressShockResponse {
                version,
                previous: previous.normalize().to_string(),
            })),
            _ => Err(mismatch()),
        }
    }

    async fn set_venue_rule(
        &self,
        req: Request<pb::SetVenueRuleRequest>,
    ) -> Result<Response<pb::SetVenueRuleResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let cmd = Command::SetVenueRule {
            at_ms: self.0.clock.now_ms(),
            by,
            venue: convert::venue(&r.venue)?,
            rule: convert::liquidation_rule(r.rule)?,
        };
        match self.0.apply(cmd).await? {
            Outcome::VenueRuleSet { previous, version } => {
                Ok(Response::new(pb::SetVenueRuleResponse {
                    version,
                    previous: previous.map(convert::liquidation_rule_pb),
                }))
            }
            _ => Err(mismatch()),
        }
    }

    async fn set_stress_guard(
        &self,
        req: Request<pb::SetStressGuardRequest>,
    ) -> Result<Response<pb::SetStressGuardResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let cmd = Command::SetStressGuard {
            at_ms: self.0.clock.now_ms(),
            by,
            participant: convert::participant(&r.participant)?,
            min_venues: (r.min_venues > 0).then_some(r.min_venues),
        };
        match self.0.apply(cmd).await? {
            Outcome::StressGuardSet { previous, version } => {
                Ok(Response::new(pb::SetStressGuardResponse {
                    previous: previous.unwrap_or(0),
                    version,
                }))
            }
            _ => Err(mismatch()),
        }
    }

    async fn set_scenario(
        &self,
        req: Request<pb::SetScenarioRequest>,
    ) -> Result<Response<pb::SetScenarioResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let scenario = if r.delete {
            None
        } else {
            Some(convert::scenario_spec(&r)?)
        };
        let name = r.name.trim().to_owned();
        let cmd = Command::SetScenario {
            at_ms: self.0.clock.now_ms(),
            by,
            name: name.clone(),
            scenario,
        };
        match self.0.apply(cmd).await? {
            Outcome::ScenarioSet { previous, version } => {
                Ok(Response::new(pb::SetScenarioResponse {
                    previous: previous.map(|p| convert::scenario_pb(&name, &p, version - 1)),
                    version,
                }))
            }
            _ => Err(mismatch()),
        }
    }

    async fn list_venues(
        &self,
        _req: Request<pb::ListVenuesRequest>,
    ) -> Result<Response<pb::ListVenuesResponse>, Status> {
        let venues = self.0.read(|s| s.venues())?;
        Ok(Response::new(pb::ListVenuesResponse {
            venues: venues.into_iter().map(convert::venue_config_pb).collect(),
        }))
    }

    async fn get_health(
        &self,
        req: Request<pb::GetHealthRequest>,
    ) -> Result<Response<pb::ParticipantHealth>, Status> {
        let participant = convert::participant(&req.get_ref().participant)?;
        self.0.current().await?;
        match self.0.read(|s| s.health(&participant))? {
            Ok(Some(h)) => Ok(Response::new(convert::health_pb(h))),
            Ok(None) => Err(Status::not_found(format!(
                "participant {participant} not found"
            ))),
            Err(e) => Err(convert::status(e)),
        }
    }

    async fn list_prices(
        &self,
        _req: Request<pb::ListPricesRequest>,
    ) -> Result<Response<pb::ListPricesResponse>, Status> {
        let (assets, shocks) = self.0.read(|s| {
            let assets = s
                .prices()
                .into_iter()
                .map(|(a, p)| convert::asset_price_pb(a, p, s.haircut_of(a), s.model_haircut(a)))
                .collect();
            (assets, s.stress_shocks())
        })?;
        Ok(Response::new(pb::ListPricesResponse {
            assets,
            stress_shocks: Some(convert::stress_shocks_pb(shocks)),
        }))
    }

    async fn set_limit(
        &self,
        req: Request<pb::SetLimitRequest>,
    ) -> Result<Response<pb::Limit>, Status> {
        let by = self.admin_of(&req)?;
        let (spec, expected_version, force) = convert::limit_spec(req.into_inner())?;
        let cmd = Command::SetLimit {
            at_ms: self.0.clock.now_ms(),
            by,
            spec,
            expected_version,
            force,
        };
        match self.0.apply(cmd).await? {
            Outcome::Limit(l) => Ok(Response::new(convert::limit_pb(l))),
            _ => Err(mismatch()),
        }
    }

    async fn delete_limit(
        &self,
        req: Request<pb::DeleteLimitRequest>,
    ) -> Result<Response<pb::DeleteLimitResponse>, Status> {
        let by = self.admin_of(&req)?;
        let id = convert::limit_id(&req.get_ref().id)?;
        let force = convert::force_reason(&req.get_ref().force_reason)?;
        let cmd = Command::DeleteLimit {
            at_ms: self.0.clock.now_ms(),
            by,
            id,
            force,
        };
        match self.0.apply(cmd).await? {
            Outcome::LimitDeleted(l) => Ok(Response::new(pb::DeleteLimitResponse {
                deleted: Some(convert::limit_pb(l)),
            })),
            _ => Err(mismatch()),
        }
    }

    async fn list_limits(
        &self,
        _req: Request<pb::ListLimitsRequest>,
    ) -> Result<Response<pb::ListLimitsResponse>, Status> {
        let limits = self.0.read(|s| s.limits())?;
        Ok(Response::new(pb::ListLimitsResponse {
            limits: limits.into_iter().map(convert::limit_pb).collect(),
        }))
    }

    async fn set_trading_state(
        &self,
        req: Request<pb::SetTradingStateRequest>,
    ) -> Result<Response<pb::SetTradingStateResponse>, Status> {
        let by = self.admin_of(&req)?;
        let r = req.into_inner();
        let participant = convert::participant(&r.participant)?;
        let state = convert::trading_state(r.state)?;
        let reason = convert::reason(&r.reason)?;
        let cmd = Command::SetTradingState {
            at_ms: self.0.clock.now_ms(),
            by,
            participant: participant.clone(),
            state,
            reason,
        };
        match self.0.apply(cmd).await? {
            Outcome::TradingState(t) => Ok(Response::new(pb::SetTradingStateResponse {
                participant: participant.to_string(),
                previous: convert::trading_state_pb(t.previous).into(),
                state: convert::trading_state_pb(t.state).into(),
                released_reservations: t.released_reservations,
            })),
            _ => Err(mismatch()),
        }
    }

    async fn get_exposure(
        &self,
        req: Request<pb::GetExposureRequest>,
    ) -> Result<Response<pb::Exposure>, Status> {
        let participant = convert::participant(&req.get_ref().participant)?;
        self.0.current().await?;
        let now = self.0.clock.now_ms();
        let exposure = self
            .0
            .read(|s| -> Result<_, interlock_ledger::LedgerError> {
                let Some(e) = s.exposure(&participant, now)? else {
                    return Ok(None);
                };
                let values: Vec<_> = e
                    .assets
                    .iter()
                    .map(|a| (a.owned, s.price(&a.asset), s.haircut_of(&a.asset)))
                    .collect();
                let mut pb = convert::exposure_pb(e);
                for (a, (owned, price, haircut)) in pb.assets.iter_mut().zip(values) {
                    convert::value_columns(a, owned, price, haircut);
                }
                pb.hf_eco = s
                    .health(&participant)?
                    .map(|h| convert::health_str(h.eco))
                    .unwrap_or_default();
                Ok(Some(pb))
            })?
            .map_err(status)?;
        exposure
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("participant {participant} not found")))
    }

    async fn top_participants(
        &self,
        req: Request<pb::TopParticipantsRequest>,
    ) -> Result<Response<pb::TopParticipantsResponse>, Status> {
        let n = match req.get_ref().limit {
            0 => 10,
            n if n <= TOP_MAX => n,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "limit: at most {TOP_MAX}"
                )))
            }
        };
        let by = pb::TopBy::try_from(req.get_ref().by)
            .map_err(|_| Status::invalid_argument("by: unknown value"))?;
        if by == pb::TopBy::Stress {
            let last = self
                .0
                .last_stress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let Some(last) = last else {
                return Err(Status::failed_precondition(
                    "no scheduled stress has run yet (it runs every --stress-every-ms)",
                ));
            };
            return Ok(Response::new(pb::TopParticipantsResponse {
                by_stress: last
                    .worst
                    .iter()
                    .take(n as usize)
                    .map(convert::stress_rank_pb)
                    .collect(),
                stress_scenario: last.scenario,
                stress_at_ms: last.at_ms,
                ..Default::default()
            }));
        }
        if by == pb::TopBy::Hf {
            let ranks = self
                .0
                .read(|s| s.top_by_health(n as usize))?
                .map_err(status)?;
            return Ok(Response::new(pb::TopParticipantsResponse {
                by_hf: ranks.into_iter().map(convert::health_rank_pb).collect(),
                ..Default::default()
            }));
        }
        let top = self.0.read(|s| s.top(n as usize))?.map_err(status)?;
        Ok(Response::new(pb::TopParticipantsResponse {
            entries: top.into_iter().map(convert::top_entry_pb).collect(),
            ..Default::default()
        }))
    }

    type WatchAlertsStream = BoxStream<pb::Alert>;

    async fn watch_alerts(
        &self,
        req: Request<pb::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        let after = req.into_inner().after_seq;
        // Alerts are raised where changes are answered: on a cluster, the
        // leader. A follower refuses the stream naming the leader, and a
        // stream ends (UNAVAILABLE, naming the new leader if known) when
        // its node stops leading, rather than going silent.
        self.0.current().await?;
        let cluster = self.0.cluster.clone();
        let (held, mut rx) = self.0.alerts.subscribe_after(after);
        let mut stopping = self.0.stopping.clone();
        let (tx, out) = mpsc::channel(STREAM_BUFFER);
        let open = self
            .0
            .metrics
            .stream_opened(crate::metrics::StreamKind::WatchAlerts);
        tokio::spawn(async move {
            let _open = open;
            for alert in held {
                if tx.send(Ok(alert)).await.is_err() {
                    return;
                }
            }
            loop {
                let alert = tokio::select! {
                    a = rx.recv() => a,
                    // Stopping (SIGTERM): the watcher is told, so that it
                    // opens the stream again elsewhere (on a cluster, the
                    // next leader) after the last alert it saw.
                    _ = stopping.changed() => {
                        let _ = tx
                            .send(Err(Status::unavailable("this node is stopping")))
                            .await;
                        break;
                    }
                    _ = crate::cluster::until_not_leading(cluster.as_deref()) => {
                        let leader = cluster.as_ref().and_then(|n| n.leader());
                        let _ = tx
                            .send(Err(crate::cluster::not_leader(
                                leader.as_ref().map(|l| l.0),
                                leader.map(|l| l.1),
                            )))
                            .await;
                        break;
                    }
                    // The watcher went away: end now, not at the next alert.
                    _ = tx.closed() => break,
                };
                let alert = match alert {
                    Ok(alert) => alert,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => pb::Alert {
                        kind: pb::AlertKind::AlertsDropped.into(),
                        message: format!("this watcher fell behind; {n} alerts were dropped"),
                        ..Default::default()
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                if tx.send(Ok(alert)).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out))))
    }

    async fn get_state_digest(
        &self,
        _req: Request<pb::GetStateDigestRequest>,
    ) -> Result<Response<pb::StateDigest>, Status> {
        let (digest, n) = self.0.read(|s| (s.digest_without_audit(), s.audit_len()))?;
        Ok(Response::new(pb::StateDigest {
            sha256: hex::encode(digest),
            audit_records: n as u64,
        }))
    }

    async fn list_audit(
        &self,
        req: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let r = req.get_ref();
        let n = match r.limit {
            0 => 100,
            n if n <= AUDIT_PAGE_MAX => n,
            _ => {
                return Err(Status::invalid_argument(format!(
                    "limit: at most {AUDIT_PAGE_MAX}"
                )))
            }
        };
        let records = self.0.audit_page(r.after_seq, n as usize).await?;
        Ok(Response::new(pb::ListAuditResponse {
            records: records.into_iter().map(convert::audit_record_pb).collect(),
        }))
    }
}
