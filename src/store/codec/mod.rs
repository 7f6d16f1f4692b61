//! How a key record is kept as bytes: JSON (every keygate before this one) or a compact
//! binary format, read side by side, so that a store moves from one to the other
//! without a stop. Which one is written is the store's choice, kept in its meta entry
//! [`RECORD_FORMAT_META`] and changed by `keygate store migrate` (docs/upgrading.md).
//!
//! Why a binary format: a cache miss decodes one record, and serde_json spent ~8 000
//! instructions and a dozen allocations on it; this reads straight from the slice,
//! checks each string's UTF-8 once and allocates only the record's own strings.
//!
//! **Telling them apart.** A JSON record begins with `{` (serde_json writes no
//! whitespace first, but any JSON whitespace is taken too); a binary record begins with
//! its format version, a byte that is neither. Every binary format, this one and those
//! to come, begins with the same header — the version byte, then the key's id and its
//! owner as strings — so that a keygate meeting a record in a format newer than it reads
//! still names the key and its owner, and refuses it with a message saying to upgrade
//! rather than taking it for damage (which `keygate doctor --fix` would remove).
//!
//! The binary format's layout is in `binary.rs`. Every value is checked as its JSON
//! twin is (ids, patterns, times, spans), so a record reads the same in either format,
//! and no bytes, however hostile, make the decoder panic or allocate more than they are
//! long.

use std::fmt;

use super::StoreError;
use crate::model::{TokenId, TokenRecord};

mod binary;
pub use binary::encode_binary;
use binary::{decode_binary, header};

/// Meta entry naming the format the store writes records in (`json` or `binary`).
/// Absent: a store of an earlier keygate (JSON) — or a new one, marked `binary` when
/// its first record is written.
pub const RECORD_FORMAT_META: &str = "record_format";

/// The binary format this keygate writes, and the newest it reads.
pub const BINARY_VERSION: u8 = 2;

/// How records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    Json,
    Binary,
}

impl RecordFormat {
    /// The marker's value: `json` or `binary`.
    pub fn name(self) -> &'static str {
        match self {
            RecordFormat::Json => "json",
            RecordFormat::Binary => "binary",
        }
    }

    /// The format a store writes, from its marker (`None`: no marker, a store written
    /// before record formats, so JSON). A marker this keygate does not know was set by
    /// a newer one: writing is refused, reading goes on.
    pub fn of_marker(marker: Option<&[u8]>) -> Result<RecordFormat, StoreError> {
        match marker {
            None | Some(b"json") => Ok(RecordFormat::Json),
            Some(b"binary") => Ok(RecordFormat::Binary),
            Some(other) => Err(StoreError::Backend(format!(
                "the store's {RECORD_FORMAT_META} is `{}`, which this keygate does not know \
                 (set by a newer keygate): upgrade keygate to change keys, or run `keygate \
                 store migrate --format json` with the newer one",
                String::from_utf8_lossy(other)
                    .chars()
                    .take(40)
                    .collect::<String>()
            ))),
        }
    }

    /// The format of stored bytes, when it is one this keygate writes.
    pub fn of_bytes(bytes: &[u8]) -> Option<RecordFormat> {
        match bytes.first() {
            None => None,
            Some(b) if is_json_start(*b) => Some(RecordFormat::Json),
            Some(1..=BINARY_VERSION) => Some(RecordFormat::Binary),
            Some(_) => None,
        }
    }
}

impl fmt::Display for RecordFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `{` or JSON whitespace: the first byte of a JSON record.
fn is_json_start(b: u8) -> bool {
    matches!(b, b'{' | b' ' | b'\t' | b'\n' | b'\r')
}

/// What a keygate reading only formats up to [`BINARY_VERSION`] says of a record in
/// format `version`.
pub fn newer_format_message(id: &str, version: u8) -> String {
    format!(
        "the record for key {id} is in record format {version}, written by a newer keygate; \
         this keygate reads formats up to {BINARY_VERSION} (upgrade keygate, or run \
         `keygate store migrate --format json` with the newer one)"
    )
}

pub fn encode(record: &TokenRecord, format: RecordFormat) -> Result<Vec<u8>, StoreError> {
    match format {
        RecordFormat::Json => serde_json::to_vec(record)
            .map_err(|e| StoreError::Backend(format!("encode record: {e}"))),
        RecordFormat::Binary => Ok(encode_binary(record)),
    }
}

/// Decodes a record found by its hash (the gate's lookup): a damaged one is an error
/// that names its id when the bytes still hold one, and the gate refuses the key.
pub fn decode(bytes: &[u8]) -> Result<TokenRecord, StoreError> {
    match read(bytes) {
        Read::Record(r) => Ok(r),
        Read::Newer { id, version, .. } => Err(StoreError::Backend(newer_format_message(
            id.as_str(),
            version,
        ))),
        Read::Damaged(e) => {
            let id = salvage(bytes, "id").unwrap_or_else(|| "unknown".into());
            Err(StoreError::Backend(format!(
                "corrupt record (key id {id}): {e}"
            )))
        }
    }
}

/// Decodes the record stored for `id`; a damaged one, or one in a newer format, is
/// [`StoreError::Damaged`].
pub fn decode_for(id: &TokenId, bytes: &[u8]) -> Result<TokenRecord, StoreError> {
    let damaged = |owner, detail| StoreError::Damaged {
        id: id.clone(),
        owner,
        detail,
        newer_format: None,
    };
    match read(bytes) {
        Read::Record(r) if r.id == *id => Ok(r),
        Read::Record(r) => Err(damaged(
            Some(r.owner),
            format!("the record stored for it is key {}", r.id),
        )),
        Read::Newer {
            id: theirs,
            owner,
            version,
        } if theirs == *id => Err(StoreError::Damaged {
            id: theirs,
            owner: Some(owner),
            detail: newer_format_message(id.as_str(), version),
            newer_format: Some(version),
        }),
        Read::Newer { id: theirs, .. } => Err(damaged(
            None,
            format!("the record stored for it is key {theirs}"),
        )),
        Read::Damaged(e) => Err(damaged(salvage(bytes, "owner"), e)),
    }
}

/// The `id` or `owner` of a record that does not decode as a whole, if its bytes still
/// hold it: a JSON object with that string field, or a binary header.
pub fn salvage(bytes: &[u8], field: &str) -> Option<String> {
    if bytes.first().is_none_or(|b| is_json_start(*b)) {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        return v.get(field)?.as_str().map(str::to_owned);
    }
    let (id, owner) = header(bytes).ok()?;
    match field {
        "id" => Some(id.to_string()),
        "owner" => Some(owner.to_owned()),
        _ => None,
    }
}

/// What to do with one stored record to have it in another format.
#[derive(Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// It is in that format already.
    Keep,
    /// These bytes, the same record in that format.
    Write(Vec<u8>),
    /// It does not decode: left alone (`keygate doctor --fix` removes it).
    Damaged,
    /// It is in this newer format: left alone for the keygate that wrote it.
    Newer(u8),
}

/// How the record stored for `id` as `bytes` is brought into format `to`.
pub fn rewrite(id: &TokenId, bytes: &[u8], to: RecordFormat) -> Rewrite {
    match decode_for(id, bytes) {
        Ok(_) if RecordFormat::of_bytes(bytes) == Some(to) => Rewrite::Keep,
        // The record as stored: `last_used_at` stays what the bytes held.
        Ok(r) => encode(&r, to).map_or(Rewrite::Damaged, Rewrite::Write),
        Err(StoreError::Damaged {
            newer_format: Some(v),
            ..
        }) => Rewrite::Newer(v),
        Err(_) => Rewrite::Damaged,
    }
}

/// What bringing every record into one format found (and did, unless only counting).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Converted {
    /// Records rewritten into the format (or, when only counting, to be).
    pub rewritten: u64,
    /// Records in the format already.
    pub already: u64,
    /// Records that do not decode, left alone.
    pub damaged: Vec<TokenId>,
    /// Records in a format newer than this keygate reads, left alone.
    pub newer: Vec<(TokenId, u8)>,
}

impl Converted {
    /// Counts one record by what it needs.
    pub fn tally(&mut self, id: TokenId, what: &Rewrite) {
        match what {
            Rewrite::Keep => self.already += 1,
            Rewrite::Write(_) => self.rewritten += 1,
            Rewrite::Damaged => self.damaged.push(id),
            Rewrite::Newer(v) => self.newer.push((id, *v)),
        }
    }
}

/// Stored bytes, read. Lives for one decode and is taken apart at once: boxing the
/// record would add an allocation to every cache miss.
#[allow(clippy::large_enum_variant)]
enum Read {
    Record(TokenRecord),
    /// A binary format newer than this keygate's, with its header.
    Newer {
        id: TokenId,
        owner: String,
        version: u8,
    },
    Damaged(String),
}

fn read(bytes: &[u8]) -> Read {
    match bytes.first() {
        None => Read::Damaged("the record is empty".into()),
        Some(b) if is_json_start(*b) => match serde_json::from_slice(bytes) {
            Ok(r) => Read::Record(r),
            Err(e) => Read::Damaged(e.to_string()),
        },
        Some(1..=BINARY_VERSION) => match decode_binary(bytes) {
            Ok(r) => Read::Record(r),
            Err(e) => Read::Damaged(e.to_string()),
        },
        Some(&version) => match header(bytes) {
            Ok((id, owner)) if version > BINARY_VERSION => Read::Newer {
                id,
                owner: owner.to_owned(),
                version,
            },
            _ => Read::Damaged(format!(
                "not a keygate record (it begins with byte {version:#04x})"
            )),
        },
    }
}

#[cfg(test)]
mod tests;
