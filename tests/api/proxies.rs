//! keygate behind the real proxies (issue 6).

use crate::helpers::{Backend, TestApp};

const API_HOST: &str = "api.example.test";

/// What the ingress-nginx run found: ingress-nginx sets X-Original-URL and passes a
/// client's own X-Original-URI on to /auth, which used to win. Now the two must agree.
#[tokio::test]
async fn auth_refuses_a_request_described_two_ways() {
    let t = TestApp::spawn(Backend::Memory).await;
    let (full, _) = t.create("alice", "full", &[]).await;
    let (narrow, _) = t
        .create(
            "bob",
            "narrow",
            &[&format!("hosts={API_HOST};paths=/v1/*;methods=GET")],
        )
        .await;
    let ask = |key: Option<&str>, url_path: &str, uri: Option<&str>| {
        let mut b = t
            .get("/auth")
            .header("X-Original-Method", "GET")
            .header("X-Original-URL", format!("http://{API_HOST}{url_path}"));
        if let Some(u) = uri {
            b = b.header("X-Original-URI", u);
        }
        if let Some(k) = key {
            b = b.bearer_auth(k);
        }
        async move { b.send().await.unwrap().status().as_u16() }
    };
    // One description, or two that agree: the rules decide.
    assert_eq!(ask(Some(&narrow), "/v1/items", None).await, 200);
    assert_eq!(ask(Some(&narrow), "/admin", None).await, 403);
    assert_eq!(
        ask(Some(&narrow), "/v1/items?a=1", Some("/v1/items?a=1")).await,
        200
    );
    // Two that disagree: never an allow, whichever is the true one…
    assert_eq!(ask(Some(&narrow), "/admin", Some("/v1/items")).await, 403);
    assert_eq!(ask(Some(&narrow), "/v1/items", Some("/admin")).await, 403);
    assert_eq!(ask(Some(&full), "/admin", Some("/v1/items")).await, 403);
    // …and a refusal keeps its own status.
    assert_eq!(ask(None, "/admin", Some("/v1/items")).await, 401);
}
