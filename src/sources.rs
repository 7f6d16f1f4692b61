//! Keeping the key sources current: key files on disk and the set uploaded with
//! `POST /load` (kept in the store so it survives restarts and is shared by replicas).
//!
//! Key files are polled every `key_files_poll_ms`: a file whose size, modification time
//! or inode changed (a write, or a Kubernetes-style atomic rename) is read again once it
//! has stayed the same for one more poll — so a file being written in place is not
//! loaded half-way — and, if its content changed, parsed and swapped in whole. A bad
//! file or one that disappeared keeps the last good set and is reported (log,
//! `/status`, metrics).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, Timestamp};
use crate::decide::Gate;
use crate::keyfile::{self, Fingerprint, Format, Parsed, UPLOAD};
use crate::store::SharedStore;
use crate::store::StoreError;

const UPLOAD_INFO: &str = "upload.info";
const UPLOAD_DIGESTS: &str = "upload.digests";

/// What is kept in the store about the uploaded set (the digests are kept beside it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UploadInfo {
    pub format: String,
    /// SHA-256 of the uploaded file (AKAS's `file_hash`).
    pub file_hash: String,
    /// When it was loaded (AKAS's `file_date`).
    pub file_date: Timestamp,
    pub key_count: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {0}")]
    Io(String),
    #[error(transparent)]
    Parse(#[from] keyfile::ParseError),
    #[error("hash_input_file {expected} does not match the uploaded file's SHA-256 {actual}")]
    HashMismatch { expected: String, actual: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What keeping the key sources current needs — the gate (its key sets, salt, policy,
/// metrics and cache), the store (where the uploaded set is kept) and the clock —
/// rather than the whole application (which builds one with `App::sources`).
#[derive(Clone)]
pub struct Sources {
    pub gate: Arc<Gate>,
    pub store: SharedStore,
    pub clock: Clock,
    /// How often key files and the uploaded set are checked (`key_files_poll_ms`).
    pub poll: Duration,
}

impl Sources {
    /// Reads, parses and installs key file `idx`. On error the previous set stays.
    pub fn load_file(&self, idx: usize) -> Result<(), LoadError> {
        let sets = self.gate.keysets();
        let Some((_, path, format)) = sets.files().into_iter().find(|(i, _, _)| *i == idx) else {
            return Ok(());
        };
        let now = self.clock.now();
        let result = std::fs::read(&path)
            .map_err(|e| LoadError::Io(format!("{}: {e}", path.display())))
            .and_then(|content| {
                if sets.content_hash(idx).as_deref() == Some(keyfile::sha256_hex(&content).as_str())
                {
                    return Ok(None); // touched, not changed
                }
                let policy = &self.gate.settings().policy;
                Ok(Some(keyfile::parse(
                    &content,
                    format,
                    self.gate.salt(),
                    policy,
                    false,
                )?))
            });
        match result {
            Ok(None) => Ok(()),
            Ok(Some(parsed)) => {
                let n = parsed.digests.len();
                sets.install(idx, parsed, now);
                self.gate.forget_all();
                self.gate.metrics().reload(true);
                tracing::info!(file = %path.display(), keys = n, "key file loaded");
                Ok(())
            }
            Err(e) => {
                sets.record_error(idx, e.to_string(), now);
                self.gate.metrics().reload(false);
                tracing::warn!(file = %path.display(), error = %e, "key file rejected; the previous keys stay in force");
                Err(e)
            }
        }
    }

    /// Validates an upload and makes it the uploaded set, here and in the store.
    pub async fn apply_upload(
        &self,
        content: &[u8],
        format: Format,
        expected_hash: Option<&str>,
    ) -> Result<UploadInfo, LoadError> {
        let actual = keyfile::sha256_hex(content);
        if let Some(expected) = expected_hash
            && !expected.trim().eq_ignore_ascii_case(&actual)
        {
            return Err(LoadError::HashMismatch {
                expected: expected.trim().to_owned(),
                actual,
            });
        }
        let parsed = keyfile::parse(
            content,
            format,
            self.gate.salt(),
            &self.gate.settings().policy,
            true,
        )?;
        let info = UploadInfo {
            format: match format {
                Format::Plain => "plain".into(),
                Format::Sha256 => "sha256".into(),
            },
            file_hash: parsed.content_sha256.clone(),
            file_date: self.clock.now(),
            key_count: parsed.digests.len(),
        };
        // Digests first, the info that points at them last: a reader never sees an info
        // whose digests are not there yet. Plain keys are kept only as keyed hashes.
        let store = &self.store;
        store
            .set_meta(UPLOAD_DIGESTS, &parsed.digests.concat())
            .await?;
        let json = serde_json::to_vec(&info).map_err(|e| StoreError::Backend(e.to_string()))?;
        store.set_meta(UPLOAD_INFO, &json).await?;
        self.gate.keysets().install(UPLOAD, parsed, info.file_date);
        self.gate.forget_all();
        self.gate.metrics().reload(true);
        tracing::info!(keys = info.key_count, file_hash = %info.file_hash, "uploaded key set loaded");
        Ok(info)
    }

    /// The uploaded set's info as kept in the store.
    pub async fn upload_info(&self) -> Result<Option<UploadInfo>, StoreError> {
        let Some(bytes) = self.store.get_meta(UPLOAD_INFO).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::Backend(format!("corrupt upload info: {e}")))
    }

    /// Installs the uploaded set kept in the store when it differs from the one in force
    /// (at start, and on each poll so an upload to another replica reaches this one).
    pub async fn load_upload_from_store(&self) -> Result<(), StoreError> {
        let Some(info) = self.upload_info().await? else {
            return Ok(());
        };
        let sets = self.gate.keysets();
        if sets.content_hash(UPLOAD).as_deref() == Some(info.file_hash.as_str()) {
            return Ok(());
        }
        let bytes = self
            .store
            .get_meta(UPLOAD_DIGESTS)
            .await?
            .unwrap_or_default();
        if bytes.len() != info.key_count * 32 {
            return Err(StoreError::Backend(
                "uploaded key set in the store is incomplete".into(),
            ));
        }
        let digests = bytes
            .chunks_exact(32)
            .filter_map(|c| <[u8; 32]>::try_from(c).ok())
            .collect();
        let format = if info.format == "sha256" {
            Format::Sha256
        } else {
            Format::Plain
        };
        sets.install(
            UPLOAD,
            Parsed {
                format,
                digests,
                content_sha256: info.file_hash.clone(),
            },
            info.file_date,
        );
        self.gate.forget_all();
        tracing::info!(
            keys = info.key_count,
            "uploaded key set loaded from the store"
        );
        Ok(())
    }

    /// Polls key files, the uploaded set and store flags until the task is dropped.
    pub async fn watch(self) {
        let every = self.poll;
        let mut seen: HashMap<usize, Option<Fingerprint>> = self
            .gate
            .keysets()
            .files()
            .into_iter()
            .map(|(i, p, _)| (i, keyfile::fingerprint(&p).ok()))
            .collect();
        // A changed file's fingerprint, until the next poll finds it the same (complete).
        let mut settling: HashMap<usize, Fingerprint> = HashMap::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (idx, path, _) in self.gate.keysets().files() {
                let now = keyfile::fingerprint(&path).ok();
                let before = seen.get(&idx).copied().flatten();
                match (before, now) {
                    (Some(b), Some(n)) if b == n => {
                        settling.remove(&idx);
                    }
                    (_, None) => {
                        seen.insert(idx, None);
                        settling.remove(&idx);
                        if before.is_some() {
                            tracing::warn!(file = %path.display(), "key file disappeared; its last keys stay in force");
                            self.gate.keysets().record_error(
                                idx,
                                "file not found".into(),
                                self.clock.now(),
                            );
                        }
                    }
                    (_, Some(n)) => {
                        // Changed: read once it has stayed so for a whole poll interval.
                        if settling.get(&idx) == Some(&n) {
                            settling.remove(&idx);
                            seen.insert(idx, Some(n));
                            let _ = self.load_file(idx);
                        } else {
                            settling.insert(idx, n);
                        }
                    }
                }
            }
            if let Err(e) = self.load_upload_from_store().await {
                tracing::debug!(error = %e, "uploaded set not refreshed");
            }
            if let Err(e) = self.gate.refresh_store_flags().await {
                tracing::debug!(error = %e, "store flags not refreshed");
            }
        }
    }
}
