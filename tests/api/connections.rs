//! Hostile connections against the real binary with few file descriptors
//! (`ulimit -n 256`): silent connections, half-sent requests and idle keep-alive
//! connections, more of them than the process has descriptors. Health checks and valid
//! keys must keep being answered, on the main port and on the metrics listener, and the
//! hostile connections must be closed once the (short, configured) timeouts pass.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_keygate");
/// Both timeouts, as configured for this test.
const TIMEOUT: Duration = Duration::from_millis(1000);
/// The longest a healthy request may take while the flood is on (stated generously:
/// without the protections it never gets an answer at all).
const ANSWER_BOUND: Duration = Duration::from_secs(5);
/// How long after its timeout a hostile connection must be gone.
const CLOSE_MARGIN: Duration = Duration::from_secs(4);

/// One request on a fresh connection; the status and how long it took.
fn request(addr: &str, path: &str, key: Option<&str>) -> Result<(u16, Duration), String> {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: t\r\n{auth}Connection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .map_err(|e| format!("read after {:?}: {e}", started.elapsed()))?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no answer after {:?}: {answer:?}", started.elapsed()))?;
    Ok((status, started.elapsed()))
}

enum Kind {
    /// Connects and says nothing.
    Silent,
    /// Sends half a request head and stops.
    HalfSent,
    /// Sends a whole request, reads the answer, keeps the connection.
    KeepAlive,
}

struct Held {
    stream: TcpStream,
    opened: Instant,
}

fn hold(addr: &str, kind: &Kind, path: &str) -> Option<Held> {
    let mut stream = TcpStream::connect(addr).ok()?;
    let opened = Instant::now();
    match kind {
        Kind::Silent => {}
        Kind::HalfSent => {
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                .ok()?;
        }
        Kind::KeepAlive => {
            write!(stream, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").ok()?;
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .ok()?;
            let mut buf = [0u8; 512];
            let n = stream.read(&mut buf).ok()?;
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        }
    }
    Some(Held { stream, opened })
}

/// Waits for the server to close `h`; how long after it was opened that happened.
fn closed_after(mut h: Held) -> Result<Duration, String> {
    let deadline = TIMEOUT + CLOSE_MARGIN;
    let left = deadline
        .saturating_sub(h.opened.elapsed())
        .max(Duration::from_millis(10));
    h.stream.set_read_timeout(Some(left)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match h.stream.read(&mut buf) {
            Ok(0) => return Ok(h.opened.elapsed()),
            // Whatever the server said before closing (a 408, say) is fine.
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("still open after {:?}", h.opened.elapsed()));
            }
            Err(_) => return Ok(h.opened.elapsed()), // reset: closed too
        }
    }
}

#[test]
fn floods_of_slow_and_idle_connections_do_not_starve_healthy_clients() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let metrics_port = crate::helpers::free_port();
    std::fs::write(
        d.join("keygate.toml"),
        format!(
            "log_format = \"json\"\naccess_log = false\nmetrics_address = \"127.0.0.1:{metrics_port}\"\n\
             header_read_timeout_ms = {ms}\nidle_timeout_ms = {ms}\n[throttle]\nenabled = false\n",
            ms = TIMEOUT.as_millis()
        ),
    )
    .unwrap();
    let key = crate::helpers::run_cli(
        d,
        &["token", "create", "--owner", "alice", "--name", "flood"],
    );

    // Few descriptors, as on a host with a low limit.
    let mut serve = Command::new("sh");
    serve
        .args(["-c", &format!("ulimit -n 256 && exec {BIN} serve --port 0")])
        .current_dir(d)
        .env_clear();
    let server = crate::helpers::Process::start(serve);
    let addr = server.addr.clone();
    let metrics = format!("127.0.0.1:{metrics_port}");
    assert_eq!(request(&addr, "/forward-auth", Some(&key)).unwrap().0, 204);

    // Below the cap, each kind is closed by its timeout: not before, and not much later.
    // A trickling client (a byte every 200 ms, never finishing its head) too.
    let mut timed = Vec::new();
    for kind in ["silent", "half-sent", "keep-alive", "trickle"] {
        for target in [addr.clone(), metrics.clone()] {
            let path = if target == metrics {
                "/metrics"
            } else {
                "/health"
            };
            let k = match kind {
                "silent" | "trickle" => Kind::Silent,
                "half-sent" => Kind::HalfSent,
                _ => Kind::KeepAlive,
            };
            let mut h = hold(&target, &k, path).unwrap();
            timed.push(std::thread::spawn(move || {
                if kind == "trickle" {
                    for b in b"GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa" {
                        if h.stream.write_all(&[*b]).is_err() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                (kind, target, closed_after(h))
            }));
        }
    }
    for t in timed {
        let (kind, target, closed) = t.join().unwrap();
        let took = closed.unwrap_or_else(|e| panic!("{kind} on {target}: {e}"));
        println!("{kind} connection on {target} closed after {took:?} (timeout {TIMEOUT:?})");
        assert!(took >= TIMEOUT * 9 / 10, "{kind} closed early: {took:?}");
    }

    // The flood: more connections than the process has descriptors, on both listeners.
    let started = Instant::now();
    let mut held = Vec::new();
    for (target, kind, n) in [
        (&addr, Kind::KeepAlive, 60),
        (&metrics, Kind::KeepAlive, 20),
        (&addr, Kind::Silent, 150),
        (&addr, Kind::HalfSent, 150),
        (&metrics, Kind::Silent, 50),
        (&metrics, Kind::HalfSent, 50),
    ] {
        let kind_name = match kind {
            Kind::Silent => "silent",
            Kind::HalfSent => "half-sent",
            Kind::KeepAlive => "keep-alive",
        };
        for _ in 0..n {
            let path = if *target == metrics {
                "/metrics"
            } else {
                "/health"
            };
            if let Some(h) = hold(target, &kind, path) {
                held.push((kind_name, h));
            }
        }
    }
    println!(
        "{} hostile connections opened in {:?}",
        held.len(),
        started.elapsed()
    );
    assert!(held.len() >= 400, "the flood itself failed: {}", held.len());

    // While they are held, healthy clients keep being answered.
    let mut worst = Duration::ZERO;
    let mut answered = 0;
    let until = Instant::now() + TIMEOUT * 3;
    while Instant::now() < until {
        for (target, path, key, want) in [
            (&addr, "/health", None, 200),
            (&addr, "/forward-auth", Some(key.as_str()), 204),
            (&addr, "/forward-auth", Some("kg_wrong"), 401),
            (&metrics, "/metrics", None, 200),
        ] {
            let (status, took) = request(target, path, key)
                .unwrap_or_else(|e| panic!("{target}{path} during the flood: {e}"));
            assert_eq!(status, want, "{target}{path}");
            worst = worst.max(took);
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "{answered} healthy requests during the flood, the slowest took {worst:?} (bound {ANSWER_BOUND:?})"
    );
    assert!(
        worst <= ANSWER_BOUND,
        "slowest healthy request took {worst:?}"
    );

    // Every hostile connection is closed by the server.
    let mut latest = Duration::ZERO;
    let mut open = Vec::new();
    for (kind, h) in held {
        match closed_after(h) {
            Ok(t) => latest = latest.max(t),
            Err(e) => open.push(format!("{kind}: {e}")),
        }
    }
    println!(
        "every flood connection was closed when checked, {latest:?} after it opened at the \
         latest (at the cap, connections without a request are closed to make room)"
    );
    assert!(
        open.is_empty(),
        "{} still open: {:?}",
        open.len(),
        &open[..open.len().min(5)]
    );

    // And the server is still fine.
    assert_eq!(request(&addr, "/forward-auth", Some(&key)).unwrap().0, 204);
    let log = server.stop().join("\n");
    let accept_errors = log.matches("accept failed").count();
    println!("accept errors logged: {accept_errors}");
    assert!(
        accept_errors <= 10,
        "accept errors are not rate-limited:\n{log}"
    );
}
