//! Requests that are not valid protobuf answer INVALID_ARGUMENT on every
//! method, over real gRPC: raw bytes sent with a codec that does no
//! encoding of its own. INTERNAL would tell a client the server is broken.

mod common;
use common::*;
use prost::bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Status};

/// Sends its bytes as they are; reads an answer's bytes as they are.
#[derive(Debug, Clone, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Unary,
    ClientStream,
    ServerStream,
}

/// Every method a client may call, with the token it needs and, where the
/// request has one, the tag of a string field.
const METHODS: &[(&str, &str, Shape, Option<u8>)] = &[
    (
        "/interlock.v1.PreTradeService/Check",
        "dev-venue-a",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.PreTradeService/CheckStream",
        "dev-venue-a",
        Shape::ClientStream,
        Some(1),
    ),
    (
        "/interlock.v1.PreTradeService/Commit",
        "dev-venue-a",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.PreTradeService/Release",
        "dev-venue-a",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.PositionService/Sync",
        "dev-broker",
        Shape::ClientStream,
        None,
    ),
    (
        "/interlock.v1.PositionService/GetSyncState",
        "dev-broker",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.v1.AdminService/SetLimit",
        "dev-admin",
        Shape::Unary,
        Some(3),
    ),
    (
        "/interlock.v1.AdminService/DeleteLimit",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.AdminService/ListLimits",
        "dev-admin",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.v1.AdminService/SetTradingState",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.AdminService/GetExposure",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.AdminService/TopParticipants",
        "dev-admin",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.v1.AdminService/WatchAlerts",
        "dev-admin",
        Shape::ServerStream,
        None,
    ),
    (
        "/interlock.v1.AdminService/ListAudit",
        "dev-admin",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.v1.AdminService/GetStateDigest",
        "dev-admin",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.v1.AdminService/SetAssetClass",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.AdminService/ListPrices",
        "dev-admin",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.v1.AdminService/SetVenueAsset",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.AdminService/SetHaircut",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.AdminService/SetStressShock",
        "dev-admin",
        Shape::Unary,
        Some(2),
    ),
    (
        "/interlock.v1.AdminService/SetVenueRule",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.AdminService/ListVenues",
        "dev-admin",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.v1.AdminService/GetHealth",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.AdminService/SetScenario",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.AdminService/SetStressGuard",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.AnalyticsService/Stress",
        "dev-admin",
        Shape::Unary,
        Some(3),
    ),
    (
        "/interlock.v1.AnalyticsService/Cascade",
        "dev-admin",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.v1.AnalyticsService/ListScenarios",
        "dev-admin",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.v1.AnalyticsService/Systemic",
        "dev-admin",
        Shape::ServerStream,
        None,
    ),
    (
        "/interlock.v1.AnalyticsService/ReuseReport",
        "dev-admin",
        Shape::Unary,
        Some(1),
    ),
    (
        "/interlock.v1.PriceService/Publish",
        "dev-oracle",
        Shape::ClientStream,
        None,
    ),
    (
        "/interlock.v1.PriceService/GetPublishState",
        "dev-oracle",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.cluster.v1.ClusterService/GetClusterStatus",
        "dev-admin",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.cluster.v1.ClusterService/AddNode",
        "dev-admin",
        Shape::Unary,
        None,
    ),
    (
        "/interlock.cluster.v1.ClusterService/RemoveNode",
        "dev-admin",
        Shape::Unary,
        None,
    ),
];

/// The list above is every method of every service the server serves on
/// its API port (the bench echo service is served only with
/// `--echo-floor`; `RaftService` only on a cluster node's cluster port,
/// where its payloads are decoded by the replication codec, whose damage
/// tests are in `interlock-replication`): a new method cannot be left out
/// of this test.
#[test]
fn every_served_method_is_listed() {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(interlock::FILE_DESCRIPTOR_SET).unwrap();
    let mut served: Vec<String> = set
        .file
        .iter()
        .flat_map(|f| {
            let package = f.package().to_owned();
            f.service.iter().flat_map(move |svc| {
                let package = package.clone();
                svc.method
                    .iter()
                    .map(move |m| format!("/{package}.{}/{}", svc.name(), m.name()))
            })
        })
        .filter(|m| !m.contains("BenchEchoService") && !m.contains("RaftService"))
        .collect();
    served.sort();
    let mut listed: Vec<String> = METHODS.iter().map(|m| m.0.to_owned()).collect();
    listed.sort();
    assert_eq!(listed, served);
}

/// A participant id that is not UTF-8, inside a sync's collateral update
/// (SyncRequest.updates → SyncUpdate.collateral → participant).
const SYNC_NOT_UTF8: &[u8] = &[0x08, 0x01, 0x12, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe];

fn payloads(string_tag: Option<u8>) -> Vec<(&'static str, Vec<u8>)> {
    let mut p = vec![
        // Field 1, length-delimited, 5 bytes announced, 1 there.
        ("truncated", vec![0x0a, 0x05, 0x41]),
        // Field 1 as a varint of eleven bytes: no varint is that long.
        (
            "bad varint",
            vec![
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        ),
    ];
    if let Some(tag) = string_tag {
        // The example: a string field that is not UTF-8, then
        // valid fields after it.
        let mut bytes = vec![(tag << 3) | 2, 0x02, 0xff, 0xfe];
        if tag == 1 {
            bytes.extend([0x12, 0x01, b'p', 0x1a, 0x01, b'A', 0x22, 0x01, b'1']);
        }
        p.push(("not UTF-8", bytes));
        // The same string field sent as a varint: a wrong wire type.
        p.push(("wrong wire type", vec![tag << 3, 0x01]));
    }
    p
}

async fn call(
    endpoint: &str,
    path: &'static str,
    token: &str,
    shape: Shape,
    body: Vec<u8>,
) -> Status {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let bearer: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    let path = PathAndQuery::from_static(path);
    let result = match shape {
        Shape::Unary => {
            let mut req = Request::new(body);
            req.metadata_mut().insert("authorization", bearer);
            grpc.unary(req, path, Raw).await.map(|_| ())
        }
        Shape::ClientStream => {
            let mut req = Request::new(tokio_stream::iter(vec![body]));
            req.metadata_mut().insert("authorization", bearer);
            match grpc.streaming(req, path, Raw).await {
                Ok(resp) => resp.into_inner().message().await.map(|_| ()),
                Err(s) => Err(s),
            }
        }
        Shape::ServerStream => {
            let mut req = Request::new(body);
            req.metadata_mut().insert("authorization", bearer);
            match grpc.server_streaming(req, path, Raw).await {
                Ok(resp) => resp.into_inner().message().await.map(|_| ()),
                Err(s) => Err(s),
            }
        }
    };
    result.expect_err("an undecodable request must be refused")
}

#[tokio::test]
async fn undecodable_requests_are_invalid_argument_on_every_method() {
    let s = start_server().await;
    for &(path, token, shape, string_tag) in METHODS {
        let mut cases = payloads(string_tag);
        if path.ends_with("/Sync") {
            cases.push(("not UTF-8", SYNC_NOT_UTF8.to_vec()));
        }
        for (what, body) in cases {
            let status = call(&s.endpoint, path, token, shape, body).await;
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{path}, {what}: {status:?}"
            );
            assert!(
                status
                    .message()
                    .starts_with("request is not a valid protobuf message"),
                "{path}, {what}: {}",
                status.message()
            );
        }
    }
    // The server still answers well-formed requests afterwards.
    own(&s, "fund", "10").await;
}
