//! Listeners: connections accepted under a cap and timed out, then handed to the face
//! that serves them (the gate and API's HTTP/1.1, the inline proxy's HTTP/1.1 and
//! HTTP/2, with or without TLS).
//!
//! A hostile client must not be able to starve the others by holding connections
//! (every one costs a file descriptor), so:
//! - the request head must arrive within `header_read_timeout_ms` of the connection's
//!   start or of the previous request (a half-sent request, a trickling or a silent
//!   connection is closed);
//! - a connection with no request being handled and no byte moving either way for
//!   `idle_timeout_ms` is closed (an idle keep-alive connection, a client that stopped
//!   reading its answer);
//!
//! Both are judged by one watchman task per listener, which looks at every
//! connection's counters a few times per timeout and closes those past one (between
//! one and one and a quarter timeouts after it began): a request arms no timer and
//! reads no clock for them, and a connection's task polls nothing but the connection
//! and its one close signal (docs/benchmarks.md, issue 23).
//! - at most `max_connections` are open at once, both listeners together, lowered to
//!   fit the open-files limit. When a new connection arrives at the cap, every
//!   connection without a request in progress is closed to make room (as nginx reuses
//!   idle keep-alive connections), so a flood of idle connections cannot lock healthy
//!   clients out;
//! - accept errors (out of descriptors) back off, up to a second, instead of spinning,
//!   and are logged once per streak.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};

use crate::config::Config;

pub mod tls;

/// Looks per idle timeout (the shorter of the two timeouts): a connection is closed
/// between one and one and a quarter timeouts after it went quiet.
const QUARTERS: u32 = 4;

/// Descriptors kept free of connections: the store, Valkey, log and key files.
const RESERVED_FDS: usize = 64;

/// What every connection of both listeners lives under.
#[derive(Clone)]
pub struct Limits {
    header_read: Duration,
    idle: Duration,
    slots: Arc<Semaphore>,
    /// Notified when a connection arrives at the cap: the idle ones close.
    pressure: Arc<Notify>,
}

impl Limits {
    pub fn new(c: &Config) -> Self {
        let mut max = c.max_connections;
        if let Some(files) = open_files_limit() {
            let fits = files.saturating_sub(RESERVED_FDS).max(1);
            if fits < max {
                tracing::warn!(
                    max_connections = c.max_connections,
                    open_files_limit = files,
                    "max_connections lowered to {fits} to fit the open-files limit (ulimit -n); raise the limit for more"
                );
                max = fits;
            }
        }
        Limits {
            header_read: Duration::from_millis(c.header_read_timeout_ms),
            idle: Duration::from_millis(c.idle_timeout_ms),
            slots: Arc::new(Semaphore::new(max)),
            pressure: Arc::new(Notify::new()),
        }
    }

    /// A slot for a connection that has arrived: at the cap, the connections without a
    /// request in progress are asked to close until one is free.
    async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        loop {
            if let Ok(p) = self.slots.clone().try_acquire_owned() {
                return p;
            }
            self.pressure.notify_waiters();
            if let Ok(Ok(p)) = tokio::time::timeout(
                Duration::from_millis(100),
                self.slots.clone().acquire_owned(),
            )
            .await
            {
                return p;
            }
        }
    }
}

/// The soft `RLIMIT_NOFILE` (Linux; elsewhere unknown).
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What a connection is doing, for the watchman; and the watchman's order to it.
#[derive(Default)]
struct Activity {
    /// Bumped by every read or write that moved bytes.
    io: AtomicU64,
    /// Requests being handled.
    busy: AtomicUsize,
    /// Requests begun (a whole head arrived).
    begun: AtomicU64,
    /// The watchman's view, only touched by it: `io` and `begun` at its last look, and
    /// how many looks in a row found no byte moving / no new request.
    seen: std::sync::Mutex<Seen>,
    /// [`CLOSE`] or [`FINISH`], with `signal` notified.
    order: std::sync::atomic::AtomicU8,
    /// A multiplexed connection (HTTP/2): ended for idleness with [`FINISH`] (a GOAWAY,
    /// so a request crossing it is retried on a new connection, not reset), and closed
    /// only when it is still there one timeout later.
    multiplexed: std::sync::atomic::AtomicBool,
    signal: Notify,
}

#[derive(Default)]
struct Seen {
    io: u64,
    begun: u64,
    quiet: u32,
    waiting: u32,
}

/// Orders to a connection: finish the request in progress and close, or close now
/// (the stronger order wins: `order` keeps the highest given).
const FINISH: u8 = 1;
const CLOSE: u8 = 2;

impl Activity {
    fn order(&self, order: u8) {
        if self.order.fetch_max(order, Ordering::AcqRel) < order {
            self.signal.notify_one();
        }
    }
}

/// The open connections of one listener, looked at by its watchman.
#[derive(Default)]
struct Watched {
    conns: std::sync::Mutex<Vec<std::sync::Weak<Activity>>>,
}

impl Watched {
    fn add(&self, a: &Arc<Activity>) {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(a));
    }

    /// Calls `f` on every open connection, forgetting those that have ended.
    fn each(&self, mut f: impl FnMut(&Activity)) {
        let mut conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns.retain(|w| match w.upgrade() {
            Some(a) => {
                f(&a);
                true
            }
            None => false,
        });
    }
}

/// One look at every connection, every `period`: a connection is closed after `idle`
/// looks in a row with no request in progress and no byte moving, or `header` looks
/// in a row with no request begun and none in progress. Ends when `stop` does, after
/// telling every connection to finish.
async fn watchman(
    watched: Arc<Watched>,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let period = limits.idle.min(limits.header_read) / QUARTERS;
    let looks = |d: Duration| {
        u32::try_from(d.as_nanos().div_ceil(period.as_nanos().max(1))).unwrap_or(u32::MAX)
    };
    let (idle, header) = (looks(limits.idle), looks(limits.header_read));
    // The first look a period from now, not at once (an immediate first tick waits for
    // the timer wheel's next millisecond).
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => watched.each(|a| {
                let (io, begun) = (a.io.load(Ordering::Relaxed), a.begun.load(Ordering::Relaxed));
                let busy = a.busy.load(Ordering::Relaxed) != 0;
                let mut s = a.seen.lock().unwrap_or_else(|e| e.into_inner());
                s.quiet = if busy || io != s.io { 0 } else { s.quiet + 1 };
                s.waiting = if busy || begun != s.begun { 0 } else { s.waiting + 1 };
                (s.io, s.begun) = (io, begun);
                if s.quiet >= idle || s.waiting >= header {
                    let gentle = a.multiplexed.load(Ordering::Relaxed)
                        && s.quiet < idle.saturating_mul(2)
                        && s.waiting < header.saturating_mul(2);
                    a.order(if gentle { FINISH } else { CLOSE });
                }
            }),
            () = limits.pressure.notified() => watched.each(|a| {
                if a.busy.load(Ordering::Relaxed) == 0 {
                    a.order(CLOSE);
                }
            }),
            _ = stop.changed() => {
                watched.each(|a| a.order(FINISH));
                return;
            }
        }
    }
}

/// The socket, counting the reads and writes that move bytes (one relaxed add each).
pub struct Counted {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() != before {
            self.activity.io.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.io.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.io.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Counts a request as in progress until dropped.
pub struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: &Arc<Activity>) -> Self {
        a.busy.fetch_add(1, Ordering::Relaxed);
        a.begun.fetch_add(1, Ordering::Relaxed);
        Busy(a.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One accepted connection as its face sees it: what the watchman needs to know of it.
#[derive(Clone)]
pub struct Conn {
    activity: Arc<Activity>,
}

impl Conn {
    /// Counts a request (or a Check, a tunnel's setup) as in progress until the guard is
    /// dropped: the watchman closes no connection with one.
    pub fn busy(&self) -> Busy {
        Busy::new(&self.activity)
    }

    /// Marks the connection as multiplexed (HTTP/2): ended for idleness gracefully.
    pub fn multiplexed(&self) {
        self.activity.multiplexed.store(true, Ordering::Relaxed);
    }

    /// Drives a served connection until it ends or the watchman orders it closed (on
    /// shutdown: closed once its requests in progress are answered).
    pub async fn drive<C: Graceful>(&self, conn: C) {
        self.drive_beside(conn, std::future::pending()).await;
    }

    /// [`Conn::drive`], polling `beside` in the same task until the connection ends (the
    /// inline proxy's upstream connections owned by this one).
    pub async fn drive_beside<C: Graceful>(&self, conn: C, beside: impl Future<Output = ()>) {
        let activity = &self.activity;
        let mut conn = std::pin::pin!(conn);
        let mut beside = std::pin::pin!(beside);
        let mut beside_done = false;
        let mut signal = std::pin::pin!(activity.signal.notified());
        let mut finishing = false;
        loop {
            tokio::select! {
                biased;
                _ = conn.as_mut() => return,
                () = signal.as_mut() => {
                    if activity.order.load(Ordering::Acquire) == CLOSE {
                        return;
                    }
                    if !finishing {
                        finishing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    signal.set(activity.signal.notified());
                }
                () = beside.as_mut(), if !beside_done => beside_done = true,
            }
        }
    }

    /// Runs `step` (a TLS handshake) unless the watchman closes the connection first: it
    /// counts as waiting for a request head, so a handshake gets `header_read_timeout_ms`.
    pub async fn before_head<T>(&self, step: impl Future<Output = T>) -> Option<T> {
        let activity = &self.activity;
        let mut signal = std::pin::pin!(activity.signal.notified());
        let mut step = std::pin::pin!(step);
        loop {
            tokio::select! {
                biased;
                t = step.as_mut() => return Some(t),
                () = signal.as_mut() => {
                    // Finishing means no new requests: a handshake not done is dropped.
                    if activity.order.load(Ordering::Acquire) != 0 {
                        return None;
                    }
                    signal.set(activity.signal.notified());
                }
            }
        }
    }
}

/// A served connection that can be asked to finish its requests and close.
pub trait Graceful: Future {
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>);
}

impl<I, S> Graceful for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>) {
        hyper::server::conn::http1::Connection::graceful_shutdown(self)
    }
}

impl<I, S, E, B> Graceful for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>) {
        hyper::server::conn::http2::Connection::graceful_shutdown(self)
    }
}

impl<I, S, E> Graceful for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<axum::body::Body>,
        >,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, axum::body::Body>,
{
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>) {
        hyper_util::server::conn::auto::UpgradeableConnection::graceful_shutdown(self)
    }
}

/// Accepts connections until `shutdown` completes, each under the limits above with
/// `TCP_NODELAY` (answers are small single writes, never to be held back by Nagle's
/// algorithm), and hands each to `serve` on a task of its own (`serve` drives it with
/// [`Conn::drive`]). Then the listener closes and in-flight requests finish (30 s at
/// most).
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    limits: Limits,
    serve: F,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    F: Fn(Counted, SocketAddr, Conn) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let watched = Arc::new(Watched::default());
    let watchman = tokio::spawn(watchman(watched.clone(), limits.clone(), stop_rx));
    // Every connection holds a sender: when all are gone, `alive_rx` ends.
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff = Duration::ZERO;
                a
            }
            Err(e) => {
                // Out of descriptors and the like: make room, and pause rather than spin.
                if backoff.is_zero() {
                    tracing::warn!(error = %e, "accept failed; backing off (logged once until an accept succeeds)");
                }
                limits.pressure.notify_waiters();
                backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                tokio::select! {
                    () = tokio::time::sleep(backoff) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let permit = tokio::select! {
            p = limits.slot() => p,
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        watched.add(&activity);
        let io = Counted {
            inner: stream,
            activity: activity.clone(),
        };
        let served = serve(io, peer, Conn { activity });
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            let _slot = permit;
            let _alive = alive;
            served.await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ = watchman.await;
    drop(alive_tx);
    if tokio::time::timeout(Duration::from_secs(30), alive_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still busy 30 s after shutdown began");
    }
    Ok(())
}

/// Serves `listener` with `workers` threads, each with a single-threaded runtime and an
/// accept loop of its own on a duplicate of the socket (as nginx's workers): a
/// connection, its requests and what they wait on stay on one thread. `worker` is
/// called once per thread, here, for that thread's `serve` (as [`accept_loop`] takes
/// it) and the future that stops it. The socket closes when the last worker stops.
pub async fn accept_on_workers<W, S, Fut, Stop>(
    listener: TcpListener,
    workers: usize,
    limits: Limits,
    mut worker: W,
) -> std::io::Result<()>
where
    W: FnMut() -> std::io::Result<(S, Stop)>,
    S: Fn(Counted, SocketAddr, Conn) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    Stop: Future<Output = ()> + Send + 'static,
{
    let shared = listener.into_std()?;
    let mut threads = Vec::with_capacity(workers);
    for _ in 0..workers.max(1) {
        let socket = shared.try_clone()?;
        let (serve, stop) = worker()?;
        let limits = limits.clone();
        threads.push(tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = TcpListener::from_std(socket)?;
                accept_loop(listener, limits, serve, stop).await
            })
        }));
    }
    // Only the workers hold the socket: it closes when the last of them stops.
    drop(shared);
    let mut result = Ok(());
    for t in threads {
        let r = t.await.map_err(std::io::Error::other).and_then(|r| r);
        if result.is_ok() {
            result = r;
        }
    }
    result
}

/// `0`: one per core.
pub fn workers(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
}
