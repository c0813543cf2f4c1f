//! What every long-running binary of the pipeline shares, so each has the
//! same operational surface: its TOML configuration read with errors that
//! name the file or key ([`config`]), structured logs through `tracing`
//! ([`init_logging`]), a Prometheus `/metrics` and a `/health` endpoint
//! ([`serve_metrics`]), one shutdown signal for SIGTERM and SIGINT
//! ([`shutdown_signal`]), the systemd readiness and watchdog protocol
//! ([`systemd`]), the machine checks of `validate` ([`preflight`]), and
//! allocator tuning for large buffers ([`alloc`]).
#![deny(missing_docs)]

pub mod alloc;
pub mod cli;
pub mod config;
pub mod preflight;
pub mod systemd;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
pub use prometheus_client;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber: human-readable lines, or JSON
/// objects with `json = true` (for log shippers). `RUST_LOG` filters
/// (default `info`).
pub fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second call (tests) keeps the first subscriber.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Reports whether the binary is healthy, and why not, for `/health`.
pub type HealthCheck = Arc<dyn Fn() -> Health + Send + Sync>;

/// What `/health` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `true` answers 200, `false` 503.
    pub ok: bool,
    /// Component -> state, shown as JSON.
    pub details: Vec<(String, String)>,
}

#[derive(Clone)]
struct Endpoint {
    registry: Arc<Mutex<Registry>>,
    health: HealthCheck,
}

async fn metrics_handler(State(ep): State<Endpoint>) -> impl IntoResponse {
    let mut body = String::new();
    let registry = ep.registry.lock().unwrap_or_else(|p| p.into_inner());
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], e.to_string()),
    }
}

async fn health_handler(State(ep): State<Endpoint>) -> impl IntoResponse {
    let h = (ep.health)();
    let details: serde_json::Map<String, serde_json::Value> = h.details.into_iter().map(|(k, v)| (k, v.into())).collect();
    let body = serde_json::json!({"status": if h.ok { "ok" } else { "unhealthy" }, "details": details}).to_string();
    let code = if h.ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, [(header::CONTENT_TYPE, "application/json")], body)
}

/// Binds `addr` and serves `/metrics` and `/health` until `shutdown` resolves.
/// Returns the bound address (useful with port 0) and the server task.
pub async fn serve_metrics(
    addr: SocketAddr,
    registry: Arc<Mutex<Registry>>,
    health: HealthCheck,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("binding the metrics endpoint to {addr}: {e} (set metrics.listen to a free address)")))?;
    let bound = listener.local_addr()?;
    let app = Router::new().route("/metrics", get(metrics_handler)).route("/health", get(health_handler)).with_state(Endpoint { registry, health });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "metrics endpoint stopped");
        }
    });
    tracing::info!(%bound, "metrics on http://{bound}/metrics, health on http://{bound}/health");
    Ok((bound, task))
}

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT received: shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    #[tokio::test]
    async fn serves_metrics_and_health() {
        let mut registry = Registry::default();
        let c: Counter = Counter::default();
        registry.register("lines_accepted", "Lines accepted", c.clone());
        c.inc_by(3);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let health: HealthCheck = Arc::new(|| Health { ok: false, details: vec![("receiver".into(), "down".into())] });
        let (addr, task) = serve_metrics("127.0.0.1:0".parse().unwrap(), Arc::new(Mutex::new(registry)), health, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let m = get("/metrics").await;
        assert!(m.starts_with("HTTP/1.1 200") && m.contains("lines_accepted_total 3"), "{m}");
        let h = get("/health").await;
        assert!(h.starts_with("HTTP/1.1 503") && h.contains(r#""receiver":"down""#), "{h}");
        tx.send(()).unwrap();
        task.await.unwrap();
    }
}
