//! Prometheus metrics (prefix `serve_`), registered once and served on
//! `metrics.listen` by `clickstream-telemetry` like every other binary's:
//!
//! - `serve_http_requests_total{route, method, status}`
//! - `serve_http_request_duration_seconds{route}` (histogram)
//! - `serve_store_errors_total{store}` (`mysql`, `cassandra`)
//! - `serve_stream_clients` (open dashboards), `serve_stream_events_total{event}`
//!
//! `route` is the matched route pattern (`/api/traffic`), never the raw
//! path, so a scan of random URLs cannot blow up the label set.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabel {
    store: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: String,
}

/// The serving layer's metrics.
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram>,
    store_errors: Family<StoreLabel, Counter>,
    /// Open `/api/stream` connections.
    pub stream_clients: Gauge,
    stream_events: Family<EventLabel, Counter>,
    /// The registry, for the `/metrics` endpoint.
    pub registry: Arc<Mutex<Registry>>,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("serve");
        let requests = Family::<RequestLabels, Counter>::default();
        // 0.5 ms .. ~4 s: loopback API calls up to a slow database.
        let latency = Family::<RouteLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 14))
        });
        let store_errors = Family::<StoreLabel, Counter>::default();
        let stream_clients = Gauge::default();
        let stream_events = Family::<EventLabel, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer an HTTP request (until the response head)", latency.clone());
        registry.register("store_errors", "Failed reads, by store", store_errors.clone());
        registry.register("stream_clients", "Open dashboard streams", stream_clients.clone());
        registry.register("stream_events", "Events pushed to dashboards (per client)", stream_events.clone());
        Arc::new(Metrics { requests, latency, store_errors, stream_clients, stream_events, registry: Arc::new(Mutex::new(registry)) })
    }

    /// Counts a failed read.
    pub fn store_error(&self, store: &str) {
        self.store_errors.get_or_create(&StoreLabel { store: store.into() }).inc();
    }

    /// Counts an event pushed to one dashboard.
    pub fn stream_event(&self, event: &str) {
        self.stream_events.get_or_create(&EventLabel { event: event.into() }).inc();
    }

    fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests.get_or_create(&RequestLabels { route: route.into(), method: method.into(), status }).inc();
        self.latency.get_or_create(&RouteLabel { route: route.into() }).observe(seconds);
    }
}

/// Middleware: counts and times every request by its route pattern.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    metrics.observe(&route, &method, response.status().as_u16(), elapsed.as_secs_f64());
    tracing::debug!(%route, %method, status = response.status().as_u16(), ms = elapsed.as_secs_f64() * 1e3, "request");
    response
}
