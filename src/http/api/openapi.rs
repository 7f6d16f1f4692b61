//! The OpenAPI document of the management API (served at `/openapi.json`).

use crate::manage::{LimitsPatch, LimitsView, TokenView};
use crate::rules::Rule;
use crate::store::AuditEvent;

use super::error::ErrorBody;
use super::keys::{CreateRequest, Created, DamagedKey, PatchRequest, RotateRequest, TokenPage};
use super::principal::AuthMethod;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "keygate", description = "Manage API keys. Authenticate with an OIDC access token or the admin key as `Authorization: Bearer`."),
    paths(super::me::me, super::me::my_list, super::me::my_create, super::me::my_get,
          super::me::my_patch, super::me::my_delete, super::me::my_rotate, super::admin::users,
          super::admin::user_list, super::admin::user_create, super::admin::user_get,
          super::admin::user_patch, super::admin::user_delete, super::admin::user_rotate,
          super::admin::all_list, super::admin::any_get, super::admin::any_patch,
          super::admin::any_delete, super::admin::any_rotate, super::audit::audit,
          super::limits::my_limits, super::limits::owner_limits,
          super::limits::set_owner_limits, super::limits::clear_owner_limits,
          crate::http::verify::verify, super::usage::my_key_usage, super::usage::user_key_usage,
          super::usage::any_key_usage, super::usage::my_usage, super::usage::user_usage,
          super::usage::all_usage, super::recent::my_key_recent, super::recent::user_key_recent, super::recent::any_key_recent,
          super::audit::audit_export, super::roles::list_roles,
          super::roles::create_role, super::roles::get_role, super::roles::patch_role,
          super::roles::delete_role, super::roles::owner_roles, super::roles::set_owner_roles,
          super::roles::my_grants, super::roles::my_key_permissions,
          super::roles::user_key_permissions, super::roles::any_key_permissions,
          super::webhooks::event_types, super::webhooks::list_endpoints, super::webhooks::create_endpoint,
          super::webhooks::get_endpoint, super::webhooks::patch_endpoint, super::webhooks::delete_endpoint,
          super::webhooks::rotate_secret, super::webhooks::test_endpoint, super::webhooks::deliveries,
          super::webhooks::delivery, super::webhooks::replay, super::leaks::report, super::admin::any_add_credits),
    components(schemas(TokenView, crate::manage::RefusedNow, TokenPage, DamagedKey, Rule, Created, CreateRequest, PatchRequest, RotateRequest, super::me::Me, super::admin::Owner, super::admin::OwnerPage, AuditEvent, crate::store::AuditChange, super::audit::AuditPage, ErrorBody, AuthMethod,
        LimitsView, LimitsPatch, crate::manage::CreditsView, crate::manage::CreditsPatch, crate::manage::OwnerLimitsView,
        crate::limits::RateLimit, crate::limits::Refill, crate::http::verify::VerifyRequest, crate::http::verify::VerifyResponse, crate::http::verify::RateLimitLeft,
        crate::analytics::UsageSeries, crate::analytics::UsagePoint, crate::analytics::OutcomeCounts, super::usage::OwnerUsage, super::usage::KeyTotals, super::usage::AllUsage, super::usage::TopKey, super::usage::TopOwner, crate::analytics::Step, crate::analytics::Activity, super::admin::OwnerSort, crate::model::RecentRequest, super::recent::RecentPage,
        crate::manage::RoleView, crate::manage::Grantable, crate::manage::OfferedRole, super::roles::OwnerRolesChange, crate::manage::EffectivePermission, super::roles::RoleList, super::roles::RoleCreate,
        super::roles::RoleChange, super::roles::OwnerRoles, super::roles::KeyPermissions,
        crate::events::EndpointView, crate::events::Delivery, crate::events::Attempt, crate::events::DeliveryState,
        super::webhooks::EndpointList, super::webhooks::EndpointCreate, super::webhooks::EndpointChange,
        super::webhooks::EndpointSecret, super::webhooks::RotateSecret, super::webhooks::EventType,
        super::webhooks::EventTypes, super::webhooks::DeliveryPage, super::leaks::LeakReport,
        super::leaks::LeakAnswer, crate::config::LeakAction, super::admin::AddCredits)),
    modifiers(&BearerScheme, &Throttled),
    tags((name = "self", description = "The caller's own keys"), (name = "admin", description = "Everyone's keys and the audit log (administrators)"),
         (name = "gate", description = "Verifying keys (applications not behind a proxy); no `Authorization`"))
)]
pub struct ApiDoc;

pub(super) struct BearerScheme;

/// Every operation may answer 429: the client failed too often (the failed-attempt
/// throttle, shared with the gate).
pub(super) struct Throttled;

impl utoipa::Modify for Throttled {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, HeaderBuilder, Ref, ResponseBuilder};
        let response = ResponseBuilder::new()
            .description(
                "Too many failed attempts from this client; try again after `Retry-After` seconds.",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::Integer),
                    )
                    .build(),
            )
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .insert("429".into(), response.clone().into());
            }
        }
    }
}

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An OIDC access token (JWT) from the configured issuer — administrators are members of `oauth.admin.group` — or the admin key (`admin_key`, or the key generated in single-operator mode). Keys checked by the gate are never accepted.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}
