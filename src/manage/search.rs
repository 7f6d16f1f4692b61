//! The filter of key lists (`q` on the list endpoints): terms separated by spaces, every
//! one of which a key must match (AND), as an operator types them:
//!
//! - a bare word: found, ignoring case, in the name, owner, id, hint, or a metadata key
//!   or value;
//! - `field:value`: `name:`, `owner:`, `id:`, `hint:` (contains, ignoring case),
//!   `status:` (`active`, `disabled`, `expired`, `rotating`), `unused:30d` (not used for
//!   that long: last used before then, or never and made before then);
//! - `refused:yes` / `refused:no`: whether the gate refuses the key now (disabled,
//!   expired, its own or its owner's credits used up);
//! - `requests:>N`, `requests:<N`, `requests:N` and the same for `refusals:`: requests
//!   (refused ones) in the last 24 hours;
//! - `KEY=VALUE`: the metadata entry `KEY` holds exactly `VALUE`;
//! - `-term`: the key must not match it;
//! - `"…"` keeps spaces in a value: `name:"ci deploy"`.

use std::time::Duration;

use crate::analytics::Activity;
use crate::clock::Timestamp;
use crate::store::TokenRecord;

/// Longest query accepted.
pub const MAX_QUERY_LEN: usize = 512;
/// Most terms in one query.
pub const MAX_TERMS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Field {
    Any,
    Name,
    Owner,
    Id,
    Hint,
    Status,
    Unused(Duration),
    Meta(String),
    /// `refused:yes|no`: whether the gate refuses the key now; needs balances, so the
    /// list answers it ([`KeyQuery::refused`]), not [`KeyQuery::matches`].
    Refused(bool),
    /// `requests:>N` and the like: the last 24 hours.
    Requests(Compare),
    Refusals(Compare),
}

/// `>N`, `<N` or `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compare {
    Above(u64),
    Below(u64),
    Exactly(u64),
}

impl Compare {
    fn parse(field: &str, v: &str) -> Result<Self, String> {
        let bad = || format!("{field}:{v}: a number, >N or <N (e.g. {field}:>100)");
        let n = |t: &str| t.trim().parse::<u64>().map_err(|_| bad());
        match (v.strip_prefix('>'), v.strip_prefix('<')) {
            (Some(t), _) => n(t).map(Compare::Above),
            (_, Some(t)) => n(t).map(Compare::Below),
            _ => n(v).map(Compare::Exactly),
        }
    }

    fn holds(self, x: u64) -> bool {
        match self {
            Compare::Above(n) => x > n,
            Compare::Below(n) => x < n,
            Compare::Exactly(n) => x == n,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    field: Field,
    /// Lower case, except for metadata values (matched exactly).
    value: String,
    negate: bool,
}

/// A parsed `q`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyQuery {
    terms: Vec<Term>,
}

/// Splits on spaces outside double quotes; quotes are dropped.
fn words(q: &str) -> Result<Vec<String>, String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

const STATUSES: [&str; 4] = ["active", "disabled", "expired", "rotating"];

impl KeyQuery {
    pub fn parse(q: &str) -> Result<Self, String> {
        if q.len() > MAX_QUERY_LEN {
            return Err(format!("at most {MAX_QUERY_LEN} characters"));
        }
        let words = words(q)?;
        if words.len() > MAX_TERMS {
            return Err(format!("at most {MAX_TERMS} terms"));
        }
        let mut terms = Vec::with_capacity(words.len());
        for w in words {
            let (negate, w) = match w.strip_prefix('-') {
                Some(rest) if !rest.is_empty() => (true, rest.to_owned()),
                _ => (false, w),
            };
            let term = if let Some((f, v)) = w.split_once(':') {
                let v = v.to_owned();
                let field = match f.to_ascii_lowercase().as_str() {
                    "name" => Field::Name,
                    "owner" => Field::Owner,
                    "id" => Field::Id,
                    "hint" => Field::Hint,
                    "status" => {
                        if !STATUSES.contains(&v.to_ascii_lowercase().as_str()) {
                            return Err(format!(
                                "status:{v}: a status is one of {}",
                                STATUSES.join(", ")
                            ));
                        }
                        Field::Status
                    }
                    "refused" => Field::Refused(match v.to_ascii_lowercase().as_str() {
                        "yes" | "true" => true,
                        "no" | "false" => false,
                        _ => return Err(format!("refused:{v}: yes or no")),
                    }),
                    "requests" => Field::Requests(Compare::parse("requests", &v)?),
                    "refusals" => Field::Refusals(Compare::parse("refusals", &v)?),
                    "unused" => Field::Unused(
                        humantime::parse_duration(&v)
                            .map_err(|e| format!("unused:{v}: {e} (e.g. unused:30d)"))?,
                    ),
                    other => match other.strip_prefix("meta.") {
                        Some(k) if !k.is_empty() => Field::Meta(k.to_owned()),
                        _ => {
                            return Err(format!(
                                "unknown field `{f}:` (name, owner, id, hint, status, unused, refused, requests, refusals, meta.KEY, or KEY=VALUE)"
                            ));
                        }
                    },
                };
                let value = match field {
                    Field::Meta(_) => v,
                    _ => v.to_lowercase(),
                };
                Term {
                    field,
                    value,
                    negate,
                }
            } else if let Some((k, v)) = w.split_once('=').filter(|(k, _)| !k.is_empty()) {
                Term {
                    field: Field::Meta(k.to_owned()),
                    value: v.to_owned(),
                    negate,
                }
            } else {
                Term {
                    field: Field::Any,
                    value: w.to_lowercase(),
                    negate,
                }
            };
            terms.push(term);
        }
        Ok(KeyQuery { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// `refused:yes` (`Some(true)`), `refused:no` or `-refused:yes` (`Some(false)`).
    pub fn refused(&self) -> Option<bool> {
        self.terms.iter().rev().find_map(|t| match t.field {
            Field::Refused(b) => Some(b != t.negate),
            _ => None,
        })
    }

    /// Whether a term asks about the last 24 hours (`requests:`, `refusals:`).
    pub fn needs_activity(&self) -> bool {
        self.terms
            .iter()
            .any(|t| matches!(t.field, Field::Requests(_) | Field::Refusals(_)))
    }

    /// Whether `r` (of status `status`, with `activity` in the last 24 hours; none: no
    /// request) matches every term, at `now`.
    pub fn matches(
        &self,
        r: &TokenRecord,
        status: &str,
        now: Timestamp,
        activity: Option<&Activity>,
    ) -> bool {
        self.terms
            .iter()
            .all(|t| t.matches(r, status, now, activity) != t.negate)
    }
}

fn has(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(needle)
}

impl Term {
    fn matches(
        &self,
        r: &TokenRecord,
        status: &str,
        now: Timestamp,
        activity: Option<&Activity>,
    ) -> bool {
        let v = self.value.as_str();
        match &self.field {
            Field::Any => {
                has(&r.name, v)
                    || has(&r.owner, v)
                    || has(r.id.as_str(), v)
                    || has(&r.hint, v)
                    || r.metadata.iter().any(|(k, x)| has(k, v) || has(x, v))
            }
            Field::Name => has(&r.name, v),
            Field::Owner => has(&r.owner, v),
            Field::Id => has(r.id.as_str(), v),
            Field::Hint => has(&r.hint, v),
            Field::Status => status == v,
            Field::Unused(d) => {
                let since = r.last_used_at.unwrap_or(r.created_at);
                since.unix() < now.unix() - i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
            }
            Field::Meta(k) => r.metadata.get(k).is_some_and(|x| x == v),
            // Answered by the list, which knows the balances.
            Field::Refused(_) => !self.negate,
            Field::Requests(c) => c.holds(activity.map_or(0, |a| a.requests)),
            Field::Refusals(c) => c.holds(activity.map_or(0, |a| a.refusals)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, owner: &str, meta: &[(&str, &str)], last_used: Option<i64>) -> TokenRecord {
        let mut r = TokenRecord::plain(
            crate::store::TokenId::generate().unwrap(),
            crate::token::KeyHash([7; 32]),
            Default::default(),
            owner.into(),
            name.into(),
            "kg_AbCd…wxyz".into(),
            Timestamp::from_unix(1_000),
            "test".into(),
        );
        r.metadata = meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        r.last_used_at = last_used.map(Timestamp::from_unix);
        r
    }

    #[test]
    fn terms_are_anded_and_fields_are_read() {
        let now = Timestamp::from_unix(100 * 86_400);
        let pay = rec(
            "prod deploy",
            "payments-bot",
            &[("team", "payments")],
            Some(99 * 86_400),
        );
        let old = rec("prod legacy", "ops", &[("team", "ops")], None);
        let q = |s: &str| KeyQuery::parse(s).unwrap();
        assert!(q("team=payments prod").matches(&pay, "active", now, None));
        assert!(!q("team=payments prod").matches(&old, "active", now, None));
        assert!(q("PROD").matches(&old, "active", now, None), "case ignored");
        assert!(q("owner:pay name:deploy").matches(&pay, "active", now, None));
        assert!(q("-team=payments").matches(&old, "active", now, None));
        assert!(!q("-team=payments").matches(&pay, "active", now, None));
        assert!(q("status:disabled").matches(&pay, "disabled", now, None));
        assert!(!q("status:disabled").matches(&pay, "active", now, None));
        assert!(
            q("unused:30d").matches(&old, "active", now, None),
            "never used, made long ago"
        );
        assert!(
            !q("unused:30d").matches(&pay, "active", now, None),
            "used yesterday"
        );
        assert!(q("name:\"prod deploy\"").matches(&pay, "active", now, None));
        assert!(q("meta.team:ops").matches(&old, "active", now, None));
        assert!(q("").is_empty());
        assert_eq!(q("prod refused:yes").refused(), Some(true));
        assert_eq!(q("-refused:yes").refused(), Some(false));
        assert_eq!(q("prod").refused(), None);
        assert!(
            q("refused:yes").matches(&pay, "active", now, None),
            "left to the list"
        );
        assert!(KeyQuery::parse("refused:maybe").is_err());
        let busy = Activity {
            requests: 120,
            refusals: 7,
            hourly: vec![],
        };
        assert!(q("requests:>100 refusals:<10").matches(&pay, "active", now, Some(&busy)));
        assert!(!q("requests:>120").matches(&pay, "active", now, Some(&busy)));
        assert!(
            q("requests:0").matches(&pay, "active", now, None),
            "never asked"
        );
        assert!(q("refusals:7 -refusals:>7").matches(&pay, "active", now, Some(&busy)));
        assert!(q("requests:>1").needs_activity() && !q("prod").needs_activity());
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        for (bad, says) in [
            ("colour:red", "unknown field"),
            ("status:gone", "a status is one of"),
            ("unused:soon", "unused:soon"),
            ("name:\"open", "quote"),
            ("meta.:x", "unknown field"),
            ("requests:lots", "a number, >N or <N"),
            ("refusals:>-1", "refusals:>-1"),
        ] {
            let e = KeyQuery::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(
            KeyQuery::parse(&"a ".repeat(17))
                .unwrap_err()
                .contains("terms")
        );
        assert!(
            KeyQuery::parse(&"a".repeat(600))
                .unwrap_err()
                .contains("characters")
        );
    }
}
