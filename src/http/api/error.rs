//! The one error shape of the management API, and how body and query rejections map to it.

use axum::Json;
use axum::extract::Query;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::error;
use crate::manage::ManageError;
use crate::store::{StoreError, TokenId};

/// The one error shape, with the field named on validation errors.
#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    pub(super) field: Option<&'static str>,
    /// Set on 429: seconds for `Retry-After`.
    pub(super) retry_after: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `unauthorized`, `forbidden`, `not_found`, `invalid`, …
    error: String,
    message: String,
    /// The offending field, on validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }
    pub(super) fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
    }
    pub(super) fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this route is for administrators",
        )
    }
    pub(super) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such key")
    }
    pub(super) fn damaged(id: &TokenId) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "damaged",
            format!("the stored record of key {id} is damaged; it can only be deleted"),
        )
    }
    /// A name or query that does not parse (permissions, roles): 400, naming the field.
    pub(crate) fn malformed(field: &'static str, m: impl Into<String>) -> Self {
        ApiError {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid", m)
        }
    }

    pub(super) fn invalid(field: &'static str, m: impl Into<String>) -> Self {
        ApiError {
            field: Some(field),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(retry) = self.retry_after {
            return crate::http::error::too_many_failures(self.status, retry);
        }
        if self.field.is_none() {
            return error(self.status, self.code, &self.message);
        }
        let body = ErrorBody {
            error: self.code.into(),
            message: self.message,
            field: self.field.map(Into::into),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::Invalid { field, message } => ApiError::invalid(field, message),
            ManageError::NotFound => ApiError::not_found(),
            e @ ManageError::TooManyKeys(_) => {
                ApiError::new(StatusCode::CONFLICT, "too_many_keys", e.to_string())
            }
            e @ ManageError::LimitsLocked => {
                ApiError::new(StatusCode::FORBIDDEN, "limits_locked", e.to_string())
            }
            ManageError::Damaged { id, .. } => ApiError::damaged(&id),
            e @ ManageError::RoleNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            e @ ManageError::RoleExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            e @ ManageError::RoleInUse { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "role_in_use",
                format!("{e}; delete it with ?detach=true to take it off them first"),
            ),
            ManageError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Damaged { id, .. } => ApiError::damaged(&id),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Timeout(_) | StoreError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the key store is unavailable; try again",
            ),
            StoreError::Backend(m) => {
                // Logged once here; the client sees no cause.
                tracing::error!(error = %m, "store error in the management API");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

pub(super) fn body<T>(r: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match r {
        Ok(Json(t)) => Ok(t),
        Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            e.body_text(),
        )),
        Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            e.body_text(),
        )),
        Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send JSON with `Content-Type: application/json`",
        )),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is too large",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            e.body_text(),
        )),
    }
}

pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))
}
