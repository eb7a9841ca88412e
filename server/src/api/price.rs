//! `PriceService`: an oracle's sequenced stream of quotes.

use super::*;

/// `PriceService`.
#[derive(Debug, Clone)]
pub struct PriceApi(pub Shared);

fn oracle_of<T>(req: &Request<T>) -> Result<domain::OracleId, Status> {
    domain::OracleId::new(&principal(req)?.id)
        .map_err(|_| Status::permission_denied("principal id is not an oracle id"))
}

impl PriceApi {
    /// Applies a price message now; the ack waits for the journal.
    fn publish_one(
        &self,
        oracle: &domain::OracleId,
        msg: pb::PublishRequest,
    ) -> Answer<pb::PublishAck> {
        let pending = convert::price_batch(msg)
            .map_err(Status::from)
            .map(|batch| {
                self.0.apply_now(Command::PublishPrices {
                    at_ms: self.0.clock.now_ms(),
                    oracle: oracle.clone(),
                    batch,
                })
            });
        let shared = self.0.clone();
        Box::pin(async move {
            match shared.finish(pending?).await? {
                Outcome::Prices(domain::PriceAnswer::Applied { sequence, verdicts }) => {
                    Ok(convert::publish_ack(sequence, verdicts))
                }
                Outcome::Prices(domain::PriceAnswer::Gap { expected, got }) => {
                    Err(Status::failed_precondition(format!(
                        "sequence gap: expected sequence {expected}, got {got}; nothing of this message was applied"
                    )))
                }
                _ => Err(mismatch()),
            }
        })
    }
}

#[tonic::async_trait]
impl pb::price_service_server::PriceService for PriceApi {
    type PublishStream = BoxStream<pb::PublishAck>;

    async fn publish(
        &self,
        req: Request<Streaming<pb::PublishRequest>>,
    ) -> Result<Response<Self::PublishStream>, Status> {
        let oracle = oracle_of(&req)?;
        let api = self.clone();
        // Any error ends the stream: the oracle resumes from the sequence
        // the error names.
        let acks = pump(
            req.into_inner(),
            &self.0,
            crate::metrics::StreamKind::Publish,
            move |m| api.publish_one(&oracle, m),
        );
        Ok(Response::new(acks))
    }

    async fn get_publish_state(
        &self,
        req: Request<pb::GetPublishStateRequest>,
    ) -> Result<Response<pb::PublishState>, Status> {
        let oracle = oracle_of(&req)?;
        // Where an oracle resumes: the leader's, never a follower's that
        // may lag behind it.
        self.0.current().await?;
        let last = self.0.read(|s| s.oracle_sequence(&oracle))?;
        Ok(Response::new(pb::PublishState {
            oracle: oracle.to_string(),
            last_applied_sequence: last,
        }))
    }
}
