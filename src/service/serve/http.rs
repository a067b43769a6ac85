//! The metrics and health endpoint (`METRICS_LISTEN` / `LAD_LISTEN`): a minimal HTTP/1.1
//! responder on a tokio `TcpListener`. It answers `GET /metrics` and `GET /healthz` (and
//! `HEAD` of both), one request per connection, then closes it. No web framework: two
//! read-only routes do not need one, and the build stays lean.
//!
//! Idle or slow clients must not make `/healthz` fail: every connection is served by its own
//! task as soon as it is accepted, a client that has not sent its request head within
//! [`HEAD_TIMEOUT`] is dropped, and only past [`MAX_OPEN`] connections at once are new ones
//! refused (closed at once, so a prober sees an error instead of a hang).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::service::serve::metrics::{encode_metrics, Workers};

/// Longest request head read; anything longer gets 431.
const MAX_HEAD: usize = 8192;
/// A client gets this long to send its request head; then the connection is closed.
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// And this long to read the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections open at once; past it new connections are closed without an answer.
const MAX_OPEN: usize = 1024;

/// Binds `addr`. Separate from [`serve`] so a port in use is a start-up error.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until the task is aborted (when the service stops).
pub(crate) async fn serve(listener: TcpListener, workers: Workers) {
    let registry = workers.registry();
    serve_routes(
        listener,
        Arc::new(move |path: &str| respond(path, &workers, &registry)),
    )
    .await
}

/// Maps a request path to its response.
type Route = Arc<dyn Fn(&str) -> Response + Send + Sync>;

/// The accept loop: one task per connection, bounded by [`MAX_OPEN`].
async fn serve_routes(listener: TcpListener, route: Route) {
    let open = Arc::new(Semaphore::new(MAX_OPEN));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _peer)) => s,
            Err(e) => {
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = open.clone().try_acquire_owned() else {
            tracing::debug!("metrics endpoint: {MAX_OPEN} connections open; refusing one");
            drop(stream);
            continue;
        };
        let route = route.clone();
        tokio::spawn(async move {
            handle(stream, |path| route(path)).await;
            drop(slot);
        });
    }
}

struct Response {
    status: &'static str,
    content_type: &'static str,
    body: String,
}

fn respond(
    path: &str,
    workers: &Workers,
    registry: &prometheus_client::registry::Registry,
) -> Response {
    match path {
        "/metrics" => Response {
            status: "200 OK",
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body: encode_metrics(registry),
        },
        "/healthz" => {
            let (ok, body) = workers.health();
            Response {
                status: if ok {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                },
                content_type: "application/json",
                body,
            }
        }
        _ => text("404 Not Found", "not found: try /metrics or /healthz\n"),
    }
}

fn text(status: &'static str, body: &str) -> Response {
    Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.to_string(),
    }
}

/// Reads the request head; `None` when the client sent nothing usable in time.
async fn read_head(stream: &mut TcpStream) -> Option<(Vec<u8>, bool)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let complete = loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        if buf.len() > MAX_HEAD {
            break false;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) if buf.is_empty() => return None,
            Ok(0) | Err(_) => break true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    Some((buf, complete))
}

async fn handle(mut stream: TcpStream, route: impl FnOnce(&str) -> Response) {
    let Ok(Some((buf, head_complete))) =
        tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await
    else {
        return;
    };
    let (resp, head_only) = if !head_complete {
        (
            text("431 Request Header Fields Too Large", "request too large\n"),
            false,
        )
    } else {
        let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("");
        let target = parts.next().unwrap_or("");
        let path = target.split('?').next().unwrap_or("");
        match method {
            "GET" => (route(path), false),
            "HEAD" => (route(path), true),
            _ => (text("405 Method Not Allowed", "only GET and HEAD\n"), false),
        }
    };
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        resp.status,
        resp.content_type,
        resp.body.len()
    );
    let mut out = head.into_bytes();
    if !head_only {
        out.extend_from_slice(resp.body.as_bytes());
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
        let _ = stream.write_all(&out).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    async fn start() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let route: Route = Arc::new(|path: &str| text("200 OK", &format!("at {path}\n")));
        tokio::spawn(serve_routes(listener, route));
        addr
    }

    /// 200 idle connections (more than the old limit of 64, which made a prober wait in
    /// the backlog until they timed out) do not delay an answer: it arrives while they are
    /// all still open, i.e. before any of them reached HEAD_TIMEOUT.
    #[tokio::test]
    async fn idle_connections_do_not_block_healthz() {
        let addr = start().await;
        let mut idle = Vec::new();
        for _ in 0..200 {
            idle.push(TcpStream::connect(addr).await.expect("idle connect"));
        }
        let answer = tokio::time::timeout(HEAD_TIMEOUT / 2, get(addr, "/healthz"))
            .await
            .expect("answered while 200 idle connections are open");
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("at /healthz\n"), "{answer}");
        // The idle ones are closed by the server after HEAD_TIMEOUT.
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(HEAD_TIMEOUT * 3, idle[0].read(&mut buf))
            .await
            .expect("idle connection closed by the server")
            .unwrap_or(0);
        assert_eq!(n, 0, "an idle connection got bytes instead of a close");
    }

    #[tokio::test]
    async fn unknown_method_and_oversized_head_are_refused() {
        let addr = start().await;
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"POST /metrics HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        assert!(out.starts_with("HTTP/1.1 405"), "{out}");

        let mut s = TcpStream::connect(addr).await.expect("connect");
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD + 10));
        s.write_all(long.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    }
}
