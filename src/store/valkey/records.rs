//! The Valkey store's key records: insert, lookups by hash and id, the owner index,
//! last-used times, removal, and the check for leftovers of interrupted changes.

use super::*;

#[async_trait]
impl RecordStore for ValkeyStore {
    fn kind(&self) -> &'static str {
        "valkey"
    }

    async fn insert(&self, r: &TokenRecord) -> Result<(), StoreError> {
        let bytes = codec::encode(r, self.write_format().await?)?;
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
        let bytes = codec::encode(r, self.write_format().await?)?;
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
            self.k_recent(id),
        );
        let id_s = id.to_string();
        let mut c = self.conn.clone();
        // Lookup-by-hash first: from this moment the key no longer works.
        self.run(async {
            c.del::<_, ()>(&keys.0).await?;
            c.srem::<_, _, ()>(&keys.1, &id_s).await?;
            c.srem::<_, _, ()>(&keys.2, &id_s).await?;
            c.del::<_, ()>(&keys.3).await?;
            c.del::<_, ()>(&keys.4).await?;
            // Its recent requests go with it (they name its paths and callers).
            c.del::<_, ()>(&keys.5).await
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
        let (kids, kused, krecent, id_s) = (
            self.k_ids(),
            self.k_used(id),
            self.k_recent(id),
            id.to_string(),
        );
        let kowner = owner.map(|o| self.k_owner(&o));
        // Same order as `delete`: lookup-by-hash first.
        self.run(async {
            c.del::<_, ()>(&khash).await?;
            if let Some(k) = &kowner {
                c.srem::<_, _, ()>(k, &id_s).await?;
            }
            c.srem::<_, _, ()>(&kids, &id_s).await?;
            c.del::<_, ()>(&kid).await?;
            c.del::<_, ()>(&kused).await?;
            c.del::<_, ()>(&krecent).await
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
        let format = self.write_format().await?;
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
                        .arg(codec::encode(r, format)?)
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
                // A record in a newer format is left for the keygate that wrote it.
                if let Ok(_)
                | Err(StoreError::Damaged {
                    newer_format: Some(_),
                    ..
                }) = decode_for(&id, &bytes)
                {
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

    async fn convert_records(
        &self,
        to: RecordFormat,
        rewrite: bool,
    ) -> Result<Converted, StoreError> {
        let mut c = self.conn.clone();
        let key = self.k_ids();
        let ids: Vec<String> = self.run(async { c.smembers(&key).await }).await?;
        let mut out = Converted::default();
        for chunk in ids.chunks(500) {
            let mut pending: Vec<TokenId> = chunk
                .iter()
                .filter_map(|s| TokenId::parse(s).ok())
                .collect();
            // A record changed between its read and its write is read again.
            for _ in 0..5 {
                if pending.is_empty() {
                    break;
                }
                let mut writes = Vec::new();
                for (id, hkey, bytes) in self.stored_records(&pending).await? {
                    match codec::rewrite(&id, &bytes, to) {
                        codec::Rewrite::Write(new) if rewrite => {
                            let cas = redis::cmd("EVAL")
                                .arg(REWRITE_SCRIPT)
                                .arg(1)
                                .arg(hkey)
                                .arg(bytes)
                                .arg(new)
                                .clone();
                            writes.push((id, cas));
                        }
                        what => out.tally(id, &what),
                    }
                }
                let (ids, cmds): (Vec<TokenId>, Vec<redis::Cmd>) = writes.into_iter().unzip();
                let done = self.batch(cmds).await?;
                pending = Vec::new();
                for (id, answer) in ids.into_iter().zip(done) {
                    if matches!(answer, redis::Value::Int(1)) {
                        out.rewritten += 1;
                    } else {
                        pending.push(id);
                    }
                }
            }
            if !pending.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "{} records kept changing while they were rewritten; run it again",
                    pending.len()
                )));
            }
        }
        if rewrite && out.rewritten > 0 {
            self.wait().await?;
        }
        Ok(out)
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

/// Replaces KEYS[1] by ARGV[2] if it still holds ARGV[1]: a record rewritten into
/// another format, unless a change came first (then it is read again). 1 when written.
const REWRITE_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0";

impl ValkeyStore {
    /// The format records are written in, read at each write (writes are management
    /// operations, rare next to lookups): the store's marker; without one, `binary` for
    /// a store that holds no key yet (marked so here) and JSON for a store of an earlier
    /// keygate, whose replicas may still be running (until `keygate store migrate`).
    async fn write_format(&self) -> Result<RecordFormat, StoreError> {
        let mut c = self.conn.clone();
        let (key, ids) = (self.k_meta(RECORD_FORMAT_META), self.k_ids());
        let marker: Option<Vec<u8>> = self.run(async { c.get(&key).await }).await?;
        if marker.is_some() {
            return RecordFormat::of_marker(marker.as_deref());
        }
        let held: u64 = self.run(async { c.scard(&ids).await }).await?;
        if held > 0 {
            return Ok(RecordFormat::Json);
        }
        // NX: replicas writing the first keys at once agree on one marker.
        let set: Option<String> = self
            .run(async {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(RecordFormat::Binary.name())
                    .arg("NX")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if set.is_some() {
            return Ok(RecordFormat::Binary);
        }
        let marker: Option<Vec<u8>> = self.run(async { c.get(&key).await }).await?;
        RecordFormat::of_marker(marker.as_deref())
    }

    /// The stored bytes of these ids' records, with the key each is kept under (ids
    /// without a record are left out).
    async fn stored_records(
        &self,
        ids: &[TokenId],
    ) -> Result<Vec<(TokenId, String, Vec<u8>)>, StoreError> {
        let bytes_of = |v: redis::Value| -> Result<Option<Vec<u8>>, StoreError> {
            redis::from_redis_value(v).map_err(|e| StoreError::Backend(e.to_string()))
        };
        let hashes = self
            .batch(
                ids.iter()
                    .map(|id| redis::cmd("GET").arg(self.k_id(id)).clone())
                    .collect(),
            )
            .await?;
        let mut found = Vec::with_capacity(ids.len());
        for (id, hash) in ids.iter().zip(hashes) {
            if let Some(hex) = bytes_of(hash)? {
                let hex = String::from_utf8_lossy(&hex).into_owned();
                found.push((id.clone(), format!("{}:h:{hex}", self.ns)));
            }
        }
        let records = self
            .batch(
                found
                    .iter()
                    .map(|(_, k)| redis::cmd("GET").arg(k).clone())
                    .collect(),
            )
            .await?;
        let mut out = Vec::with_capacity(found.len());
        for ((id, key), bytes) in found.into_iter().zip(records) {
            if let Some(b) = bytes_of(bytes)? {
                out.push((id, key, b));
            }
        }
        Ok(out)
    }
}
