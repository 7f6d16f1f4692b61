//! The limit for `make bench`: a bare hyper server that answers 204 to everything, on
//! the same runtime keygate uses. `bare [ADDR]` prints the address it listens on.
//!
//! For the inline proxy's cases it also reads request bodies to their end (an upload
//! through the proxy must be consumed somewhere), streams `GET /bytes/N` (N bytes), and
//! takes `Upgrade: echo` requests: 101, then every byte echoed back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Bytes, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

type Body = BoxBody<Bytes, Infallible>;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("{}", listener.local_addr().expect("addr"));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .with_upgrades()
                .await;
        });
    }
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(http_body_util::Empty::new().boxed());
    *r.status_mut() = status;
    r
}

async fn answer(mut req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    if req.headers().contains_key(hyper::header::UPGRADE) {
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on.await {
                let (mut r, mut w) = tokio::io::split(TokioIo::new(up));
                let _ = tokio::io::copy(&mut r, &mut w).await;
            }
        });
        let mut r = empty(StatusCode::SWITCHING_PROTOCOLS);
        r.headers_mut()
            .insert(hyper::header::UPGRADE, "echo".parse().unwrap());
        r.headers_mut()
            .insert(hyper::header::CONNECTION, "upgrade".parse().unwrap());
        return Ok(r);
    }
    if let Some(n) = req.uri().path().strip_prefix("/bytes/") {
        let left: u64 = n.parse().unwrap_or(0);
        let mut r = Response::new(BodyExt::boxed(Pattern { left }));
        r.headers_mut()
            .insert(hyper::header::CONTENT_LENGTH, left.into());
        return Ok(r);
    }
    let mut body = req.into_body();
    if !hyper::body::Body::is_end_stream(&body) {
        while let Some(Ok(_)) = body.frame().await {}
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `left` bytes, 64 KiB at a time.
struct Pattern {
    left: u64,
}

static CHUNK: [u8; 65536] = [b'b'; 65536];

impl hyper::body::Body for Pattern {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(CHUNK.len() as u64) as usize;
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..n])))))
    }
}
