use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

#[test]
fn defaults() {
    let l = load(Some(file("").path()), &env(&[]), &Overrides::new()).unwrap();
    assert_eq!(l.config.port, 8080);
    assert_eq!(l.config.address, "127.0.0.1");
    assert_eq!(l.config.store_timeout_ms, 500);
    assert_eq!(l.config.redb_cache_mib, DEFAULT_REDB_CACHE_MIB);
    assert!(l.config.valkey_url.is_none());
    assert_eq!(l.config.header_read_timeout_ms, 10_000);
    assert_eq!(l.config.idle_timeout_ms, 5_000);
    assert_eq!(l.config.max_connections, 10_000);
    assert_eq!(l.config.throttle.ipv6_prefix, 64);
    let e = env(&[
        ("KEYGATE_MAX_CONNECTIONS", "50"),
        ("KEYGATE_THROTTLE__IPV6_PREFIX", "56"),
    ]);
    let l = load(Some(file("").path()), &e, &Overrides::new()).unwrap();
    assert_eq!(l.config.max_connections, 50);
    assert_eq!(l.config.throttle.ipv6_prefix, 56);
}

#[test]
fn limits_from_file_and_env() {
    let l = load(Some(file("").path()), &env(&[]), &Overrides::new()).unwrap();
    assert_eq!(l.config.limits.on_store_error, "deny");
    assert!(l.config.limits.key_defaults().unwrap().0.is_empty());
    let e = env(&[
        ("KEYGATE_LIMITS__RATE_LIMITS", "100/1m, per-hour=5000/1h"),
        ("KEYGATE_LIMITS__CREDITS", "10000"),
        ("KEYGATE_LIMITS__REFILL", "10000/monthly"),
        ("KEYGATE_LIMITS__OWNER__RATE_LIMITS", "1000/1m"),
    ]);
    let l = load(Some(file("").path()), &e, &Overrides::new()).unwrap();
    let (limits, credits) = l.config.limits.key_defaults().unwrap();
    assert_eq!(limits.rate_limits.len(), 2);
    assert_eq!(limits.rate_limits[1].name, "per-hour");
    assert_eq!(credits, Some(10_000));
    let (owner, none) = l.config.limits.owner_defaults().unwrap();
    assert_eq!((owner.rate_limits[0].limit, none), (1000, None));
}

#[test]
fn layers_in_order() {
    let f = file("port = 9000\naddress = \"0.0.0.0\"\n[cache]\nttl_secs = 5\n");
    let e = env(&[
        ("KEYGATE_PORT", "9100"),
        ("KEYGATE_CACHE__MAX_ENTRIES", "7"),
    ]);
    let mut o = Overrides::new();
    let l = load(Some(f.path()), &e, &o).unwrap();
    assert_eq!(l.config.port, 9100);
    assert_eq!(l.config.address, "0.0.0.0");
    assert_eq!(l.config.cache.ttl_secs, 5);
    assert_eq!(l.config.cache.max_entries, 7);
    o.insert("port", Value::from(9200));
    assert_eq!(load(Some(f.path()), &e, &o).unwrap().config.port, 9200);
}

#[test]
fn unknown_file_key_is_an_error_naming_it() {
    let f = file("port = 1\nportt = 2\n");
    let e = load(Some(f.path()), &env(&[]), &Overrides::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("portt"), "{e}");
    let f = file("[cache]\nttl = 2\n");
    let e = load(Some(f.path()), &env(&[]), &Overrides::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("ttl"), "{e}");
}

#[test]
fn wrong_types_are_errors() {
    let f = file("port = \"eighty\"\n");
    assert!(load(Some(f.path()), &env(&[]), &Overrides::new()).is_err());
    let e = load(
        Some(file("").path()),
        &env(&[("KEYGATE_PORT", "x")]),
        &Overrides::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("KEYGATE_PORT"), "{e}");
    let e = load(
        Some(file("").path()),
        &env(&[("KEYGATE_PORT", "70000")]),
        &Overrides::new(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("65535") || e.to_string().contains("u16"),
        "{e}"
    );
}

#[test]
fn settings_named_file_are_set_from_env() {
    let e = env(&[("KEYGATE_VALKEY_TLS_CA_FILE", "/certs/ca.pem")]);
    let l = load(None, &e, &Overrides::new()).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(
        l.config.valkey_tls_ca_file,
        Some(PathBuf::from("/certs/ca.pem"))
    );
}

#[test]
fn unknown_env_is_a_warning() {
    let l = load(
        Some(file("").path()),
        &env(&[("KEYGATE_PROT", "1"), ("OTHER", "x")]),
        &Overrides::new(),
    )
    .unwrap();
    assert_eq!(
        l.warnings,
        vec!["ignoring unknown environment variable KEYGATE_PROT"]
    );
}

#[test]
fn numeric_looking_strings_stay_strings() {
    let l = load(
        Some(file("").path()),
        &env(&[("KEYGATE_VALKEY_PASSWORD", "12345")]),
        &Overrides::new(),
    )
    .unwrap();
    assert_eq!(l.config.valkey_password.unwrap().expose(), "12345");
}

#[test]
fn secrets_from_files_and_redacted() {
    let salt = "ab".repeat(32);
    let s = file(&format!("{salt}\n"));
    let e = env(&[("KEYGATE_TOKEN_SALT_FILE", s.path().to_str().unwrap())]);
    let l = load(Some(file("").path()), &e, &Overrides::new()).unwrap();
    assert_eq!(l.config.token_salt.as_ref().unwrap().expose(), salt);
    let shown = l.config.to_redacted_toml();
    assert!(!shown.contains(&salt));
    assert!(shown.contains("token_salt = \"<redacted>\""), "{shown}");
    let e = env(&[("KEYGATE_TOKEN_SALT_FILE", "/nonexistent/salt")]);
    let err = load(Some(file("").path()), &e, &Overrides::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("KEYGATE_TOKEN_SALT_FILE"), "{err}");
}

#[test]
fn validation_names_the_setting() {
    for (text, needle) in [
        ("key_prefix = \"KG\"", "key_prefix"),
        ("token_salt = \"abc\"", "gen-salt"),
        ("valkey_url = \"http://x\"", "valkey_url"),
        ("store_timeout_ms = 0", "store_timeout_ms"),
        ("redb_cache_mib = 0", "redb_cache_mib"),
        ("api_key_header = \"bad header\"", "api_key_header"),
        ("[headers]\nuser = \"a b\"", "headers.user"),
        ("[throttle]\nipv6_prefix = 0", "throttle.ipv6_prefix"),
        ("[throttle]\nipv6_prefix = 129", "throttle.ipv6_prefix"),
        ("header_read_timeout_ms = 0", "header_read_timeout_ms"),
        ("idle_timeout_ms = 0", "idle_timeout_ms"),
        ("max_connections = 0", "max_connections"),
        ("[limits]\nrate_limits = [\"0/1m\"]", "limits.rate_limits"),
        ("[limits]\nrate_limits = [\"-5/1m\"]", "limits.rate_limits"),
        ("[limits]\nrate_limits = [\"5/40d\"]", "31d"),
        ("[limits]\nrate_limits = [\"5/1y\"]", "unknown unit"),
        ("[limits]\nrate_limits = [\"5\"]", "limits.rate_limits"),
        (
            "[limits]\nrate_limits = [\"a=1/1m\", \"a=2/1h\"]",
            "two rate limits",
        ),
        (
            "[limits]\nrefill = \"5/daily\"",
            "limits.refill needs limits.credits",
        ),
        (
            "[limits]\ncredits = 5\nrefill = \"5/yearly\"",
            "limits.refill",
        ),
        (
            "[limits]\non_store_error = \"maybe\"",
            "limits.on_store_error",
        ),
        (
            "[limits.owner]\nrate_limits = [\"1/0s\"]",
            "limits.owner.rate_limits",
        ),
        (
            "[limits.owner]\ncredits = 2000000000000000000",
            "limits.owner.credits",
        ),
    ] {
        let e = load(Some(file(text).path()), &env(&[]), &Overrides::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{text}: {e}");
    }
}

#[test]
fn passwords_in_urls_are_redacted() {
    assert_eq!(
        redact_url_password("redis://u:p4ss@h:1/0"),
        "redis://u:<redacted>@h:1/0"
    );
    assert_eq!(
        redact_url_password("redis://:p4ss@h"),
        "redis://:<redacted>@h"
    );
    assert_eq!(redact_url_password("redis://h:1"), "redis://h:1");
    let f = file(
        "valkey_url = \"redis://u:hunter2@h:6379\"\ntoken_salt = \"00000000000000000000000000000000000000000000000000000000000000ff\"\n",
    );
    let shown = load(Some(f.path()), &env(&[]), &Overrides::new())
        .unwrap()
        .config
        .to_redacted_toml();
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn frontend_defaults_file_and_env() {
    let l = load(Some(file("").path()), &env(&[]), &Overrides::new()).unwrap();
    assert_eq!(l.config.base_path, "");
    assert_eq!(l.config.frontend, FrontendConfig::default());
    assert_eq!(l.config.frontend.app_name, "keygate");
    assert_eq!(l.config.frontend.api_docs_path, "/docs");
    let f = file(
        "base_path = \"/keygate\"\n[oauth]\nissuer_url = \"https://idp.example.com\"\n\
         [frontend]\napp_name = \"Keys\"\noidc_client_id = \"ui\"\ndocs_html = \"<p>hi</p>\"\n",
    );
    let html = file("<h2>From a file</h2>\n");
    let e = env(&[
        ("KEYGATE_FRONTEND__OIDC_SCOPE", "openid api"),
        ("KEYGATE_BASE_PATH", "/gate"),
    ]);
    let c = load(Some(f.path()), &e, &Overrides::new()).unwrap().config;
    assert_eq!(c.base_path, "/gate");
    assert_eq!(c.frontend.app_name, "Keys");
    assert_eq!(c.frontend.oidc_scope, "openid api");
    assert_eq!(c.frontend.docs_html, "<p>hi</p>");
    // The authority defaults to the issuer the API trusts.
    assert_eq!(c.frontend.authority(&c.oauth), "https://idp.example.com");
    // `_FILE` reads docs_html from a file, like any other setting.
    let e = env(&[(
        "KEYGATE_FRONTEND__DOCS_HTML_FILE",
        html.path().to_str().unwrap(),
    )]);
    let c = load(Some(file("").path()), &e, &Overrides::new())
        .unwrap()
        .config;
    assert_eq!(c.frontend.docs_html, "<h2>From a file</h2>");
}

#[test]
fn frontend_validation_names_the_setting() {
    for (text, needle) in [
        ("base_path = \"keygate\"", "base_path"),
        ("base_path = \"/keygate/\"", "base_path"),
        ("base_path = \"/a/../b\"", "base_path"),
        ("base_path = \"/a b\"", "base_path"),
        ("[frontend]\noidc_client_id = \"ui\"", "oidc_client_id"),
        (
            "[frontend]\noidc_client_id = \"ui\"\noidc_authority = \"https://idp\"",
            "[oauth]",
        ),
        (
            "[frontend]\noidc_authority = \"idp.example.com\"",
            "oidc_authority",
        ),
        (
            "[frontend]\noidc_redirect_uri = \"/callback\"",
            "oidc_redirect_uri",
        ),
        (
            "[frontend]\ndocs_html = \"x\"\ndocs_html_file = \"/etc/x\"",
            "docs_html_file",
        ),
        ("[frontend]\napp_name = \" \"", "app_name"),
        ("[frontend]\ncolour = \"blue\"", "colour"),
    ] {
        let e = load(Some(file(text).path()), &env(&[]), &Overrides::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{text}: {e}");
    }
    for ok in ["base_path = \"/keygate\"", "base_path = \"/a/b-c.d\""] {
        load(Some(file(ok).path()), &env(&[]), &Overrides::new()).unwrap();
    }
}

#[test]
fn missing_explicit_file_is_an_error() {
    let e = load(
        Some(Path::new("/nonexistent/keygate.toml")),
        &env(&[]),
        &Overrides::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/keygate.toml"));
}

#[test]
fn permissions_from_file_and_env_with_errors_naming_the_setting() {
    let f = file(
        "[permissions]\nupstream_header = \"X-Keygate-Permissions\"\n\
         [[permissions.require]]\npaths = [\"/docs/*\"]\nquery = \"docs.read OR docs.write\"\n",
    );
    let l = load(Some(f.path()), &env(&[]), &Overrides::new()).unwrap();
    assert_eq!(l.config.permissions.header, "X-Keygate-Require");
    assert_eq!(l.config.permissions.requirements().unwrap().len(), 1);
    let e = env(&[(
        "KEYGATE_PERMISSIONS__REQUIRE",
        r#"[{"methods": ["POST"], "query": "docs.write"}]"#,
    )]);
    let l = load(Some(file("").path()), &e, &Overrides::new()).unwrap();
    assert_eq!(l.config.permissions.require[0].query, "docs.write");
    for (text, says) in [
        (
            "[[permissions.require]]\nquery = \"docs.read AND\"\n",
            "permissions.require[1].query: permissions query: at position 14",
        ),
        (
            "[[permissions.require]]\npaths = [\"/a\"]\n",
            "permissions.require[1].query: a query is required",
        ),
        (
            "[[permissions.require]]\npaths = [\"no-slash\"]\nquery = \"a\"\n",
            "permissions.require[1]:",
        ),
        (
            "[permissions]\nheader = \"bad header\"\n",
            "permissions.header: `bad header`",
        ),
        (
            "[[proxy.routes]]\nupstream = \"http://127.0.0.1:1\"\npermissions = \"(a\"\n",
            "proxy.routes[1].permissions: permissions query: at position 3",
        ),
        (
            "[[proxy.routes]]\nupstream = \"http://127.0.0.1:1\"\npublic = true\npermissions = \"a\"\n",
            "a public route asks for no key",
        ),
    ] {
        let e = load(Some(file(text).path()), &env(&[]), &Overrides::new())
            .and_then(|l| l.config.validate().map(|_| l))
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"))
            .to_string();
        assert!(e.contains(says), "{text}: {e}");
    }
}
