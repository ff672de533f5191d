//! The one error shape of the indexer's HTTP API: `{ "status": 404, "detail": "…" }`.

use serde::Serialize;

/// An error returned by an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppError {
    /// HTTP status code.
    pub status: u16,
    /// What went wrong and, where possible, what to do.
    pub detail: String,
}

impl AppError {
    /// 400: the request is malformed.
    #[must_use]
    pub fn bad_request(detail: impl Into<String>) -> AppError {
        AppError {
            status: 400,
            detail: detail.into(),
        }
    }

    /// 404: the thing asked for is not held here.
    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> AppError {
        AppError {
            status: 404,
            detail: detail.into(),
        }
    }

    /// 503: the service cannot answer yet (say what would fix it).
    #[must_use]
    pub fn unavailable(detail: impl Into<String>) -> AppError {
        AppError {
            status: 503,
            detail: detail.into(),
        }
    }

    /// 500: something failed here.
    #[must_use]
    pub fn internal(detail: impl Into<String>) -> AppError {
        AppError {
            status: 500,
            detail: detail.into(),
        }
    }

    /// The JSON body.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "status": self.status, "detail": self.detail })
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.detail)
    }
}

impl std::error::Error for AppError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_status_and_detail() {
        let e = AppError::bad_request("`x` is not a CID");
        assert_eq!(
            e.to_json(),
            serde_json::json!({"status": 400, "detail": "`x` is not a CID"})
        );
        assert_eq!(e.to_string(), "400 `x` is not a CID");
    }
}
