//! Pagination of the management API's lists: `limit` and an opaque `cursor`.
//!
//! Every list is in a fixed order (keys oldest first then by id, owners by name); a
//! cursor is the sort key of the last item of the previous page, hex-encoded so that
//! clients treat it as opaque. A cursor stays valid when items are added or removed:
//! the next page starts after where the previous one ended.

use serde::Deserialize;

use super::error::ApiError;
use crate::store::TokenRecord;

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit`.
pub const MAX_LIMIT: usize = 500;

#[derive(Deserialize, utoipa::IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

/// A page of a key list, filtered.
#[derive(Deserialize, utoipa::IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
    /// Only the keys matching every term: words (in the name, owner, id, hint or
    /// metadata), `name:`, `owner:`, `id:`, `hint:`, `status:active|disabled|expired|rotating`,
    /// `unused:30d`, `KEY=VALUE` (metadata), `-term` (not), `"…"` for spaces. At most
    /// 512 characters and 16 terms. `requests:>N`, `refusals:>N` (or `<N`, `N`): in
    /// the last 24 hours.
    pub q: Option<String>,
    /// `created` (oldest first, the default), `name`, `requests` or `refusals` (the
    /// last 24 hours, most first), `last_used` (most recent first).
    pub sort: Option<Sort>,
}

/// The order of a key list.
#[derive(Deserialize, utoipa::ToSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Created,
    Name,
    Requests,
    Refusals,
    LastUsed,
}

impl Sort {
    /// Whether the order needs the keys' last 24 hours.
    pub fn needs_activity(self) -> bool {
        matches!(self, Sort::Requests | Sort::Refusals)
    }

    /// The sort key of `r` (with `activity`, its last 24 hours) in this order, as a
    /// string that sorts ascending as the list does; the creation order breaks ties.
    pub fn key(self, r: &TokenRecord, activity: Option<&crate::analytics::Activity>) -> String {
        let most_first = |n: u64| format!("{:020}", u64::MAX - n);
        match self {
            Sort::Created => record_key(r),
            Sort::Name => format!("{}\u{0}{}", r.name.to_lowercase(), record_key(r)),
            Sort::Requests => format!(
                "{}:{}",
                most_first(activity.map_or(0, |a| a.requests)),
                record_key(r)
            ),
            Sort::Refusals => format!(
                "{}:{}",
                most_first(activity.map_or(0, |a| a.refusals)),
                record_key(r)
            ),
            Sort::LastUsed => {
                let t = r.last_used_at.map_or(i64::MIN, |t| t.unix());
                format!(
                    "{}:{}",
                    most_first((i128::from(t) - i128::from(i64::MIN)) as u64),
                    record_key(r)
                )
            }
        }
    }
}

impl ListParams {
    pub fn page(&self) -> PageParams {
        PageParams {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
    }
}

/// A page checked and decoded.
pub struct Page {
    limit: usize,
    after: Option<String>,
}

impl PageParams {
    pub fn check(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!("must be 1 to {MAX_LIMIT}"),
            ));
        }
        let after = match &self.cursor {
            Some(c) => Some(
                unhex(c)
                    .ok_or_else(|| ApiError::invalid("cursor", "not a cursor this API gave"))?,
            ),
            None => None,
        };
        Ok(Page { limit, after })
    }
}

impl Page {
    /// The page of `items` (sorted by `key`, ascending) and the cursor of the next one.
    pub fn of<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> (Vec<T>, Option<String>) {
        let mut rest: Vec<T> = match &self.after {
            Some(after) => items.into_iter().filter(|t| key(t) > *after).collect(),
            None => items,
        };
        let next = if rest.len() > self.limit {
            rest.truncate(self.limit);
            rest.last().map(|t| hex(&key(t)))
        } else {
            None
        };
        (rest, next)
    }
}

/// The sort key of a record, as a string in the same order as the listing's.
pub fn record_key(r: &TokenRecord) -> String {
    // Shift the signed seconds so that their decimal form sorts as the numbers do.
    let t = i128::from(r.created_at.unix()) - i128::from(i64::MIN);
    format!("{t:020}:{}", r.id)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 2048 {
        return None;
    }
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_each_other_and_cursors_round_trip() {
        let items: Vec<String> = (0..7).map(|i| format!("item{i}")).collect();
        let mut params = PageParams {
            limit: Some(3),
            cursor: None,
        };
        let mut seen = Vec::new();
        loop {
            let page = params.check().unwrap();
            let (got, next) = page.of(items.clone(), Clone::clone);
            seen.extend(got);
            match next {
                Some(c) => params.cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, items);
        assert_eq!(unhex(&hex("é:x")).as_deref(), Some("é:x"));
        for bad in ["", "0", "zz", "ff"] {
            assert!(unhex(bad).is_none(), "{bad}");
        }
    }
}
