//! `PositionService`: a broker's sequenced sync of what participants own,
//! commit and owe.

use super::*;

/// `PositionService`.
#[derive(Debug, Clone)]
pub struct PositionApi(pub Shared);

fn broker_of<T>(req: &Request<T>) -> Result<domain::BrokerId, Status> {
    domain::BrokerId::new(&principal(req)?.id)
        .map_err(|_| Status::permission_denied("principal id is not a broker id"))
}

impl PositionApi {
    /// Applies a sync message now; the ack waits for the journal.
    fn sync_one(&self, broker: &domain::BrokerId, msg: pb::SyncRequest) -> Answer<pb::SyncAck> {
        let pending = convert::sync_batch(msg)
            .map_err(Status::from)
            .and_then(|batch| {
                if let Err(status) = self.0.broker_scopes.check(broker.as_str(), &batch) {
                    self.0.denials.record(
                        &format!("broker:{broker}"),
                        "interlock.v1.PositionService/Sync",
                        &status,
                    );
                    return Err(status);
                }
                Ok(batch)
            })
            .map(|batch| {
                self.0.apply_now(Command::Sync {
                    at_ms: self.0.clock.now_ms(),
                    broker: broker.clone(),
                    batch,
                })
            });
        let shared = self.0.clone();
        Box::pin(async move {
            match shared.finish(pending?).await? {
                Outcome::Sync(domain::SyncAnswer::Applied { sequence }) => Ok(pb::SyncAck { applied_sequence: sequence }),
                Outcome::Sync(domain::SyncAnswer::Gap { expected, got }) => Err(Status::failed_precondition(format!(
                    "sequence gap: expected sequence {expected}, got {got}; checks on this broker's participants fail closed until {expected} arrives"
                ))),
                _ => Err(mismatch()),
            }
        })
    }
}

#[tonic::async_trait]
impl pb::position_service_server::PositionService for PositionApi {
    type SyncStream = BoxStream<pb::SyncAck>;

    async fn sync(
        &self,
        req: Request<Streaming<pb::SyncRequest>>,
    ) -> Result<Response<Self::SyncStream>, Status> {
        let broker = broker_of(&req)?;
        let api = self.clone();
        // Any error ends the stream: the broker resumes from the sequence
        // the error names.
        let acks = pump(
            req.into_inner(),
            &self.0,
            crate::metrics::StreamKind::Sync,
            move |m| api.sync_one(&broker, m),
        );
        Ok(Response::new(acks))
    }

    async fn get_sync_state(
        &self,
        req: Request<pb::GetSyncStateRequest>,
    ) -> Result<Response<pb::SyncState>, Status> {
        let broker = broker_of(&req)?;
        // Where a broker resumes: the leader's, never a follower's that may
        // lag behind it.
        self.0.current().await?;
        let b = self
            .0
            .read(|s| s.broker(&broker).cloned())?
            .unwrap_or_default();
        Ok(Response::new(pb::SyncState {
            broker: broker.to_string(),
            last_applied_sequence: b.last_seq,
            gapped: b.gapped,
            last_seen_ms: b.last_seen_ms,
        }))
    }
}
