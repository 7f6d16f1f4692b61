//! The `keygate` binary: key commands, persistence across restarts, the held-store
//! message, SIGTERM, `config check` and `gen-salt`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keygate");

fn keygate(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `keygate serve` on a free port; returns the child and its address.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir)
        .env_clear()
        .env("RUST_LOG", "info")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "server did not report its address"
        );
        let line = lines.next().expect("server exited early").unwrap();
        if let Some(i) = line.find("http://") {
            let addr: String = line[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                .collect();
            // Keep draining stdout so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (child, addr);
        }
    }
}

fn stop(mut child: Child) {
    // SIGTERM, then wait for a clean exit.
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "keygate exited with {status} on SIGTERM");
            return;
        }
        assert!(Instant::now() < deadline, "keygate did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn forward_auth(addr: &str, key: Option<&str>) -> u16 {
    let mut args = vec![
        "-s".to_string(),
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{http_code}".into(),
    ];
    if let Some(k) = key {
        args.push("-H".into());
        args.push(format!("Authorization: Bearer {k}"));
    }
    args.push(format!("http://{addr}/forward-auth"));
    let out = Command::new("curl").args(&args).output().expect("curl");
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

#[test]
fn create_restart_revoke_offline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = keygate(d, &["token", "create", "--owner", "me", "--name", "test"]);
    let key = ok(&out).trim().to_owned();
    assert!(
        key.starts_with("kg_") && key.len() == 52,
        "stdout is the key alone: {key:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("created key"), "{stderr}");
    let id = stderr.split_whitespace().nth(2).unwrap().to_owned();

    // The salt was generated once, readable by its owner only.
    let salt = d.join("token_salt");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&salt).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let (server, addr) = serve(d);
    assert_eq!(forward_auth(&addr, Some(&key)), 204);
    assert_eq!(forward_auth(&addr, None), 401);

    // While the server holds the embedded store, the CLI says so.
    let held = keygate(d, &["token", "list"]);
    assert!(!held.status.success());
    let msg = String::from_utf8_lossy(&held.stderr);
    assert!(msg.contains("in use by another keygate process"), "{msg}");

    // Restart: the key still works.
    stop(server);
    let (server, addr) = serve(d);
    assert_eq!(forward_auth(&addr, Some(&key)), 204);
    stop(server);

    // Revoke while stopped; after a start the key fails.
    ok(&keygate(d, &["token", "revoke", &id]));
    let (server, addr) = serve(d);
    assert_eq!(forward_auth(&addr, Some(&key)), 401);
    stop(server);
}

#[test]
fn list_show_disable_enable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = keygate(
        d,
        &[
            "token",
            "create",
            "--owner",
            "svc",
            "--name",
            "ci",
            "--expires",
            "30d",
            "--rule",
            "hosts=api.example.com;paths=/v1/*;methods=GET",
            "--metadata",
            "team=core",
        ],
    );
    ok(&out);
    let list: serde_json::Value =
        serde_json::from_str(&ok(&keygate(d, &["token", "list", "--json"]))).unwrap();
    let first = &list[0];
    assert_eq!(first["owner"], "svc");
    assert_eq!(first["status"], "active");
    assert_eq!(first["rules"][0]["methods"][0], "GET");
    assert_eq!(first["metadata"]["team"], "core");
    assert!(first.get("hash").is_none(), "the hash is never shown");
    let id = first["id"].as_str().unwrap().to_owned();

    ok(&keygate(d, &["token", "disable", &id]));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&keygate(d, &["token", "show", &id, "--json"]))).unwrap();
    assert_eq!(shown["status"], "disabled");
    ok(&keygate(d, &["token", "enable", &id]));
    let text = ok(&keygate(d, &["token", "show", &id]));
    assert!(text.contains("status:     active"), "{text}");
    let table = ok(&keygate(d, &["token", "list", "--owner", "svc"]));
    assert!(table.contains(&id) && table.contains("ci"), "{table}");
    assert_eq!(
        ok(&keygate(
            d,
            &["token", "list", "--owner", "nobody", "--json"]
        ))
        .trim(),
        "[]"
    );
}

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "token",
                "create",
                "--owner",
                "me",
                "--name",
                "x",
                "--expires",
                "yesterday",
            ],
            "--expires",
        ),
        (
            &[
                "token",
                "create",
                "--owner",
                "me",
                "--name",
                "x",
                "--expires",
                "2001-01-01",
            ],
            "not in the future",
        ),
        (
            &[
                "token", "create", "--owner", "me", "--name", "x", "--rule", "paths=v1",
            ],
            "must start with `/`",
        ),
        (
            &[
                "token",
                "create",
                "--owner",
                "me",
                "--name",
                "x",
                "--rule",
                "colour=red",
            ],
            "unknown rule field",
        ),
        (
            &[
                "token",
                "create",
                "--owner",
                "me",
                "--name",
                "x",
                "--metadata",
                "novalue",
            ],
            "key=value",
        ),
        (
            &[
                "token",
                "create",
                "--owner",
                "me",
                "--name",
                "x",
                "--metadata",
                "bad key=v",
            ],
            "metadata",
        ),
        (&["token", "create", "--owner", "", "--name", "x"], "owner"),
        (
            &[
                "token",
                "create",
                "--owner",
                "me",
                "--name",
                &"n".repeat(101),
            ],
            "name",
        ),
        (&["token", "revoke", "doesNotExist1234"], "no key with id"),
        (&["token", "show", "../../etc/passwd"], "is not a key id"),
        (
            &[
                "token",
                "create",
                "--owner",
                "me",
                "--name",
                "x",
                "--key-prefix",
                "BAD",
            ],
            "key_prefix",
        ),
    ];
    for (args, needle) in cases {
        let out = keygate(d, args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
    // Nothing was written by any of them.
    assert_eq!(ok(&keygate(d, &["token", "list", "--json"])).trim(), "[]");
}

#[test]
fn valkey_store_requires_a_salt() {
    let dir = tempfile::tempdir().unwrap();
    let out = keygate(
        dir.path(),
        &["token", "list", "--valkey-url", "redis://127.0.0.1:1"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("token_salt is required") && err.contains("keygate gen-salt"),
        "{err}"
    );
}

#[test]
fn gen_salt_and_config_check() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let salt = ok(&keygate(d, &["gen-salt"])).trim().to_owned();
    assert_eq!(salt.len(), 64);
    assert!(salt.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(salt, ok(&keygate(d, &["gen-salt"])).trim());

    std::fs::write(
        d.join("keygate.toml"),
        format!("port = 9999\ntoken_salt = \"{salt}\"\n[cache]\nttl_secs = 5\n"),
    )
    .unwrap();
    let shown = ok(&keygate(d, &["config", "check"]));
    assert!(
        shown.contains("port = 9999") && shown.contains("ttl_secs = 5"),
        "{shown}"
    );
    assert!(
        !shown.contains(&salt) && shown.contains("<redacted>"),
        "{shown}"
    );

    std::fs::write(d.join("keygate.toml"), "port = 9999\nbogus_key = 1\n").unwrap();
    let out = keygate(d, &["config", "check"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bogus_key"));

    // Unknown KEYGATE_ variables warn but do not fail.
    std::fs::remove_file(d.join("keygate.toml")).unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .env_clear()
        .env("KEYGATE_PROT", "1")
        .current_dir(d)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown environment variable KEYGATE_PROT")
    );
}

#[test]
fn keys_import_plain_and_sha256_then_serve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = d.join("legacy.txt");
    std::fs::write(&plain, "# legacy keys\nlegacy-key-000001\r\nlegacy-key-000002\nlegacy-key-000001\nbad key here\n\n").unwrap();
    // Dry run: counts, writes nothing.
    let out = keygate(
        d,
        &[
            "keys",
            "import",
            plain.to_str().unwrap(),
            "--format",
            "plain",
            "--owner",
            "legacy",
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "some lines were invalid");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("would import 2") && err.contains("line 5:"),
        "{err}"
    );
    assert_eq!(ok(&keygate(d, &["token", "list", "--json"])).trim(), "[]");

    let out = keygate(
        d,
        &[
            "keys",
            "import",
            plain.to_str().unwrap(),
            "--owner",
            "legacy",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("imported 2, skipped 1") && err.contains("invalid 1"),
        "{err}"
    );
    // Again: everything is already there.
    let err = String::from_utf8_lossy(
        &keygate(
            d,
            &[
                "keys",
                "import",
                plain.to_str().unwrap(),
                "--owner",
                "legacy",
            ],
        )
        .stderr,
    )
    .into_owned();
    assert!(err.contains("imported 0, skipped 3"), "{err}");

    let hashed = d.join("hashed.txt");
    let sha = keygate::keyfile::sha256_hex(b"akas-key-000003").to_uppercase();
    std::fs::write(&hashed, format!("{sha}\n")).unwrap();
    let out = keygate(
        d,
        &[
            "keys",
            "import",
            hashed.to_str().unwrap(),
            "--format",
            "sha256",
            "--owner",
            "akas",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let list: serde_json::Value =
        serde_json::from_str(&ok(&keygate(d, &["token", "list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);

    let (server, addr) = serve(d);
    assert_eq!(forward_auth(&addr, Some("legacy-key-000001")), 204);
    assert_eq!(forward_auth(&addr, Some("akas-key-000003")), 204);
    assert_eq!(forward_auth(&addr, Some("akas-key-000004")), 401);
    stop(server);

    // Bad input.
    for (args, needle) in [
        (
            vec!["keys", "import", "/nonexistent/file", "--owner", "x"],
            "cannot read",
        ),
        (
            vec![
                "keys",
                "import",
                plain.to_str().unwrap(),
                "--owner",
                "x",
                "--format",
                "md5",
            ],
            "plain or sha256",
        ),
        (
            vec!["keys", "import", plain.to_str().unwrap(), "--owner", ""],
            "owner",
        ),
    ] {
        let out = keygate(d, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}"
        );
    }
    let empty = d.join("empty.txt");
    std::fs::write(&empty, "# nothing\n").unwrap();
    let out = keygate(
        d,
        &["keys", "import", empty.to_str().unwrap(), "--owner", "x"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no valid keys"));
}

#[test]
fn check_says_whether_a_key_is_well_formed_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = ok(&keygate(
        d,
        &["token", "create", "--owner", "me", "--name", "c"],
    ))
    .trim()
    .to_owned();
    let out = keygate(d, &["check", &key]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("well-formed") && !text.contains(&key),
        "{text}"
    );
    let mut typo = key.clone();
    typo.replace_range(10..11, if &key[10..11] == "a" { "b" } else { "a" });
    let out = keygate(d, &["check", &typo]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("checksum"));
    assert_eq!(keygate(d, &["check", "hello"]).status.code(), Some(1));
    // From stdin, so it stays out of the shell history.
    let mut child = Command::new(BIN)
        .args(["check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{key}\n").as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
}

#[test]
fn status_command_reads_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let admin = "admin-key-for-status-0001";
    std::fs::write(d.join("keygate.toml"), format!("admin_key = \"{admin}\"\n")).unwrap();
    ok(&keygate(
        d,
        &["token", "create", "--owner", "me", "--name", "s"],
    ));
    let (server, addr) = serve(d);
    let url = format!("http://{addr}");
    let out = Command::new(BIN)
        .args(["status", "--server", &url, "--admin-key", admin])
        .env_clear()
        .current_dir(d)
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(
        text.contains("store:      redb (healthy), 1 keys"),
        "{text}"
    );
    let out = Command::new(BIN)
        .args(["status", "--server", &url, "--admin-key", admin, "--json"])
        .env_clear()
        .current_dir(d)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(json["key_prefix"], "kg");
    let out = Command::new(BIN)
        .args([
            "status",
            "--server",
            &url,
            "--admin-key",
            "wrong-admin-key-00000",
        ])
        .env_clear()
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    stop(server);
    let out = Command::new(BIN)
        .args(["status", "--server", &url, "--admin-key", admin])
        .env_clear()
        .current_dir(d)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}

/// `keygate serve` on a free port, keeping what it writes on stderr.
fn serve_capturing(dir: &Path) -> (Child, String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir)
        .env_clear()
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let errs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = errs.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
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
    // The rest of stdout (the log) goes with stderr.
    let sink = errs.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    (child, addr, errs)
}

/// What the server wrote, once it holds the admin key banner (it goes to stderr before
/// the address goes to stdout, but the thread reading stderr may not have passed it on
/// yet when the address is read).
fn banner_of(errs: &std::sync::Mutex<Vec<String>>) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let b = errs.lock().unwrap().join("\n");
        if b.contains("kgadmin_") || std::time::Instant::now() > deadline {
            return b;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn api_me(addr: &str, key: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args([
            "-s",
            "-H",
            &format!("Authorization: Bearer {key}"),
            &format!("http://{addr}/api/me"),
        ])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

#[test]
fn single_operator_mode_and_the_cli_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (server, addr, errs) = serve_capturing(d);
    let banner = banner_of(&errs);
    let admin = banner
        .split_whitespace()
        .find(|w| w.starts_with("kgadmin_"))
        .unwrap_or_else(|| panic!("no admin key banner: {banner}"))
        .to_owned();
    assert!(banner.contains("single-operator mode") && banner.contains("shown ONCE"));
    let me = api_me(&addr, &admin);
    assert_eq!(
        (me["admin"].as_bool(), me["single_operator"].as_bool()),
        (Some(true), Some(true)),
        "{me}"
    );

    // The CLI goes through the running server's API: the store stays with the server.
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
    let out = remote(&[
        "token",
        "create",
        "--owner",
        "svc/billing",
        "--name",
        "remote",
        "--rule",
        "methods=GET",
    ]);
    let key = ok(&out).trim().to_owned();
    assert!(key.starts_with("kg_"));
    assert_eq!(forward_auth(&addr, Some(&key)), 204);
    let list: serde_json::Value =
        serde_json::from_str(&ok(&remote(&["token", "list", "--json"]))).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["owner"], "svc/billing");
    let mine: serde_json::Value = serde_json::from_str(&ok(&remote(&[
        "token",
        "list",
        "--owner",
        "svc/billing",
        "--json",
    ])))
    .unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    ok(&remote(&["token", "disable", &id]));
    assert_eq!(forward_auth(&addr, Some(&key)), 401);
    ok(&remote(&["token", "enable", &id]));
    assert!(ok(&remote(&["token", "show", &id])).contains("status:     active"));
    let rotated = ok(&remote(&["token", "rotate", &id, "--grace", "0s"]))
        .trim()
        .to_owned();
    assert_eq!(
        (
            forward_auth(&addr, Some(&key)),
            forward_auth(&addr, Some(&rotated))
        ),
        (401, 204)
    );
    let list: serde_json::Value =
        serde_json::from_str(&ok(&remote(&["token", "list", "--json"]))).unwrap();
    ok(&remote(&[
        "token",
        "revoke",
        list[0]["id"].as_str().unwrap(),
    ]));
    assert_eq!(forward_auth(&addr, Some(&rotated)), 401);
    let bad = Command::new(BIN)
        .args([
            "token",
            "list",
            "--server",
            &url,
            "--admin-key",
            "wrong-admin-key-000000",
        ])
        .env_clear()
        .output()
        .unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("401"));
    stop(server);

    // Restarted: no new key is made, the same one still works.
    let (server, addr, errs) = serve_capturing(d);
    assert!(
        !errs.lock().unwrap().join("\n").contains("kgadmin_"),
        "the key is shown once"
    );
    assert_eq!(api_me(&addr, &admin)["admin"], true);
    stop(server);

    // Reset with the server stopped: the new key works, the old one no longer does.
    let new_admin = ok(&keygate(d, &["admin-key", "reset"])).trim().to_owned();
    assert!(new_admin.starts_with("kgadmin_") && new_admin != admin);
    let (server, addr, _) = serve_capturing(d);
    assert_eq!(api_me(&addr, &new_admin)["admin"], true);
    assert_eq!(api_me(&addr, &admin)["error"], "unauthorized");
    stop(server);
}

/// The CLI side of issue 12: the per-owner limit from the environment, names with
/// invisible characters refused in every way they come in, damaged records named by
/// `token list` and found and removed by `doctor`.
#[test]
fn cli_limits_names_and_damaged_records() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with_env = |args: &[&str], env: &[(&str, &str)]| {
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(d)
            .env_clear()
            .envs(env.iter().copied())
            .current_dir(d)
            .output()
            .unwrap()
    };
    let limit = [("KEYGATE_MAX_KEYS_PER_OWNER", "2")];
    let create = |owner: &str, name: &str| {
        with_env(
            &["token", "create", "--owner", owner, "--name", name],
            &limit,
        )
    };
    ok(&create("me", "one"));
    ok(&create("me", "two"));
    let third = create("me", "three");
    assert!(!third.status.success());
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(err.contains("max_keys_per_owner"), "{err}");
    ok(&create("someone-else", "one"));

    for (owner, name) in [
        ("me", "a\u{202E}b"),
        ("me", "\u{200B}"),
        ("m\u{2028}e", "x"),
    ] {
        let out = create(owner, name);
        assert!(!out.status.success(), "{owner:?} {name:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("U+"), "{err}");
    }
    let file = d.join("keys.txt");
    std::fs::write(&file, "legacy-key-000001\n").unwrap();
    let out = keygate(
        d,
        &[
            "keys",
            "import",
            file.to_str().unwrap(),
            "--format",
            "plain",
            "--owner",
            "\u{202E}legacy",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("owner"));
    std::fs::write(
        d.join("keygate.toml"),
        "[[key_files]]\npath = \"keys.txt\"\nowner = \"svc\u{2066}\"\n",
    )
    .unwrap();
    let out = keygate(d, &["config", "check"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key_files[0].owner"), "{err}");
    std::fs::remove_file(d.join("keygate.toml")).unwrap();

    // Damage one record the way the embedded store keeps it.
    let listed: serde_json::Value = serde_json::from_str(&ok(&keygate(
        d,
        &["token", "list", "--owner", "me", "--json"],
    )))
    .unwrap();
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    {
        use redb::ReadableTable;
        const IDS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("ids");
        const RECORDS: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("records");
        let db = redb::Database::create(d.join("keygate.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let ids = tx.open_table(IDS).unwrap();
            let hash = ids.get(id.as_str()).unwrap().unwrap().value().to_vec();
            let mut records = tx.open_table(RECORDS).unwrap();
            records
                .insert(hash.as_slice(), b"{truncated".as_slice())
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let out = keygate(d, &["token", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("key {id} is damaged")),
        "the list names it: {err}"
    );
    // Through a server: the paged list names it too, and the server's log does.
    let (server, addr, log) = serve_capturing(d);
    let admin = log
        .lock()
        .unwrap()
        .join("\n")
        .split_whitespace()
        .find(|w| w.starts_with("kgadmin_"))
        .unwrap()
        .to_owned();
    let url = format!("http://{addr}");
    let out = Command::new(BIN)
        .args(["token", "list", "--server", &url, "--admin-key", &admin])
        .env_clear()
        .current_dir(d)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("key {id} is damaged")), "{err}");
    stop(server);
    let logged = log.lock().unwrap().join("\n");
    assert!(
        logged
            .lines()
            .any(|l| l.contains("damaged") && l.contains(id.as_str())),
        "the server's log names the record: {logged}"
    );
    let out = keygate(d, &["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("PROBLEM: key {id}: its stored record is damaged")),
        "{text}"
    );
    let text = ok(&keygate(d, &["doctor", "--fix"]));
    assert!(text.contains("1 removed"), "{text}");
    let text = ok(&keygate(d, &["doctor"]));
    assert!(text.contains("nothing is wrong"), "{text}");
    let out = keygate(d, &["token", "list"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("damaged"));
    // Room again under the limit.
    ok(&create("me", "again"));
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap()
}

/// The limit flags that every command taking them must refuse, with the flag the
/// message names.
const BAD_LIMITS: &[(&[&str], &str)] = &[
    (&["--rate-limit", "0/1m"], "--rate-limit 0/1m"),
    (&["--rate-limit", "-5/1m"], "--rate-limit -5/1m"),
    (&["--rate-limit", "10/1x"], "unknown unit"),
    (&["--rate-limit", "10/40d"], "at most 31d"),
    (
        &["--rate-limit", "1/1m", "--rate-limit", "2/1m"],
        "two rate limits",
    ),
    (
        &["--rate-limit", "99999999999999999999/1m"],
        "--rate-limit 99999999999999999999/1m: the limit must be 1 to",
    ),
    (&["--refill", "100/monthly"], "--refill needs --credits"),
    (
        &["--credits", "5", "--refill", "5/yearly"],
        "--refill 5/yearly",
    ),
    (
        &["--credits", "5", "--refill", "0/daily"],
        "--refill 0/daily",
    ),
    (&["--credits", "-1"], "--credits -1"),
    (&["--credits", "99999999999999999999"], "--credits"),
    (&["--credits", "2000000000000000"], "--credits"),
];

fn assert_refused(out: &Output, what: &str, needle: &str) {
    assert!(!out.status.success(), "{what} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "{what}: {err}");
    assert!(out.stdout.is_empty(), "{what} printed to stdout");
}

/// Issue 13 on the CLI, on the store: limits on create, read back, changed, owner
/// limits, and bad input refused before anything is written.
#[test]
fn limits_on_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (flags, needle) in BAD_LIMITS {
        let mut args = vec!["token", "create", "--owner", "me", "--name", "x"];
        args.extend_from_slice(flags);
        assert_refused(&keygate(d, &args), &format!("create {flags:?}"), needle);
        let mut args = vec!["owner-limits", "set", "me"];
        args.extend_from_slice(flags);
        assert_refused(
            &keygate(d, &args),
            &format!("owner-limits set {flags:?}"),
            needle,
        );
    }
    assert_eq!(ok(&keygate(d, &["token", "list", "--json"])).trim(), "[]");
    assert_eq!(
        json_of(&keygate(d, &["owner-limits", "get", "me", "--json"]))["source"],
        "none"
    );

    ok(&keygate(
        d,
        &[
            "token",
            "create",
            "--owner",
            "me",
            "--name",
            "metered",
            "--rate-limit",
            "100/1m",
            "--rate-limit",
            "per-hour=5000/1h",
            "--credits",
            "9950",
            "--refill",
            "10000/monthly",
        ],
    ));
    ok(&keygate(
        d,
        &["token", "create", "--owner", "me", "--name", "free"],
    ));
    let list = json_of(&keygate(d, &["token", "list", "--json"]));
    let metered = list
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "metered")
        .unwrap();
    assert_eq!(
        metered["limits"],
        serde_json::json!({
            "rate_limits": [
                {"name": "1m", "limit": 100, "window": "1m"},
                {"name": "per-hour", "limit": 5000, "window": "1h"}
            ],
            "credits": {"remaining": 9950, "refill": {"amount": 10000, "interval": "monthly"}}
        })
    );
    let id = metered["id"].as_str().unwrap().to_owned();
    let table = ok(&keygate(d, &["token", "list"]));
    assert!(table.contains("LIMITS"), "{table}");
    let row = table.lines().find(|l| l.contains(&id)).unwrap();
    assert!(
        row.ends_with("100/1m per-hour=5000/1h · 9950 cr"),
        "{table}"
    );
    let free_row = table.lines().find(|l| l.contains("free")).unwrap();
    assert!(free_row.ends_with(" -"), "{table}");
    let shown = ok(&keygate(d, &["token", "show", &id]));
    assert!(
        shown.contains("rate limit: per-hour=5000/1h")
            && shown.contains("credits:    9950 left, refilled to 10000 monthly"),
        "{shown}"
    );

    // Update: the balance, the list replaced, the refill removed; then the quota gone.
    ok(&keygate(
        d,
        &[
            "token",
            "update",
            &id,
            "--credits",
            "3",
            "--rate-limit",
            "burst=5/1s",
            "--no-refill",
            "--name",
            "metered2",
        ],
    ));
    let v = json_of(&keygate(d, &["token", "show", &id, "--json"]));
    assert_eq!(v["name"], "metered2");
    assert_eq!(
        v["limits"],
        serde_json::json!({
            "rate_limits": [{"name": "burst", "limit": 5, "window": "1s"}],
            "credits": {"remaining": 3, "refill": null}
        })
    );
    // A refill alone keeps the balance.
    ok(&keygate(d, &["token", "update", &id, "--refill", "50/12h"]));
    let v = json_of(&keygate(d, &["token", "show", &id, "--json"]));
    assert_eq!(
        v["limits"]["credits"],
        serde_json::json!({"remaining": 3, "refill": {"amount": 50, "interval": "12h"}})
    );
    ok(&keygate(
        d,
        &["token", "update", &id, "--no-credits", "--no-rate-limits"],
    ));
    let v = json_of(&keygate(d, &["token", "show", &id, "--json"]));
    assert_eq!(
        v["limits"],
        serde_json::json!({"rate_limits": [], "credits": null})
    );
    // Bad updates change nothing.
    for (flags, needle) in [
        (&["--refill", "10/daily"][..], "no credits to refill"),
        (&["--no-refill"][..], "no credits to refill"),
        (&["--rate-limit", "0/1m"][..], "--rate-limit 0/1m"),
        (&["--credits", "-1"][..], "--credits -1"),
        (&["--credits", "1", "--no-credits"][..], "--no-credits"),
        (
            &["--rate-limit", "1/1m", "--no-rate-limits"][..],
            "--no-rate-limits",
        ),
        (&[][..], "nothing to change"),
    ] {
        let mut args = vec!["token", "update", &id];
        args.extend_from_slice(flags);
        assert_refused(&keygate(d, &args), &format!("update {flags:?}"), needle);
    }
    assert_eq!(
        json_of(&keygate(d, &["token", "show", &id, "--json"]))["limits"],
        v["limits"]
    );
    assert_refused(
        &keygate(
            d,
            &["token", "update", "doesNotExist1234", "--credits", "1"],
        ),
        "update of an unknown key",
        "no key with id",
    );

    // Owner limits: set, read, cleared.
    let set = json_of(&keygate(
        d,
        &[
            "owner-limits",
            "set",
            "me",
            "--rate-limit",
            "10/1m",
            "--credits",
            "100",
            "--refill",
            "100/weekly",
            "--json",
        ],
    ));
    assert_eq!(set["source"], "owner");
    let got = json_of(&keygate(d, &["owner-limits", "get", "me", "--json"]));
    assert_eq!(
        got["limits"],
        serde_json::json!({
            "rate_limits": [{"name": "1m", "limit": 10, "window": "1m"}],
            "credits": {"remaining": 100, "refill": {"amount": 100, "interval": "weekly"}}
        })
    );
    let text = ok(&keygate(d, &["owner-limits", "get", "me"]));
    assert!(
        text.contains("limits:     their own") && text.contains("rate limit: 10/1m"),
        "{text}"
    );
    ok(&keygate(d, &["owner-limits", "clear", "me"]));
    assert_eq!(
        json_of(&keygate(d, &["owner-limits", "get", "me", "--json"]))["source"],
        "none"
    );
    // The configured default shows once the owner has none of their own.
    std::fs::write(
        d.join("keygate.toml"),
        "[limits.owner]\nrate_limits = [\"7/1h\"]\n",
    )
    .unwrap();
    let got = json_of(&keygate(d, &["owner-limits", "get", "me", "--json"]));
    assert_eq!(
        (&got["source"], &got["limits"]["rate_limits"][0]["limit"]),
        (&serde_json::json!("default"), &serde_json::json!(7))
    );
}

/// The same through a running server's API (`--server`), and the limits enforced.
#[test]
fn limits_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (server, addr, errs) = serve_capturing(d);
    let admin = banner_of(&errs)
        .split_whitespace()
        .find(|w| w.starts_with("kgadmin_"))
        .unwrap()
        .to_owned();
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
    for (flags, needle) in BAD_LIMITS {
        let mut args = vec!["token", "create", "--owner", "me", "--name", "x"];
        args.extend_from_slice(flags);
        assert_refused(&remote(&args), &format!("create {flags:?}"), needle);
        let mut args = vec!["owner-limits", "set", "me"];
        args.extend_from_slice(flags);
        assert_refused(
            &remote(&args),
            &format!("owner-limits set {flags:?}"),
            needle,
        );
    }
    assert_eq!(ok(&remote(&["token", "list", "--json"])).trim(), "[]");
    assert_eq!(
        json_of(&remote(&["owner-limits", "get", "me", "--json"]))["source"],
        "none"
    );

    let key = ok(&remote(&[
        "token",
        "create",
        "--owner",
        "me",
        "--name",
        "metered",
        "--rate-limit",
        "2/1m",
        "--credits",
        "10",
        "--refill",
        "10/daily",
    ]))
    .trim()
    .to_owned();
    let list = json_of(&remote(&["token", "list", "--json"]));
    assert_eq!(
        list[0]["limits"],
        serde_json::json!({
            "rate_limits": [{"name": "1m", "limit": 2, "window": "1m"}],
            "credits": {"remaining": 10, "refill": {"amount": 10, "interval": "daily"}}
        })
    );
    let id = list[0]["id"].as_str().unwrap().to_owned();
    // Enforced: two a minute (windows are epoch-aligned: keep clear of a minute's end).
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if into_minute >= 57 {
        std::thread::sleep(Duration::from_secs(61 - into_minute));
    }
    assert_eq!(forward_auth(&addr, Some(&key)), 204);
    assert_eq!(forward_auth(&addr, Some(&key)), 204);
    assert_eq!(forward_auth(&addr, Some(&key)), 429);
    let row = ok(&remote(&["token", "list"]));
    assert!(row.contains("2/1m · "), "{row}");

    // Raised and given one credit: one more, then out of credits.
    ok(&remote(&[
        "token",
        "update",
        &id,
        "--rate-limit",
        "100/1m",
        "--credits",
        "1",
        "--no-refill",
    ]));
    let v = json_of(&remote(&["token", "show", &id, "--json"]));
    assert_eq!(
        v["limits"],
        serde_json::json!({
            "rate_limits": [{"name": "1m", "limit": 100, "window": "1m"}],
            "credits": {"remaining": 1, "refill": null}
        })
    );
    assert_eq!(forward_auth(&addr, Some(&key)), 204);
    assert_eq!(forward_auth(&addr, Some(&key)), 429);
    // A refill added alone starts counting now: the empty balance stays empty.
    ok(&remote(&["token", "update", &id, "--refill", "5/daily"]));
    let v = json_of(&remote(&["token", "show", &id, "--json"]));
    assert_eq!(
        v["limits"]["credits"],
        serde_json::json!({"remaining": 0, "refill": {"amount": 5, "interval": "daily"}})
    );
    assert_eq!(forward_auth(&addr, Some(&key)), 429);
    ok(&remote(&[
        "token",
        "update",
        &id,
        "--no-credits",
        "--no-rate-limits",
    ]));
    assert_eq!(forward_auth(&addr, Some(&key)), 204);
    let v = json_of(&remote(&["token", "show", &id, "--json"]));
    assert_eq!(
        v["limits"],
        serde_json::json!({"rate_limits": [], "credits": null})
    );
    for (flags, needle) in [
        (&["--refill", "10/daily"][..], "no credits to refill"),
        (&["--rate-limit", "10/1x"][..], "unknown unit"),
        (&[][..], "nothing to change"),
    ] {
        let mut args = vec!["token", "update", &id];
        args.extend_from_slice(flags);
        assert_refused(&remote(&args), &format!("update {flags:?}"), needle);
    }

    // Owner limits, shared by the owner's keys.
    let set = json_of(&remote(&[
        "owner-limits",
        "set",
        "me",
        "--credits",
        "1",
        "--json",
    ]));
    assert_eq!(
        (&set["source"], &set["limits"]["credits"]["remaining"]),
        (&serde_json::json!("owner"), &serde_json::json!(1))
    );
    assert_eq!(forward_auth(&addr, Some(&key)), 204);
    assert_eq!(forward_auth(&addr, Some(&key)), 429);
    let got = json_of(&remote(&["owner-limits", "get", "me", "--json"]));
    assert_eq!(got["limits"]["credits"]["remaining"], 0);
    ok(&remote(&["owner-limits", "clear", "me"]));
    assert_eq!(forward_auth(&addr, Some(&key)), 204);
    assert_eq!(
        json_of(&remote(&["owner-limits", "get", "me", "--json"]))["source"],
        "none"
    );
    stop(server);
}
