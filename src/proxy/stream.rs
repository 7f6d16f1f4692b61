//! What keeps flowing after the response head: bodies, and tunnels once both sides
//! switched protocols.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

use crate::listen::Busy;

/// The tunnel of a connection that switched protocols, awaited before the connection's
/// slot is given back.
pub(super) type TunnelSlot = Arc<Mutex<Option<JoinHandle<()>>>>;

/// Bytes both ways between the client and the upstream once both switched protocols;
/// ends when either side closes or keygate shuts down.
pub(super) async fn tunnel_between(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let (Ok(client), Ok(upstream)) = tokio::join!(client, upstream) else {
        return;
    };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = closing.wait_for(|c| *c) => {}
    }
}

/// A response body that keeps its connection counted as busy until it is done.
pub(super) struct Guarded {
    pub inner: Incoming,
    pub _busy: Busy,
}

impl hyper::body::Body for Guarded {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
