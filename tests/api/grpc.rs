//! keygate's gRPC Check service called directly, with a client generated from the same
//! published Envoy types Envoy's own filter speaks (`envoy-types`): the answers, the
//! per-route settings, the client address, malformed and oversized requests, health and
//! draining. Through a real Envoy: `proxies::envoy_grpc`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use envoy_types::ext_authz::v3::pb::{CheckRequest, CheckResponse, HttpResponse};
use envoy_types::pb::envoy::config::core::v3::{
    Address, HeaderMap as RawHeaders, HeaderValue, SocketAddress, address,
};
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::google::protobuf::value::Kind;
use serde_json::Value;
use tonic::transport::Channel;

use crate::helpers::{Backend, GrpcServer, TestApp, Valkey};

/// A Check as Envoy describes a request: method, host, path and headers, from `source`.
fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> CheckRequest {
    let http = HttpRequest {
        method: method.into(),
        host: "api.example.test".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        protocol: "HTTP/1.1".into(),
        scheme: "http".into(),
        ..Default::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                time: None,
                http: Some(http),
            }),
            ..Default::default()
        }),
    }
}

fn from(mut r: CheckRequest, ip: &str) -> CheckRequest {
    let a = r.attributes.as_mut().unwrap();
    a.source = Some(Peer {
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: ip.into(),
                port_specifier: Some(
                    envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(40000),
                ),
                ..Default::default()
            })),
        }),
        ..Default::default()
    });
    r
}

fn with_ext(mut r: CheckRequest, ext: &[(&str, &str)]) -> CheckRequest {
    r.attributes.as_mut().unwrap().context_extensions = ext
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    r
}

async fn client(addr: SocketAddr) -> AuthorizationClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    AuthorizationClient::new(channel)
}

/// What a CheckResponse says, in plain words.
#[derive(Debug)]
struct Answer {
    code: i32,
    /// 200 for an allow.
    status: u16,
    /// Denied: the body's JSON.
    body: Value,
    /// Headers onto the upstream request (allow) or the client's response (deny).
    headers: HashMap<String, String>,
    removed: Vec<String>,
    removed_params: Vec<String>,
    to_client: HashMap<String, String>,
    meta: HashMap<String, String>,
}

fn answer(r: CheckResponse) -> Answer {
    let code = r.status.as_ref().map_or(-1, |s| s.code);
    let meta = r
        .dynamic_metadata
        .map(|m| {
            m.fields
                .into_iter()
                .filter_map(|(k, v)| match v.kind {
                    Some(Kind::StringValue(s)) => Some((k, s)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let pairs = |h: Vec<envoy_types::ext_authz::v3::pb::HeaderValueOption>| {
        h.into_iter()
            .filter_map(|o| o.header)
            .map(|h| (h.key.to_ascii_lowercase(), h.value))
            .collect::<HashMap<_, _>>()
    };
    match r.http_response {
        Some(HttpResponse::OkResponse(ok)) => Answer {
            code,
            status: 200,
            body: Value::Null,
            headers: pairs(ok.headers),
            removed: ok.headers_to_remove,
            removed_params: ok.query_parameters_to_remove,
            to_client: pairs(ok.response_headers_to_add),
            meta,
        },
        Some(HttpResponse::DeniedResponse(d)) => Answer {
            code,
            status: u16::try_from(d.status.map_or(0, |s| s.code)).unwrap(),
            body: serde_json::from_str(&d.body)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", d.body)),
            headers: pairs(d.headers),
            removed: Vec::new(),
            removed_params: Vec::new(),
            to_client: HashMap::new(),
            meta,
        },
        other => panic!("neither allowed nor denied: {other:?}"),
    }
}

async fn check(c: &mut AuthorizationClient<Channel>, r: CheckRequest) -> Answer {
    answer(c.check(r).await.expect("a CheckResponse").into_inner())
}

async fn spawn(tweak: impl FnOnce(&mut keygate::config::Config)) -> (TestApp, GrpcServer) {
    let t = TestApp::spawn_with(Backend::Memory, |c| {
        c.grpc.enabled = true;
        tweak(c);
    })
    .await;
    let g = GrpcServer::start(t.app.clone()).await;
    (t, g)
}

#[tokio::test]
async fn a_check_is_answered_as_the_http_endpoints_answer() {
    let (t, g) = spawn(|c| c.query_param = "api_key".into()).await;
    let mut c = client(g.addr).await;
    let (key, rec) = t.create("alice", "full", &[]).await;
    let (narrow, _) = t
        .create("bob", "narrow", &["paths=/v1/*;methods=GET"])
        .await;
    let bearer = format!("Bearer {key}");

    // Allowed: identity headers for the upstream, the key removed, the metadata.
    let a = check(
        &mut c,
        request("GET", "/v1/items?page=2", &[("authorization", &bearer)]),
    )
    .await;
    assert_eq!((a.code, a.status), (0, 200), "{a:?}");
    assert_eq!(a.headers["x-authenticated-user"], "alice");
    assert_eq!(a.headers["x-authenticated-token-id"], rec.id.as_str());
    assert_eq!(a.headers["x-authenticated-token-name"], "full");
    assert_eq!(a.removed, ["authorization"]);
    assert_eq!(a.meta["outcome"], "allowed");
    assert_eq!(a.meta["key_id"], rec.id.as_str());
    assert_eq!(a.meta["owner"], "alice");
    assert!(
        a.to_client.is_empty(),
        "no limits, no RateLimit headers: {a:?}"
    );

    // The key header, another route's key header, the query parameter: each removed
    // from where it came; another Authorization scheme stays; a route may keep it.
    let none = Vec::<String>::new();
    let one = |s: &str| vec![s.to_owned()];
    for (what, r, removed, params) in [
        (
            "the key header",
            request(
                "GET",
                "/v1/x",
                &[("x-api-key", &key), ("authorization", "Digest abc")],
            ),
            one("x-api-key"),
            none.clone(),
        ),
        (
            "the route's key header",
            with_ext(
                request("GET", "/v1/x", &[("x-team-key", &key)]),
                &[("key_header", "X-Team-Key")],
            ),
            one("x-team-key"),
            none.clone(),
        ),
        (
            "the query parameter",
            request("GET", &format!("/v1/x?a=1&api_key={key}"), &[]),
            none.clone(),
            one("api_key"),
        ),
        (
            "a route keeping the credential",
            with_ext(
                request("GET", "/v1/x", &[("authorization", &bearer)]),
                &[("keep_credential", "true")],
            ),
            none.clone(),
            none.clone(),
        ),
    ] {
        let a = check(&mut c, r).await;
        assert_eq!(
            (a.status, a.removed.clone(), a.removed_params.clone()),
            (200, removed, params),
            "{what}: {a:?}"
        );
    }
    let a = check(&mut c, request("GET", "/v1/x", &[("x-team-key", &key)])).await;
    assert_eq!(
        a.status, 401,
        "x-team-key is read only where the route says so"
    );

    // Refused: the HTTP endpoints' status, body and headers.
    let a = check(&mut c, request("GET", "/v1/x", &[])).await;
    assert_eq!((a.status, a.code), (401, 16), "{a:?}");
    assert_eq!(a.body["error"], "unauthorized");
    assert!(a.headers["www-authenticate"].starts_with("Bearer"), "{a:?}");
    assert_eq!(a.headers["content-type"], "application/json");
    assert_eq!(a.meta["outcome"], "unauthenticated");
    assert!(!a.meta.contains_key("key_id"));
    let a = check(
        &mut c,
        request(
            "POST",
            "/v1/x",
            &[("authorization", &format!("Bearer {narrow}"))],
        ),
    )
    .await;
    assert_eq!((a.status, a.code), (403, 7), "{a:?}");
    assert_eq!(a.body["error"], "forbidden");
    assert_eq!(a.meta["owner"], "bob");

    // A route's permissions requirement.
    let docs = with_ext(
        request("GET", "/docs", &[("authorization", &bearer)]),
        &[("permissions", "docs.read")],
    );
    let a = check(&mut c, docs).await;
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(a.body["error"], "insufficient_permissions");
    assert_eq!(a.body["missing"], serde_json::json!(["docs.read"]));
    // A route setting that does not parse refuses, naming it.
    for (k, v) in [
        ("cost", "a lot"),
        ("permissions", "docs.read AND"),
        ("key_header", "bad name"),
    ] {
        let a = check(
            &mut c,
            with_ext(
                request("GET", "/v1/x", &[("authorization", &bearer)]),
                &[(k, v)],
            ),
        )
        .await;
        assert_eq!(a.status, 403, "{k}={v}: {a:?}");
        let error = a.body["error"].as_str().unwrap();
        assert!(
            ["invalid_route_setting", "invalid_requirement"].contains(&error),
            "{k}={v}: {a:?}"
        );
    }

    // The decisions are counted under their own endpoint.
    let metrics = t
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"endpoint="ext_authz_grpc",outcome="allowed""#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_route_can_charge_more_than_one_credit() {
    let (t, g) = spawn(|_| {}).await;
    let mut c = client(g.addr).await;
    use keygate::limits::RateLimit;
    use keygate::manage::{CreditsView, LimitsView, NewToken};
    let (key, _) = t
        .app
        .keys
        .create(
            NewToken {
                owner: "dave".into(),
                name: "metered".into(),
                limits: Some(LimitsView {
                    rate_limits: vec![RateLimit::parse_spec("100/1h").unwrap()],
                    credits: Some(CreditsView {
                        remaining: 7,
                        refill: None,
                    }),
                }),
                ..NewToken::default()
            },
            &keygate::manage::Actor::cli(),
        )
        .await
        .unwrap();
    let bearer = format!("Bearer {}", key.expose());
    let costing = |n: &str| {
        with_ext(
            request("GET", "/reports", &[("authorization", &bearer)]),
            &[("cost", n)],
        )
    };
    // 7 credits: 3 + 3, then 3 more is refused (1 left, nothing spent), then 1 is not.
    for n in ["3", "3"] {
        let a = check(&mut c, costing(n)).await;
        assert_eq!(a.status, 200, "{a:?}");
        // The client's response gets what is left of the rate limit.
        assert_eq!(
            a.to_client["ratelimit-policy"], r#""1h";q=100;w=3600"#,
            "{a:?}"
        );
        assert!(a.to_client["ratelimit"].starts_with(r#""1h";r="#), "{a:?}");
    }
    let a = check(&mut c, costing("3")).await;
    assert_eq!((a.status, a.code), (429, 8), "{a:?}");
    assert_eq!(a.body["error"], "usage_exceeded");
    assert_eq!(a.meta["outcome"], "usage_exceeded");
    let a = check(&mut c, costing("1")).await;
    assert_eq!(a.status, 200, "the refusal spent nothing: {a:?}");
    let a = check(&mut c, costing("1")).await;
    assert_eq!(a.status, 429, "{a:?}");
    // A free route passes with no credits left.
    let a = check(&mut c, costing("0")).await;
    assert_eq!(a.status, 200, "{a:?}");
}

#[tokio::test]
async fn the_client_is_the_address_envoy_reports_when_envoy_is_trusted() {
    let throttle = |c: &mut keygate::config::Config| {
        c.throttle = keygate::config::ThrottleConfig {
            enabled: true,
            max_failures: 2,
            window_secs: 60,
            max_addresses: 1000,
            ..Default::default()
        };
    };
    // Loopback (the caller here) is trusted by default.
    let (t, g) = spawn(throttle).await;
    let mut c = client(g.addr).await;
    let (good, _) = t.create("alice", "k", &[]).await;
    let bad = "Bearer kg_notakeyatall";
    for _ in 0..2 {
        let a = check(
            &mut c,
            from(
                request("GET", "/", &[("authorization", bad)]),
                "203.0.113.7",
            ),
        )
        .await;
        assert_eq!(a.status, 401, "{a:?}");
    }
    let a = check(
        &mut c,
        from(
            request("GET", "/", &[("authorization", bad)]),
            "203.0.113.7",
        ),
    )
    .await;
    assert_eq!(a.status, 429, "{a:?}");
    assert_eq!(a.body["error"], "too_many_failures");
    assert!(a.headers.contains_key("retry-after"), "{a:?}");
    let a = check(
        &mut c,
        from(
            request("GET", "/", &[("authorization", &format!("Bearer {good}"))]),
            "203.0.113.8",
        ),
    )
    .await;
    assert_eq!(a.status, 200, "another client is not throttled: {a:?}");
    drop(g);
    drop(t);

    // From a caller that is not trusted, the reported source is not believed: every
    // failure counts against the caller.
    let (t, g) = spawn(|c| {
        throttle(c);
        c.trusted_proxies = vec!["10.0.0.0/8".into()];
    })
    .await;
    let mut c = client(g.addr).await;
    let (fresh, _) = t.create("alice", "fresh", &[]).await;
    for ip in ["203.0.113.1", "203.0.113.2"] {
        let a = check(
            &mut c,
            from(request("GET", "/", &[("authorization", bad)]), ip),
        )
        .await;
        assert_eq!(a.status, 401, "{a:?}");
    }
    let a = check(
        &mut c,
        from(
            request("GET", "/", &[("authorization", &format!("Bearer {fresh}"))]),
            "203.0.113.3",
        ),
    )
    .await;
    assert_eq!(a.status, 429, "{a:?}");
}

/// Sends `body` as the CheckRequest's bytes, whatever they are.
async fn raw_check(addr: SocketAddr, body: Vec<u8>) -> Result<CheckResponse, tonic::Status> {
    #[derive(Clone, Default)]
    struct Raw;
    struct Enc;
    struct Dec;
    impl tonic::codec::Encoder for Enc {
        type Item = Vec<u8>;
        type Error = tonic::Status;
        fn encode(
            &mut self,
            item: Vec<u8>,
            dst: &mut tonic::codec::EncodeBuf<'_>,
        ) -> Result<(), tonic::Status> {
            use bytes::BufMut;
            dst.put_slice(&item);
            Ok(())
        }
    }
    impl tonic::codec::Decoder for Dec {
        type Item = CheckResponse;
        type Error = tonic::Status;
        fn decode(
            &mut self,
            src: &mut tonic::codec::DecodeBuf<'_>,
        ) -> Result<Option<CheckResponse>, tonic::Status> {
            prost::Message::decode(src)
                .map(Some)
                .map_err(|e| tonic::Status::internal(e.to_string()))
        }
    }
    impl tonic::codec::Codec for Raw {
        type Encode = Vec<u8>;
        type Decode = CheckResponse;
        type Encoder = Enc;
        type Decoder = Dec;
        fn encoder(&mut self) -> Enc {
            Enc
        }
        fn decoder(&mut self) -> Dec {
            Dec
        }
    }
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/envoy.service.auth.v3.Authorization/Check",
    );
    grpc.unary(tonic::Request::new(body), path, Raw)
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn malformed_and_oversized_checks_are_denied_never_allowed() {
    let (t, g) = spawn(|c| c.grpc.max_message_bytes = 64 * 1024).await;
    let mut c = client(g.addr).await;
    let (key, _) = t.create("alice", "k", &[]).await;
    let bearer = format!("Bearer {key}");

    // No HTTP attributes at all, and a request with no path.
    let a = check(&mut c, CheckRequest::default()).await;
    assert_eq!((a.status, a.code), (400, 3), "{a:?}");
    assert_eq!(a.body["error"], "invalid_check_request");
    let a = check(&mut c, request("GET", "", &[("authorization", &bearer)])).await;
    assert_eq!(a.status, 400, "{a:?}");

    // More headers than keygate reads (a valid key among them).
    let names: Vec<String> = (0..600).map(|i| format!("x-filler-{i}")).collect();
    let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    many.push(("authorization", &bearer));
    let a = check(&mut c, request("GET", "/", &many)).await;
    assert_eq!(a.status, 431, "{a:?}");
    assert_eq!(a.body["error"], "too_many_headers");

    // Larger than grpc.max_message_bytes: refused before it is decoded.
    let big = "x".repeat(70 * 1024);
    let err = c
        .check(request(
            "GET",
            "/",
            &[("authorization", &bearer), ("x-big", &big)],
        ))
        .await
        .expect_err("an oversized CheckRequest must not be answered");
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err:?}");

    // Raw header values (Envoy's encode_raw_headers) that are not text: the key cannot
    // be read, 401; a path that is not UTF-8 cannot arrive as a protobuf string.
    let mut r = request("GET", "/", &[]);
    r.attributes
        .as_mut()
        .unwrap()
        .request
        .as_mut()
        .unwrap()
        .http
        .as_mut()
        .unwrap()
        .header_map = Some(RawHeaders {
        headers: vec![HeaderValue {
            key: "authorization".into(),
            value: String::new(),
            raw_value: format!("Bearer {key}\u{0}\u{7f}")
                .into_bytes()
                .into_iter()
                .chain([0xff])
                .collect(),
        }],
    });
    let a = check(&mut c, r).await;
    assert_eq!(a.status, 401, "{a:?}");
    assert_eq!(a.body["error"], "unauthorized");

    // A string field that is not UTF-8 on the wire is not a protobuf message: an error,
    // never an allow.
    let marker = "MARKERMARKER";
    let mut bytes = prost::Message::encode_to_vec(&request(
        "GET",
        "/",
        &[("authorization", &bearer), ("x-odd", marker)],
    ));
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .unwrap();
    bytes[at] = 0xff;
    let err = raw_check(g.addr, bytes)
        .await
        .expect_err("not a valid CheckRequest");
    assert_ne!(err.code(), tonic::Code::Ok, "{err:?}");
    // Garbage.
    let err = raw_check(g.addr, vec![0xff; 64])
        .await
        .expect_err("garbage");
    assert_ne!(err.code(), tonic::Code::Ok, "{err:?}");

    // After all that the service still answers.
    let a = check(&mut c, request("GET", "/", &[("authorization", &bearer)])).await;
    assert_eq!(a.status, 200, "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_connections_and_draining() {
    let valkey = Valkey::start();
    let data = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::base_config(data.path());
    config.grpc.enabled = true;
    config.valkey_url = Some(valkey.url());
    config.store_timeout_ms = 5_000;
    config.header_read_timeout_ms = 400;
    config.idle_timeout_ms = 400;
    let app = std::sync::Arc::new(
        keygate::app::App::open(config, keygate::clock::Clock::system()).unwrap(),
    );
    let t = TestApp::serve(app, data, Some(valkey)).await;
    let mut g = GrpcServer::start(t.app.clone()).await;

    // The standard health service: the server and the Check service are serving.
    let channel = Channel::from_shared(format!("http://{}", g.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "envoy.service.auth.v3.Authorization"] {
        let s = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(s.status, 1, "{service:?} is SERVING");
    }

    // A connection that never sends a byte is closed (header_read_timeout_ms).
    let mut silent = tokio::net::TcpStream::connect(g.addr).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), async {
        use tokio::io::AsyncReadExt;
        let _ = silent.read_to_end(&mut got).await;
    })
    .await
    .expect("a silent connection is closed");
    // The server's HTTP/2 SETTINGS and GOAWAY, at most.
    assert!(got.len() < 200, "{} bytes", got.len());

    // A Check in flight when keygate is told to stop is answered: the store is held
    // still while it waits on it, then let go after the stop began.
    let (key, _) = t.create("alice", "k", &[]).await;
    let mut c = client(g.addr).await;
    t.valkey.as_ref().unwrap().pause();
    let bearer = format!("Bearer {key}");
    let pending = tokio::spawn(async move {
        c.check(request("GET", "/", &[("authorization", &bearer)]))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    g.begin_stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Stopped accepting: a new connection is refused.
    assert!(
        tokio::net::TcpStream::connect(g.addr).await.is_err(),
        "the listener closed"
    );
    t.valkey.as_ref().unwrap().resume();
    let r = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .expect("the Check in flight finished")
        .unwrap()
        .expect("answered, not cut off");
    assert_eq!(answer(r.into_inner()).status, 200);
    g.stop().await;
}

mod properties {
    //! Arbitrary Checks, decided in-process: only a request carrying the valid key (in a
    //! place keygate reads it, on a route whose settings parse) is ever allowed, and
    //! nothing panics.
    use super::*;
    use envoy_types::ext_authz::v3::pb::Authorization;
    use keygate::grpc::Check;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-zA-Z0-9 /.%?&=:_-]{0,24}",
            any::<String>().prop_map(|s| s.chars().take(40).collect()),
        ]
    }

    fn header_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("authorization".to_owned()),
            Just("Authorization".to_owned()),
            Just("x-api-key".to_owned()),
            Just("x-forwarded-for".to_owned()),
            Just("x-keygate-require".to_owned()),
            "[a-z-]{1,12}",
        ]
    }

    fn ext_key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("cost".to_owned()),
            Just("key_header".to_owned()),
            Just("permissions".to_owned()),
            Just("keep_credential".to_owned()),
            "[a-z_]{1,10}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn only_the_valid_key_is_ever_allowed(
            method in text(),
            path in text(),
            host in text(),
            headers in proptest::collection::vec((header_name(), text()), 0..8),
            ext in proptest::collection::vec((ext_key(), text()), 0..4),
            with_key in any::<bool>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let t = TestApp::spawn_with(Backend::Memory, |c| c.grpc.enabled = true).await;
                let (key, _) = t.create("alice", "k", &[]).await;
                let check = Check::new(t.app.clone(), &t.app.config.grpc);
                let mut pairs: Vec<(String, String)> = headers;
                if with_key {
                    pairs.push(("authorization".into(), format!("Bearer {key}")));
                }
                let refs: Vec<(&str, &str)> =
                    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let mut r = request(&method, &path, &refs);
                {
                    let http = r.attributes.as_mut().unwrap().request.as_mut().unwrap().http.as_mut().unwrap();
                    http.host = host;
                }
                let ext: Vec<(&str, &str)> = ext.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let r = with_ext(r, &ext);
                let a = answer(check.check(tonic::Request::new(r)).await.unwrap().into_inner());
                if a.status == 200 {
                    // Allowed: the valid key was there, in the header keygate read.
                    prop_assert!(pairs.iter().any(|(_, v)| v.contains(key.as_str())), "{a:?}");
                    prop_assert_eq!(a.code, 0);
                    prop_assert_eq!(&a.headers["x-authenticated-user"], "alice");
                } else {
                    prop_assert!(a.code != 0, "{a:?}");
                    prop_assert!(a.body["error"].is_string(), "{a:?}");
                }
                Ok(())
            })?;
        }
    }
}
