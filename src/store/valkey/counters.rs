//! Valkey's usage-limit counters: one Lua script per lease, each touching one key, so
//! they run unchanged on a single server, under Sentinel and on a Cluster.

use super::*;

#[async_trait]
impl CounterStore for ValkeyStore {
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
}

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
