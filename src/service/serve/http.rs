//! The metrics and health endpoint (`METRICS_LISTEN` / `LAD_LISTEN`): a minimal HTTP/1.1
//! responder on a tokio `TcpListener`. It answers `GET /metrics` and `GET /healthz` (and
//! `HEAD` of both), one request per connection, then closes it. No web framework: two
//! read-only routes do not need one, and the build stays lean.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::service::serve::metrics::{encode_metrics, Workers};

/// Longest request head read; anything longer gets 431.
const MAX_HEAD: usize = 8192;
/// A client gets this long to send its request and read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;

/// Binds `addr`. Separate from [`serve`] so a port in use is a start-up error.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until the task is aborted (when the service stops).
pub(crate) async fn serve(listener: TcpListener, workers: Workers) {
    let registry = Arc::new(workers.registry());
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let stream = match listener.accept().await {
            Ok((s, _peer)) => s,
            Err(e) => {
                tracing::warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let workers = workers.clone();
        let registry = registry.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                IO_TIMEOUT,
                handle(stream, |path| respond(path, &workers, &registry)),
            )
            .await;
            drop(permit);
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

async fn handle(mut stream: TcpStream, route: impl FnOnce(&str) -> Response) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_complete = loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        if buf.len() > MAX_HEAD {
            break false;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break !buf.is_empty(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
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
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}
