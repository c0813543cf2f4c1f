//! Starting and stopping: the stores, the API listener, the dashboard's
//! poller, the metrics endpoint and a background health probe, all ended
//! by one shutdown future; and the [`router`] that joins the API, the
//! dashboard's stream and its page into one application.
//!
//! Shutdown order: the signal closes the stream hub first (every open
//! dashboard's event stream ends, otherwise graceful shutdown would wait on
//! them forever), then the listener stops accepting and in-flight requests
//! finish, then the metrics endpoint stops.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use axum::Router;
use clickstream_telemetry::{Health, HealthCheck};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::stores::cql::CqlStore;
use crate::stores::mysql::MysqlStore;

/// How often the background probe refreshes `/health` of the metrics endpoint.
const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// Serves until `shutdown` resolves.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    let cfg = Arc::new(cfg);
    let metrics = Metrics::new();
    let state = AppState {
        mysql: MysqlStore::new(&cfg.mysql),
        cql: CqlStore::new(&cfg.cassandra, &cfg.speed),
        metrics: metrics.clone(),
        hub: Hub::new(),
        cfg: cfg.clone(),
    };

    let listener = TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("binding the API to {} (set http.listen to a free address)", cfg.http.listen))?;
    let bound: SocketAddr = listener.local_addr()?;

    let health = Arc::new(Mutex::new(Health { ok: false, details: vec![("stores".into(), "not checked yet".into())] }));
    let metrics_task = match cfg.metrics.listen {
        Some(addr) => {
            let h = health.clone();
            let check: HealthCheck = Arc::new(move || h.lock().unwrap_or_else(|p| p.into_inner()).clone());
            let (_, task) = clickstream_telemetry::serve_metrics(addr, metrics.registry.clone(), check, stopped()).await?;
            Some(task)
        }
        None => None,
    };
    let service = clickstream_telemetry::systemd::Service::from_env();
    tokio::spawn(probe(state.clone(), health, service.progress(), stopped()));
    let poller = tokio::spawn(crate::stream::run_poller(state.clone()));

    tracing::info!(
        %bound,
        mysql = %redacted(&cfg.mysql.url),
        cassandra = %cfg.cassandra.contact_points.join(","),
        keyspace = %cfg.cassandra.keyspace,
        "serving the API on http://{bound}/api/ and the dashboard on http://{bound}/"
    );
    let hub = state.hub.clone();
    let app = router(state);
    let stop = stopped();
    // The listener is bound: connections made from now on are answered.
    service.ready(&format!("serving on http://{bound}/"));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop.await;
            service.stopping("closing dashboard streams, finishing requests");
            hub.close();
        })
        .await
        .context("serving HTTP")?;
    let _ = poller.await;
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    tracing::info!("serve stopped");
    Ok(())
}

/// The whole application: the API, the dashboard's stream and page, the
/// metrics middleware. Joined here rather than in the API because the
/// stream reuses the API's loaders.
pub fn router(state: AppState) -> Router {
    let timeout = state.cfg.http.request_timeout;
    crate::api::routes(timeout)
        // Added after the API's time limit: the stream never ends.
        .route("/api/stream", get(crate::stream::handler))
        .merge(crate::dashboard::router())
        .fallback(crate::api::not_found)
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), crate::metrics::track))
        .with_state(state)
}

/// Refreshes the metrics endpoint's `/health` from a store check, and
/// beats the systemd watchdog once per round: the checks carry their own
/// timeouts, so only a hung runtime or a check that ignores them stops it.
async fn probe(state: AppState, health: Arc<Mutex<Health>>, progress: clickstream_telemetry::systemd::Progress, stopped: impl Future<Output = ()>) {
    tokio::pin!(stopped);
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    loop {
        progress.beat();
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stopped => return,
        }
        let report = crate::api::health::check(&state).await;
        let state_of = |c: &crate::api::health::Check| match &c.error {
            None => "ok".to_string(),
            Some(e) => e.clone(),
        };
        let next = Health {
            ok: report.ok(),
            details: vec![("mysql".into(), state_of(&report.checks.mysql)), ("cassandra".into(), state_of(&report.checks.cassandra))],
        };
        *health.lock().unwrap_or_else(|p| p.into_inner()) = next;
    }
}

fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***@{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_string(),
    }
}
