//! The gRPC floor (`--echo-floor`): `BenchEchoService` answers every check
//! with a fixed approval of the same size as a real one, touching no
//! ledger, no journal and no auth. Benchmarks quote Interlock's cost as a
//! ratio to this, measured on the same machine with the same runtime.

use interlock::v1 as pb;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

#[derive(Debug, Clone, Default)]
pub struct Echo;

fn answer(r: pb::CheckRequest) -> pb::CheckResponse {
    pb::CheckResponse {
        order_id: r.order_id,
        verdict: pb::Verdict::Approved.into(),
        reservation_id: "R1000000".into(),
        approved_quantity: r.quantity,
        expires_at_ms: 1_800_000_000_000,
        reason: None,
        headroom: pb::HeadroomBucket::High.into(),
        dry_run: r.dry_run,
    }
}

type EchoStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<pb::CheckStreamResponse, Status>> + Send>,
>;

#[tonic::async_trait]
impl pb::bench_echo_service_server::BenchEchoService for Echo {
    async fn check(
        &self,
        req: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        Ok(Response::new(answer(req.into_inner())))
    }

    type CheckStreamStream = EchoStream;

    async fn check_stream(
        &self,
        req: Request<Streaming<pb::CheckRequest>>,
    ) -> Result<Response<Self::CheckStreamStream>, Status> {
        let out = req.into_inner().map(|r| {
            r.map(|r| pb::CheckStreamResponse {
                order_id: r.order_id.clone(),
                result: Some(pb::check_stream_response::Result::Response(answer(r))),
            })
        });
        Ok(Response::new(Box::pin(out)))
    }
}

/// Serves only the echo service until `shutdown`, with the server's
/// transport settings ([`crate::transport`]: the same deadline, limits and
/// keep-alive), but none of Interlock's own layers.
pub async fn serve_floor(
    config: &crate::Config,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        listener.local_addr()?.ip().is_loopback(),
        "--echo-floor is a benchmark tool: loopback only"
    );
    tracing::warn!("ECHO FLOOR: serving only the benchmark echo service (no ledger, no auth)");
    crate::transport(config)
        .add_service(pb::bench_echo_service_server::BenchEchoServiceServer::new(
            Echo,
        ))
        .serve_with_incoming_shutdown(crate::incoming(listener, config), shutdown)
        .await?;
    Ok(())
}
