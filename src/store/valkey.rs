//! The Valkey store: for several replicas sharing one set of keys.
//!
//! Layout (`ns` is `valkey_namespace`, default `kg`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `ns:h:<hash hex>` | string | the record (JSON); the hot path's only read |
//! | `ns:i:{<id>}` | string | hash hex of that id |
//! | `ns:u:{<id>}` | string | last use, unix seconds (same hash slot as `ns:i:{<id>}`) |
//! | `ns:o:<owner>` | set | the owner's ids |
//! | `ns:ids` | set | every id |
//! | `ns:m:<name>` | string | meta values |
//! | `ns:audit` | list | audit events (JSON), newest first |
//! | `ns:audit:o:<owner>` | list | the same events, per owner (the per-owner limit) |
//! | `ns:w:<slot>\|<window start ms>` | string | uses granted in a rate-limit window (expires after two windows) |
//! | `ns:c:<slot>` | hash | a credit balance: `l` left, `p` start of its refill period (ms) |
//! | `ns:a:top:<k\|o>\|<day start ms>` | sorted set | keys / owners by requests that day (the admin overview) |
//! | `ns:a:<step>:<slot>\|<container start ms>` | hash | analytics: `<bucket index>:<outcome>` → count; an hour of minutes, a day of hours or 32 days of days, expiring after the step's retention |
//!
//! A change touches keys in several hash slots, and Valkey Cluster cannot make that
//! atomic, so writes are ordered: a create writes the id, owner and index entries first
//! and the lookup-by-hash entry (which makes the key usable) last; a delete removes the
//! lookup-by-hash entry first. A crash part-way therefore leaves at worst an unusable
//! id without a record, never a usable key its owner cannot see or revoke.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::{AsyncCommands, RedisError};

use super::counters::Balance;
use super::valkey_conn::Conn;
pub use super::valkey_conn::{Topology, ValkeyOptions, with_credentials};
use super::{
    AUDIT_MAX, AUDIT_MAX_PER_OWNER, AuditEvent, AuditQuery, Invalidate, Listing, StoreError,
    TokenId, TokenRecord, TokenStore, Touch, decode, decode_for, encode, salvage,
};
use super::{CreditLease, Granted, WindowLease};
use crate::clock::Timestamp;
use crate::token::KeyHash;

/// Sets `u:{id}` to ARGV[1] when the key still exists and the value is newer.
const TOUCH_SCRIPT: &str = "if redis.call('EXISTS', KEYS[1]) == 1 then \
    local v = redis.call('GET', KEYS[2]) \
    if (not v) or tonumber(v) < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1]) end \
    end return 0";

/// Takes up to ARGV[2] uses from the window counter KEYS[1] whose limit is ARGV[1];
/// the counter expires ARGV[3] ms after its last grant. Answers {granted, left}.
const WINDOW_TAKE: &str = "local used = tonumber(redis.call('GET', KEYS[1]) or '0') \
    local limit = tonumber(ARGV[1]) \
    local g = math.min(tonumber(ARGV[2]), limit - used) \
    if g < 0 then g = 0 end \
    if g > 0 then used = redis.call('INCRBY', KEYS[1], g) redis.call('PEXPIRE', KEYS[1], ARGV[3]) end \
    return {g, math.max(limit - used, 0)}";

/// Gives ARGV[1] unused uses back to the window counter KEYS[1] (while it exists).
const WINDOW_RETURN: &str = "local v = redis.call('GET', KEYS[1]) \
    if v then redis.call('DECRBY', KEYS[1], math.min(tonumber(v), tonumber(ARGV[1]))) end \
    return 0";

/// Takes up to ARGV[1] credits from the balance hash KEYS[1] (`l` left, `p` period, `g`
/// epoch: bumped by every absolute set). ARGV[2] = 1: refill to ARGV[4] when the stored
/// period is before ARGV[3]. ARGV[5] = 1: a missing balance starts at ARGV[6] (in period
/// ARGV[3]). Answers {granted, left, epoch}.
const CREDITS_TAKE: &str = "local l = redis.call('HGET', KEYS[1], 'l') \
    local e = tonumber(redis.call('HGET', KEYS[1], 'g') or '0') \
    local p \
    if not l then \
      if ARGV[5] ~= '1' then return {0, 0, e} end \
      l = tonumber(ARGV[6]) p = tonumber(ARGV[3]) \
    else \
      l = tonumber(l) p = tonumber(redis.call('HGET', KEYS[1], 'p') or '0') \
    end \
    if ARGV[2] == '1' and tonumber(ARGV[3]) > p then l = tonumber(ARGV[4]) p = tonumber(ARGV[3]) end \
    local g = math.min(tonumber(ARGV[1]), l) \
    l = l - g \
    redis.call('HSET', KEYS[1], 'l', string.format('%d', l), 'p', string.format('%d', p)) \
    return {g, l, e}";

/// Gives ARGV[1] credits back to KEYS[1] when it is still in period ARGV[2] and epoch
/// ARGV[3] (no set since: an absolute set wins over leases taken before it).
const CREDITS_RETURN: &str = "local p = redis.call('HGET', KEYS[1], 'p') \
    local e = redis.call('HGET', KEYS[1], 'g') or '0' \
    if p and tonumber(p) == tonumber(ARGV[2]) and tonumber(e) == tonumber(ARGV[3]) then \
      redis.call('HINCRBY', KEYS[1], 'l', ARGV[1]) end \
    return 0";

/// Sets the balance KEYS[1] to `l` ARGV[2], `p` ARGV[3] (ARGV[1] = 1) or removes it (0),
/// keeping and bumping its epoch `g`. Answers the new epoch.
const CREDITS_SET: &str = "if ARGV[1] == '1' then \
      redis.call('HSET', KEYS[1], 'l', ARGV[2], 'p', ARGV[3]) \
    else redis.call('HDEL', KEYS[1], 'l', 'p') end \
    return redis.call('HINCRBY', KEYS[1], 'g', 1)";

/// How often the subscription is checked with a PING: a connection that died without
/// closing is noticed within this (plus the store timeout).
const HEARTBEAT: Duration = Duration::from_secs(1);

pub struct ValkeyStore {
    conn: Conn,
    ns: String,
    timeout: Duration,
    wait_replicas: u32,
    wait_timeout: Duration,
}

impl ValkeyStore {
    /// Builds the client without connecting: keygate starts (and reports not-ready)
    /// while Valkey is down, and the connection reconnects by itself.
    pub fn connect(opts: &ValkeyOptions) -> Result<Self, StoreError> {
        let conn =
            Conn::new(opts).map_err(|e| StoreError::Backend(format!("valkey client: {e}")))?;
        let wait_replicas = match opts.topology {
            // WAIT is per connection; a cluster's writes go to several primaries.
            Topology::Cluster(_) if opts.wait_replicas > 0 => {
                tracing::warn!(
                    "valkey_wait_replicas is not applied to a Cluster (WAIT is per node)"
                );
                0
            }
            _ => opts.wait_replicas,
        };
        Ok(ValkeyStore {
            conn,
            ns: opts.namespace.clone(),
            timeout: opts.timeout,
            wait_replicas,
            wait_timeout: opts.wait_timeout,
        })
    }

    fn k_channel(&self) -> String {
        format!("{}:invalidate", self.ns)
    }

    /// Tells every replica to drop what it cached for `hash` (`None`: everything). A
    /// failure is logged, not returned: the write itself is done, and the other
    /// replicas' caches expire within `cache.ttl_secs` anyway.
    async fn publish(&self, hash: Option<&KeyHash>) {
        let msg = hash.map_or_else(|| "all".to_owned(), |h| format!("h {}", h.to_hex()));
        self.publish_raw(&msg).await;
    }

    /// Sends one message on the invalidation channel (`h <hash>`, `all`, or `s <epoch>
    /// <slot>`: a credit balance was set).
    async fn publish_raw(&self, msg: &str) {
        let mut c = self.conn.clone();
        let channel = self.k_channel();
        if let Err(e) = self
            .run(async { c.publish::<_, _, i64>(&channel, msg).await })
            .await
        {
            tracing::warn!(error = %e, "could not publish a cache invalidation");
        }
    }

    /// `WAIT` for `valkey_wait_replicas` replicas to have the writes made so far.
    async fn wait(&self) -> Result<(), StoreError> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let mut c = self.conn.clone();
        let ms = u64::try_from(self.wait_timeout.as_millis()).unwrap_or(u64::MAX);
        let fut = async {
            redis::cmd("WAIT")
                .arg(self.wait_replicas)
                .arg(ms)
                .query_async::<i64>(&mut c)
                .await
        };
        let acked = match tokio::time::timeout(self.timeout + self.wait_timeout, fut).await {
            Ok(r) => r.map_err(map_err)?,
            Err(_) => return Err(StoreError::Timeout(ms)),
        };
        if acked < i64::from(self.wait_replicas) {
            return Err(StoreError::Unavailable(format!(
                "the write reached {acked} of the {} replicas valkey_wait_replicas asks for",
                self.wait_replicas
            )));
        }
        Ok(())
    }

    /// Runs independent commands: pipelined on one server; on a Cluster (whose pipelines
    /// must stay within one hash slot) sent side by side on the multiplexed connection.
    async fn batch(&self, cmds: Vec<redis::Cmd>) -> Result<Vec<redis::Value>, StoreError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.conn.clone();
        if self.conn.is_cluster() {
            let calls = cmds.into_iter().map(|cmd| {
                let mut c = c.clone();
                async move { cmd.query_async::<redis::Value>(&mut c).await }
            });
            return self.run(futures_util::future::try_join_all(calls)).await;
        }
        let mut pipe = redis::pipe();
        for cmd in cmds {
            pipe.add_command(cmd);
        }
        self.run(async { pipe.query_async(&mut c).await }).await
    }

    async fn touch_chunk(&self, used: &[Touch]) -> Result<(), StoreError> {
        let cmds = used
            .iter()
            .map(|(id, at)| {
                redis::cmd("EVAL")
                    .arg(TOUCH_SCRIPT)
                    .arg(2)
                    .arg(self.k_id(id))
                    .arg(self.k_used(id))
                    .arg(at.unix())
                    .clone()
            })
            .collect();
        self.batch(cmds).await.map(|_| ())
    }

    /// One subscription, until it is lost.
    async fn follow(&self, target: &Arc<dyn Invalidate>, attempt: usize) -> Result<(), RedisError> {
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

    fn k_hash(&self, h: &KeyHash) -> String {
        format!("{}:h:{}", self.ns, h.to_hex())
    }
    fn k_id(&self, id: &TokenId) -> String {
        format!("{}:i:{{{}}}", self.ns, id)
    }
    fn k_used(&self, id: &TokenId) -> String {
        format!("{}:u:{{{}}}", self.ns, id)
    }
    fn k_owner(&self, owner: &str) -> String {
        format!("{}:o:{}", self.ns, owner)
    }
    fn k_ids(&self) -> String {
        format!("{}:ids", self.ns)
    }
    fn k_meta(&self, name: &str) -> String {
        format!("{}:m:{}", self.ns, name)
    }
    fn k_window(&self, slot: &str, start_ms: i64) -> String {
        format!("{}:w:{}|{}", self.ns, slot, start_ms)
    }
    fn k_credits(&self, slot: &str) -> String {
        format!("{}:c:{}", self.ns, slot)
    }
    fn k_top(&self, kind: &str, day_ms: i64) -> String {
        format!("{}:a:top:{kind}|{day_ms}", self.ns)
    }
    fn k_usage(&self, slot: &str, step: crate::analytics::Step, container_ms: i64) -> String {
        format!("{}:a:{}:{}|{}", self.ns, step.name(), slot, container_ms)
    }

    /// One script, answering two integers.
    async fn script2(&self, cmd: redis::Cmd) -> Result<Granted, StoreError> {
        let mut c = self.conn.clone();
        let (granted, left): (i64, i64) = self.run(async { cmd.query_async(&mut c).await }).await?;
        Ok(Granted {
            granted: u64::try_from(granted).unwrap_or(0),
            left: u64::try_from(left).unwrap_or(0),
            epoch: 0,
        })
    }

    /// Runs one operation under `store_timeout_ms`, mapping errors.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, RedisError>>,
    {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(map_err),
            Err(_) => Err(StoreError::Timeout(
                u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            )),
        }
    }

    async fn record_at(
        &self,
        hash_hex: &str,
        id: &TokenId,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let mut c = self.conn.clone();
        let hkey = format!("{}:h:{}", self.ns, hash_hex);
        let ukey = self.k_used(id);
        let (rec, used): (Option<Vec<u8>>, Option<i64>) = self
            .run(async {
                let rec: Option<Vec<u8>> = c.get(&hkey).await?;
                let used: Option<i64> = c.get(&ukey).await?;
                Ok((rec, used))
            })
            .await?;
        let Some(bytes) = rec else { return Ok(None) };
        let mut r = decode_for(id, &bytes)?;
        if used.is_some() {
            r.last_used_at = used.map(Timestamp::from_unix);
        }
        Ok(Some(r))
    }

    async fn records_for(&self, ids: Vec<String>) -> Result<Listing, StoreError> {
        let mut out = Listing::default();
        for raw in ids {
            let Ok(id) = TokenId::parse(&raw) else {
                continue;
            };
            let mut c = self.conn.clone();
            let key = self.k_id(&id);
            let hash: Option<String> = self.run(async { c.get(&key).await }).await?;
            if let Some(h) = hash {
                out.push(self.record_at(&h, &id).await)?;
            }
        }
        Ok(out.sorted())
    }
}

fn map_err(e: RedisError) -> StoreError {
    if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Backend(e.to_string())
    }
}

#[async_trait]
impl TokenStore for ValkeyStore {
    fn kind(&self) -> &'static str {
        "valkey"
    }

    async fn insert(&self, r: &TokenRecord) -> Result<(), StoreError> {
        let bytes = encode(r)?;
        let (kid, khash) = (self.k_id(&r.id), self.k_hash(&r.hash));
        let (kowner, kids) = (self.k_owner(&r.owner), self.k_ids());
        let hash_hex = r.hash.to_hex();
        let id = r.id.to_string();
        let mut c = self.conn.clone();
        let claimed: bool = self
            .run(async {
                redis::cmd("SET")
                    .arg(&kid)
                    .arg(&hash_hex)
                    .arg("NX")
                    .query_async::<Option<String>>(&mut c)
                    .await
                    .map(|v| v.is_some())
            })
            .await?;
        if !claimed {
            return Err(StoreError::Conflict("a key with this id exists".into()));
        }
        // Index entries first, lookup-by-hash last (see the module docs).
        let indexed: bool = self
            .run(async {
                let () = c.sadd(&kowner, &id).await?;
                let () = c.sadd(&kids, &id).await?;
                redis::cmd("SET")
                    .arg(&khash)
                    .arg(&bytes)
                    .arg("NX")
                    .query_async::<Option<String>>(&mut c)
                    .await
                    .map(|v| v.is_some())
            })
            .await?;
        if !indexed {
            // Same hash as an existing key: undo the index entries.
            self.run(async {
                let () = c.srem(&kowner, &id).await?;
                let () = c.srem(&kids, &id).await?;
                c.del::<_, ()>(&kid).await
            })
            .await?;
            return Err(StoreError::Conflict("a key with this hash exists".into()));
        }
        self.wait().await?;
        self.publish(Some(&r.hash)).await;
        Ok(())
    }

    async fn get_by_hash(&self, hash: &KeyHash) -> Result<Option<TokenRecord>, StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_hash(hash);
        let bytes: Option<Vec<u8>> = self.run(async { c.get(&key).await }).await?;
        bytes.map(|b| decode(&b)).transpose()
    }

    async fn get(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_id(id);
        let hash: Option<String> = self.run(async { c.get(&key).await }).await?;
        match hash {
            Some(h) => self.record_at(&h, id).await,
            None => Ok(None),
        }
    }

    async fn update(&self, r: &TokenRecord) -> Result<(), StoreError> {
        let old = self.get(&r.id).await?.ok_or(StoreError::NotFound)?;
        if old.hash != r.hash || old.owner != r.owner {
            return Err(StoreError::Conflict(
                "a key's hash and owner never change".into(),
            ));
        }
        let bytes = encode(r)?;
        let key = self.k_hash(&r.hash);
        let mut c = self.conn.clone();
        // XX: a delete that raced us wins; the record is not brought back.
        let done: Option<String> = self
            .run(async {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&bytes)
                    .arg("XX")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        done.ok_or(StoreError::NotFound)?;
        self.wait().await?;
        self.publish(Some(&r.hash)).await;
        Ok(())
    }

    async fn delete(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        let Some(r) = self.get(id).await? else {
            return Ok(None);
        };
        let keys = (
            self.k_hash(&r.hash),
            self.k_owner(&r.owner),
            self.k_ids(),
            self.k_id(id),
            self.k_used(id),
        );
        let id_s = id.to_string();
        let mut c = self.conn.clone();
        // Lookup-by-hash first: from this moment the key no longer works.
        self.run(async {
            c.del::<_, ()>(&keys.0).await?;
            c.srem::<_, _, ()>(&keys.1, &id_s).await?;
            c.srem::<_, _, ()>(&keys.2, &id_s).await?;
            c.del::<_, ()>(&keys.3).await?;
            c.del::<_, ()>(&keys.4).await
        })
        .await?;
        self.wait().await?;
        self.publish(Some(&r.hash)).await;
        Ok(Some(r))
    }

    async fn list_by_owner(&self, owner: &str) -> Result<Listing, StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_owner(owner);
        let ids: Vec<String> = self.run(async { c.smembers(&key).await }).await?;
        self.records_for(ids).await
    }

    /// One SCARD instead of reading every record (the limit is checked on each create).
    /// A stale id left by a damaged record without a readable owner counts too.
    async fn count_by_owner(&self, owner: &str) -> Result<usize, StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_owner(owner);
        self.run(async { c.scard(&key).await }).await
    }

    async fn list_all(&self) -> Result<Listing, StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_ids();
        let ids: Vec<String> = self.run(async { c.smembers(&key).await }).await?;
        self.records_for(ids).await
    }

    async fn remove_damaged(&self, id: &TokenId) -> Result<Option<KeyHash>, StoreError> {
        let mut c = self.conn.clone();
        let kid = self.k_id(id);
        let hash: Option<String> = self.run(async { c.get(&kid).await }).await?;
        let Some(hex) = hash else { return Ok(None) };
        let khash = format!("{}:h:{hex}", self.ns);
        let bytes: Option<Vec<u8>> = self.run(async { c.get(&khash).await }).await?;
        // An owner that cannot be read leaves a stale entry in its owner set; listings
        // skip ids without `i:{id}`, so it shows nowhere.
        let owner = bytes.as_deref().and_then(|b| salvage(b, "owner"));
        let (kids, kused, id_s) = (self.k_ids(), self.k_used(id), id.to_string());
        let kowner = owner.map(|o| self.k_owner(&o));
        // Same order as `delete`: lookup-by-hash first.
        self.run(async {
            c.del::<_, ()>(&khash).await?;
            if let Some(k) = &kowner {
                c.srem::<_, _, ()>(k, &id_s).await?;
            }
            c.srem::<_, _, ()>(&kids, &id_s).await?;
            c.del::<_, ()>(&kid).await?;
            c.del::<_, ()>(&kused).await
        })
        .await?;
        self.wait().await?;
        let hash = KeyHash::from_hex(&hex);
        match &hash {
            Some(h) => self.publish(Some(h)).await,
            None => self.publish(None).await,
        }
        Ok(hash)
    }

    async fn insert_many(&self, records: &[TokenRecord]) -> Result<usize, StoreError> {
        // In chunks, in the same order as `insert`: claim the ids, write the indexes,
        // then the lookup-by-hash entries (NX), then undo the few that lost.
        let mut stored = 0;
        for chunk in records.chunks(1000) {
            let claim: Vec<redis::Cmd> = chunk
                .iter()
                .map(|r| {
                    redis::cmd("SET")
                        .arg(self.k_id(&r.id))
                        .arg(r.hash.to_hex())
                        .arg("NX")
                        .clone()
                })
                .collect();
            let claimed = self.batch(claim).await?;
            let mine: Vec<&TokenRecord> = chunk
                .iter()
                .zip(&claimed)
                .filter(|(_, ok)| !matches!(ok, redis::Value::Nil))
                .map(|(r, _)| r)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut index = Vec::with_capacity(mine.len() * 2);
            for r in &mine {
                index.push(
                    redis::cmd("SADD")
                        .arg(self.k_owner(&r.owner))
                        .arg(r.id.as_str())
                        .clone(),
                );
                index.push(
                    redis::cmd("SADD")
                        .arg(self.k_ids())
                        .arg(r.id.as_str())
                        .clone(),
                );
            }
            self.batch(index).await?;
            let mut set = Vec::with_capacity(mine.len());
            for r in &mine {
                set.push(
                    redis::cmd("SET")
                        .arg(self.k_hash(&r.hash))
                        .arg(encode(r)?)
                        .arg("NX")
                        .clone(),
                );
            }
            let results = self.batch(set).await?;
            let mut undo = Vec::new();
            for (r, ok) in mine.iter().zip(&results) {
                if matches!(ok, redis::Value::Nil) {
                    undo.push(
                        redis::cmd("SREM")
                            .arg(self.k_owner(&r.owner))
                            .arg(r.id.as_str())
                            .clone(),
                    );
                    undo.push(
                        redis::cmd("SREM")
                            .arg(self.k_ids())
                            .arg(r.id.as_str())
                            .clone(),
                    );
                    undo.push(redis::cmd("DEL").arg(self.k_id(&r.id)).clone());
                } else {
                    stored += 1;
                }
            }
            if !undo.is_empty() {
                self.batch(undo).await?;
            }
        }
        if stored > 0 {
            self.wait().await?;
            self.publish(None).await;
        }
        Ok(stored)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_ids();
        self.run(async { c.scard(&key).await }).await
    }

    async fn touch(&self, used: &[Touch]) -> Result<(), StoreError> {
        // In chunks, so a large flush never holds the shared connection for long.
        for chunk in used.chunks(500) {
            self.touch_chunk(chunk).await?;
        }
        Ok(())
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError> {
        let (kseq, klist) = (
            format!("{}:audit:seq", self.ns),
            format!("{}:audit", self.ns),
        );
        let mut c = self.conn.clone();
        let seq: u64 = self.run(async { c.incr(&kseq, 1u64).await }).await?;
        let e = AuditEvent {
            seq,
            ..event.clone()
        };
        let json = serde_json::to_string(&e).map_err(|e| StoreError::Backend(e.to_string()))?;
        let max = isize::try_from(AUDIT_MAX).unwrap_or(isize::MAX);
        // The same event in its owner's list too: past the per-owner limit, that
        // owner's oldest event leaves both lists (found from the tail, where it is).
        let kowner = format!("{}:audit:o:{}", self.ns, e.owner);
        self.run(async {
            c.lpush::<_, _, ()>(&klist, &json).await?;
            let held: usize = c.lpush(&kowner, &json).await?;
            if held > AUDIT_MAX_PER_OWNER {
                let oldest: Option<String> = c.rpop(&kowner, None).await?;
                if let Some(old) = oldest {
                    c.lrem::<_, _, ()>(&klist, -1, &old).await?;
                }
            }
            c.ltrim::<_, ()>(&klist, 0, max - 1).await
        })
        .await?;
        Ok(seq)
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let klist = format!("{}:audit", self.ns);
        let mut out = Vec::new();
        let mut start: isize = 0;
        const CHUNK: isize = 500;
        loop {
            let mut c = self.conn.clone();
            let page: Vec<String> = self
                .run(async { c.lrange(&klist, start, start + CHUNK - 1).await })
                .await?;
            if page.is_empty() {
                return Ok(out);
            }
            for raw in &page {
                let Ok(e) = serde_json::from_str::<AuditEvent>(raw) else {
                    continue;
                };
                if q.matches(&e) {
                    out.push(e);
                    if out.len() >= q.limit {
                        return Ok(out);
                    }
                }
            }
            start += CHUNK;
        }
    }

    async fn get_meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_meta(name);
        self.run(async { c.get(&key).await }).await
    }

    async fn set_meta(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_meta(name);
        self.run(async { c.set(&key, value).await }).await
    }

    fn shared(&self) -> bool {
        true
    }

    async fn take_window(&self, w: &WindowLease<'_>) -> Result<Granted, StoreError> {
        let cmd = redis::cmd("EVAL")
            .arg(WINDOW_TAKE)
            .arg(1)
            .arg(self.k_window(w.slot, w.window_start_ms))
            .arg(w.limit)
            .arg(w.want)
            // Kept a window past its end: a replica whose clock lags still finds it.
            .arg(w.window_ms.saturating_mul(2).max(1000))
            .clone();
        self.script2(cmd).await
    }

    async fn return_window(&self, slot: &str, start: i64, n: u64) -> Result<(), StoreError> {
        let cmd = redis::cmd("EVAL")
            .arg(WINDOW_RETURN)
            .arg(1)
            .arg(self.k_window(slot, start))
            .arg(n)
            .clone();
        let mut c = self.conn.clone();
        self.run(async { cmd.query_async::<i64>(&mut c).await })
            .await
            .map(|_| ())
    }

    async fn take_credits(&self, l: &CreditLease<'_>) -> Result<Granted, StoreError> {
        let (has_refill, period, amount) = match l.refill {
            Some((p, a)) => (1, p, a),
            None => (0, 0, 0),
        };
        let cmd = redis::cmd("EVAL")
            .arg(CREDITS_TAKE)
            .arg(1)
            .arg(self.k_credits(l.slot))
            .arg(l.want)
            .arg(has_refill)
            .arg(period)
            .arg(amount)
            .arg(u8::from(l.init.is_some()))
            .arg(l.init.unwrap_or(0))
            .clone();
        let mut c = self.conn.clone();
        let (granted, left, epoch): (i64, i64, i64) =
            self.run(async { cmd.query_async(&mut c).await }).await?;
        Ok(Granted {
            granted: u64::try_from(granted).unwrap_or(0),
            left: u64::try_from(left).unwrap_or(0),
            epoch: u64::try_from(epoch).unwrap_or(0),
        })
    }

    async fn return_credits(
        &self,
        slot: &str,
        period: i64,
        epoch: u64,
        n: u64,
    ) -> Result<(), StoreError> {
        let cmd = redis::cmd("EVAL")
            .arg(CREDITS_RETURN)
            .arg(1)
            .arg(self.k_credits(slot))
            .arg(n)
            .arg(period)
            .arg(epoch)
            .clone();
        let mut c = self.conn.clone();
        self.run(async { cmd.query_async::<i64>(&mut c).await })
            .await
            .map(|_| ())
    }

    /// Written with its epoch bumped, then announced, so every replica drops the
    /// credits it leased from the balance before (within the invalidation's delay).
    async fn set_credits(&self, slot: &str, balance: Option<Balance>) -> Result<u64, StoreError> {
        let (set, left, period) = match balance {
            Some(b) => (1, b.left, b.period_ms),
            None => (0, 0, 0),
        };
        let cmd = redis::cmd("EVAL")
            .arg(CREDITS_SET)
            .arg(1)
            .arg(self.k_credits(slot))
            .arg(set)
            .arg(left)
            .arg(period)
            .clone();
        let mut c = self.conn.clone();
        let epoch: i64 = self.run(async { cmd.query_async(&mut c).await }).await?;
        let epoch = u64::try_from(epoch).unwrap_or(0);
        self.publish_raw(&format!("s {epoch} {slot}")).await;
        Ok(epoch)
    }

    async fn get_credits(&self, slots: &[String]) -> Result<Vec<Option<Balance>>, StoreError> {
        let cmds = slots
            .iter()
            .map(|s| {
                redis::cmd("HMGET")
                    .arg(self.k_credits(s))
                    .arg("l")
                    .arg("p")
                    .clone()
            })
            .collect();
        let values = self.batch(cmds).await?;
        values
            .into_iter()
            .map(|v| {
                let (l, p): (Option<u64>, Option<i64>) = redis::FromRedisValue::from_redis_value(v)
                    .map_err(|e| {
                        StoreError::Backend(format!("a stored credit balance is damaged: {e}"))
                    })?;
                Ok(l.map(|left| Balance {
                    left,
                    period_ms: p.unwrap_or(0),
                }))
            })
            .collect()
    }

    async fn announce_all(&self) {
        self.publish(None).await;
    }

    async fn add_usage(
        &self,
        batch: &[crate::analytics::UsageAdd],
        retention: crate::analytics::Retention,
    ) -> Result<(), StoreError> {
        let rows = crate::analytics::expand(batch);
        let mut cmds = Vec::new();
        let mut expiring = std::collections::BTreeMap::new();
        for ((slot, step, bucket), c) in rows {
            let container = bucket - bucket.rem_euclid(step.container());
            let key = self.k_usage(&slot, step, container);
            let index = (bucket - container) / step.millis();
            for (o, n) in c.iter().enumerate() {
                if *n > 0 {
                    cmds.push(
                        redis::cmd("HINCRBY")
                            .arg(&key)
                            .arg(format!("{index}:{o}"))
                            .arg(*n)
                            .clone(),
                    );
                }
            }
            // Kept for the step's retention after the container ends.
            let until = container + step.container() + retention.of(step);
            expiring.insert(key, until);
        }
        // Per day, a ranking of keys and of owners by requests (for the admin overview).
        for u in batch {
            let day = crate::analytics::Step::Day.bucket(u.minute_ms);
            let n: u64 = u.counts.iter().sum();
            for (kind, slot) in [("k", &u.key_slot), ("o", &u.owner_slot)] {
                let key = self.k_top(kind, day);
                cmds.push(redis::cmd("ZINCRBY").arg(&key).arg(n).arg(slot).clone());
                let until = day + 86_400_000 + retention.day_ms;
                expiring.insert(key, until);
            }
        }
        for (key, until_ms) in expiring {
            cmds.push(redis::cmd("PEXPIREAT").arg(key).arg(until_ms).clone());
        }
        // In chunks, so one flush never holds the shared connection for long.
        for chunk in cmds.chunks(1000) {
            self.batch(chunk.to_vec()).await?;
        }
        Ok(())
    }

    async fn top_usage(
        &self,
        prefix: &str,
        from_day_ms: i64,
        to_day_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, crate::analytics::Counts)>, StoreError> {
        let kind = if prefix.starts_with('o') { "o" } else { "k" };
        let day_ms = crate::analytics::Step::Day.millis();
        let mut days = Vec::new();
        let mut d = from_day_ms;
        while d < to_day_ms && days.len() < 1000 {
            days.push(d);
            d += day_ms;
        }
        // The ranking per day gives the candidates (the top `limit` of each day); their
        // counts by outcome come from their day buckets.
        let cmds = days
            .iter()
            .map(|d| {
                redis::cmd("ZREVRANGE")
                    .arg(self.k_top(kind, *d))
                    .arg(0)
                    .arg(limit.saturating_sub(1))
                    .clone()
            })
            .collect();
        let mut candidates = std::collections::BTreeSet::new();
        for v in self.batch(cmds).await? {
            let members: Vec<String> = redis::FromRedisValue::from_redis_value(v)
                .map_err(|e| StoreError::Backend(format!("analytics ranking is damaged: {e}")))?;
            candidates.extend(members.into_iter().filter(|m| m.starts_with(prefix)));
        }
        let mut sums = std::collections::HashMap::new();
        for slot in candidates {
            let mut c = [0; crate::analytics::OUTCOMES];
            for (_, counts) in self
                .read_usage(&slot, crate::analytics::Step::Day, from_day_ms, to_day_ms)
                .await?
            {
                crate::analytics::add(&mut c, &counts);
            }
            sums.insert(slot, c);
        }
        Ok(crate::analytics::top(sums, limit))
    }

    async fn read_usage(
        &self,
        slot: &str,
        step: crate::analytics::Step,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, crate::analytics::Counts)>, StoreError> {
        let size = step.container();
        let mut containers = Vec::new();
        let mut c = from_ms - from_ms.rem_euclid(size);
        while c < to_ms && containers.len() < 10_000 {
            containers.push(c);
            c += size;
        }
        let cmds = containers
            .iter()
            .map(|c| {
                redis::cmd("HGETALL")
                    .arg(self.k_usage(slot, step, *c))
                    .clone()
            })
            .collect();
        let mut out: std::collections::BTreeMap<i64, crate::analytics::Counts> =
            std::collections::BTreeMap::new();
        for (container, v) in containers.iter().zip(self.batch(cmds).await?) {
            let fields: std::collections::HashMap<String, u64> =
                redis::FromRedisValue::from_redis_value(v).map_err(|e| {
                    StoreError::Backend(format!("analytics bucket is damaged: {e}"))
                })?;
            for (field, n) in fields {
                let Some((i, o)) = field.split_once(':') else {
                    continue;
                };
                let (Ok(i), Ok(o)) = (i.parse::<i64>(), o.parse::<usize>()) else {
                    continue;
                };
                let bucket = container + i * step.millis();
                if o < crate::analytics::OUTCOMES && bucket >= from_ms && bucket < to_ms {
                    out.entry(bucket).or_insert([0; crate::analytics::OUTCOMES])[o] += n;
                }
            }
        }
        Ok(out.into_iter().collect())
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

    async fn check(&self, repair: bool) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn.clone();
        let ids_key = self.k_ids();
        let ids: Vec<String> = self.run(async { c.smembers(&ids_key).await }).await?;
        let mut problems = Vec::new();
        for raw in ids {
            let Ok(id) = TokenId::parse(&raw) else {
                problems.push(format!("`{raw}` in {ids_key} is not a key id"));
                continue;
            };
            let kid = self.k_id(&id);
            let hash: Option<String> = self.run(async { c.get(&kid).await }).await?;
            let record: Option<Vec<u8>> = match &hash {
                Some(h) => {
                    let key = format!("{}:h:{h}", self.ns);
                    self.run(async { c.get(&key).await }).await?
                }
                None => None,
            };
            if let Some(bytes) = record {
                if decode_for(&id, &bytes).is_ok() {
                    continue;
                }
                problems.push(format!(
                    "key {id}: its stored record is damaged (it cannot be read or used)"
                ));
                if repair {
                    self.remove_damaged(&id).await?;
                }
                continue;
            }
            problems.push(format!(
                "key {id} is listed but has no record: a create or revoke did not finish (it is not usable)"
            ));
            if repair {
                let (ku, ids_key) = (self.k_used(&id), ids_key.clone());
                self.run(async {
                    c.srem::<_, _, ()>(&ids_key, id.as_str()).await?;
                    c.del::<_, ()>(&kid).await?;
                    c.del::<_, ()>(&ku).await
                })
                .await?;
            }
        }
        Ok(problems)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let pong: String = self
            .run(async { redis::cmd("PING").query_async(&mut c).await })
            .await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Backend(format!("PING answered {pong}")))
        }
    }
}
