//! Who is calling: an OIDC access token or the admin key, checked once per request.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;
use crate::manage::Actor;

use super::error::ApiError;

/// How the caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    Oidc,
    AdminKey,
}

/// The authenticated caller of a management route.
#[derive(Clone, Debug)]
pub struct Principal {
    pub subject: String,
    pub admin: bool,
    pub method: AuthMethod,
    pub name: Option<String>,
    pub client: Option<String>,
    /// Administrators, or everyone with `limits.users_may_raise`.
    pub may_raise_limits: bool,
}

impl Principal {
    pub(super) fn actor(&self) -> Actor {
        Actor {
            subject: self.subject.clone(),
            auth: match self.method {
                AuthMethod::Oidc => "oidc",
                AuthMethod::AdminKey => "admin-key",
            },
            client: self.client.clone(),
            may_raise_limits: self.may_raise_limits,
            may_grant_any: self.admin,
        }
    }

    pub(super) fn require_admin(&self) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

impl FromRequestParts<Arc<App>> for Principal {
    type Rejection = ApiError;

    /// A client over the failed-attempt limit is refused before its credential is
    /// looked at — unless it carries an OIDC access token, whose signature cannot be
    /// guessed (the throttle stops guessing of the admin key, not the users behind the
    /// same address); a credential that is presented and refused counts as a failure
    /// (one table with the gate and `/status`, `/load`).
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let address = app
            .gate
            .client_address(crate::http::peer().ip(), &parts.headers);
        if let Some(retry) = app.gate.throttled(address)
            && !(app.verifier.is_some() && bearer_is_jwt(parts))
        {
            return Err(ApiError {
                retry_after: Some(retry),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_failures",
                    "too many failed attempts from this address; try again later",
                )
            });
        }
        let principal = Self::authenticate(parts, app, address).await.map(|mut p| {
            p.may_raise_limits = p.admin || app.config.limits.users_may_raise;
            p
        });
        if let Err(e) = &principal
            && e.status == StatusCode::UNAUTHORIZED
            && parts.headers.contains_key(header::AUTHORIZATION)
        {
            app.gate.failed(address);
        }
        principal
    }
}

/// The `Authorization: Bearer` token, trimmed, when there is a non-empty one.
fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
}

/// Whether the request's bearer token has the shape of a JWT (three dot-separated parts).
fn bearer_is_jwt(parts: &Parts) -> bool {
    bearer(parts).is_some_and(|t| t.split('.').count() == 3)
}

impl Principal {
    pub(super) async fn authenticate(
        parts: &Parts,
        app: &Arc<App>,
        address: std::net::IpAddr,
    ) -> Result<Self, ApiError> {
        let client = Some(address.to_string());
        let token = bearer(parts).ok_or_else(|| {
            ApiError::unauthorized(
                "send `Authorization: Bearer` with an access token or the admin key",
            )
        })?;
        if app.is_admin_key(token) {
            return Ok(Principal {
                subject: "admin".into(),
                admin: true,
                method: AuthMethod::AdminKey,
                name: None,
                client,
                may_raise_limits: true,
            });
        }
        if token.split('.').count() == 3
            && let Some(v) = &app.verifier
        {
            return match v.verify(token).await {
                Ok(c) => Ok(Principal {
                    subject: c.subject,
                    admin: c.admin,
                    method: AuthMethod::Oidc,
                    name: c.name,
                    client,
                    may_raise_limits: false,
                }),
                Err(crate::oidc::OidcError::NotReady) => Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the identity provider's keys are not loaded yet; try again",
                )),
                Err(crate::oidc::OidcError::Invalid(m)) => Err(ApiError::unauthorized(m)),
            };
        }
        if app
            .gate
            .settings()
            .policy
            .check(token)
            .is_ok_and(|s| s == crate::token::Shape::Ours)
        {
            return Err(ApiError::unauthorized(
                "an API key cannot be used to manage keys; log in instead",
            ));
        }
        Err(ApiError::unauthorized("invalid credentials"))
    }
}
