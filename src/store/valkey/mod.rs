//! The Valkey store: for several replicas sharing one set of keys.
//!
//! Layout (`ns` is `valkey_namespace`, default `kg`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `ns:h:<hash hex>` | string | the record (JSON or binary: `store::codec`); the hot path's only read |
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

use super::codec::{
    self, Converted, RECORD_FORMAT_META, RecordFormat, decode, decode_for, salvage,
};
use super::counters::Balance;
use super::{
    AUDIT_MAX, AUDIT_MAX_PER_OWNER, AuditEvent, AuditQuery, AuditStore, CounterStore, FollowStore,
    Invalidate, Listing, MetaStore, RecordStore, StoreError, TokenId, TokenRecord, Touch,
    UsageStore,
};
use super::{CreditLease, Granted, WindowLease};
use crate::clock::Timestamp;
use crate::token::KeyHash;
use conn::Conn;
pub use conn::{Topology, ValkeyOptions, with_credentials};

mod audit;
mod conn;
mod counters;
mod events;
mod follow;
mod records;
mod usage;

/// Sets `u:{id}` to ARGV[1] when the key still exists and the value is newer.
const TOUCH_SCRIPT: &str = "if redis.call('EXISTS', KEYS[1]) == 1 then \
    local v = redis.call('GET', KEYS[2]) \
    if (not v) or tonumber(v) < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1]) end \
    end return 0";

pub struct ValkeyStore {
    conn: Conn,
    ns: String,
    timeout: Duration,
    wait_replicas: u32,
    wait_timeout: Duration,
    /// Whether the events outbox's consumer group is known to exist (`events.rs`).
    group_made: std::sync::atomic::AtomicBool,
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
            group_made: Default::default(),
        })
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
    fn k_recent(&self, id: &TokenId) -> String {
        format!("{}:a:r:{}", self.ns, id.as_str())
    }
    fn k_usage_time(&self, step: crate::analytics::Step, bucket_ms: i64) -> String {
        format!("{}:a:t:{}|{bucket_ms}", self.ns, step.name())
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
impl MetaStore for ValkeyStore {
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

    async fn swap_meta(
        &self,
        name: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_meta(name);
        let cmd = redis::cmd("EVAL")
            .arg(SWAP_META)
            .arg(1)
            .arg(&key)
            .arg(u8::from(expected.is_some()))
            .arg(expected.unwrap_or_default())
            .arg(value)
            .clone();
        let swapped: i64 = self.run(async { cmd.query_async(&mut c).await }).await?;
        Ok(swapped == 1)
    }
}

/// `swap_meta`: KEYS[1] the meta key; ARGV: 1 when a value is expected, the expected
/// value, the new value.
const SWAP_META: &str = r"
local now = redis.call('GET', KEYS[1])
if (ARGV[1] == '0' and now == false) or (ARGV[1] == '1' and now == ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[3])
  return 1
end
return 0
";
