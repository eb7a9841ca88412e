//! Accepted connections: TCP_NODELAY, a deadline for the client's first
//! bytes, and a cap on how many are open at once.
//!
//! hyper waits for an HTTP/2 preface as long as the socket stays open, and
//! tonic's TLS handshake timeout covers only TLS: a plaintext connection that
//! never sent a byte stayed open indefinitely, and nothing bounded how many
//! such sockets a client could hold. [`incoming`] closes a connection that
//! has not sent [`PREFACE_LEN`] bytes within `--preface-timeout-ms`, and
//! refuses connections beyond `--max-connections` (accepted, then closed at
//! once, so the client sees it rather than hanging in the backlog).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bytes a client must send before its deadline: the HTTP/2 connection
/// preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`); a TLS ClientHello is longer.
pub const PREFACE_LEN: usize = 24;

/// After a failed `accept` (out of file descriptors, say), the listener
/// waits this long before trying again rather than spinning.
const ACCEPT_RETRY_MS: u64 = 50;

/// At most one "connection refused at the cap" line per this period.
const REFUSED_LOG_EVERY: Duration = Duration::from_secs(1);

/// What bounds accepted connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub preface_timeout: Duration,
    pub max_connections: usize,
}

/// Connections accepted from `listener` within `limits`. The listener is
/// closed as soon as the server drops the stream (it stops accepting).
pub fn incoming(listener: TcpListener, limits: ConnLimits) -> ReceiverStream<io::Result<Conn>> {
    let (tx, rx) = mpsc::channel(1);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    tokio::spawn(async move {
        let mut refused = 0u64;
        let mut last_log = Instant::now() - REFUSED_LOG_EVERY;
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = tx.closed() => return,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
                    continue;
                }
            };
            let Ok(permit) = open.clone().try_acquire_owned() else {
                refused += 1;
                if last_log.elapsed() >= REFUSED_LOG_EVERY {
                    tracing::warn!(
                        refused,
                        max_connections = limits.max_connections,
                        "connections refused: --max-connections are open"
                    );
                    last_log = Instant::now();
                    refused = 0;
                }
                drop(stream);
                continue;
            };
            if let Err(e) = stream.set_nodelay(true) {
                tracing::warn!(error = %e, "could not set TCP_NODELAY");
            }
            let conn = Conn {
                stream,
                deadline: Some(Box::pin(tokio::time::sleep(limits.preface_timeout))),
                seen: 0,
                _permit: permit,
            };
            if tx.send(Ok(conn)).await.is_err() {
                return;
            }
        }
    });
    ReceiverStream::new(rx)
}

/// An accepted connection: holds its place under the cap until dropped,
/// and fails its reads once the deadline for the first bytes has passed.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    /// Until [`PREFACE_LEN`] bytes have arrived.
    deadline: Option<Pin<Box<Sleep>>>,
    seen: usize,
    _permit: OwnedSemaphorePermit,
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.deadline.is_some() {
                    this.seen += buf.filled().len() - before;
                    if this.seen >= PREFACE_LEN {
                        this.deadline = None;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let late = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if late {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client sent no HTTP/2 preface within --preface-timeout-ms",
                    )));
                }
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
