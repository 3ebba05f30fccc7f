//! Errors as JSON: `{"error": message, "sqlstate": code}` with the HTTP
//! status the SQLSTATE means. Messages of the database's own checks (bad
//! argument, unknown layer) reach the client; anything else is logged and
//! answered with a generic message, never a stack trace.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio_postgres::error::SqlState;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub message: String,
    pub sqlstate: Option<String>,
}

impl AppError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        AppError { status, message: message.into(), sqlstate: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

/// The HTTP status of a SQLSTATE a request can cause.
pub fn status_of(code: &SqlState) -> Option<StatusCode> {
    let s = code.code();
    Some(match s {
        // Bad arguments: data exceptions, unknown column or function.
        _ if s.starts_with("22") => StatusCode::BAD_REQUEST,
        "42703" | "42883" => StatusCode::BAD_REQUEST,
        // Unknown layer or series, missing source.
        "42704" | "42P01" => StatusCode::NOT_FOUND,
        "42501" => StatusCode::FORBIDDEN,
        // statement_timeout.
        "57014" => StatusCode::GATEWAY_TIMEOUT,
        // The server is shutting down, restarting or out of connections.
        _ if s.starts_with("57P") || s.starts_with("08") || s == "53300" => StatusCode::SERVICE_UNAVAILABLE,
        _ => return None,
    })
}

impl From<tokio_postgres::Error> for AppError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            if let Some(status) = status_of(db.code()) {
                let message = if status.is_client_error() { db.message().to_string() } else { status_text(status) };
                return AppError { status, message, sqlstate: Some(db.code().code().to_string()) };
            }
            tracing::error!(sqlstate = db.code().code(), message = db.message(), "database error");
            return AppError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "internal error".into(),
                sqlstate: Some(db.code().code().to_string()),
            };
        }
        // No database error: the connection broke or could not be made (a
        // restart, a network fault; the pool replaces it), or a bug here.
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            tracing::warn!(error = %e, "database connection error");
            return AppError::unavailable("database unavailable");
        }
        tracing::error!(error = %e, "database client error");
        AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl From<deadpool_postgres::PoolError> for AppError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            e => {
                tracing::warn!(error = %e, "no database connection");
                AppError::unavailable("database unavailable")
            }
        }
    }
}

fn status_text(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("error").to_lowercase()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.message, "sqlstate": self.sqlstate, "status": self.status.as_u16()});
        (self.status, [("cache-control", "no-store")], Json(body)).into_response()
    }
}

pub type AppResult<T> = Result<T, AppError>;
