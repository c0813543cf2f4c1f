//! What a failed request answers: a status and a JSON body that says what
//! to change, e.g.
//!
//! ```json
//! {"error": {"status": 400, "code": "bad_parameter", "parameter": "from",
//!            "message": "`2026-13-01` is not a date: expected YYYY-MM-DD"}}
//! ```
//!
//! Client mistakes are 4xx and name the parameter; a store that cannot
//! answer is 503 (retry later), never a 500 that hides which one.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::stores::StoreError;

/// A request that cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code: `bad_parameter`, `unknown_parameter`,
    /// `not_found`, `unavailable`.
    pub code: &'static str,
    /// The query parameter at fault, if one is.
    pub parameter: Option<String>,
    /// For people.
    pub message: String,
}

impl ApiError {
    /// 400: `parameter` has a value that cannot be used.
    pub fn bad(parameter: &str, message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "bad_parameter", parameter: Some(parameter.to_string()), message: message.into() }
    }

    /// 400: a parameter the route does not know (usually a typo).
    pub fn unknown(parameter: &str, known: &[&str]) -> ApiError {
        let known = if known.is_empty() { "this route takes no parameters".to_string() } else { format!("known parameters: {}", known.join(", ")) };
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "unknown_parameter",
            parameter: Some(parameter.to_string()),
            message: format!("unknown parameter `{parameter}` ({known})"),
        }
    }

    /// 404.
    pub fn not_found(path: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            parameter: None,
            message: format!("no route {path}; the routes are listed in /api/openapi.json"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        tracing::warn!(error = %e, "store error");
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, code: "unavailable", parameter: None, message: e.to_string() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "status": self.status.as_u16(),
            "code": self.code,
            "message": self.message,
        });
        if let Some(p) = self.parameter {
            body["parameter"] = p.into();
        }
        (self.status, Json(serde_json::json!({ "error": body }))).into_response()
    }
}
