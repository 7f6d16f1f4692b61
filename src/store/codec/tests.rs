//! The codec's unit tests: every field through both formats, one test per optional
//! field, and hostile bytes. Random records and random bytes: `tests/api/record_format.rs`.

use super::binary::Writer;
use super::*;
use crate::clock::Timestamp;
use crate::limits::{CreditPolicy, Limits, RateLimit, Refill};
use crate::model::HashAlg;
use crate::permissions::{Permission, RoleName};
use crate::rules::Rule;
use crate::token::KeyHash;

fn ts(s: i64) -> Timestamp {
    Timestamp::from_unix(s)
}

fn id(s: &str) -> TokenId {
    TokenId::parse(s).unwrap()
}

/// A record with no optional field set.
fn bare() -> TokenRecord {
    TokenRecord::plain(
        id("AbCdEfGh01234567"),
        KeyHash([7; 32]),
        HashAlg::Keyed,
        "alice@example.com".into(),
        "deploy bot".into(),
        "kg_AbCd…wxyz".into(),
        ts(1_767_225_600),
        "cli".into(),
    )
}

/// A record with every field set.
fn full() -> TokenRecord {
    let mut r = bare();
    r.hash_alg = HashAlg::Sha256;
    r.expires_at = Some(ts(4_102_444_800));
    r.disabled = true;
    r.last_used_at = Some(ts(1_767_300_000));
    r.rules = vec![
        Rule::parse_spec("hosts=api.example.com,*.example.org;paths=/v1/*,/v2;methods=GET,POST")
            .unwrap(),
        Rule::parse_spec("methods=DELETE").unwrap(),
    ];
    r.metadata = [("team", "payments"), ("tier", "gold"), ("note", "é = ü; x")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    r.replaces = Some(id("old0000000000001"));
    r.replaced_by = Some(id("new0000000000001"));
    r.grace_until = Some(Timestamp::MAX);
    r.usage_of = Some(id("first00000000001"));
    r.roles = vec![RoleName::parse("docs-reader").unwrap()];
    r.permissions = vec![
        Permission::parse("billing.read").unwrap(),
        Permission::parse("wiki.*").unwrap(),
    ];
    r.inherit_owner_roles = false;
    r.limits = Limits {
        rate_limits: vec![
            RateLimit::parse_spec("per-minute=100/1m").unwrap(),
            RateLimit::parse_spec("1000000000000/31d").unwrap(),
        ],
        credits: Some(CreditPolicy {
            refill: Some(Refill::parse_spec("10000/monthly").unwrap()),
        }),
    };
    r
}

/// `r` survives both formats, and its binary form is the one way to write it.
fn round_trips(r: &TokenRecord) {
    let bytes = encode_binary(r);
    let grants = !r.roles.is_empty() || !r.permissions.is_empty() || !r.inherit_owner_roles;
    assert_eq!(bytes[0], if grants { 2 } else { 1 });
    let back = decode(&bytes).unwrap();
    assert_eq!(&back, r);
    assert_eq!(encode_binary(&back), bytes);
    assert_eq!(decode_for(&r.id, &bytes).unwrap(), *r);
    let json = encode(r, RecordFormat::Json).unwrap();
    assert_eq!(
        json[0], b'{',
        "a JSON record never starts with a version byte"
    );
    assert_eq!(decode(&json).unwrap(), *r);
    assert_eq!(RecordFormat::of_bytes(&bytes), Some(RecordFormat::Binary));
    assert_eq!(RecordFormat::of_bytes(&json), Some(RecordFormat::Json));
}

#[test]
fn every_field_round_trips() {
    round_trips(&bare());
    round_trips(&full());
    // The binary record is a fraction of the JSON one.
    let (b, j) = (
        encode_binary(&full()).len(),
        encode(&full(), RecordFormat::Json).unwrap().len(),
    );
    assert!(b * 2 < j, "binary {b} bytes, JSON {j}");
}

type Set = Box<dyn Fn(&mut TokenRecord)>;

/// One test per optional field: each alone on a bare record.
#[test]
fn each_optional_field_alone() {
    let f = full();
    let cases: Vec<(&str, Set)> = vec![
        ("hash_alg", Box::new(|r| r.hash_alg = HashAlg::Sha256)),
        ("expires_at", Box::new(|r| r.expires_at = Some(ts(0)))),
        ("disabled", Box::new(|r| r.disabled = true)),
        ("last_used_at", Box::new(|r| r.last_used_at = Some(ts(1)))),
        ("replaces", Box::new(|r| r.replaces = Some(id("r")))),
        (
            "replaced_by",
            Box::new(|r| r.replaced_by = Some(id("r-_9"))),
        ),
        (
            "grace_until",
            Box::new(|r| r.grace_until = Some(Timestamp::MAX)),
        ),
        (
            "usage_of",
            Box::new(|r| r.usage_of = Some(id(&"u".repeat(64)))),
        ),
        ("rules", Box::new(move |r| r.rules = f.rules.clone())),
        (
            "a rule of hosts only",
            Box::new(|r| r.rules = vec![Rule::parse_spec("hosts=*").unwrap()]),
        ),
        (
            "an empty rule (stored ones load as they are)",
            Box::new(|r| r.rules = vec![Rule::default()]),
        ),
        (
            "metadata",
            Box::new(|r| r.metadata = [(String::new(), String::new())].into()),
        ),
        (
            "rate limits",
            Box::new(|r| r.limits.rate_limits = full().limits.rate_limits),
        ),
        (
            "credits without refill",
            Box::new(|r| r.limits.credits = Some(CreditPolicy { refill: None })),
        ),
        ("roles", Box::new(|r| r.roles = full().roles)),
        (
            "permissions",
            Box::new(|r| r.permissions = full().permissions),
        ),
        (
            "not inheriting the owner's roles",
            Box::new(|r| r.inherit_owner_roles = false),
        ),
    ];
    for (what, set) in cases {
        let mut r = bare();
        set(&mut r);
        assert_ne!(r, bare(), "{what}");
        round_trips(&r);
    }
    for refill in [
        "1/daily",
        "7/weekly",
        "1000000000000000/monthly",
        "500/12h",
        "2/1m",
    ] {
        let mut r = bare();
        r.limits.credits = Some(CreditPolicy {
            refill: Some(Refill::parse_spec(refill).unwrap()),
        });
        round_trips(&r);
    }
}

#[test]
fn json_records_read_as_before() {
    let r = full();
    let mut json = b" \n\t{".to_vec();
    json.extend_from_slice(&encode(&r, RecordFormat::Json).unwrap()[1..]);
    assert_eq!(decode(&json).unwrap(), r, "leading whitespace is JSON too");
    // Today's JSON, as the release before the binary format wrote it.
    let old = r#"{"id":"AbCdEfGh01234567","hash":"0707070707070707070707070707070707070707070707070707070707070707","owner":"alice@example.com","name":"deploy bot","hint":"kg_AbCd…wxyz","created_at":"2026-01-01T00:00:00Z","created_by":"cli"}"#;
    assert_eq!(decode(old.as_bytes()).unwrap(), bare());
    let e = decode(b"{truncated").unwrap_err().to_string();
    assert!(e.contains("corrupt record (key id unknown)"), "{e}");
    let bad = r#"{"id":"AbCdEfGh01234567","owner":"bob","hash":5}"#.as_bytes();
    let e = decode(bad).unwrap_err().to_string();
    assert!(e.contains("key id AbCdEfGh01234567"), "{e}");
    match decode_for(&bare().id, bad) {
        Err(StoreError::Damaged {
            owner,
            newer_format: None,
            ..
        }) => assert_eq!(owner.as_deref(), Some("bob")),
        other => panic!("{other:?}"),
    }
}

fn is_damaged(bytes: &[u8]) -> bool {
    matches!(
        decode_for(&bare().id, bytes),
        Err(StoreError::Damaged {
            newer_format: None,
            ..
        })
    ) && decode(bytes).is_err()
}

#[test]
fn hostile_bytes_are_refused_never_panic() {
    let good = encode_binary(&full());
    // Every truncation, and every single byte flipped: refused or read as a record
    // (a flip inside a string or a count can still make one), never a panic.
    for n in 0..good.len() {
        assert!(is_damaged(&good[..n]), "cut at {n}");
    }
    for i in 1..good.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] ^= flip;
            if let Ok(r) = decode(&b) {
                assert_eq!(decode(&encode_binary(&r)).unwrap(), r);
            }
        }
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(is_damaged(&trailing));
    // Hand-made records: the header, then the rest of a bare record with one change.
    let rest = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = encode_binary(&bare());
        f(&mut b);
        b
    };
    let name_at = 1 + 17 + 18 + 32 + 1; // version, id, owner, hash, hash_alg
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("hash_alg tag 2", rest(&|b| b[name_at - 1] = 2)),
        ("name not UTF-8", rest(&|b| b[name_at + 1] = 0xff)),
        ("name length past the end", rest(&|b| b[name_at] = 0x7f)),
        (
            "name length of 2^63",
            rest(&|b| {
                b.splice(
                    name_at..=name_at,
                    [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
                );
            }),
        ),
        (
            "a varint of 11 bytes",
            rest(&|b| {
                b.splice(name_at..=name_at, [0x80; 10].into_iter().chain([0x00]));
            }),
        ),
        (
            "a varint longer than needed",
            rest(&|b| {
                let n = b[name_at];
                b.splice(name_at..=name_at, [n | 0x80, 0x00]);
            }),
        ),
        // A bare record ends with its flags and four zero counts and tags.
        (
            "flag 128",
            rest(&|b| *b.iter_mut().rev().nth(4).unwrap() = 0x80),
        ),
        ("credits tag 3", rest(&|b| *b.last_mut().unwrap() = 3)),
        (
            "rule count past the end",
            rest(&|b| *b.iter_mut().rev().nth(3).unwrap() = 0x7f),
        ),
        ("a bad id", rest(&|b| b[2] = b'/')),
    ];
    for (what, bytes) in &cases {
        assert!(is_damaged(bytes), "{what}: {:?}", decode(bytes));
    }
    // Format 2: the grants after the credits tag.
    let grants = |tail: &[u8]| {
        let mut b = encode_binary(&bare());
        b[0] = 2;
        b.extend_from_slice(tail);
        b
    };
    let one_role = [0, 1, 1, b'r', 0];
    assert_eq!(
        decode(&grants(&one_role)).unwrap().roles,
        [RoleName::parse("r").unwrap()]
    );
    for (what, bytes) in [
        ("format 2 without its grants", grants(&[])),
        ("format 2 with no grants in it", grants(&[0, 0, 0])),
        ("grant flag 2", grants(&[2, 1, 1, b'r', 0])),
        ("a role name of `-`", grants(&[0, 1, 1, b'-', 0])),
        (
            "a permission `a..b`",
            grants(&[0, 0, 1, 4, b'a', b'.', b'.', b'b']),
        ),
        ("a role count past the end", grants(&[0, 0x7f])),
        (
            "trailing bytes after the grants",
            grants(&[0, 1, 1, b'r', 0, 0]),
        ),
    ] {
        assert!(is_damaged(&bytes), "{what}: {:?}", decode(&bytes));
    }
    let mut with_refill = bare();
    with_refill.limits.credits = Some(CreditPolicy {
        refill: Some(Refill::parse_spec("500/12h").unwrap()),
    });
    let b = encode_binary(&with_refill);
    // The interval tag is 3 and its span 43 200 s (3 varint bytes) at the end.
    assert_eq!(b[b.len() - 4], 3);
    let mut bad_tag = b.clone();
    let at = bad_tag.len() - 4;
    bad_tag[at] = 4;
    assert!(is_damaged(&bad_tag), "interval tag 4");
    let mut short = b[..b.len() - 3].to_vec();
    short.push(30); // every 30 s: under the 1m a refill may be
    assert!(is_damaged(&short), "a refill every 30s");
    let mut limit = bare();
    limit.limits.rate_limits = vec![RateLimit::parse_spec("1/1s").unwrap()];
    let mut b = encode_binary(&limit);
    let at = b.len() - 2; // window seconds, then the credits tag
    assert_eq!(b[at], 1);
    b[at] = 0;
    assert!(is_damaged(&b), "a window of 0s");
    // expires_at written by hand: the latest time there is, and a second later.
    let with_expiry = |secs: u64| {
        let b = encode_binary(&bare());
        let mut w = Writer(b[..b.len() - 4].to_vec());
        *w.0.last_mut().unwrap() = 2; // flags: expires_at
        w.varint(secs);
        w.0.extend_from_slice(&[0, 0, 0, 0]);
        w.0
    };
    let max = Timestamp::MAX.unix() as u64;
    assert_eq!(
        decode(&with_expiry(max)).unwrap().expires_at,
        Some(Timestamp::MAX)
    );
    assert!(is_damaged(&with_expiry(max + 1)), "a time after 9999");
    let mut meta = bare();
    meta.metadata = [("a", "1"), ("b", "2")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let b = encode_binary(&meta);
    let i = b.windows(3).position(|w| w == [1, b'b', 1]).unwrap();
    let mut swapped = b.clone();
    swapped[i + 1] = b'a';
    assert!(is_damaged(&swapped), "the same metadata key twice");
    swapped[i + 1] = b'0';
    assert!(is_damaged(&swapped), "metadata keys out of order");
    for junk in [
        &b"\x00\xffnot json"[..],
        b"",
        b"\x01",
        b"[1,2]",
        b"garbage",
        b"\x7f",
    ] {
        assert!(is_damaged(junk), "{junk:?}");
    }
}

/// A record as a newer keygate might write it: the common header, then anything.
fn newer(version: u8, id: &str, owner: &str) -> Vec<u8> {
    let mut w = Writer(vec![version]);
    w.str(id);
    w.str(owner);
    w.0.extend_from_slice(b"\x00\xff whatever format 127 holds");
    w.0
}

#[test]
fn a_newer_format_is_named_not_taken_for_damage() {
    let b = newer(0x7f, "AbCdEfGh01234567", "alice");
    let want = "the record for key AbCdEfGh01234567 is in record format 127, written by a newer \
                keygate; this keygate reads formats up to 2 (upgrade keygate, or run `keygate \
                store migrate --format json` with the newer one)";
    assert_eq!(
        decode(&b).unwrap_err().to_string(),
        format!("store error: {want}")
    );
    match decode_for(&bare().id, &b) {
        Err(e @ StoreError::Damaged { .. }) => {
            assert_eq!(e.to_string(), want);
            let StoreError::Damaged {
                owner,
                newer_format,
                ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!((owner.as_deref(), newer_format), (Some("alice"), Some(127)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(salvage(&b, "owner").as_deref(), Some("alice"));
    assert_eq!(salvage(&b, "id").as_deref(), Some("AbCdEfGh01234567"));
    assert_eq!(
        rewrite(&bare().id, &b, RecordFormat::Json),
        Rewrite::Newer(127)
    );
    assert_eq!(RecordFormat::of_bytes(&b), None);
    // Another key's record under this id is damage, whatever its format.
    assert!(is_damaged(&newer(3, "someoneElse00001", "bob")));
    assert!(
        is_damaged(&newer(0, "AbCdEfGh01234567", "alice")),
        "there is no format 0"
    );
    // The owner of a damaged binary record is still read from its header.
    let mut b = encode_binary(&full());
    b.truncate(60);
    assert_eq!(salvage(&b, "owner").as_deref(), Some("alice@example.com"));
}

#[test]
fn rewriting_brings_a_record_into_a_format() {
    let r = full();
    let (bin, json) = (encode_binary(&r), encode(&r, RecordFormat::Json).unwrap());
    assert_eq!(rewrite(&r.id, &bin, RecordFormat::Binary), Rewrite::Keep);
    assert_eq!(rewrite(&r.id, &json, RecordFormat::Json), Rewrite::Keep);
    assert_eq!(
        rewrite(&r.id, &json, RecordFormat::Binary),
        Rewrite::Write(bin.clone())
    );
    assert_eq!(
        rewrite(&r.id, &bin, RecordFormat::Json),
        Rewrite::Write(json)
    );
    assert_eq!(rewrite(&r.id, b"{", RecordFormat::Json), Rewrite::Damaged);
    assert_eq!(
        rewrite(&id("other"), &bin, RecordFormat::Binary),
        Rewrite::Damaged,
        "a record stored under another id"
    );
    let mut c = Converted::default();
    for what in [
        Rewrite::Keep,
        Rewrite::Write(Vec::new()),
        Rewrite::Damaged,
        Rewrite::Newer(9),
    ] {
        c.tally(r.id.clone(), &what);
    }
    assert_eq!((c.already, c.rewritten), (1, 1));
    assert_eq!((c.damaged.len(), c.newer), (1, vec![(r.id.clone(), 9)]));
}

#[test]
fn the_marker_names_the_format_written() {
    assert_eq!(RecordFormat::of_marker(None).unwrap(), RecordFormat::Json);
    assert_eq!(
        RecordFormat::of_marker(Some(b"json")).unwrap(),
        RecordFormat::Json
    );
    assert_eq!(
        RecordFormat::of_marker(Some(b"binary")).unwrap(),
        RecordFormat::Binary
    );
    let e = RecordFormat::of_marker(Some(b"binary2"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`binary2`") && e.contains("newer keygate"),
        "{e}"
    );
}
