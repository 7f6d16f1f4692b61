//! The management API under `/api` (DESIGN §6): self-service routes for the caller's own
//! keys, admin routes for everyone's, and the audit log.
//!
//! Who may call: an OIDC access token (admin when its groups hold `oauth.admin.group`)
//! or an admin key (configured, or generated in single-operator mode). A key the gate
//! accepts is never accepted here. Someone else's key id answers 404, never 403, so ids
//! cannot be probed.
//!
//! Layout: [`error`] (the one error shape), [`principal`] (who is calling), [`keys`]
//! (bodies and the logic both route families share), then one file per family of routes —
//! [`me`] (self-service), [`admin`] (owners and everyone's keys), [`audit`], [`limits`],
//! [`usage`], [`recent`], [`roles`], [`webhooks`], [`leaks`] — and [`openapi`], the document that lists them all. This file only routes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::app::App;
use axum::routing::{get, post};

mod activity;
mod admin;
mod audit;
mod error;
mod keys;
mod leaks;
mod limits;
mod me;
mod openapi;
mod paging;
mod principal;
mod recent;
mod roles;
mod sort;
mod usage;
mod webhooks;

use admin::{
    all_list, any_delete, any_get, any_patch, any_rotate, user_create, user_delete, user_get,
    user_list, user_patch, user_rotate, users,
};
use audit::{audit, audit_export};
pub use error::{ApiError, ErrorBody};
use limits::{clear_owner_limits, my_limits, owner_limits, set_owner_limits};
use me::{me, my_create, my_delete, my_get, my_list, my_patch, my_rotate};
pub use openapi::ApiDoc;
pub use principal::{AuthMethod, Principal};
use recent::{any_key_recent, my_key_recent, user_key_recent};
use roles::{
    any_key_permissions, create_role, delete_role, get_role, list_roles, my_grants,
    my_key_permissions, owner_roles, patch_role, set_owner_roles, user_key_permissions,
};
use usage::{all_usage, any_key_usage, my_key_usage, my_usage, user_key_usage, user_usage};

/// Longest grace period a rotation may give the old key.
pub const MAX_GRACE: Duration = Duration::from_secs(30 * 86_400);

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/me/tokens", get(my_list).post(my_create))
        .route(
            "/api/me/tokens/{id}",
            get(my_get).patch(my_patch).delete(my_delete),
        )
        .route("/api/me/tokens/{id}/rotate", post(my_rotate))
        .route("/api/users", get(users))
        .route("/api/users/{sub}/tokens", get(user_list).post(user_create))
        .route(
            "/api/users/{sub}/tokens/{id}",
            get(user_get).patch(user_patch).delete(user_delete),
        )
        .route("/api/users/{sub}/tokens/{id}/rotate", post(user_rotate))
        .route("/api/tokens", get(all_list))
        .route(
            "/api/tokens/{id}",
            get(any_get).patch(any_patch).delete(any_delete),
        )
        .route("/api/tokens/{id}/rotate", post(any_rotate))
        .route("/api/tokens/{id}/credits", post(admin::any_add_credits))
        .route("/api/audit", get(audit))
        .route("/api/audit/export", get(audit_export))
        .route("/api/me/limits", get(my_limits))
        .route("/api/me/usage", get(my_usage))
        .route("/api/usage", get(all_usage))
        .route("/api/me/tokens/{id}/usage", get(my_key_usage))
        .route("/api/users/{sub}/usage", get(user_usage))
        .route("/api/users/{sub}/tokens/{id}/usage", get(user_key_usage))
        .route("/api/tokens/{id}/usage", get(any_key_usage))
        .route("/api/me/tokens/{id}/recent", get(my_key_recent))
        .route("/api/users/{sub}/tokens/{id}/recent", get(user_key_recent))
        .route("/api/tokens/{id}/recent", get(any_key_recent))
        .route(
            "/api/users/{sub}/limits",
            get(owner_limits)
                .put(set_owner_limits)
                .delete(clear_owner_limits),
        )
        .route("/api/roles", get(list_roles).post(create_role))
        .route(
            "/api/roles/{name}",
            get(get_role).patch(patch_role).delete(delete_role),
        )
        .route(
            "/api/users/{sub}/roles",
            get(owner_roles).put(set_owner_roles),
        )
        .route("/api/me/grants", get(my_grants))
        .route("/api/me/tokens/{id}/permissions", get(my_key_permissions))
        .route(
            "/api/users/{sub}/tokens/{id}/permissions",
            get(user_key_permissions),
        )
        .route("/api/tokens/{id}/permissions", get(any_key_permissions))
        .route("/api/leaks", post(leaks::report))
        .route(
            "/api/leaks/github",
            post(leaks::github).layer(axum::extract::DefaultBodyLimit::max(
                leaks::MAX_REPORT_BYTES,
            )),
        )
        .route(
            "/api/webhooks",
            get(webhooks::list_endpoints).post(webhooks::create_endpoint),
        )
        .route("/api/webhooks/types", get(webhooks::event_types))
        .route(
            "/api/webhooks/{id}",
            get(webhooks::get_endpoint)
                .patch(webhooks::patch_endpoint)
                .delete(webhooks::delete_endpoint),
        )
        .route(
            "/api/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route("/api/webhooks/{id}/test", post(webhooks::test_endpoint))
        .route("/api/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route(
            "/api/webhooks/{id}/deliveries/{delivery}",
            get(webhooks::delivery),
        )
        .route(
            "/api/webhooks/{id}/deliveries/{delivery}/replay",
            post(webhooks::replay),
        )
}
