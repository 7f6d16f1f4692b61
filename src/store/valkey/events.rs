//! Valkey's events: the outbox as a stream with one consumer group, so replicas share
//! the work and each event is taken by one of them (`XREADGROUP`), with events a stopped
//! replica claimed taken over after `stale_ms` (`XAUTOCLAIM`); deliveries as strings
//! with a due-time sorted set and a per-endpoint index. Every key carries the hash tag
//! `{wh}`, so the scripts below stay within one slot on a Cluster.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `ns:{wh}:outbox` | stream | events (`e` → bytes), group `deliver` |
//! | `ns:{wh}:d:<id>` | string | a delivery |
//! | `ns:{wh}:due` | sorted set | delivery ids by the time their next attempt is due (ms) |
//! | `ns:{wh}:ep:<endpoint>` | sorted set | `<created ms, 15 digits>\|<id>` at score 0, by lex |

use std::sync::atomic::Ordering;

use super::*;
use crate::store::events::{Claimed, DELIVERIES_KEPT, DeliveryRow, EventStore, delivery_order};

const GROUP: &str = "deliver";

/// KEYS: delivery, due set, endpoint index. ARGV: body, due ms ('' none), order, only
/// new (1/0), kept, the key prefix of deliveries. Trims the index past `kept`, dropping
/// the oldest finished delivery.
const PUT_DELIVERY: &str = r"
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
local id = string.match(ARGV[3], '|(.*)$')
if ARGV[2] == '' then redis.call('ZREM', KEYS[2], id) else redis.call('ZADD', KEYS[2], ARGV[2], id) end
if redis.call('ZADD', KEYS[3], 0, ARGV[3]) == 1 and redis.call('ZCARD', KEYS[3]) > tonumber(ARGV[5]) then
  for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, 7)) do
    local old = string.match(m, '|(.*)$')
    if not redis.call('ZSCORE', KEYS[2], old) then
      redis.call('ZREM', KEYS[3], m)
      redis.call('DEL', ARGV[6] .. old)
      break
    end
  end
end
return 1
";

/// KEYS: due set. ARGV: now, lease, max, the key prefix of deliveries. Each claimed id
/// is due again at now + lease; returns the deliveries.
const CLAIM_DUE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local body = redis.call('GET', ARGV[4] .. id)
  if body then
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), id)
    table.insert(out, body)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
";

impl ValkeyStore {
    fn k_outbox(&self) -> String {
        format!("{}:{{wh}}:outbox", self.ns)
    }
    fn k_delivery_prefix(&self) -> String {
        format!("{}:{{wh}}:d:", self.ns)
    }
    fn k_due(&self) -> String {
        format!("{}:{{wh}}:due", self.ns)
    }
    fn k_endpoint(&self, endpoint: &str) -> String {
        format!("{}:{{wh}}:ep:{endpoint}", self.ns)
    }

    /// Creates the consumer group (from the stream's start, so events written before
    /// any replica ran are delivered too).
    async fn ensure_group(&self) -> Result<(), StoreError> {
        if self.group_made.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut c = self.conn.clone();
        let cmd = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.k_outbox())
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .clone();
        match self
            .run(async { cmd.query_async::<redis::Value>(&mut c).await })
            .await
        {
            Ok(_) => {}
            Err(StoreError::Backend(m)) if m.contains("BUSYGROUP") => {}
            Err(e) => return Err(e),
        }
        self.group_made.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Writes rows (pipelined); returns how many were written.
    async fn put(&self, rows: &[DeliveryRow<'_>], only_new: bool) -> Result<usize, StoreError> {
        let cmds = rows.iter().map(|d| self.put_cmd(d, only_new)).collect();
        let done = self.batch(cmds).await?;
        Ok(done
            .iter()
            .filter(|v| matches!(v, redis::Value::Int(1)))
            .count())
    }

    fn put_cmd(&self, d: &DeliveryRow<'_>, only_new: bool) -> redis::Cmd {
        redis::cmd("EVAL")
            .arg(PUT_DELIVERY)
            .arg(3)
            .arg(format!("{}{}", self.k_delivery_prefix(), d.id))
            .arg(self.k_due())
            .arg(self.k_endpoint(d.endpoint))
            .arg(d.body)
            .arg(d.due_ms.map_or_else(String::new, |t| t.to_string()))
            .arg(delivery_order(d.created_ms, d.id))
            .arg(u8::from(only_new))
            .arg(DELIVERIES_KEPT)
            .arg(self.k_delivery_prefix())
            .clone()
    }
}

/// Stream entries (`[[id, [field, value, …]], …]`) as (id, the `e` field's bytes).
fn entries(v: &redis::Value, out: &mut Claimed) {
    let redis::Value::Array(items) = v else {
        return;
    };
    for item in items {
        let redis::Value::Array(pair) = item else {
            continue;
        };
        let (Some(id), Some(redis::Value::Array(fields))) = (pair.first(), pair.get(1)) else {
            continue;
        };
        let Ok(id) = redis::from_redis_value::<String>(id.clone()) else {
            continue;
        };
        if let Some(body) = fields.get(1)
            && let Ok(bytes) = redis::from_redis_value::<Vec<u8>>(body.clone())
        {
            out.push((id, bytes));
        }
    }
}

#[async_trait]
impl EventStore for ValkeyStore {
    async fn push_events(&self, events: &[Vec<u8>]) -> Result<(), StoreError> {
        let key = self.k_outbox();
        let cmds = events
            .iter()
            .map(|e| {
                redis::cmd("XADD")
                    .arg(&key)
                    .arg("*")
                    .arg("e")
                    .arg(e.as_slice())
                    .clone()
            })
            .collect();
        self.batch(cmds).await?;
        self.wait().await
    }

    async fn claim_events(
        &self,
        consumer: &str,
        max: usize,
        _now_ms: i64,
        stale_ms: u64,
    ) -> Result<Claimed, StoreError> {
        self.ensure_group().await?;
        let key = self.k_outbox();
        let mut out = Claimed::new();
        let mut c = self.conn.clone();
        let reclaim = redis::cmd("XAUTOCLAIM")
            .arg(&key)
            .arg(GROUP)
            .arg(consumer)
            .arg(stale_ms)
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .clone();
        let v: redis::Value = self
            .run(async { reclaim.query_async(&mut c).await })
            .await?;
        if let redis::Value::Array(parts) = &v
            && let Some(list) = parts.get(1)
        {
            entries(list, &mut out);
        }
        if out.len() < max {
            let read = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(GROUP)
                .arg(consumer)
                .arg("COUNT")
                .arg(max - out.len())
                .arg("STREAMS")
                .arg(&key)
                .arg(">")
                .clone();
            let v: redis::Value = match self.run(async { read.query_async(&mut c).await }).await {
                Err(StoreError::Backend(m)) if m.contains("NOGROUP") => {
                    // The stream was deleted (FLUSHALL): make the group again next time.
                    self.group_made.store(false, Ordering::Relaxed);
                    return Ok(out);
                }
                r => r?,
            };
            // [[stream, entries]] (RESP2) or a map (RESP3).
            match &v {
                redis::Value::Array(streams) => {
                    for s in streams {
                        if let redis::Value::Array(kv) = s
                            && let Some(list) = kv.get(1)
                        {
                            entries(list, &mut out);
                        }
                    }
                }
                redis::Value::Map(m) => {
                    for (_, list) in m {
                        entries(list, &mut out);
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    async fn ack_events(&self, tags: &[String]) -> Result<(), StoreError> {
        if tags.is_empty() {
            return Ok(());
        }
        let key = self.k_outbox();
        let ack = redis::cmd("XACK").arg(&key).arg(GROUP).arg(tags).clone();
        let del = redis::cmd("XDEL").arg(&key).arg(tags).clone();
        self.batch(vec![ack, del]).await.map(|_| ())
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_outbox();
        self.run(async { redis::cmd("XLEN").arg(&key).query_async(&mut c).await })
            .await
    }

    async fn add_deliveries(&self, rows: &[DeliveryRow<'_>]) -> Result<usize, StoreError> {
        self.put(rows, true).await
    }

    async fn put_deliveries(&self, rows: &[DeliveryRow<'_>]) -> Result<(), StoreError> {
        self.put(rows, false).await.map(|_| ())
    }

    async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        let cmd = redis::cmd("EVAL")
            .arg(CLAIM_DUE)
            .arg(1)
            .arg(self.k_due())
            .arg(now_ms)
            .arg(lease_ms)
            .arg(max)
            .arg(self.k_delivery_prefix())
            .clone();
        self.run(async { cmd.query_async(&mut c).await }).await
    }

    async fn get_delivery(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        let key = format!("{}{id}", self.k_delivery_prefix());
        self.run(async { c.get(&key).await }).await
    }

    async fn list_deliveries(
        &self,
        endpoint: &str,
        before: Option<(i64, &str)>,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        let max = before.map_or_else(
            || "+".to_owned(),
            |(ms, id)| format!("({}", delivery_order(ms, id)),
        );
        let cmd = redis::cmd("ZREVRANGEBYLEX")
            .arg(self.k_endpoint(endpoint))
            .arg(max)
            .arg("-")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .clone();
        let members: Vec<String> = self.run(async { cmd.query_async(&mut c).await }).await?;
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let prefix = self.k_delivery_prefix();
        let keys: Vec<String> = members
            .iter()
            .filter_map(|m| m.split_once('|').map(|(_, id)| format!("{prefix}{id}")))
            .collect();
        let got: Vec<Option<Vec<u8>>> = self
            .run(async { redis::cmd("MGET").arg(&keys).query_async(&mut c).await })
            .await?;
        Ok(got.into_iter().flatten().collect())
    }
}
