//! Property tests (proptest): the parsers that see untrusted bytes never panic, and a
//! path that passes a `/v1/*` rule stays under `/v1` whichever way an upstream reads it.
//! The fuzz targets in `fuzz/` check the same invariants on unstructured bytes.

use base64::Engine;
use keygate::decide::credential::{self, Sources};
use keygate::fuzzing::{self, HOSTILE_PATHS, PLAIN_PATHS, upstream_readings};
use keygate::rules::{self, Rule, Target};
use keygate::token::{self, KeyPrefix, Shape};
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Pieces that make paths interesting: dot segments, separators and their encodings,
/// path parameters, double encoding, overlong UTF-8, lookalikes, controls.
const PIECES: &[&str] = &[
    "/",
    "/",
    "/",
    "v1",
    "admin",
    "a",
    ".",
    "..",
    "...",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "\\",
    ";",
    "%3b",
    ";x=1",
    "%25",
    "%32",
    "%65",
    "%252e",
    "%u002e",
    "%c0%ae",
    "%c0%af",
    "%e0%80%ae",
    "%ef%bc%8e",
    "%ef%bc%8f",
    "%e2%88%95",
    "%e2%80%a4",
    "\u{ff0e}",
    "\u{ff0f}",
    "\u{2024}",
    "%3f",
    "%23",
    "?",
    "#",
    "%00",
    "%09",
    "%20",
    "%",
    "%C3%A9",
    "//",
    "http://h",
    "x.json",
];

fn piecewise(prefix: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..14)
        .prop_map(move |p| format!("{prefix}{}", p.concat()))
}

/// Made of the pieces, from the hostile table, or anything at all.
fn paths() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => piecewise("/v1/"),
        2 => piecewise(""),
        1 => prop::sample::select(HOSTILE_PATHS).prop_map(str::to_owned),
        1 => prop::sample::select(PLAIN_PATHS).prop_map(str::to_owned),
        2 => any::<String>(),
    ]
}

fn get<'a>(uri: &'a str) -> Target<'a> {
    Target {
        method: "GET",
        host: "api.example.com",
        uri,
        needs: &[],
        cost: 1,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn normalising_a_path_twice_changes_nothing(uri in paths()) {
        let once = rules::normalize_path(&uri);
        prop_assert_eq!(rules::normalize_path(&once), once.clone(), "{:?}", uri);
        prop_assert!(once.starts_with('/'));
        prop_assert!(!once.contains("//") && !once.contains("/./") && !once.contains("/../"));
    }

    #[test]
    fn a_path_passing_v1_is_under_v1_for_every_upstream(uri in paths()) {
        let v1 = [Rule::parse_spec("paths=/v1/*").unwrap()];
        if rules::allows(&v1, &get(&uri)) {
            for (upstream, read) in upstream_readings(&uri) {
                prop_assert!(
                    read.starts_with("/v1/") || read == "/v1",
                    "{:?} passes /v1/* but {} reads {:?}", uri, upstream, read
                );
            }
        }
    }

    #[test]
    fn keys_without_path_rules_ignore_the_path(uri in paths()) {
        let rules = [Rule::parse_spec("hosts=api.example.com;methods=GET").unwrap()];
        prop_assert!(rules::allows(&rules, &get(&uri)));
        prop_assert!(rules::allows(&[], &get(&uri)));
    }

    #[test]
    fn a_table_is_matched_as_rule_by_rule(
        uri in paths(),
        method in prop::sample::select(vec!["GET", "POST", "DELETE"]),
        host in prop::sample::select(vec!["api.example.com", "docs.example.com:8443", ""]),
        picks in prop::collection::vec(0usize..7, 0..6),
    ) {
        // Route and requirement tables: the first entry that takes the request, with the
        // path read once, is the first one a rule of its own would allow.
        let specs = [
            "paths=/v1/*",
            "methods=POST",
            "hosts=docs.example.com",
            "hosts=api.example.com;paths=/v1/items,/v2/*;methods=GET",
            "paths=/",
            "paths=/v1;methods=DELETE",
        ];
        let table: Vec<Rule> = picks
            .iter()
            .map(|&i| specs.get(i).map_or_else(Rule::default, |s| Rule::parse_spec(s).unwrap()))
            .collect();
        let t = Target { method, host, uri: &uri, needs: &[], cost: 1 };
        let one_by_one = table
            .iter()
            .position(|r| *r == Rule::default() || rules::allows(std::slice::from_ref(r), &t));
        prop_assert_eq!(rules::first_match(&table, &t), one_by_one);
    }

    #[test]
    fn rule_specs_never_panic_and_round_trip(spec in ".{0,80}", uri in paths()) {
        prop_assert_eq!(fuzzing::rules(format!("{spec}\n{uri}\nh").as_bytes()), Ok(()));
    }

    #[test]
    fn key_parse_never_panics(text in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let prefix = KeyPrefix::default();
        let _ = token::precheck(&text, &prefix, true);
        let _ = token::hint(&text);
        prop_assert_eq!(fuzzing::key(&bytes), Ok(()));
    }

    #[test]
    fn generated_keys_round_trip(random in any::<[u8; 32]>(), prefix in "[a-z0-9]{1,16}") {
        let prefix = KeyPrefix::parse(&prefix).unwrap();
        let key = token::assemble(&prefix, &random);
        prop_assert_eq!(token::precheck(&key, &prefix, false), Ok(Shape::Ours));
        prop_assert_eq!(key.len(), prefix.as_str().len() + 1 + token::BODY_LEN);
        // the same random bytes give the same key; the hint shows at most 8 of its characters
        prop_assert_eq!(token::assemble(&prefix, &random), key.clone());
        let hint = token::hint(&key);
        prop_assert!(hint.chars().filter(char::is_ascii_alphanumeric).count() <= 8 + prefix.as_str().len());
    }

    #[test]
    fn credential_extraction_never_panics(
        auth in prop::collection::vec(any::<u8>(), 0..200),
        other in prop::collection::vec(any::<u8>(), 0..200),
        uri in paths(),
    ) {
        let mut data = auth.clone();
        data.push(b'\n');
        data.extend_from_slice(&other);
        data.push(b'\n');
        data.extend_from_slice(uri.as_bytes());
        prop_assert_eq!(fuzzing::credential(&data), Ok(()));
    }

    #[test]
    fn basic_credentials_round_trip(user in "[^:\\x00]{0,30}", pass in ".{0,60}") {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_str(&format!("Basic {b64}")).unwrap());
        let sources = Sources { header: Some(HeaderName::from_static("x-api-key")), query_param: None };
        let presented = credential::Presented::from_headers(&headers, &sources);
        let got = credential::extract(&presented, "/", &sources);
        let want = if pass.is_empty() { &user } else { &pass };
        if want.is_empty() {
            prop_assert!(got.is_err());
        } else {
            let got = got.unwrap();
            prop_assert_eq!(got.as_ref(), want.as_str());
        }
    }
}
