//! `PreTradeService`: a venue's checks, commits and releases, one at a
//! time or on a stream.

use super::*;

/// `PreTradeService`.
#[derive(Debug, Clone)]
pub struct PreTradeApi(pub Shared);

impl PreTradeApi {
    /// Judges a check now; the answer waits for the journal.
    fn settle_check(
        &self,
        venue: &domain::VenueId,
        req: pb::CheckRequest,
    ) -> Result<Settled<pb::CheckResponse>, Status> {
        let request = convert::check_request(req)?;
        let pending = self.0.apply_now(Command::Check {
            at_ms: self.0.clock.now_ms(),
            venue: venue.clone(),
            request,
        });
        let metrics = self.0.metrics.clone();
        Ok(self.0.settle(pending, move |outcome| match outcome {
            Outcome::Check(answer) => {
                metrics.check(answer.verdict, answer.reason.as_ref().map(|r| r.code));
                Ok(convert::check_response(answer))
            }
            _ => Err(mismatch()),
        }))
    }

    /// A stream's check, as a future of its own.
    fn check_one(
        &self,
        venue: &domain::VenueId,
        req: pb::CheckRequest,
    ) -> Answer<pb::CheckResponse> {
        let settled = self.settle_check(venue, req);
        let shared = self.0.clone();
        Box::pin(async move { shared.finish_settled(settled?).await })
    }

    async fn end(
        &self,
        venue: domain::VenueId,
        id: &str,
        commit: bool,
    ) -> Result<domain::ReservationAnswer, Status> {
        let reservation = convert::reservation_id(id)?;
        let at_ms = self.0.clock.now_ms();
        let cmd = if commit {
            Command::Commit {
                at_ms,
                venue,
                reservation,
            }
        } else {
            Command::Release {
                at_ms,
                venue,
                reservation,
            }
        };
        match self.0.apply(cmd).await? {
            Outcome::Reservation(r) => Ok(r),
            _ => Err(mismatch()),
        }
    }
}

#[tonic::async_trait]
impl pb::pre_trade_service_server::PreTradeService for PreTradeApi {
    async fn check(
        &self,
        req: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let venue = venue_of(&req)?;
        // Not through `check_one`: no future boxed per check besides the
        // trait's own.
        let settled = self.settle_check(&venue, req.into_inner())?;
        self.0.finish_settled(settled).await.map(Response::new)
    }

    type CheckStreamStream = BoxStream<pb::CheckStreamResponse>;

    async fn check_stream(
        &self,
        req: Request<Streaming<pb::CheckRequest>>,
    ) -> Result<Response<Self::CheckStreamStream>, Status> {
        let venue = venue_of(&req)?;
        let api = self.clone();
        let who = format!("venue:{venue}");
        let answers = pump(
            req.into_inner(),
            &self.0,
            crate::metrics::StreamKind::CheckStream,
            move |r: pb::CheckRequest| {
                let order_id = r.order_id.clone();
                let answer = match api.0.limiter.admit(&who) {
                    Ok(()) => api.check_one(&venue, r),
                    Err(e) => Box::pin(std::future::ready(Err(e))),
                };
                Box::pin(async move {
                    let result = match answer.await {
                        Ok(resp) => pb::check_stream_response::Result::Response(resp),
                        Err(s) => {
                            pb::check_stream_response::Result::Error(convert::stream_error(&s))
                        }
                    };
                    // A bad request is answered inline; the stream goes on.
                    Ok(pb::CheckStreamResponse {
                        order_id,
                        result: Some(result),
                    })
                })
            },
        );
        Ok(Response::new(answers))
    }

    async fn commit(
        &self,
        req: Request<pb::CommitRequest>,
    ) -> Result<Response<pb::CommitResponse>, Status> {
        let venue = venue_of(&req)?;
        let r = self.end(venue, &req.get_ref().reservation_id, true).await?;
        Ok(Response::new(convert::commit_response(r)))
    }

    async fn release(
        &self,
        req: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        let venue = venue_of(&req)?;
        let r = self
            .end(venue, &req.get_ref().reservation_id, false)
            .await?;
        Ok(Response::new(convert::release_response(r)))
    }
}
