//! Following other replicas: the invalidation channel (publish, subscribe, a PING
//! heartbeat), so every replica drops a changed key at once.

use super::*;

#[async_trait]
impl FollowStore for ValkeyStore {
    fn shared(&self) -> bool {
        true
    }

    async fn announce_all(&self) {
        self.publish(None).await;
    }

    async fn announce_permissions(&self) {
        self.publish_raw("p").await;
    }

    async fn watch(&self, target: Arc<dyn Invalidate>) {
        let mut attempt = 0usize;
        loop {
            // Until subscribed, nothing cached can be trusted: we may miss invalidations.
            target.trust(false);
            match self.follow(&target, attempt).await {
                Ok(()) => tracing::warn!(
                    "the invalidation subscription was lost; bypassing the cache until it is back"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to invalidations; bypassing the cache")
                }
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(200).min(self.timeout)).await;
        }
    }
}

impl ValkeyStore {
    pub(super) fn k_channel(&self) -> String {
        format!("{}:invalidate", self.ns)
    }

    /// Tells every replica to drop what it cached for `hash` (`None`: everything). A
    /// failure is logged, not returned: the write itself is done, and the other
    /// replicas' caches expire within `cache.ttl_secs` anyway.
    pub(super) async fn publish(&self, hash: Option<&KeyHash>) {
        let msg = hash.map_or_else(|| "all".to_owned(), |h| format!("h {}", h.to_hex()));
        self.publish_raw(&msg).await;
    }

    /// Sends one message on the invalidation channel (`h <hash>`, `all`, or `s <epoch>
    /// <slot>`: a credit balance was set).
    pub(super) async fn publish_raw(&self, msg: &str) {
        let mut c = self.conn.clone();
        let channel = self.k_channel();
        if let Err(e) = self
            .run(async { c.publish::<_, _, i64>(&channel, msg).await })
            .await
        {
            tracing::warn!(error = %e, "could not publish a cache invalidation");
        }
    }

    /// One subscription, until it is lost.
    pub(super) async fn follow(
        &self,
        target: &Arc<dyn Invalidate>,
        attempt: usize,
    ) -> Result<(), RedisError> {
        let client = self.conn.pubsub_client(attempt).await?;
        let mut pubsub = tokio::time::timeout(self.timeout, client.get_async_pubsub())
            .await
            .map_err(|_| {
                RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "subscribe timed out",
                ))
            })??;
        pubsub.subscribe(self.k_channel()).await?;
        let (mut sink, mut stream) = pubsub.split();
        // Subscribed: anything written from now on reaches us; drop what came before.
        target.trust(true);
        tracing::info!(channel = %self.k_channel(), "following cache invalidations");
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { return Ok(()) };
                    let text: String = msg.get_payload().unwrap_or_default();
                    if text == "p" {
                        target.permissions_changed();
                        continue;
                    }
                    match text.split_once(' ') {
                        Some(("h", hex)) => match KeyHash::from_hex(hex) {
                            Some(h) => target.forget(&h),
                            None => target.forget_all(),
                        },
                        Some(("s", rest)) => {
                            if let Some((epoch, slot)) = rest.split_once(' ')
                                && let Ok(epoch) = epoch.parse::<u64>()
                            {
                                target.drop_leases(slot, epoch);
                            }
                        }
                        _ => target.forget_all(),
                    }
                }
                _ = beat.tick() => {
                    // In subscribed mode (RESP2) the answer is ["pong", ""]: any answer will do.
                    let pong = tokio::time::timeout(self.timeout, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// How often the subscription is checked with a PING: a connection that died without
/// closing is noticed within this (plus the store timeout).
const HEARTBEAT: Duration = Duration::from_secs(1);
