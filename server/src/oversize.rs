//! Oversized requests answer RESOURCE_EXHAUSTED, not tonic's OUT_OF_RANGE.
//!
//! tonic's codec refuses a message above `max_decoding_message_size` before
//! any handler runs, with `OUT_OF_RANGE`. Interlock's contract for a request
//! that is too large is `RESOURCE_EXHAUSTED` naming the limit. A unary call
//! that fails to decode is answered "trailers-only": the status sits in the
//! response headers, where [`layer`] rewrites it. On a stream the decode error
//! reaches the handler as an item, and [`status`] rewrites it there.

use tonic::codegen::http::{HeaderValue, Response};
use tonic::{Code, Status};

/// The prefix of tonic's decode-size error (tonic 0.14, `codec/decode.rs`).
const TONIC_DECODE_TOO_LARGE: &str = "Error, decoded message length too large";

fn message(limit: usize) -> String {
    format!("request message larger than max_message_bytes ({limit} bytes)")
}

/// The status for a decode error: an oversized message becomes
/// RESOURCE_EXHAUSTED; anything else passes through unchanged.
pub fn status(s: Status, limit: usize) -> Status {
    if s.code() == Code::OutOfRange && s.message().starts_with(TONIC_DECODE_TOO_LARGE) {
        Status::resource_exhausted(message(limit))
    } else {
        s
    }
}

/// A layer for the whole server that rewrites trailers-only OUT_OF_RANGE
/// answers caused by an oversized request.
pub fn layer<B>(
    limit: usize,
) -> tower::util::MapResponseLayer<impl Fn(Response<B>) -> Response<B> + Clone> {
    tower::util::MapResponseLayer::new(move |mut resp: Response<B>| {
        let headers = resp.headers_mut();
        let oversized = headers
            .get("grpc-status")
            .is_some_and(|v| v.as_bytes() == OUT_OF_RANGE.as_bytes())
            && headers
                .get("grpc-message")
                .is_some_and(|m| percent_decoded(m.as_bytes()).starts_with(TONIC_DECODE_TOO_LARGE));
        if oversized {
            headers.insert("grpc-status", HeaderValue::from_static(RESOURCE_EXHAUSTED));
            if let Ok(v) = HeaderValue::from_str(&message(limit)) {
                headers.insert("grpc-message", v);
            }
        }
        resp
    })
}

/// `Code::OutOfRange` and `Code::ResourceExhausted` as `grpc-status` values.
const OUT_OF_RANGE: &str = "11";
const RESOURCE_EXHAUSTED: &str = "8";

/// Decodes a percent-encoded `grpc-message` (tonic encodes spaces as `%20`).
fn percent_decoded(m: &[u8]) -> String {
    let mut out = Vec::with_capacity(m.len());
    let mut i = 0;
    while i < m.len() {
        let hex = m
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (m[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_tonic() {
        assert_eq!(OUT_OF_RANGE, (Code::OutOfRange as i32).to_string());
        assert_eq!(
            RESOURCE_EXHAUSTED,
            (Code::ResourceExhausted as i32).to_string()
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decoded(b"a%20b%2"), "a b%2");
        assert_eq!(percent_decoded(b"%zz%41"), "%zzA");
    }
}
