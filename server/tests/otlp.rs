//! Traces over OTLP: the real binary with `--otlp-endpoint` pointing at an
//! OTLP/gRPC receiver in this test. A check that carries a W3C
//! `traceparent` is exported as a server span in the caller's trace, child
//! of the caller's span, with the RPC's name and status.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interlock_client::pb;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut got = self.0.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            for ss in rs.scope_spans {
                got.extend(ss.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn a_check_is_a_span_in_the_callers_trace() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_interlock-server"))
        .args([
            "--dev",
            "--listen",
            "127.0.0.1:0",
            "--ops-listen",
            "off",
            "--durability",
            "none",
            "--log-format",
            "json",
            "--otlp-endpoint",
        ])
        .arg(format!("http://{collector}"))
        .env("RUST_LOG", "info")
        // Export every 100 ms rather than every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["fields"]["message"] == "interlock serving" {
                return v["fields"]["addr"].as_str().unwrap().to_owned();
            }
        }
        panic!("the server exited before serving");
    })
    .await
    .expect("serving within 60 s");
    // Keep reading the log so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut venue = pb::pre_trade_service_client::PreTradeServiceClient::new(channel);
    let mut req = tonic::Request::new(pb::CheckRequest {
        order_id: "traced-1".into(),
        participant: "p1".into(),
        asset: "ETH".into(),
        quantity: "1".into(),
        ..Default::default()
    });
    req.metadata_mut()
        .insert("authorization", "Bearer dev-venue-a".parse().unwrap());
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{PARENT_ID}-01").parse().unwrap(),
    );
    let answer = venue.check(req).await.unwrap().into_inner();
    assert_eq!(answer.verdict(), pb::Verdict::Rejected, "no collateral");

    let span = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let found = receiver
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|s| s.name.ends_with("PreTradeService/Check"))
                .cloned();
            if let Some(s) = found {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the check's span exported within 30 s");
    assert_eq!(hex(&span.trace_id), TRACE_ID);
    assert_eq!(hex(&span.parent_span_id), PARENT_ID);
    assert_eq!(span.name, "interlock.v1.PreTradeService/Check");
    let attr = |k: &str| {
        span.attributes
            .iter()
            .find(|a| a.key == k)
            .and_then(|a| a.value.clone())
            .and_then(|v| v.value)
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    assert_eq!(attr("rpc.system"), Some(Value::StringValue("grpc".into())));
    assert_eq!(attr("rpc.method"), Some(Value::StringValue("Check".into())));
    assert_eq!(attr("rpc.grpc.status_code"), Some(Value::IntValue(0)));
    // SERVER kind (2 in OTLP).
    assert_eq!(span.kind, 2);

    let pid = child.id().unwrap().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits within 30 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}
