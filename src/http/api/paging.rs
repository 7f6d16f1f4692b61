//! Pagination of the management API's lists: `limit` and an opaque `cursor`.
//!
//! Every list is in a fixed order (keys oldest first then by id, owners by name); a
//! cursor is the sort key of the last item of the previous page, hex-encoded so that
//! clients treat it as opaque. A cursor stays valid when items are added or removed:
//! the next page starts after where the previous one ended.

use serde::Deserialize;

use super::error::ApiError;

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
    /// `FIELD` or `FIELD:asc|desc`: `created_at` (oldest first, the default), `name`,
    /// `expires_at` (soonest first), `last_used_at` (most recent first), `status`,
    /// `requests` or `refusals` (the last 24 hours, most first). Keys without an expiry
    /// or never used come last either way.
    #[param(value_type = Option<String>)]
    pub sort: Option<super::sort::Sort>,
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
