//! A real upstream for the inline proxy's tests: an HTTP/1.1 server (plain or TLS) that
//! echoes what it was sent, streams bodies of any size, answers slowly or dies
//! mid-answer on request, and speaks WebSocket (tokio-tungstenite) and a raw upgraded
//! echo. It counts every request that reached it.
//!
//! - `GET /download/N`: N bytes, streamed in 64 KiB chunks;
//! - `PUT|POST /upload`: reads the body as it comes, answers `{"bytes": N}`;
//! - `/slow/MS`: the head after MS milliseconds;
//! - `/die`: a head promising 1 MB, 10 bytes, then the connection drops;
//! - `/status/N`: an empty answer with status N;
//! - `/close`: 200, then the upstream closes the connection;
//! - `/ws`: a WebSocket echo; `/raw` with `Upgrade: echo`: bytes echoed back;
//! - anything else: `{"method", "uri", "version", "headers": [[name, value], …], "body"}`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub struct Upstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

impl Upstream {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// With `tls`: HTTPS with that certificate.
    pub async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (hits, tls) = (counted.clone(), tls.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        hits.fetch_add(1, Ordering::SeqCst);
                        answer(req)
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(tls) => {
                            if let Ok(s) = tls.accept(stream).await {
                                let _ = http
                                    .serve_connection(TokioIo::new(s), svc)
                                    .with_upgrades()
                                    .await;
                            }
                        }
                        None => {
                            let _ = http
                                .serve_connection(TokioIo::new(stream), svc)
                                .with_upgrades()
                                .await;
                        }
                    }
                });
            }
        });
        Upstream { addr, hits, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests that reached the upstream so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(b.into())
        .map_err(|e| match e {})
        .boxed()
}

fn status(s: u16) -> Response<Body> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::from_u16(s).unwrap();
    r
}

async fn answer(mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Ok(match seg.as_slice() {
        ["download", n] => {
            let n: u64 = n.parse().unwrap();
            let mut r = Response::new(Pattern { left: n }.boxed());
            r.headers_mut().insert("content-length", n.into());
            r
        }
        ["upload"] => {
            let mut body = req.into_body();
            let mut n = 0u64;
            while let Some(f) = body.frame().await {
                match f {
                    Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                    Err(_) => return Ok(status(400)),
                }
            }
            Response::new(full(format!("{{\"bytes\":{n}}}")))
        }
        ["slow", ms] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
            Response::new(full("slow"))
        }
        ["die"] => {
            let mut r = Response::new(
                Dying {
                    sent: false,
                    pause: Box::pin(tokio::time::sleep(Duration::from_millis(200))),
                }
                .boxed(),
            );
            r.headers_mut().insert("content-length", 1_000_000.into());
            r
        }
        ["status", n] => status(n.parse().unwrap()),
        ["close"] => {
            // The upstream ends the connection after this answer.
            let mut r = status(200);
            r.headers_mut()
                .insert("connection", "close".parse().unwrap());
            r
        }
        ["ws"] => {
            let key = req
                .headers()
                .get("sec-websocket-key")
                .map(|k| k.as_bytes().to_vec())
                .unwrap_or_default();
            let on = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(up) = on.await else { return };
                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(up),
                    tokio_tungstenite::tungstenite::protocol::Role::Server,
                    None,
                )
                .await;
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() || m.is_binary() {
                        if ws.send(m).await.is_err() {
                            return;
                        }
                    } else if m.is_close() {
                        return;
                    }
                }
            });
            let mut r = status(101);
            let h = r.headers_mut();
            h.insert("upgrade", "websocket".parse().unwrap());
            h.insert("connection", "Upgrade".parse().unwrap());
            h.insert(
                "sec-websocket-accept",
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key)
                    .parse()
                    .unwrap(),
            );
            r
        }
        ["raw"] => {
            let on = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(up) = on.await else { return };
                let (mut r, mut w) = tokio::io::split(TokioIo::new(up));
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
            let mut r = status(101);
            r.headers_mut().insert("upgrade", "echo".parse().unwrap());
            r.headers_mut()
                .insert("connection", "upgrade".parse().unwrap());
            r
        }
        _ => {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let headers: Vec<(String, String)> = parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let v = serde_json::json!({
                "method": parts.method.as_str(),
                "uri": parts.uri.to_string(),
                "version": format!("{:?}", parts.version),
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            });
            let mut r = Response::new(full(v.to_string()));
            r.headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            // A hop-by-hop header the proxy must not pass back.
            r.headers_mut()
                .insert("keep-alive", "timeout=30".parse().unwrap());
            r
        }
    })
}

/// `left` bytes of a repeating pattern, 64 KiB at a time.
struct Pattern {
    left: u64,
}

static CHUNK: [u8; 65536] = [b'k'; 65536];

impl hyper::body::Body for Pattern {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK.len() as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..n])))))
    }
}

/// Ten bytes, a pause (so they are on their way), then a failure: hyper drops the
/// connection mid-body.
struct Dying {
    sent: bool,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for Dying {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.sent {
            if self.pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            return Poll::Ready(Some(Err(std::io::Error::other("dying"))));
        }
        self.sent = true;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"0123456789")))))
    }
}
