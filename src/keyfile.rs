//! Keys that live in files (AKAS's key files) and in the set uploaded with `POST /load`.
//!
//! Each source is one file of one key per line — `plain` keys or the hex SHA-256 of each
//! key — with blank lines and `#` comments ignored. A source is parsed whole: any bad
//! line rejects the file, every bad line is reported by number, and the previous good
//! set stays in force. Plain keys are kept only as keyed hashes, like the store's.
//!
//! The decision path asks [`KeySets::lookup`] on a cache miss, before the store. Sources
//! are swapped in as one snapshot, so a reload is atomic for every request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::config::KeyFileConfig;
use crate::token::{KeyHash, Policy, Salt};

/// How keys are written in a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Plain,
    Sha256,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "plain" => Ok(Format::Plain),
            "sha256" => Ok(Format::Sha256),
            other => Err(format!("format `{other}` must be plain or sha256")),
        }
    }
}

/// What a good source holds: keyed hashes (plain) or SHA-256 digests.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub format: Format,
    pub digests: Vec<[u8; 32]>,
    /// SHA-256 of the whole content, hex.
    pub content_sha256: String,
}

/// Why a source was rejected.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ParseError {
    #[error("{}", render_lines(.0))]
    BadLines(Vec<(usize, String)>),
    #[error("the file holds no keys")]
    Empty,
}

const SHOWN_LINES: usize = 20;

fn render_lines(lines: &[(usize, String)]) -> String {
    let mut s = format!("{} bad line(s): ", lines.len());
    let shown: Vec<String> = lines
        .iter()
        .take(SHOWN_LINES)
        .map(|(n, why)| format!("line {n}: {why}"))
        .collect();
    s.push_str(&shown.join("; "));
    if lines.len() > SHOWN_LINES {
        s.push_str(&format!("; and {} more", lines.len() - SHOWN_LINES));
    }
    s
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses a whole source. `require_keys`: zero keys is an error (uploads), not an empty
/// set (a key file emptied on purpose).
pub fn parse(
    content: &[u8],
    format: Format,
    salt: &Salt,
    policy: &Policy,
    require_keys: bool,
) -> Result<Parsed, ParseError> {
    let mut digests = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in content.split(|b| *b == b'\n').enumerate() {
        let n = i + 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            bad.push((n, "not UTF-8 text".to_owned()));
            continue;
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match format {
            Format::Plain => match policy.check(line) {
                Ok(_) => digests.push(KeyHash::of(salt, line).0),
                Err(e) => bad.push((n, e.to_string())),
            },
            Format::Sha256 => match KeyHash::from_hex(&line.to_ascii_lowercase()) {
                Some(h) => digests.push(h.0),
                None => bad.push((n, "not 64 hexadecimal characters".to_owned())),
            },
        }
    }
    if !bad.is_empty() {
        return Err(ParseError::BadLines(bad));
    }
    if require_keys && digests.is_empty() {
        return Err(ParseError::Empty);
    }
    digests.sort_unstable();
    digests.dedup();
    Ok(Parsed {
        format,
        digests,
        content_sha256: sha256_hex(content),
    })
}

/// Who the keys of a source belong to, as the decision path reports them.
#[derive(Clone, Debug)]
pub struct Ident {
    pub owner: String,
    pub name: String,
    pub loaded_at: Timestamp,
    /// `upload` or the file's path.
    pub source: String,
}

/// A source's state, for `/status`.
#[derive(Clone, Debug, Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub path: Option<PathBuf>,
    pub format: Format,
    pub owner: String,
    pub key_count: usize,
    /// SHA-256 of the content in force.
    pub file_hash: Option<String>,
    pub loaded_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
}

struct Source {
    status: SourceStatus,
    name: String,
    parsed: Option<Arc<Parsed>>,
}

#[derive(Default)]
struct Snapshot {
    keyed: HashMap<[u8; 32], u32>,
    sha256: HashMap<[u8; 32], u32>,
    idents: Vec<Ident>,
}

/// Index 0 is the uploaded set; 1.. are the key files in configuration order.
pub struct KeySets {
    sources: Mutex<Vec<Source>>,
    snapshot: RwLock<Arc<Snapshot>>,
}

/// A key found in a source.
pub struct Found {
    pub ident: Ident,
    pub digest: [u8; 32],
}

pub const UPLOAD: usize = 0;

impl KeySets {
    pub fn new(files: &[KeyFileConfig]) -> Self {
        let mut sources = vec![Source {
            status: SourceStatus {
                source: "upload".into(),
                path: None,
                format: Format::Plain,
                owner: "upload".into(),
                key_count: 0,
                file_hash: None,
                loaded_at: None,
                last_error: None,
                last_error_at: None,
            },
            name: "uploaded key".into(),
            parsed: None,
        }];
        for f in files {
            let file_name = f
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| f.path.display().to_string());
            sources.push(Source {
                status: SourceStatus {
                    source: f.path.display().to_string(),
                    path: Some(f.path.clone()),
                    format: Format::parse(&f.format).unwrap_or(Format::Plain),
                    owner: f.owner.clone().unwrap_or_else(|| file_name.clone()),
                    key_count: 0,
                    file_hash: None,
                    loaded_at: None,
                    last_error: None,
                    last_error_at: None,
                },
                name: f.name.clone().unwrap_or(file_name),
                parsed: None,
            });
        }
        KeySets {
            sources: Mutex::new(sources),
            snapshot: RwLock::new(Arc::default()),
        }
    }

    fn sources(&self) -> std::sync::MutexGuard<'_, Vec<Source>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a good set in force for source `idx`.
    pub fn install(&self, idx: usize, parsed: Parsed, at: Timestamp) {
        let mut sources = self.sources();
        let Some(s) = sources.get_mut(idx) else {
            return;
        };
        s.status.format = parsed.format;
        s.status.key_count = parsed.digests.len();
        s.status.file_hash = Some(parsed.content_sha256.clone());
        s.status.loaded_at = Some(at);
        s.status.last_error = None;
        s.status.last_error_at = None;
        s.parsed = Some(Arc::new(parsed));
        self.rebuild(&sources);
    }

    /// Records why source `idx` could not be (re)loaded; its previous set stays.
    pub fn record_error(&self, idx: usize, error: String, at: Timestamp) {
        if let Some(s) = self.sources().get_mut(idx) {
            s.status.last_error = Some(error);
            s.status.last_error_at = Some(at);
        }
    }

    /// The content hash in force for source `idx`.
    pub fn content_hash(&self, idx: usize) -> Option<String> {
        self.sources()
            .get(idx)
            .and_then(|s| s.status.file_hash.clone())
    }

    pub fn status(&self) -> Vec<SourceStatus> {
        self.sources().iter().map(|s| s.status.clone()).collect()
    }

    /// Key files with their configured paths and formats.
    pub fn files(&self) -> Vec<(usize, PathBuf, Format)> {
        self.sources()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.status.path.clone().map(|p| (i, p, s.status.format)))
            .collect()
    }

    fn rebuild(&self, sources: &[Source]) {
        let mut snap = Snapshot::default();
        for (i, s) in sources.iter().enumerate() {
            snap.idents.push(Ident {
                owner: s.status.owner.clone(),
                name: s.name.clone(),
                loaded_at: s.status.loaded_at.unwrap_or(Timestamp::from_unix(0)),
                source: s.status.source.clone(),
            });
            let Some(p) = &s.parsed else { continue };
            let map = match p.format {
                Format::Plain => &mut snap.keyed,
                Format::Sha256 => &mut snap.sha256,
            };
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            for d in &p.digests {
                // The first source that holds a key wins (the upload, then files in order).
                map.entry(*d).or_insert(idx);
            }
        }
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
    }

    /// The source holding this key, if any. The SHA-256 of the key is computed only
    /// when some source is in the sha256 format.
    pub fn lookup(&self, keyed: &KeyHash, key: &str) -> Option<Found> {
        let snap = self
            .snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(i) = snap.keyed.get(&keyed.0) {
            return Some(Found {
                ident: snap.idents.get(*i as usize)?.clone(),
                digest: keyed.0,
            });
        }
        if snap.sha256.is_empty() {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let i = snap.sha256.get(&digest)?;
        Some(Found {
            ident: snap.idents.get(*i as usize)?.clone(),
            digest,
        })
    }

    /// Keys in force per source.
    pub fn counts(&self) -> Vec<usize> {
        self.sources().iter().map(|s| s.status.key_count).collect()
    }
}

/// A file's identity on disk: changes when it is written or replaced by a rename.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fingerprint {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

pub fn fingerprint(path: &Path) -> std::io::Result<Fingerprint> {
    let m = std::fs::metadata(path)?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Ok(Fingerprint {
        len: m.len(),
        modified: m.modified().ok(),
        inode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::KeyPrefix;

    fn salt() -> Salt {
        Salt::from_hex(&"11".repeat(32)).unwrap()
    }

    fn policy() -> Policy {
        Policy {
            prefix: KeyPrefix::default(),
            accept_foreign: true,
            ..Policy::default()
        }
    }

    #[test]
    fn plain_files_with_comments_blanks_and_crlf() {
        let p = parse(
            b"# keys\r\n\r\nalpha-key-1\r\n  beta-key-2  \n\n",
            Format::Plain,
            &salt(),
            &policy(),
            true,
        )
        .unwrap();
        assert_eq!(p.digests.len(), 2);
        let sets = KeySets::new(&[]);
        sets.install(UPLOAD, p, Timestamp::from_unix(5));
        let k = KeyHash::of(&salt(), "beta-key-2");
        assert_eq!(sets.lookup(&k, "beta-key-2").unwrap().ident.owner, "upload");
        assert!(
            sets.lookup(&KeyHash::of(&salt(), "gamma"), "gamma")
                .is_none()
        );
    }

    #[test]
    fn sha256_lines_either_case() {
        let lower = sha256_hex(b"secret-one");
        let upper = sha256_hex(b"secret-two").to_uppercase();
        let text = format!("{lower}\n{upper}\n");
        let p = parse(text.as_bytes(), Format::Sha256, &salt(), &policy(), true).unwrap();
        let sets = KeySets::new(&[]);
        sets.install(UPLOAD, p, Timestamp::from_unix(1));
        for k in ["secret-one", "secret-two"] {
            assert!(sets.lookup(&KeyHash::of(&salt(), k), k).is_some(), "{k}");
        }
        assert!(sets.lookup(&KeyHash::of(&salt(), "nope"), "nope").is_none());
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = b"good-key-1\nhas space\n\xff\xfe\nok-key-2\nkg_short\n";
        let e = parse(text, Format::Plain, &salt(), &policy(), true)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("3 bad line(s)"), "{e}");
        for n in ["line 2:", "line 3:", "line 5:"] {
            assert!(e.contains(n), "{e}");
        }
        let e = parse(b"abc\n", Format::Sha256, &salt(), &policy(), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1: not 64 hexadecimal"), "{e}");
        let many: String = (0..100).map(|_| "x y\n").collect();
        let e = parse(many.as_bytes(), Format::Plain, &salt(), &policy(), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("and 80 more"), "{e}");
    }

    #[test]
    fn empty_is_an_error_only_when_keys_are_required() {
        assert!(matches!(
            parse(b"# none\n", Format::Plain, &salt(), &policy(), true),
            Err(ParseError::Empty)
        ));
        assert!(
            parse(b"# none\n", Format::Plain, &salt(), &policy(), false)
                .unwrap()
                .digests
                .is_empty()
        );
    }

    #[test]
    fn policy_applies_to_file_keys() {
        let strict = Policy {
            foreign_length: 8,
            ..policy()
        };
        let e = parse(b"12345678\n123\n", Format::Plain, &salt(), &strict, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2:") && !e.contains("line 1:"), "{e}");
    }
}
