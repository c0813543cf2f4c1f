//! `GET /api/stream`: server-sent events for the dashboard.
//!
//! One poller per process, not one per browser: while at least one
//! dashboard is open, it reads the five views every `stream.interval`
//! (the same loaders the JSON routes use), and pushes a view to every open
//! dashboard only when its JSON changed. A dashboard that connects gets the
//! latest copy of every view at once, then the changes. With no dashboard
//! open the poller does not touch the databases.
//!
//! Events (the `data` is the JSON of the route named):
//!
//! | event | data |
//! | --- | --- |
//! | `traffic` | `/api/traffic` over the last `stream.traffic_days` event days, per hour |
//! | `alerts` | `/api/alerts` of the newest event day and the one before, `limit = stream.alerts` |
//! | `popularity` | `/api/popularity?points=12` |
//! | `servers` | `/api/servers?points=30` |
//! | `batch` | `{"day", "servers", "categories", "top_paths"}` of the newest day the batch layer covered: `/api/breakdown?dimension=server` and `=category` of that day, `/api/top-paths?limit=10` (all `null` while it covered none) |
//! | `status` | `{"ok": bool, "errors": {view: message}, "event_now": RFC 3339}` |
//!
//! On shutdown every stream ends, so the server's graceful shutdown does
//! not wait on dashboards that would stay connected forever.
//!
//! This module holds the handler and the poller; the copies of the views
//! and their fan-out are the [`Hub`](crate::hub::Hub), which the handler
//! state holds, so that state need not depend on this module.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::stream::{self, StreamExt};
use tokio_stream::wrappers::BroadcastStream;

use crate::api::breakdown::Breakdown;
use crate::api::error::ApiError;
use crate::api::top_paths::TopPaths;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::time::{day_of, rfc3339};

/// Decrements the client gauge when a stream ends (the browser went away).
struct ClientGuard(Arc<Metrics>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.stream_clients.dec();
    }
}

/// The handler.
pub async fn handler(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let hub = state.hub.clone();
    if state.metrics.stream_clients.get() >= state.cfg.stream.max_clients as i64 {
        return Err(ApiError {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            parameter: None,
            message: format!("{} dashboards are open (stream.max_clients)", state.cfg.stream.max_clients),
        });
    }
    state.metrics.stream_clients.inc();
    let guard = ClientGuard(state.metrics.clone());
    let rx = hub.subscribe();
    // The first dashboard wakes the poller instead of waiting for its next tick.
    hub.wake();
    let mut closed = hub.closed();
    let metrics = state.metrics.clone();
    let events = stream::iter(hub.latest())
        .chain(BroadcastStream::new(rx).filter_map(|r| async move { r.ok() }))
        .take_until(async move {
            let _ = closed.wait_for(|c| *c).await;
        })
        .map(move |e| {
            let _ = &guard;
            metrics.stream_event(e.name);
            Ok::<_, Infallible>(SseEvent::default().event(e.name).data(&*e.data))
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The dashboard's batch panel: the newest covered day's web servers,
/// categories and top paths.
#[derive(Debug, Default, serde::Serialize)]
pub struct BatchView {
    /// The newest day the batch layer covered.
    pub day: Option<String>,
    /// Its web servers.
    pub servers: Option<Breakdown>,
    /// Its categories.
    pub categories: Option<Breakdown>,
    /// Its 10 most requested paths.
    pub top_paths: Option<TopPaths>,
}

/// Paths in the dashboard's batch panel.
const PANEL_PATHS: u32 = 10;

/// The [`BatchView`] of the newest covered day (empty when there is none).
pub async fn batch_view(state: &AppState) -> Result<BatchView, ApiError> {
    let Some(day) = state.mysql.newest_day().await.inspect_err(|e| state.metrics.store_error(e.store()))? else {
        return Ok(BatchView::default());
    };
    let (servers, categories, top_paths) = tokio::try_join!(
        crate::api::breakdown::load(state, "server", day, day, false),
        crate::api::breakdown::load(state, "category", day, day, false),
        crate::api::top_paths::load(state, day, PANEL_PATHS),
    )?;
    Ok(BatchView { day: Some(day.to_string()), servers: Some(servers), categories: Some(categories), top_paths: Some(top_paths) })
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("views serialize")
}

/// Reads every view once and publishes the changed ones.
pub async fn poll_once(state: &AppState) {
    let hub = &state.hub;
    let cfg = &state.cfg.stream;
    let now = state.event_now().await;
    let today = day_of(now);
    let back = |days: u32| today - chrono::Days::new(u64::from(days));
    let mut errors = BTreeMap::new();
    let alerts_query = crate::api::alerts::Query { ddos: true, health: true, from: back(1), to: today, host: None, limit: cfg.alerts as usize };
    let (traffic, alerts, popularity, servers, batch) = tokio::join!(
        crate::api::traffic::load(state, back(cfg.traffic_days - 1), today, false),
        crate::api::alerts::load(state, &alerts_query),
        crate::api::popularity::load(state, 12),
        crate::api::servers::load(state, 30),
        batch_view(state),
    );
    match traffic {
        Ok(v) => hub.publish("traffic", json(&v)),
        Err(e) => drop(errors.insert("traffic", e.message)),
    }
    match alerts {
        Ok(v) => hub.publish("alerts", json(&v)),
        Err(e) => drop(errors.insert("alerts", e.message)),
    }
    match popularity {
        Ok(v) => hub.publish("popularity", json(&v)),
        Err(e) => drop(errors.insert("popularity", e.message)),
    }
    match servers {
        Ok(v) => hub.publish("servers", json(&v)),
        Err(e) => drop(errors.insert("servers", e.message)),
    }
    match batch {
        Ok(v) => hub.publish("batch", json(&v)),
        Err(e) => drop(errors.insert("batch", e.message)),
    }
    hub.publish("status", json(&serde_json::json!({"ok": errors.is_empty(), "errors": errors, "event_now": rfc3339(now)})));
}

/// Runs the poller until the hub is closed.
pub async fn run_poller(state: AppState) {
    let hub = state.hub.clone();
    let mut closed = hub.closed();
    let mut tick = tokio::time::interval(state.cfg.stream.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = hub.woken() => {}
            _ = closed.wait_for(|c| *c) => return,
        }
        if hub.watchers() == 0 {
            // Nobody watches: forget the copies, so the next dashboard never starts from stale ones.
            hub.forget();
            continue;
        }
        poll_once(&state).await;
    }
}
