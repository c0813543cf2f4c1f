//! The HTTP API (`/api/...`): its routes under their time limit
//! ([`routes`]) and its answer to unknown paths ([`not_found`]). The
//! server's `router` joins them with the stream and the dashboard: the
//! stream reuses the API's loaders, so the API does not route to it.
//!
//! One module per route; each parses its parameters ([`params`]), calls a
//! `load` function that the dashboard's stream reuses, and answers JSON or
//! an [`error::ApiError`]. The OpenAPI description is hand-written
//! (`openapi.json`, embedded) and a test holds it to [`ROUTES`].

pub mod alerts;
pub mod breakdown;
pub mod error;
pub mod health;
pub mod params;
pub mod popularity;
pub mod servers;
pub mod top_paths;
pub mod traffic;
pub mod visitors;

use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// The OpenAPI 3 description of every route below.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// Every API route (the paths of `openapi.json`).
pub const ROUTES: &[&str] = &[
    "/api/traffic",
    "/api/breakdown",
    "/api/top-paths",
    "/api/visitors",
    "/api/alerts",
    "/api/popularity",
    "/api/servers",
    "/api/health",
    "/api/stream",
    "/api/openapi.json",
];

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}

/// The API's routes, each answered within `timeout` (`http.request_timeout`).
/// `/api/stream` is not among them: it never ends, so the server adds it
/// after this time limit.
pub fn routes(timeout: Duration) -> Router<AppState> {
    Router::new()
        .route("/api/traffic", get(traffic::handler))
        .route("/api/breakdown", get(breakdown::handler))
        .route("/api/top-paths", get(top_paths::handler))
        .route("/api/visitors", get(visitors::handler))
        .route("/api/alerts", get(alerts::handler))
        .route("/api/popularity", get(popularity::handler))
        .route("/api/servers", get(servers::handler))
        .route("/api/health", get(health::handler))
        .route("/api/openapi.json", get(openapi))
        .layer(axum::middleware::from_fn(move |req: Request, next: axum::middleware::Next| async move {
            match tokio::time::timeout(timeout, next.run(req)).await {
                Ok(r) => r,
                Err(_) => error::ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "unavailable",
                    parameter: None,
                    message: format!("no answer within {} (http.request_timeout): a store is slow", humantime::format_duration(timeout)),
                }
                .into_response(),
            }
        }))
}

/// The answer to a path no route serves, in the API's error shape.
pub async fn not_found(req: Request) -> error::ApiError {
    error::ApiError::not_found(req.uri().path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_description_lists_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        let mut documented: Vec<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
        let mut routes = ROUTES.to_vec();
        documented.sort_unstable();
        routes.sort_unstable();
        assert_eq!(documented, routes);
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        // Every $ref resolves.
        let text = OPENAPI_JSON;
        for part in text.split("\"$ref\": \"#/").skip(1) {
            let path = &part[..part.find('"').unwrap()];
            let mut node = &doc;
            for seg in path.split('/') {
                node = &node[seg];
            }
            assert!(!node.is_null(), "dangling $ref #/{path}");
        }
    }
}
