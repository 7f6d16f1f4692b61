//! Record formats (docs/upgrading.md). Stores written by the release before the binary
//! format — `tests/fixtures/record-format/`, made by its `make.sh` with keygate 1764c69
//! through its own CLI and server — read and serve as before; a change keeps JSON while
//! the store has no marker; `keygate store migrate` takes every record to binary and
//! back to JSON that serde (what that release runs) reads into the same records; a
//! record in a newer format is named, refused and left alone. And random records and
//! random bytes through the codec (proptest).
//!
//! With `KEYGATE_OLD_BINARY=/path/to/keygate-1764c69` the old release itself is asked
//! too: its `/verify` answers on a copy of each fixture, and its listing of the store
//! after the way back. Without it (CI) those checks are skipped and say so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keygate::clock::Timestamp;
use keygate::config::{Config, Secret};
use keygate::limits::{CreditPolicy, Interval, Limits, RateLimit, Refill, Span};
use keygate::permissions::{Permission, RoleName};
use keygate::rules::{HostPattern, Method, PathPattern, Rule};
use keygate::store::codec::{self, RecordFormat};
use keygate::store::{HashAlg, RECORD_FORMAT_META, TokenId, TokenRecord};
use keygate::token::KeyHash;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Process, SALT, Valkey, base_config, open_redb};

const BIN: &str = env!("CARGO_BIN_EXE_keygate");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/record-format")
        .join(name)
}

/// The embedded store's tables that hold records, as keygate defines them.
const IDS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("ids");
const RECORDS: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("records");
const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");

/// The new codec's reading of stored bytes, by id.
type Decoded = BTreeMap<String, TokenRecord>;

/// A store written by the release before record formats, copied out of the fixtures.
struct Old {
    dir: tempfile::TempDir,
    valkey: Option<Valkey>,
}

impl Old {
    fn redb() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("gzip")
            .arg("-dc")
            .arg(fixture("keygate.redb.gz"))
            .output()
            .unwrap();
        assert!(out.status.success());
        std::fs::write(dir.path().join("keygate.redb"), out.stdout).unwrap();
        Old { dir, valkey: None }
    }

    /// A `valkey-server` loading a copy of the fixture's RDB file.
    fn valkey() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(fixture("dump.rdb"), dir.path().join("dump.rdb")).unwrap();
        let d = dir.path().display().to_string();
        let valkey = Valkey::start_with(&[
            "--dir",
            &d,
            "--dbfilename",
            "dump.rdb",
            "--appendonly",
            "no",
        ]);
        Old {
            dir,
            valkey: Some(valkey),
        }
    }

    fn kind(&self) -> &'static str {
        if self.valkey.is_some() {
            "valkey"
        } else {
            "redb"
        }
    }

    /// Another copy of the same fixture.
    fn again(&self) -> Old {
        if self.valkey.is_some() {
            Old::valkey()
        } else {
            Old::redb()
        }
    }

    /// The fixture's keys by name (`keys.json`).
    fn keys(&self) -> BTreeMap<String, String> {
        let all: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture("keys.json")).unwrap()).unwrap();
        serde_json::from_value(all[self.kind()].clone()).unwrap()
    }

    fn config(&self) -> Config {
        let mut c = base_config(self.dir.path());
        c.valkey_url = self.valkey.as_ref().map(Valkey::url);
        c.admin_key = Some(Secret::new(ADMIN_KEY));
        c
    }

    fn flags(&self) -> Vec<String> {
        let mut f = vec![
            "--token-salt".into(),
            SALT.into(),
            "--data-dir".into(),
            self.dir.path().display().to_string(),
        ];
        if let Some(v) = &self.valkey {
            f.extend(["--valkey-url".into(), v.url()]);
        }
        f
    }

    /// A keygate command on this store (`bin`: this build, or the old release).
    fn command(&self, bin: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .args(self.flags())
            .env_clear()
            .current_dir(self.dir.path());
        c
    }

    fn cli(&self, args: &[&str]) -> Output {
        self.command(Path::new(BIN), args).output().unwrap()
    }

    /// A server process on this store, with the admin key.
    fn serve(&self, bin: &Path) -> Process {
        Process::start(self.command(bin, &["serve", "--port", "0", "--admin-key", ADMIN_KEY]))
    }

    /// Every stored record's bytes by id, and the record-format marker, read under
    /// keygate (the embedded store: with no keygate holding the file).
    async fn raw(&self) -> (BTreeMap<String, Vec<u8>>, Option<Vec<u8>>) {
        match &self.valkey {
            Some(v) => {
                let mut c = valkey_conn(v).await;
                let ids: Vec<String> = redis::cmd("SMEMBERS")
                    .arg("kg:ids")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                let mut out = BTreeMap::new();
                for id in ids {
                    let key = valkey_record_key(&mut c, &id).await;
                    let bytes: Vec<u8> = redis::cmd("GET")
                        .arg(key)
                        .query_async(&mut c)
                        .await
                        .unwrap();
                    out.insert(id, bytes);
                }
                let marker: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(format!("kg:m:{RECORD_FORMAT_META}"))
                    .query_async(&mut c)
                    .await
                    .unwrap();
                (out, marker)
            }
            None => {
                use redb::ReadableTable;
                let db = open_redb(&self.dir.path().join("keygate.redb"));
                let tx = db.begin_read().unwrap();
                let (ids, records) = (tx.open_table(IDS).unwrap(), tx.open_table(RECORDS).unwrap());
                let mut out = BTreeMap::new();
                for e in ids.iter().unwrap() {
                    let (id, hash) = e.unwrap();
                    let bytes = records.get(hash.value()).unwrap().unwrap();
                    out.insert(id.value().to_owned(), bytes.value().to_vec());
                }
                let meta = tx.open_table(META).unwrap();
                let marker = meta
                    .get(RECORD_FORMAT_META)
                    .unwrap()
                    .map(|v| v.value().to_vec());
                (out, marker)
            }
        }
    }

    /// Overwrites the stored record of `id` with `bytes`, under keygate.
    async fn put_raw(&self, id: &str, bytes: &[u8]) {
        match &self.valkey {
            Some(v) => {
                let mut c = valkey_conn(v).await;
                let key = valkey_record_key(&mut c, id).await;
                let () = redis::cmd("SET")
                    .arg(key)
                    .arg(bytes)
                    .query_async(&mut c)
                    .await
                    .unwrap();
            }
            None => {
                use redb::ReadableTable;
                let db = open_redb(&self.dir.path().join("keygate.redb"));
                let tx = db.begin_write().unwrap();
                {
                    let ids = tx.open_table(IDS).unwrap();
                    let hash = ids.get(id).unwrap().unwrap().value().to_vec();
                    let mut records = tx.open_table(RECORDS).unwrap();
                    records.insert(hash.as_slice(), bytes).unwrap();
                }
                tx.commit().unwrap();
            }
        }
    }

    /// The ids of the stored records by name.
    async fn ids(&self) -> BTreeMap<String, String> {
        let (raw, _) = self.raw().await;
        raw.iter()
            .map(|(id, b)| (codec::decode(b).unwrap().name, id.clone()))
            .collect()
    }
}

async fn valkey_conn(v: &Valkey) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(v.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn valkey_record_key(c: &mut redis::aio::MultiplexedConnection, id: &str) -> String {
    let hash: String = redis::cmd("GET")
        .arg(format!("kg:i:{{{id}}}"))
        .query_async(c)
        .await
        .unwrap();
    format!("kg:h:{hash}")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What every fixture key answers at `POST /verify` for `GET api.example.com/v1/items`
/// (the rules of `full` allow it): the `code` by key name.
async fn verify_all(addr: &str, keys: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut out = BTreeMap::new();
    for (name, key) in keys {
        let answer: Value = client
            .post(format!("http://{addr}/verify"))
            .json(&json!({"key": key, "host": "api.example.com", "path": "/v1/items", "method": "GET"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.insert(name.clone(), answer["code"].as_str().unwrap().to_owned());
    }
    out
}

/// What the release before record formats answered for the fixture's keys.
fn answered_before() -> BTreeMap<String, String> {
    [
        ("full", "valid"),
        ("rotated", "valid"), // in its grace period
        ("rotating", "valid"),
        ("off", "disabled"),
        ("weekly", "valid"),
        ("daily", "valid"),
        ("every", "valid"),
        ("imported-sha", "valid"),
        ("imported-plain", "valid"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The old release named by `KEYGATE_OLD_BINARY`, if any.
fn old_release() -> Option<PathBuf> {
    let p = std::env::var_os("KEYGATE_OLD_BINARY").map(PathBuf::from);
    if p.is_none() {
        eprintln!("KEYGATE_OLD_BINARY is not set: the old release itself is not asked");
    }
    p
}

/// The fixture holds every kind of field a record can have.
fn covers_every_field(records: &Decoded) {
    let any = |f: &dyn Fn(&TokenRecord) -> bool| records.values().any(f);
    let intervals = |f: &dyn Fn(Interval) -> bool| {
        any(&|r| {
            r.limits
                .credits
                .and_then(|c| c.refill)
                .is_some_and(|x| f(x.interval))
        })
    };
    assert!(any(&|r| r.rules.len() == 2 && !r.rules[0].paths.is_empty()));
    assert!(any(&|r| r.metadata.len() == 2));
    assert!(any(&|r| r.limits.rate_limits.len() == 2));
    assert!(any(
        &|r| r.limits.credits == Some(CreditPolicy { refill: None })
    ));
    assert!(intervals(&|i| i == Interval::Daily));
    assert!(intervals(&|i| i == Interval::Weekly));
    assert!(intervals(&|i| i == Interval::Monthly));
    assert!(intervals(&|i| matches!(i, Interval::Every(_))));
    assert!(any(&|r| r.expires_at.is_some()));
    assert!(any(&|r| r.replaces.is_some() && r.usage_of.is_some()));
    assert!(any(&|r| r.replaced_by.is_some() && r.grace_until.is_some()));
    assert!(any(&|r| r.disabled && r.last_used_at.is_some()));
    assert!(any(&|r| r.hash_alg == HashAlg::Sha256));
}

fn decoded(raw: &BTreeMap<String, Vec<u8>>) -> Decoded {
    raw.iter()
        .map(|(id, b)| (id.clone(), codec::decode(b).unwrap()))
        .collect()
}

async fn upgrade_and_back(old: Old) {
    let (keys, ids) = (old.keys(), old.ids().await);

    // Today's store: JSON records, no marker, every field kind.
    let (raw, marker) = old.raw().await;
    assert_eq!((raw.len(), marker), (9, None));
    assert!(raw.values().all(|b| b[0] == b'{'));
    let today: Decoded = raw
        .iter()
        .map(|(id, b)| (id.clone(), serde_json::from_slice(b).unwrap()))
        .collect();
    covers_every_field(&today);
    assert_eq!(decoded(&raw), today, "the new code reads them as serde did");
    {
        let (store, _) = keygate::app::open_store(&old.config()).unwrap();
        let listing = store.list_all().await.unwrap();
        assert!(listing.damaged.is_empty());
        assert_eq!(listing.records.len(), 9);
    }
    let text = stdout(&old.cli(&["doctor"]));
    assert!(
        text.contains("record format: json, by default")
            && text.contains("(records: 9 json, 0 binary, 0 in a newer format)"),
        "{text}"
    );

    // Served by this keygate: every key answers as before.
    let server = old.serve(Path::new(BIN));
    assert_eq!(verify_all(&server.addr, &keys).await, answered_before());
    if let Some(bin) = old_release() {
        let copy = old.again();
        let theirs = copy.serve(&bin);
        assert_eq!(
            verify_all(&theirs.addr, &copy.keys()).await,
            answered_before()
        );
        theirs.stop();
    }
    // A change, and a new key, while the store has no marker: still JSON, which the
    // replicas of the earlier release that may share the store read.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = |p: &str| format!("http://{}{p}", server.addr);
    let r = client
        .patch(url(&format!("/api/tokens/{}", ids["daily"])))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "daily, renamed", "metadata": {"k": "v"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .post(url("/api/users/dave/tokens"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "new"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    server.stop();
    let (raw, marker) = old.raw().await;
    assert_eq!((raw.len(), marker), (10, None));
    assert!(raw.values().all(|b| b[0] == b'{'), "written as JSON");
    let before = decoded(&raw);
    assert_eq!(before[&ids["daily"]].name, "daily, renamed");

    // Up: every record binary, counted; once more, nothing to do.
    let text = stdout(&old.cli(&["store", "migrate", "--format", "binary"]));
    assert!(
        text.contains("rewritten: 10\nalready binary: 0\nskipped: 0\n"),
        "{text}"
    );
    let text = stdout(&old.cli(&["store", "migrate", "--format", "binary"]));
    assert!(
        text.contains("rewritten: 0\nalready binary: 10\nskipped: 0\n"),
        "{text}"
    );
    let (raw, marker) = old.raw().await;
    assert_eq!(marker.as_deref(), Some(&b"binary"[..]));
    assert!(raw.values().all(|b| b[0] == 1));
    assert_eq!(decoded(&raw), before, "the same records");
    let text = stdout(&old.cli(&["doctor"]));
    assert!(
        text.contains("record format: binary (records: 10 binary, 0 json, 0 in a newer format)"),
        "{text}"
    );
    // A new keygate process reads them.
    let server = old.serve(Path::new(BIN));
    assert_eq!(verify_all(&server.addr, &keys).await, answered_before());
    server.stop();

    // The way back: JSON that serde — what the earlier release runs — reads into the
    // same records.
    let text = stdout(&old.cli(&["store", "migrate", "--format", "json"]));
    assert!(
        text.contains("rewritten: 10\nalready json: 0\nskipped: 0\n"),
        "{text}"
    );
    let (raw, marker) = old.raw().await;
    assert_eq!(marker.as_deref(), Some(&b"json"[..]));
    let back: Decoded = raw
        .iter()
        .map(|(id, b)| (id.clone(), serde_json::from_slice(b).unwrap()))
        .collect();
    assert_eq!(back, before);
    if let Some(bin) = old_release() {
        let out = old
            .command(&bin, &["token", "list", "--json"])
            .output()
            .unwrap();
        let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 10);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("damaged"), "{err}");
        let theirs = old.serve(&bin);
        assert_eq!(verify_all(&theirs.addr, &keys).await, answered_before());
        theirs.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_embedded_store_upgrades_and_goes_back() {
    upgrade_and_back(Old::redb()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_valkey_store_upgrades_and_goes_back() {
    upgrade_and_back(Old::valkey()).await;
}

/// A record as a newer keygate might write it: the common header (version, id,
/// owner), then what this keygate cannot know.
fn newer_record(id: &str, owner: &str) -> Vec<u8> {
    let mut b = vec![0x7f, id.len() as u8];
    b.extend_from_slice(id.as_bytes());
    b.push(owner.len() as u8);
    b.extend_from_slice(owner.as_bytes());
    b.extend_from_slice(b"\x00\x01 fields of format 127");
    b
}

async fn a_newer_format_is_refused_and_left_alone(old: Old) {
    let keys = old.keys();
    let ids = old.ids().await;
    let (newer_id, damaged_id) = (&ids["weekly"], &ids["daily"]);
    let newer = newer_record(newer_id, "carol");
    old.put_raw(newer_id, &newer).await;
    old.put_raw(damaged_id, b"{\"id\":\"truncated").await;
    let message = format!(
        "the record for key {newer_id} is in record format 127, written by a newer keygate; \
         this keygate reads formats up to 2 (upgrade keygate, or run `keygate store migrate \
         --format json` with the newer one)"
    );

    // The gate refuses it as it refuses a damaged record (503: it cannot tell whether
    // the key is good).
    let server = old.serve(Path::new(BIN));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let status = |key: String| {
        let client = client.clone();
        let url = format!("http://{}/verify", server.addr);
        async move {
            client
                .post(url)
                .json(&json!({"key": key}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let refused = status(keys["weekly"].clone()).await;
    assert_eq!(refused, 503);
    assert_eq!(refused, status(keys["daily"].clone()).await);
    assert_eq!(status(keys["imported-plain"].clone()).await, 200);
    server.stop();

    // Listings and doctor name it and say what to do.
    let out = old.cli(&["token", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("warning: {message} (left out)")),
        "{err}"
    );
    assert!(err.contains(&format!("the stored record of key {damaged_id} is damaged")));
    let out = old.cli(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("PROBLEM: {message} — left alone, also by --fix")),
        "{text}"
    );
    assert!(text.contains("1 in a newer format"), "{text}");
    // --fix removes the damaged record, and leaves the newer one as it was.
    let out = old.cli(&["doctor", "--fix"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("removed: key {damaged_id}")),
        "{text}"
    );
    assert!(
        !text.contains(&format!("removed: key {newer_id}")),
        "{text}"
    );
    let (raw, _) = old.raw().await;
    assert_eq!(raw.get(newer_id.as_str()), Some(&newer));
    assert!(!raw.contains_key(damaged_id.as_str()));
    // So does a migration, and it says so.
    let out = old.cli(&["store", "migrate", "--format", "binary"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("rewritten: 7\nalready binary: 0\nskipped: 1\n"),
        "{text}"
    );
    assert!(text.contains(&message), "{text}");
    assert_eq!(old.raw().await.0.get(newer_id.as_str()), Some(&newer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_format_is_refused_and_left_alone_embedded() {
    a_newer_format_is_refused_and_left_alone(Old::redb()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_format_is_refused_and_left_alone_valkey() {
    a_newer_format_is_refused_and_left_alone(Old::valkey()).await;
}

/// A new store is marked binary by its first record, on either backend; one marked
/// `json` (the way back taken) stays JSON for new records too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_store_writes_binary_and_a_json_marker_is_kept() {
    for valkey in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let v = valkey.then(Valkey::start);
        let store_at = Old { dir, valkey: v };
        let out = store_at.cli(&["doctor"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("record format: not chosen yet"), "{text}");
        let create = |name: &str| {
            stdout(&store_at.cli(&["token", "create", "--owner", "o", "--name", name]))
        };
        create("first");
        let (raw, marker) = store_at.raw().await;
        assert_eq!(marker.as_deref(), Some(&b"binary"[..]));
        assert!(raw.values().all(|b| b[0] == 1));
        stdout(&store_at.cli(&["store", "migrate", "--format", "json"]));
        create("second");
        let (raw, marker) = store_at.raw().await;
        assert_eq!(marker.as_deref(), Some(&b"json"[..]));
        assert_eq!(raw.len(), 2);
        assert!(raw.values().all(|b| b[0] == b'{'), "valkey: {valkey}");
        let text = stdout(&store_at.cli(&["doctor"]));
        assert!(
            text.contains("record format: json (records: 2 json, 0 binary, 0 in a newer format)"),
            "{text}"
        );
    }
}

/// The commands of docs/upgrading.md, in its order, on today's embedded store: each
/// succeeds and prints the lines shown (`…` stands for lines not shown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_guide_runs_as_written() {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/upgrading.md"))
            .unwrap();
    let old = Old::redb();
    let mut in_block = false;
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in guide.lines() {
        if line.starts_with("```") {
            in_block = line == "```console";
        } else if let Some(cmd) = in_block.then(|| line.strip_prefix("$ ")).flatten() {
            steps.push((cmd.to_owned(), Vec::new()));
        } else if in_block && line != "…" {
            steps.last_mut().unwrap().1.push(line.to_owned());
        }
    }
    assert_eq!(steps.len(), 4, "{steps:?}");
    for (cmd, shown) in steps {
        let args: Vec<&str> = cmd.split_whitespace().collect();
        assert_eq!(args[0], "keygate");
        let out = stdout(&old.cli(&args[1..]));
        for line in shown {
            assert!(
                out.lines().any(|l| l == line),
                "`{cmd}` printed\n{out}\nnot\n{line}"
            );
        }
    }
}

// ---- the codec on random records and random bytes ----

fn any_id() -> impl Strategy<Value = TokenId> {
    "[0-9A-Za-z_-]{1,64}".prop_map(|s| TokenId::parse(&s).unwrap())
}

fn any_time() -> impl Strategy<Value = Timestamp> {
    (0..=Timestamp::MAX.unix()).prop_map(Timestamp::from_unix)
}

fn any_rule() -> impl Strategy<Value = Rule> {
    let list = |re: &'static str| prop::collection::vec(re, 0..3);
    (
        list("[a-zA-Z0-9.*_-]{1,30}"),
        list("/[!-\"$->@-~]{0,30}"),
        list("[A-Za-z]{1,20}"),
    )
        .prop_map(|(h, p, m)| Rule {
            hosts: h.iter().map(|s| HostPattern::parse(s).unwrap()).collect(),
            paths: p.iter().map(|s| PathPattern::parse(s).unwrap()).collect(),
            methods: m.iter().map(|s| Method::parse(s).unwrap()).collect(),
        })
}

fn any_limits() -> impl Strategy<Value = Limits> {
    let rate =
        (any::<String>(), any::<u64>(), 1..=u64::MAX).prop_map(|(name, limit, w)| RateLimit {
            name,
            limit,
            window: Span::from_secs(w).unwrap(),
        });
    let interval = prop_oneof![
        Just(Interval::Daily),
        Just(Interval::Weekly),
        Just(Interval::Monthly),
        (60..=366 * 86_400u64).prop_map(|s| Interval::every(Span::from_secs(s).unwrap()).unwrap()),
    ];
    let refill =
        (any::<u64>(), interval).prop_map(|(amount, interval)| Refill { amount, interval });
    (
        prop::collection::vec(rate, 0..4),
        prop::option::of(prop::option::of(refill)),
    )
        .prop_map(|(rate_limits, credits)| Limits {
            rate_limits,
            credits: credits.map(|refill| CreditPolicy { refill }),
        })
}

prop_compose! {
    fn any_record()(
        (id, hash, sha, owner, name, hint, created_at, created_by) in (
            any_id(), any::<[u8; 32]>(), any::<bool>(), any::<String>(), any::<String>(),
            any::<String>(), any_time(), any::<String>(),
        ),
        (expires_at, disabled, last_used_at, grace_until) in (
            prop::option::of(any_time()), any::<bool>(), prop::option::of(any_time()),
            prop::option::of(any_time()),
        ),
        (replaces, replaced_by, usage_of) in (
            prop::option::of(any_id()), prop::option::of(any_id()), prop::option::of(any_id()),
        ),
        rules in prop::collection::vec(any_rule(), 0..4),
        metadata in prop::collection::btree_map(any::<String>(), any::<String>(), 0..4),
        limits in any_limits(),
        (roles, permissions, inherit_owner_roles) in (
            prop::collection::vec("[a-zA-Z0-9][a-zA-Z0-9_.:-]{0,20}", 0..3),
            prop::collection::vec("([a-z:_-]{1,5}|\\*)(\\.([a-z0-9]{1,5}|\\*)){0,3}", 0..3),
            any::<bool>(),
        ),
    ) -> TokenRecord {
        TokenRecord {
            id, hash: KeyHash(hash),
            hash_alg: if sha { HashAlg::Sha256 } else { HashAlg::Keyed },
            owner, name, hint, created_at, created_by, expires_at, disabled, last_used_at,
            rules, metadata, replaces, replaced_by, grace_until, limits, usage_of,
            roles: roles.iter().map(|s| RoleName::parse(s).unwrap()).collect(),
            permissions: permissions.iter().map(|s| Permission::parse(s).unwrap()).collect(),
            inherit_owner_roles,
        }
    }
}

/// What must hold for any bytes: no panic, and a record read from them is the same
/// record in either format.
fn consistent(bytes: &[u8], id: &TokenId) -> Result<(), TestCaseError> {
    let _ = codec::salvage(bytes, "owner");
    let _ = codec::rewrite(id, bytes, RecordFormat::Binary);
    let _ = codec::decode_for(id, bytes);
    if let Ok(r) = codec::decode(bytes) {
        prop_assert_eq!(&codec::decode(&codec::encode_binary(&r)).unwrap(), &r);
        let json = codec::encode(&r, RecordFormat::Json).unwrap();
        prop_assert_eq!(&codec::decode(&json).unwrap(), &r);
    }
    Ok(())
}

proptest! {
    /// Every record survives the binary format exactly, and reads the same from JSON.
    #[test]
    fn any_record_round_trips(r in any_record()) {
        let bytes = codec::encode_binary(&r);
        let back = codec::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(codec::encode_binary(&back), bytes.clone());
        prop_assert_eq!(&codec::decode_for(&r.id, &bytes).unwrap(), &r);
        let json = codec::encode(&r, RecordFormat::Json).unwrap();
        prop_assert_eq!(&codec::decode(&json).unwrap(), &r);
        prop_assert_eq!(codec::rewrite(&r.id, &json, RecordFormat::Binary), codec::Rewrite::Write(bytes.clone()));
        // Cut short anywhere: refused.
        for n in 0..bytes.len() {
            prop_assert!(codec::decode(&bytes[..n]).is_err());
        }
    }

    /// Random bytes, and random bytes after a version byte (deeper into the decoder).
    #[test]
    fn random_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..200), version in 0u8..3) {
        consistent(&bytes, &TokenId::parse("x").unwrap())?;
        bytes.insert(0, version);
        consistent(&bytes, &TokenId::parse("x").unwrap())?;
    }

    /// A valid record with bytes overwritten: refused or read consistently.
    #[test]
    fn damaged_records_never_panic(
        r in any_record(),
        hits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = codec::encode_binary(&r);
        for (at, b) in hits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        consistent(&bytes, &r.id)?;
    }
}
