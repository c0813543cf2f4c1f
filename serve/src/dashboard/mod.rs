//! The live dashboard at `/`: one HTML page, its script and its style,
//! embedded in the binary with `include_str!` (no CDN, no build step, no
//! external library). The page opens `/api/stream` (server-sent events)
//! and redraws the panel of each view that changed: hourly traffic (an SVG
//! bar chart drawn by the script, batch and speed hours in two colours),
//! top categories, alerts as they happen, health per web server, and the
//! newest batch day per web server, per category and its top paths.
//!
//! Everything that comes from the data (category names, host names,
//! client addresses: all from log lines) is inserted as text nodes, never
//! as HTML.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Static pages change only with the binary; let browsers revalidate cheaply.
const CACHE: &str = "no-cache";

async fn index() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
            // Only our own script and style; no inline script.
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"),
        ],
        INDEX_HTML,
    )
}

async fn app_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], APP_JS)
}

async fn style_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, CACHE)], STYLE_CSS)
}

/// `/`, `/assets/app.js`, `/assets/style.css`.
pub fn router() -> Router<AppState> {
    Router::new().route("/", get(index)).route("/assets/app.js", get(app_js)).route("/assets/style.css", get(style_css))
}
