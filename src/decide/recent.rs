//! The last requests decided with each key, collected on the request path at the cost
//! of a few copies into buffers that are reused, and written to the store by a
//! background flush (`Gate::flush_recent`, every second).
//!
//! Eight shards by key, each a ring of [`SLOTS`] entries: a busy key overwrites its own
//! shard's oldest entries, not a quiet key's in another shard. A shard that is being
//! written or drained at that moment is passed over (the entry is dropped): the panel is
//! a view of recent traffic, not a log — the access log is that.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::known::Known;
use crate::model::RecentRequest;
use crate::model::recent::clip;

/// Entries per shard between two flushes.
pub const SLOTS: usize = 256;
const SHARDS: usize = 8;

/// One entry, its text buffers kept from one use to the next.
#[derive(Default)]
struct Slot {
    known: Option<Arc<Known>>,
    at_ms: i64,
    outcome: u8,
    method: String,
    host: String,
    path: String,
    client: Option<IpAddr>,
}

#[derive(Default)]
struct Ring {
    slots: Vec<Slot>,
    /// Where the next entry goes.
    next: usize,
    /// Entries written since the last drain (at most the ring's size).
    filled: usize,
}

/// The rings.
pub struct Recent {
    shards: [Mutex<Ring>; SHARDS],
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            shards: std::array::from_fn(|_| {
                Mutex::new(Ring {
                    slots: (0..SLOTS).map(|_| Slot::default()).collect(),
                    ..Ring::default()
                })
            }),
        }
    }
}

/// What a request looked like, for [`Recent::note`].
pub struct Seen<'a> {
    pub method: &'a str,
    pub host: &'a str,
    /// With its query string, which is not kept.
    pub uri: &'a str,
    pub client: IpAddr,
}

impl Recent {
    /// Notes a decision about `known` (`outcome`: an [`crate::analytics::Outcome`]).
    pub fn note(&self, known: &Arc<Known>, outcome: u8, seen: &Seen<'_>, now_ms: i64) {
        let shard = usize::from(known.record.hash.0[1]) % SHARDS;
        let Ok(mut ring) = self.shards[shard].try_lock() else {
            return;
        };
        let i = ring.next;
        ring.next = (i + 1) % SLOTS;
        ring.filled = (ring.filled + 1).min(SLOTS);
        let slot = &mut ring.slots[i];
        slot.known = Some(known.clone());
        slot.at_ms = now_ms;
        slot.outcome = outcome;
        let path = seen.uri.split_once('?').map_or(seen.uri, |(p, _)| p);
        for (buf, text) in [
            (&mut slot.method, seen.method),
            (&mut slot.host, seen.host),
            (&mut slot.path, path),
        ] {
            buf.clear();
            buf.push_str(clip(text));
        }
        slot.client = Some(seen.client);
    }

    /// Takes every entry noted since the last drain, oldest first per shard.
    pub fn drain(&self) -> Vec<RecentRequest> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut ring = shard.lock().unwrap_or_else(|e| e.into_inner());
            let filled = ring.filled;
            let start = (ring.next + SLOTS - filled) % SLOTS;
            for k in 0..filled {
                let slot = &mut ring.slots[(start + k) % SLOTS];
                let Some(known) = slot.known.take() else {
                    continue;
                };
                out.push(RecentRequest {
                    id: known.record.id.clone(),
                    at_ms: slot.at_ms,
                    outcome: crate::analytics::OUTCOME_NAMES
                        .get(usize::from(slot.outcome))
                        .copied()
                        .unwrap_or("allowed")
                        .to_owned(),
                    method: slot.method.clone(),
                    host: slot.host.clone(),
                    path: slot.path.clone(),
                    client: slot.client.map(|c| c.to_string()).unwrap_or_default(),
                });
            }
            ring.filled = 0;
        }
        out
    }
}
