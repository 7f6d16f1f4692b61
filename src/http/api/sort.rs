//! The order of a key list (`sort` on the list endpoints): a field and a direction, as
//! the console's URL spells them (`last_used_at:desc`).
//!
//! Each key gets a sort key — a string whose byte order is the list's order, the
//! creation order breaking ties — so that a page's cursor (the last key's sort key)
//! works the same for every order: the next page is what sorts after it.

use serde::{Deserialize, Deserializer};

use crate::analytics::Activity;
use crate::clock::Timestamp;
use crate::store::TokenRecord;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Created,
    Name,
    Expires,
    LastUsed,
    Status,
    Requests,
    Refusals,
}

/// A field and whether the order is descending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    field: Field,
    desc: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            field: Field::Created,
            desc: false,
        }
    }
}

impl Sort {
    /// `FIELD` or `FIELD:asc|desc`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (name, dir) = s.split_once(':').unwrap_or((s, ""));
        let (field, desc) = match name {
            "created" | "created_at" => (Field::Created, false),
            "name" => (Field::Name, false),
            "expires_at" => (Field::Expires, false),
            "last_used" | "last_used_at" => (Field::LastUsed, true),
            "status" => (Field::Status, false),
            "requests" => (Field::Requests, true),
            "refusals" => (Field::Refusals, true),
            _ => {
                return Err(format!(
                    "`{name}` is not an order: created_at, name, expires_at, last_used_at, status, requests or refusals, then :asc or :desc"
                ));
            }
        };
        let desc = match dir {
            "" => desc,
            "asc" => false,
            "desc" => true,
            other => return Err(format!("`{other}`: asc or desc")),
        };
        Ok(Sort { field, desc })
    }

    /// Whether the order needs the keys' last 24 hours.
    pub fn needs_activity(self) -> bool {
        matches!(self.field, Field::Requests | Field::Refusals)
    }

    /// Whether this is the stored order (oldest first): nothing to sort.
    pub fn is_stored_order(self) -> bool {
        self == Sort::default()
    }

    /// The sort key of `r` (of `status`, with `activity` its last 24 hours).
    pub fn key(self, r: &TokenRecord, status: &str, activity: Option<&Activity>) -> String {
        let tie = record_key(r);
        let time = |t: Option<Timestamp>| match t {
            // Missing dates last, whatever the direction.
            None => "1".to_owned(),
            Some(t) => format!("0{}", self.number(shifted(t))),
        };
        let head = match self.field {
            Field::Created if !self.desc => return tie,
            Field::Created => self.number(shifted(r.created_at)),
            Field::Name => self.text(&r.name.to_lowercase()),
            Field::Expires => time(r.expires_at),
            Field::LastUsed => time(r.last_used_at),
            Field::Status => self.text(status),
            Field::Requests => self.number(activity.map_or(0, |a| a.requests)),
            Field::Refusals => self.number(activity.map_or(0, |a| a.refusals)),
        };
        format!("{head}|{tie}")
    }

    /// `n` as 20 digits, inverted when descending.
    fn number(self, n: u64) -> String {
        format!("{:020}", if self.desc { u64::MAX - n } else { n })
    }

    /// `s` so that byte order is its order: ascending, the text and a byte below any
    /// character; descending, each character inverted (6 hex digits) and a byte above
    /// any digit, so that a longer text sorts before its prefix.
    fn text(self, s: &str) -> String {
        if !self.desc {
            return format!("{s}\u{1}");
        }
        let mut out = String::with_capacity(s.len() * 6 + 1);
        for c in s.chars() {
            out.push_str(&format!("{:06x}", 0x10_FFFF - u32::from(c)));
        }
        out.push('~');
        out
    }
}

impl<'de> Deserialize<'de> for Sort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sort::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The sort key of a record, as a string in the same order as the listing's.
pub fn record_key(r: &TokenRecord) -> String {
    format!("{:020}:{}", shifted(r.created_at), r.id)
}

/// `t`'s signed seconds shifted to unsigned, so that their decimal form (20 digits)
/// sorts as the times do.
fn shifted(t: Timestamp) -> u64 {
    (i128::from(t.unix()) - i128::from(i64::MIN)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, created: i64, used: Option<i64>) -> TokenRecord {
        let mut r = TokenRecord::plain(
            crate::store::TokenId::generate().unwrap(),
            crate::token::KeyHash([7; 32]),
            Default::default(),
            "o".into(),
            name.into(),
            "kg_AbCd…wxyz".into(),
            Timestamp::from_unix(created),
            "test".into(),
        );
        r.last_used_at = used.map(Timestamp::from_unix);
        r
    }

    fn order(sort: &str, keys: &[TokenRecord]) -> Vec<String> {
        let s = Sort::parse(sort).unwrap();
        let mut v: Vec<(String, &TokenRecord)> =
            keys.iter().map(|r| (s.key(r, "active", None), r)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.into_iter().map(|(_, r)| r.name.clone()).collect()
    }

    #[test]
    fn every_order_is_the_byte_order_of_its_keys() {
        let keys = [
            rec("ab", 3, Some(50)),
            rec("abc", 1, None),
            rec("Zed", 2, Some(10)),
            rec("été", 4, Some(-5)),
        ];
        assert_eq!(order("created_at", &keys), ["abc", "Zed", "ab", "été"]);
        assert_eq!(order("created_at:desc", &keys), ["été", "ab", "Zed", "abc"]);
        assert_eq!(
            order("name", &keys),
            ["ab", "abc", "zed", "été"].map(|n| keys
                .iter()
                .find(|k| k.name.to_lowercase() == n)
                .unwrap()
                .name
                .clone())
        );
        assert_eq!(order("name:desc", &keys), ["été", "Zed", "abc", "ab"]);
        assert_eq!(
            order("last_used_at", &keys),
            ["ab", "Zed", "été", "abc"],
            "most recent first, never last"
        );
        assert_eq!(
            order("last_used_at:asc", &keys),
            ["été", "Zed", "ab", "abc"],
            "never used still last"
        );
        for bad in ["loudest", "name:up", "", ":desc"] {
            assert!(Sort::parse(bad).is_err(), "{bad}");
        }
    }
}
