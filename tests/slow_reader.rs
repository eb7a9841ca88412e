//! A CheckStream client that sends and does not read its answers is slowed
//! by flow control, never disconnected: every message is answered once it
//! reads, and the connection stays up.
//!
//! The client is raw HTTP/2 (h2), sending each check as its own DATA frame
//! as grpcio does. Small frames buffered by the server count against h2's
//! budget for framing overhead; with a large stream window that budget ran
//! out first and the whole connection was closed (`GOAWAY
//! ENHANCE_YOUR_CALM too_many_data_frames`) after about 2,400 frames.

mod common;
use std::time::Duration;

use common::*;
use interlock_client::pb;
use prost::Message;

/// More checks than the answers the client's window, the server's stream
/// buffers and h2's frame budget (about 2,400 small frames) hold together.
const CHECKS: usize = 12_000;

fn framed(msg: &impl Message) -> prost::bytes::Bytes {
    let body = msg.encode_to_vec();
    let mut out = Vec::with_capacity(5 + body.len());
    out.push(0);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_stream_that_does_not_read_is_slowed_not_disconnected() {
    let mut config = interlock_server::Config::dev_for_tests();
    config.durability = interlock_server::Durability::None;
    config.rate_limit_per_sec = 0;
    let s = start_with(config).await;
    own(&s, "fund", "100000000").await;

    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let conn = tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://{}/interlock.v1.PreTradeService/CheckStream",
            s.addr
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", "Bearer dev-venue-a")
        .body(())
        .unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();

    // Send everything, one DATA frame per check, as the window allows,
    // without reading a single answer.
    let sender = tokio::spawn(async move {
        for i in 0..CHECKS {
            let frame = framed(&pb::CheckRequest {
                order_id: format!("o{i}"),
                participant: "fund".into(),
                asset: "ETH".into(),
                quantity: "1".into(),
                // No reservation: the participant's cap on open ones
                // (10,000) is not what this test is about.
                dry_run: true,
                ..Default::default()
            });
            send.reserve_capacity(frame.len());
            while send.capacity() < frame.len() {
                match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                    Some(Ok(_)) => {}
                    other => return Err(format!("no capacity at check {i}: {other:?}")),
                }
            }
            send.send_data(frame, false).map_err(|e| e.to_string())?;
        }
        send.send_data(Default::default(), true)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    });
    // The sender stalls on flow control; the connection must stay up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !conn.is_finished(),
        "the connection ended while the client was not reading: {:?}",
        conn.await
    );

    // Now read: every check gets its answer, in order.
    let mut body = response.await.unwrap().into_body();
    let mut buf = Vec::new();
    let mut answered = 0;
    let read_all = async {
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            buf.extend_from_slice(&chunk);
            while buf.len() >= 5 {
                let len = u32::from_be_bytes(buf[1..5].try_into().unwrap()) as usize;
                if buf.len() < 5 + len {
                    break;
                }
                let msg = pb::CheckStreamResponse::decode(&buf[5..5 + len]).unwrap();
                assert_eq!(msg.order_id, format!("o{answered}"));
                match msg.result {
                    Some(pb::check_stream_response::Result::Response(r)) => {
                        assert_eq!(r.verdict(), pb::Verdict::Approved, "o{answered}")
                    }
                    other => panic!("o{answered}: {other:?}"),
                }
                buf.drain(..5 + len);
                answered += 1;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read_all)
        .await
        .expect("answers within a minute");
    assert_eq!(answered, CHECKS);
    sender.await.unwrap().unwrap();
    drop(client);
    s.stop().await;
}
