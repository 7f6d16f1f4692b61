//! One Check: the request Envoy describes, decided as `/forward-auth` decides it
//! (credential, rules, permissions, limits and credits, the failed-attempt throttle,
//! analytics and last-used), answered as Envoy's ext_authz filter expects.
//!
//! - allow: `OkHttpResponse` — keygate's identity headers onto the request to the
//!   service, the credential removed from it (unless `grpc.keep_credential` or the
//!   route's `keep_credential`), `RateLimit-Policy` / `RateLimit` onto the client's
//!   response;
//! - refusal: `DeniedHttpResponse` with the status, JSON body and headers the HTTP
//!   endpoints send (`WWW-Authenticate`, `Retry-After`, the rate-limit headers);
//! - either way, `dynamic_metadata` with `key_id`, `owner` and `outcome` for Envoy's
//!   access log and later filters (namespace `envoy.filters.http.ext_authz`).
//!
//! A route tunes its Checks with `context_extensions` (see [`Route`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use envoy_types::ext_authz::v3::pb::{
    Address, Authorization, CheckRequest, CheckResponse, DeniedHttpResponse, HeaderAppendAction,
    HeaderValue, HeaderValueOption, HttpResponse, HttpStatus, OkHttpResponse,
};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use envoy_types::pb::google::rpc;

use super::seen::{self, Names, Seen};
use crate::access_log;
use crate::app::App;
use crate::config::GrpcConfig;
use crate::decide::{Asked, Deny, Forwarded, Known, Outcome, Presented};
use crate::http::forward_auth::{client_refusal, deny_outcome};
use crate::http::limited::{RATELIMIT, RATELIMIT_POLICY};
use crate::metrics::{self, Endpoint};
use crate::permissions::Need;
use crate::rules::Target;

/// The address of the proxy that made a Check (its TCP peer), in the request's
/// extensions.
#[derive(Clone, Copy, Debug)]
pub struct Caller(pub SocketAddr);

/// The most credits a route may charge per request.
pub const MAX_COST: u32 = 1_000_000;

/// The Check service.
pub struct Check {
    app: Arc<App>,
    keep_credential: bool,
    client_ratelimit_headers: bool,
    max_headers: usize,
}

impl Check {
    pub fn new(app: Arc<App>, c: &GrpcConfig) -> Self {
        Check {
            app,
            keep_credential: c.keep_credential,
            client_ratelimit_headers: c.client_ratelimit_headers,
            max_headers: c.max_headers,
        }
    }
}

#[tonic::async_trait]
impl Authorization for Check {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        let caller = request
            .extensions()
            .get::<Caller>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let check = request.into_inner();
        Ok(tonic::Response::new(self.answer(&check, caller).await))
    }
}

/// What a route says through Envoy's per-route `context_extensions` (keys keygate does
/// not know are other filters' business and left alone):
/// - `key_header`: the header that carries the key on this route (instead of
///   `api_key_header`; `Authorization` is read too);
/// - `cost`: credits one request spends (0 to [`MAX_COST`]; default 1);
/// - `permissions`: a permission query the key must meet (as `X-Keygate-Require`);
/// - `keep_credential`: `true` / `false`, instead of `grpc.keep_credential`.
#[derive(Debug, Default, PartialEq)]
pub struct Route<'a> {
    pub key_header: Option<&'a str>,
    pub cost: Option<u32>,
    pub permissions: Option<&'a str>,
    pub keep_credential: Option<bool>,
}

impl<'a> Route<'a> {
    pub fn read(ext: &'a HashMap<String, String>) -> Result<Self, String> {
        let mut r = Route::default();
        for (k, v) in ext {
            match k.as_str() {
                "key_header" => {
                    if v.is_empty() || v.len() > 128 || !v.bytes().all(is_token_byte) {
                        return Err(format!("key_header `{}` is not a header name", short(v)));
                    }
                    r.key_header = Some(v);
                }
                "cost" => match v.trim().parse::<u32>() {
                    Ok(n) if n <= MAX_COST => r.cost = Some(n),
                    _ => {
                        return Err(format!(
                            "cost `{}` is not a whole number from 0 to {MAX_COST}",
                            short(v)
                        ));
                    }
                },
                "permissions" => r.permissions = Some(v),
                "keep_credential" => {
                    r.keep_credential = Some(match v.trim() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(format!(
                                "keep_credential `{}` is neither true nor false",
                                short(v)
                            ));
                        }
                    });
                }
                _ => {}
            }
        }
        Ok(r)
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// At most 64 characters of a value, for a message.
fn short(v: &str) -> &str {
    match v.char_indices().nth(64) {
        Some((i, _)) => &v[..i],
        None => v,
    }
}

impl Check {
    async fn answer(&self, req: &CheckRequest, caller: IpAddr) -> CheckResponse {
        let started = tokio::time::Instant::now();
        let app = &*self.app;
        let attrs = req.attributes.as_ref();
        let Some(http) = attrs
            .and_then(|a| a.request.as_ref())
            .and_then(|r| r.http.as_ref())
        else {
            return invalid(
                StatusCode::BAD_REQUEST,
                "invalid_check_request",
                "the CheckRequest describes no HTTP request (attributes.request.http)",
            );
        };
        if http.path.is_empty() {
            return invalid(
                StatusCode::BAD_REQUEST,
                "invalid_check_request",
                "the CheckRequest's HTTP request has no path",
            );
        }
        let Some(attrs) = attrs else {
            unreachable!("attributes were read above")
        };
        let route = match Route::read(&attrs.context_extensions) {
            Ok(r) => r,
            Err(why) => {
                tracing::error!(error = %why, "a route's context_extensions for keygate do not parse; refusing the request");
                return invalid(
                    StatusCode::FORBIDDEN,
                    "invalid_route_setting",
                    &format!(
                        "this route's keygate settings (context_extensions) are wrong: {why}; the proxy's configuration must be fixed"
                    ),
                );
            }
        };
        let settings = app.gate.settings();
        let names = Names {
            key_header: route
                .key_header
                .or(settings.sources.header.as_ref().map(|h| h.as_str())),
            metadata: app.log_limits.metadata_header.as_ref().map(|h| h.as_str()),
            require: settings.require_header.as_ref().map(|h| h.as_str()),
        };
        let seen = seen::read(&http.headers, http.header_map.as_ref(), &names);
        if seen.count > self.max_headers {
            return invalid(
                StatusCode::from_u16(431).unwrap_or(StatusCode::BAD_REQUEST),
                "too_many_headers",
                "the request has more headers than keygate reads (grpc.max_headers)",
            );
        }

        // The client: the address Envoy reports, believed from a trusted proxy (its
        // forwarding headers then read as the HTTP endpoints read them); otherwise the
        // caller's own address.
        let peer = if app.gate.trusts(caller) {
            source_ip(attrs).unwrap_or(caller)
        } else {
            caller
        };
        let forwarded = seen.forwarded_for;
        let client = app.gate.client_of(
            peer,
            Forwarded {
                hops: forwarded.as_slice(),
                real_ip: seen.real_ip,
            },
        );

        // What the request requires: the configured entry, the route's, and what a
        // trusted proxy named in the header.
        let base = Target {
            method: &http.method,
            host: &http.host,
            uri: &http.path,
            needs: &[],
            cost: route.cost.unwrap_or(1),
        };
        let mut asked: [Option<Arc<Need>>; 2] = [None, None];
        for (slot, a) in asked.iter_mut().zip([
            route.permissions.map(|q| app.gate.required(q)),
            Some(app.gate.asked_bytes(seen.require, caller)),
        ]) {
            match a {
                None | Some(Asked::Nothing) => {}
                Some(Asked::Query(q)) => *slot = Some(q),
                Some(Asked::Invalid(why)) => {
                    tracing::error!(error = %why, "a permissions requirement from the proxy does not parse; refusing the request");
                    return invalid(
                        StatusCode::FORBIDDEN,
                        "invalid_requirement",
                        "the proxy's permissions requirement does not parse; its configuration must be fixed",
                    );
                }
            }
        }
        let mut needs: Vec<&Need> = Vec::new();
        if let Some(n) = app.gate.route_needs(&base) {
            needs.push(n);
        }
        needs.extend(asked.iter().flatten().map(|a| &**a));
        let target = Target {
            needs: &needs,
            ..base
        };
        let presented = Presented {
            authorization: seen.authorization.map(seen::text),
            key_header: seen.key_header.map(seen::text),
        };
        let report = self.client_ratelimit_headers || settings.upstream_limit_headers;
        let decision = app
            .gate
            .decide_reporting(&presented, &target, client, report)
            .await;

        let key = decision.key.clone();
        let limit = match decision.outcome {
            Outcome::Deny(Deny::Limited(e)) => Some(e),
            _ => None,
        };
        let (response, outcome, status) = match decision.outcome {
            Outcome::Allow(known) => {
                let keep = route.keep_credential.unwrap_or(self.keep_credential);
                let ok = self.allowed(
                    &known,
                    decision.report.as_ref(),
                    decision.now_ms,
                    &seen,
                    keep,
                    &http.path,
                );
                let key = Some(known);
                (
                    respond(
                        0,
                        "",
                        Some(HttpResponse::OkResponse(ok)),
                        meta(key.as_deref(), metrics::Outcome::Allowed),
                    ),
                    metrics::Outcome::Allowed,
                    200,
                )
            }
            Outcome::Deny(d) => {
                let outcome = deny_outcome(d);
                let r = client_refusal(app, d, decision.key.as_deref(), &decision.missing);
                let status = r.status().as_u16();
                let denied = denied(r).await;
                (
                    respond(
                        rpc_code(status),
                        denied.1,
                        Some(HttpResponse::DeniedResponse(denied.0)),
                        meta(key.as_deref(), outcome),
                    ),
                    outcome,
                    status,
                )
            }
        };
        let took = started.elapsed();
        app.gate
            .metrics()
            .decision(Endpoint::ExtAuthzGrpc, outcome, took);
        if let Some(log) = &app.access_log {
            access_log::decision(
                log,
                &app.log_limits,
                &access_log::Line {
                    endpoint: Endpoint::ExtAuthzGrpc,
                    outcome,
                    status,
                    key: key.as_deref(),
                    target: &target,
                    forwarded_for: forwarded
                        .and_then(|f| std::str::from_utf8(f).ok())
                        .unwrap_or(""),
                    metadata: seen.metadata.and_then(|m| std::str::from_utf8(m).ok()),
                    client,
                    took,
                    now_ms: decision.now_ms,
                    limit,
                    upstream: None,
                },
            );
        }
        response
    }

    /// An allow: identity headers (and, with `limits.upstream_headers`, what is left)
    /// to the service, the credential removed, the rate-limit headers to the client.
    fn allowed(
        &self,
        known: &Known,
        report: Option<&crate::limits::engine::Report>,
        now_ms: i64,
        seen: &Seen<'_>,
        keep_credential: bool,
        path: &str,
    ) -> OkHttpResponse {
        let app = &*self.app;
        let mut ok = OkHttpResponse::default();
        for (name, value) in &known.headers {
            ok.headers.push(set(name.as_str(), value.as_bytes()));
        }
        if let Some(report) = report {
            let mut h = HeaderMap::new();
            crate::http::limited::upstream(&mut h, known, report, now_ms);
            for (name, value) in &h {
                let line = set(name.as_str(), value.as_bytes());
                if self.client_ratelimit_headers && (name == RATELIMIT || name == RATELIMIT_POLICY)
                {
                    ok.response_headers_to_add.push(line.clone());
                }
                if app.gate.settings().upstream_limit_headers {
                    ok.headers.push(line);
                }
            }
        }
        if !keep_credential {
            // Where keygate reads keys: Authorization of the Bearer or Basic scheme (another
            // scheme is not keygate's and stays), the key header, the query parameter.
            if seen.authorization.is_some_and(|v| {
                let scheme = v.split(|b| *b == b' ').next().unwrap_or(v);
                scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"basic")
            }) {
                ok.headers_to_remove.push("authorization".into());
            }
            if let Some(name) = seen.key_header_name {
                ok.headers_to_remove.push(name.to_ascii_lowercase());
            }
            if let Some(param) = &app.gate.settings().sources.query_param
                && let Some((_, query)) = path.split_once('?')
                && query.split('&').any(|p| p.split('=').next() == Some(param))
            {
                ok.query_parameters_to_remove.push(param.clone());
            }
        }
        ok
    }
}

/// The address Envoy reports for the request's source.
fn source_ip(
    attrs: &envoy_types::pb::envoy::service::auth::v3::AttributeContext,
) -> Option<IpAddr> {
    let address = attrs.source.as_ref()?.address.as_ref()?.address.as_ref()?;
    match address {
        Address::SocketAddress(s) => s.address.parse().ok(),
        _ => None,
    }
}

/// A header Envoy sets, replacing any copy of the client's.
fn set(name: &str, value: &[u8]) -> HeaderValueOption {
    let header = match std::str::from_utf8(value) {
        Ok(v) => HeaderValue {
            key: name.to_owned(),
            value: v.to_owned(),
            raw_value: Vec::new(),
        },
        Err(_) => HeaderValue {
            key: name.to_owned(),
            value: String::new(),
            raw_value: value.to_vec(),
        },
    };
    HeaderValueOption {
        header: Some(header),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

/// A refusal as the HTTP endpoints say it, turned into Envoy's denied answer (and the
/// error code for the gRPC status message).
async fn denied(r: Response) -> (DeniedHttpResponse, &'static str) {
    let (parts, body) = r.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let headers = parts
        .headers
        .iter()
        .filter(|(n, _)| *n != axum::http::header::CONTENT_LENGTH)
        .map(|(n, v)| set(n.as_str(), v.as_bytes()))
        .collect();
    let code = error_code(&body);
    (
        DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(parts.status.as_u16()),
            }),
            headers,
            body,
        },
        code,
    )
}

/// The `error` of a refusal's JSON body, for the gRPC status message.
fn error_code(body: &str) -> &'static str {
    const CODES: [&str; 8] = [
        "unauthorized",
        "forbidden",
        "insufficient_permissions",
        "rate_limited",
        "usage_exceeded",
        "too_many_failures",
        "unavailable",
        "invalid_requirement",
    ];
    let code = body
        .split_once("\"error\":\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(code, _)| code);
    CODES
        .into_iter()
        .find(|c| Some(*c) == code)
        .unwrap_or("denied")
}

/// A Check keygate could not judge: denied with `status` and the usual JSON body.
fn invalid(status: StatusCode, error: &str, message: &str) -> CheckResponse {
    let body = serde_json::json!({ "error": error, "message": message }).to_string();
    let denied = DeniedHttpResponse {
        status: Some(HttpStatus {
            code: i32::from(status.as_u16()),
        }),
        headers: vec![set("content-type", b"application/json")],
        body,
    };
    respond(
        rpc_code(status.as_u16()),
        error,
        Some(HttpResponse::DeniedResponse(denied)),
        None,
    )
}

/// The gRPC status code that goes with an HTTP status (Envoy reads only whether it is
/// OK; the code is for people reading a trace).
fn rpc_code(status: u16) -> i32 {
    match status {
        200..=299 => 0,
        400 | 431 => 3, // INVALID_ARGUMENT
        401 => 16,      // UNAUTHENTICATED
        429 => 8,       // RESOURCE_EXHAUSTED
        503 => 14,      // UNAVAILABLE
        _ => 7,         // PERMISSION_DENIED
    }
}

fn respond(
    code: i32,
    message: &str,
    http: Option<HttpResponse>,
    dynamic_metadata: Option<Struct>,
) -> CheckResponse {
    CheckResponse {
        status: Some(rpc::Status {
            code,
            message: message.to_owned(),
            details: Vec::new(),
        }),
        dynamic_metadata,
        http_response: http,
    }
}

/// `key_id`, `owner` (when the key was found) and `outcome`.
fn meta(key: Option<&Known>, outcome: metrics::Outcome) -> Option<Struct> {
    let text = |s: &str| Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    };
    let mut fields = HashMap::with_capacity(3);
    fields.insert("outcome".to_owned(), text(outcome.label()));
    if let Some(k) = key {
        fields.insert("key_id".to_owned(), text(k.record.id.as_str()));
        fields.insert("owner".to_owned(), text(&k.record.owner));
    }
    Some(Struct { fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn route_settings_are_read_and_checked() {
        let e = ext(&[
            ("key_header", "x-team-key"),
            ("cost", "5"),
            ("permissions", "docs.read"),
            ("keep_credential", "true"),
            ("something_else", "ignored"),
        ]);
        assert_eq!(
            Route::read(&e),
            Ok(Route {
                key_header: Some("x-team-key"),
                cost: Some(5),
                permissions: Some("docs.read"),
                keep_credential: Some(true),
            })
        );
        assert_eq!(Route::read(&ext(&[])), Ok(Route::default()));
        assert_eq!(Route::read(&ext(&[("cost", "0")])).unwrap().cost, Some(0));
        for bad in [
            ("cost", "-1"),
            ("cost", "1000001"),
            ("cost", "lots"),
            ("key_header", ""),
            ("key_header", "x key"),
            ("key_header", "x:key"),
            ("keep_credential", "yes"),
        ] {
            let why = Route::read(&ext(&[bad])).unwrap_err();
            assert!(why.starts_with(bad.0), "{bad:?}: {why}");
        }
        let long = "é".repeat(500);
        let why = Route::read(&ext(&[("cost", &long)])).unwrap_err();
        assert!(why.chars().count() < 120, "{why}");
    }

    #[test]
    fn error_codes_come_from_the_body() {
        assert_eq!(
            error_code(r#"{"error":"rate_limited","message":"x"}"#),
            "rate_limited"
        );
        assert_eq!(error_code("{}"), "denied");
        assert_eq!(rpc_code(401), 16);
        assert_eq!(rpc_code(403), 7);
        assert_eq!(rpc_code(200), 0);
    }
}
