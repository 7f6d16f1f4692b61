//! The `keygate` binary's side of permissions and roles: `keygate role …`, the grant
//! flags of `token create`/`update`, `token permissions`, and bad input refused with the
//! flag that carried it. One scenario, run on the store and through a running server's
//! API (`--server`), so the two ways cannot drift apart.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_keygate");

/// How a scenario runs `keygate`: on the store, or with `--server`.
type Run<'a> = &'a dyn Fn(&[&str]) -> Output;

fn local(dir: &Path) -> impl Fn(&[&str]) -> Output + '_ {
    move |args| {
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(dir)
            .env_clear()
            .current_dir(dir)
            .output()
            .unwrap()
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}

fn refused(out: &Output, what: &str, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what} should fail: {err}");
    assert!(
        err.contains(needle),
        "{what}: expected `{needle}` in: {err}"
    );
    assert!(out.stdout.is_empty(), "{what} printed to stdout");
}

/// The id that `token create` names on stderr (`created key ID (…) for …`).
fn created_id(out: &Output) -> String {
    ok(out);
    let err = String::from_utf8_lossy(&out.stderr);
    err.split_whitespace().nth(2).unwrap().to_owned()
}

/// A key's effective permissions as `{permission: [sources]}`.
fn effective(run: Run, id: &str) -> Value {
    let doc = json_of(&run(&["token", "permissions", id, "--json"]));
    let mut m = serde_json::Map::new();
    for p in doc["permissions"].as_array().unwrap() {
        m.insert(
            p["permission"].as_str().unwrap().to_owned(),
            p["sources"].clone(),
        );
    }
    Value::Object(m)
}

/// Roles made, granted to an owner, attached to keys, changed and deleted; and every
/// bad input refused before anything is written.
fn scenario(run: Run) {
    // Bad input first: nothing may be written by it.
    let mk = |extra: &[&str]| {
        let mut a = vec!["token", "create", "--owner", "alice", "--name", "k"];
        a.extend_from_slice(extra);
        run(&a)
    };
    refused(
        &mk(&["--permission", "a..b"]),
        "malformed permission",
        "--permission: `a..b` is not a permission: at position 3:",
    );
    refused(
        &mk(&["--role=bad*"]),
        "malformed role",
        "--role: `bad*` is not a role name: at position 4",
    );
    refused(
        &mk(&["--role", "ghost"]),
        "unknown role",
        "--role: there is no role `ghost`",
    );
    refused(
        &run(&["role", "create", "bad name"]),
        "malformed role name",
        "`bad name` is not a role name",
    );
    refused(
        &run(&["role", "create", "r", "--permission", "docs."]),
        "malformed role permission",
        "--permission: `docs.` is not a permission: at position 6",
    );
    refused(
        &run(&["role", "show", "ghost"]),
        "unknown role",
        "no role `ghost`",
    );
    refused(
        &run(&["role", "grant", "alice", "ghost"]),
        "grant of an unknown role",
        "there is no role `ghost`",
    );
    refused(
        &run(&["role", "update", "ghost", "--description", "x"]),
        "update of an unknown role",
        "no role `ghost`",
    );
    assert_eq!(
        json_of(&run(&["role", "list", "--json"])),
        json!({"roles": []})
    );
    assert_eq!(json_of(&run(&["token", "list", "--json"])), json!([]));

    // Roles, and one granted to the owner.
    let made = ok(&run(&[
        "role",
        "create",
        "reader",
        "--description",
        "Reads the docs",
        "--permission",
        "docs.read",
        "--permission",
        "docs.list",
    ]));
    assert!(made.contains("permission:  docs.list"), "{made}");
    ok(&run(&[
        "role",
        "create",
        "staff",
        "--permission",
        "billing.*",
    ]));
    refused(
        &run(&["role", "create", "staff"]),
        "a second role of a name",
        "exists already",
    );
    let granted = json_of(&run(&["role", "grant", "alice", "staff", "--json"]));
    assert_eq!(granted, json!({"owner": "alice", "roles": ["staff"]}));
    assert!(ok(&run(&["role", "owner", "alice"])).contains("role:        staff"));
    let again = run(&["role", "grant", "alice", "staff"]);
    assert!(
        ok(&again).contains("role:        staff")
            && String::from_utf8_lossy(&again.stderr).contains("holds role staff already"),
        "{again:?}"
    );
    let list = json_of(&run(&["role", "list", "--json"]));
    let names: Vec<&str> = list["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["reader", "staff"]);
    assert_eq!(list["roles"][1]["owners"], json!(["alice"]));
    let table = ok(&run(&["role", "list"]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("reader") && l.contains("docs.read,docs.list")),
        "{table}"
    );

    // A key with a role and a permission of its own, inheriting the owner's role.
    let id = created_id(&mk(&["--role", "reader", "--permission", "files.write"]));
    assert_eq!(
        effective(run, &id),
        json!({
            "billing.*": ["owner-role:staff"],
            "docs.list": ["role:reader"],
            "docs.read": ["role:reader"],
            "files.write": ["key"],
        })
    );
    let text = ok(&run(&["token", "permissions", &id]));
    assert!(
        text.lines()
            .any(|l| l.starts_with("billing.*") && l.ends_with("owner-role:staff")),
        "{text}"
    );
    let shown = ok(&run(&["token", "show", &id]));
    for line in [
        "role:       reader",
        "permission: files.write",
        "inherits:   the owner's roles",
    ] {
        assert!(shown.contains(line), "{line}: {shown}");
    }
    let v = json_of(&run(&["token", "show", &id, "--json"]));
    assert_eq!(
        (&v["roles"], &v["permissions"], &v["inherit_owner_roles"]),
        (&json!(["reader"]), &json!(["files.write"]), &json!(true))
    );
    let row = ok(&run(&["token", "list"]));
    assert!(row.contains("role:reader files.write"), "{row}");

    // Update: lists replaced, inheritance off, then cleared.
    ok(&run(&[
        "token",
        "update",
        &id,
        "--permission",
        "docs.read",
        "--owner-roles",
        "false",
    ]));
    assert_eq!(
        effective(run, &id),
        json!({"docs.list": ["role:reader"], "docs.read": ["key", "role:reader"]})
    );
    let shown = ok(&run(&["token", "show", &id]));
    assert!(shown.contains("inherits:   nothing"), "{shown}");
    refused(
        &run(&["token", "update", &id, "--role", "ghost"]),
        "update to an unknown role",
        "--role: there is no role `ghost`",
    );
    refused(
        &run(&["token", "update", &id, "--permission", "x..y"]),
        "update to a malformed permission",
        "--permission: `x..y` is not a permission: at position 3",
    );
    refused(
        &run(&["token", "update", &id]),
        "an update of nothing",
        "nothing to change",
    );
    ok(&run(&[
        "token",
        "update",
        &id,
        "--clear-roles",
        "--clear-permissions",
        "--owner-roles",
        "true",
    ]));
    assert_eq!(
        effective(run, &id),
        json!({"billing.*": ["owner-role:staff"]})
    );

    // A role's permissions changed: the keys holding it see the change.
    ok(&run(&["token", "update", &id, "--role", "reader"]));
    let r = json_of(&run(&[
        "role",
        "update",
        "reader",
        "--permission",
        "docs.*",
        "--json",
    ]));
    assert_eq!(
        (&r["permissions"], &r["description"]),
        (&json!(["docs.*"]), &json!("Reads the docs"))
    );
    assert_eq!(effective(run, &id)["docs.*"], json!(["role:reader"]));
    refused(
        &run(&["role", "update", "reader"]),
        "a role update of nothing",
        "nothing to change",
    );

    // A key that does not inherit its owner's roles.
    let own = created_id(&mk(&["--no-owner-roles"]));
    assert_eq!(effective(run, &own), json!({}));
    let table = ok(&run(&["token", "list"]));
    let row = table.lines().find(|l| l.contains(&own)).unwrap();
    assert!(row.contains(" no-owner-roles "), "{table}");

    // Delete: refused while held, saying how; then with --detach.
    refused(
        &run(&["role", "delete", "reader"]),
        "deleting a role in use",
        "role `reader` is held by 1 key(s) and 0 owner(s); give --detach",
    );
    refused(
        &run(&["role", "delete", "staff"]),
        "deleting a role an owner holds",
        "give --detach",
    );
    ok(&run(&["role", "show", "reader"]));
    ok(&run(&["role", "delete", "reader", "--detach"]));
    refused(
        &run(&["role", "show", "reader"]),
        "a deleted role",
        "no role",
    );
    assert_eq!(
        json_of(&run(&["token", "show", &id, "--json"]))["roles"],
        json!([])
    );

    // Revoke from the owner; then the role is free to delete.
    let after = json_of(&run(&["role", "revoke", "alice", "staff", "--json"]));
    assert_eq!(after["roles"], json!([]));
    assert_eq!(effective(run, &id), json!({}));
    ok(&run(&["role", "delete", "staff"]));
    assert_eq!(
        json_of(&run(&["role", "list", "--json"])),
        json!({"roles": []})
    );
}

#[test]
fn cli_roles_on_the_store() {
    let dir = tempfile::tempdir().unwrap();
    scenario(&local(dir.path()));
}

/// `keygate serve` on a free port in single-operator mode: the child, its address and
/// the admin key it printed.
fn serve(dir: &Path) -> (Child, String, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir)
        .env_clear()
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The banner with the admin key comes on stderr before the address on stdout.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(k) = l.split_whitespace().find(|w| w.starts_with("kgadmin_")) {
                let _ = tx.send(k.to_owned());
            }
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server exited early").unwrap();
        if let Some(i) = line.find("http://") {
            break line[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect::<String>();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    let admin = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("no admin key banner");
    (child, addr, admin)
}

fn stop(mut child: Child) {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "keygate did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `POST /verify` of `key` requiring `query`.
fn verify(addr: &str, key: &str, query: &str) -> Value {
    let body = json!({"key": key, "permissions": query}).to_string();
    let out = Command::new("curl")
        .args(["-s", "-H", "Content-Type: application/json", "-d", &body])
        .arg(format!("http://{addr}/verify"))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn cli_roles_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (server, addr, admin) = serve(d);
    let url = format!("http://{addr}");
    let remote = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .args(["--server", &url, "--admin-key", &admin])
            .env_clear()
            .current_dir(d)
            .output()
            .unwrap()
    };
    scenario(&remote);

    // What the CLI attached is what the gate judges by.
    ok(&remote(&[
        "role",
        "create",
        "ops",
        "--permission",
        "deploy.*",
    ]));
    ok(&remote(&["role", "grant", "bob", "ops"]));
    let key = ok(&remote(&[
        "token",
        "create",
        "--owner",
        "bob",
        "--name",
        "ci",
        "--permission",
        "docs.read",
    ]))
    .trim()
    .to_owned();
    let yes = verify(&addr, &key, "deploy.prod AND docs.read");
    assert_eq!(yes["valid"], true, "{yes}");
    let no = verify(&addr, &key, "billing.read OR docs.read AND admin");
    assert_eq!(
        (&no["code"], &no["missing"]),
        (&json!("insufficient_permissions"), &json!(["billing.read"])),
        "{no}"
    );
    stop(server);
}
