//! The listener: accepting connections under the limits of `http.*` that
//! keep slow or numerous clients from exhausting the server.
//!
//! - `max_connections`: connections open at once. At the cap the server stops
//!   accepting (new clients wait in the kernel's backlog) until one closes, so
//!   file descriptors are never exhausted.
//! - `header_read_timeout_secs`: a client must send a request's whole header
//!   within this time, or its connection is closed (a half-sent request line
//!   no longer holds a connection forever).
//! - Body and concurrency limits are per request: see [`stall_guard`] and
//!   [`concurrency_guard`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::config::HttpConfig;

/// How long a graceful shutdown waits for open connections to finish.
const DRAIN_PATIENCE: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting and lets the requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    http: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(http.max_connections.max(1)));
    let header_timeout = Duration::from_secs(http.header_read_timeout_secs.max(1));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // hyper's header timer starts with the first byte: a client that
            // connects and sends nothing is cut here.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            if let Err(e) = watcher.watch(connection).await {
                // A client that hung up or timed out: nothing to answer.
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_PATIENCE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {DRAIN_PATIENCE:?}; closing them");
    }
    Ok(())
}

/// The error a request body's stream ends with when no byte arrived for
/// `http.body_read_timeout_secs`; the handlers answer it with 408.
#[derive(Debug, thiserror::Error)]
#[error("no byte of the request body arrived for {} s (http.body_read_timeout_secs)", .0.as_secs())]
pub struct BodyStalled(pub Duration);

/// True when `e` or one of its sources is [`BodyStalled`].
pub fn is_stalled(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if err.is::<BodyStalled>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// Wraps each request body so that a client which stops sending mid-body
/// is cut off after `http.body_read_timeout_secs` of silence, whatever the
/// request's own deadline (a bulk append may stream for an hour, but not
/// stall for one).
pub async fn stall_guard(
    State(patience): State<Duration>,
    req: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    let req = req.map(|body| {
        let chunks = body.into_data_stream();
        let guarded = futures_util::stream::unfold(Some(chunks), move |chunks| async move {
            let mut chunks = chunks?;
            match tokio::time::timeout(patience, chunks.next()).await {
                Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(chunks))),
                Ok(Some(Err(e))) => Some((Err(axum::BoxError::from(e)), None)),
                Ok(None) => None,
                Err(_) => Some((Err(BodyStalled(patience).into()), None)),
            }
        });
        Body::from_stream(guarded)
    });
    next.run(req).await
}

/// At most `http.max_concurrent_requests` requests run at once; one that
/// cannot start within `http.queue_wait_ms` answers 503 with Retry-After
/// instead of queueing without bound.
#[derive(Clone)]
pub struct Concurrency {
    slots: Arc<Semaphore>,
    wait: Duration,
    max: usize,
}

impl Concurrency {
    pub fn new(http: &HttpConfig) -> Self {
        let max = http.max_concurrent_requests.max(1);
        Concurrency {
            slots: Arc::new(Semaphore::new(max)),
            wait: Duration::from_millis(http.queue_wait_ms),
            max,
        }
    }
}

/// `/health` and `/ready` are exempt: a busy server is alive, and a probe
/// that failed under load would get it restarted when it is needed most.
pub async fn concurrency_guard(
    State(limit): State<Concurrency>,
    req: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    if matches!(req.uri().path(), "/health" | "/ready") {
        return next.run(req).await;
    }
    let slot = tokio::time::timeout(limit.wait, limit.slots.clone().acquire_owned()).await;
    let Ok(Ok(_slot)) = slot else {
        return ApiError::Busy {
            message: format!(
                "the server is answering {} requests already (http.max_concurrent_requests); retry shortly",
                limit.max
            ),
            retry_after_secs: 1,
        }
        .into_response();
    };
    next.run(req).await
}
