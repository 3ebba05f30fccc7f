//! Errors raised to SQL. Every failure a caller can cause carries a SQLSTATE
//! and a message that names what is wrong; see docs/SQL.md for the list.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

pub use pgrx::PgSqlErrorCode::*;

#[derive(Debug)]
pub struct SqlError {
    pub code: PgSqlErrorCode,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

pub type SqlResult<T> = Result<T, SqlError>;

impl SqlError {
    pub fn new(code: PgSqlErrorCode, message: impl Into<String>) -> Self {
        SqlError { code, message: message.into(), detail: None, hint: None }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Raises this error as a PostgreSQL ERROR; does not return.
    pub fn raise(self) -> ! {
        let mut report = ErrorReport::new(self.code, self.message, "gridkit");
        if let Some(d) = self.detail {
            report = report.set_detail(d);
        }
        if let Some(h) = self.hint {
            report = report.set_hint(h);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

impl From<pgrx::spi::SpiError> for SqlError {
    fn from(e: pgrx::spi::SpiError) -> Self {
        SqlError::new(ERRCODE_INTERNAL_ERROR, format!("gridkit: SPI failed: {e}"))
    }
}

impl From<gridkit_mvt::Error> for SqlError {
    fn from(e: gridkit_mvt::Error) -> Self {
        SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, e.to_string())
    }
}

impl From<gridkit_tilecoord::LayerListError> for SqlError {
    fn from(e: gridkit_tilecoord::LayerListError) -> Self {
        SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, e.to_string())
    }
}

impl From<gridkit_options::filter::ResolveError> for SqlError {
    fn from(e: gridkit_options::filter::ResolveError) -> Self {
        SqlError { hint: e.hint(), ..SqlError::new(ERRCODE_INVALID_PARAMETER_VALUE, e.to_string()) }
    }
}

/// Raises `e` unless `r` is Ok.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for SqlResult<T> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| e.raise())
    }
}

/// Sends a NOTICE to the client.
pub fn notice(message: impl Into<String>) {
    ErrorReport::new(PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION, message.into(), "gridkit")
        .report(PgLogLevel::NOTICE);
}
