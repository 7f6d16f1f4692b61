//! Permission queries: `billing.read AND (docs.read OR docs.write)`, parsed once into a
//! tree and evaluated against a key's granted set.
//!
//! Grammar (AND binds tighter than OR; the words are case-insensitive):
//!
//! ```text
//! query := and ("OR" and)*
//! and   := atom ("AND" atom)*
//! atom  := permission | "(" query ")"
//! ```
//!
//! Bounded before anything is evaluated: [`MAX_QUERY_LEN`] characters, [`MAX_TERMS`]
//! permissions, [`MAX_DEPTH`] levels of parentheses.

use std::fmt;

use super::Granted;
use super::name::{Permission, permission_error, shown};

/// Longest query, in bytes.
pub const MAX_QUERY_LEN: usize = 1000;
/// Most permission names in one query.
pub const MAX_TERMS: usize = 32;
/// Deepest nesting of parentheses.
pub const MAX_DEPTH: usize = 8;

/// A parsed query.
#[derive(Clone, PartialEq, Eq)]
pub enum Query {
    Has(Permission),
    All(Vec<Query>),
    Any(Vec<Query>),
}

/// Why a query does not parse: the 1-based position and what was wrong there.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("permissions query: at position {position}: {reason}")]
pub struct QueryError {
    pub position: usize,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    Word(&'a str),
    And,
    Or,
    Open,
    Close,
    End,
}

struct Parser<'a> {
    src: &'a str,
    at: usize,
    terms: usize,
}

impl<'a> Parser<'a> {
    fn error<T>(&self, at: usize, reason: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError {
            position: at + 1,
            reason: reason.into(),
        })
    }

    fn skip_space(&mut self) {
        while self
            .src
            .as_bytes()
            .get(self.at)
            .is_some_and(u8::is_ascii_whitespace)
        {
            self.at += 1;
        }
    }

    /// The next token and where it starts, without taking it.
    fn peek(&mut self) -> (Tok<'a>, usize) {
        self.skip_space();
        let rest = &self.src[self.at..];
        let tok = match rest.as_bytes().first() {
            None => Tok::End,
            Some(b'(') => Tok::Open,
            Some(b')') => Tok::Close,
            Some(_) => {
                let n = rest
                    .find(|c: char| c.is_ascii_whitespace() || c == '(' || c == ')')
                    .unwrap_or(rest.len());
                let word = &rest[..n];
                if word.eq_ignore_ascii_case("and") {
                    Tok::And
                } else if word.eq_ignore_ascii_case("or") {
                    Tok::Or
                } else {
                    Tok::Word(word)
                }
            }
        };
        (tok, self.at)
    }

    fn take(&mut self, tok: Tok<'a>) {
        self.at += match tok {
            Tok::Word(w) => w.len(),
            Tok::And => 3,
            Tok::Or => 2,
            Tok::Open | Tok::Close => 1,
            Tok::End => 0,
        };
    }

    fn query(&mut self, depth: usize) -> Result<Query, QueryError> {
        let mut any = vec![self.and(depth)?];
        while let (Tok::Or, _) = self.peek() {
            self.take(Tok::Or);
            any.push(self.and(depth)?);
        }
        Ok(if any.len() == 1 {
            any.swap_remove(0)
        } else {
            Query::Any(any)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Query, QueryError> {
        let mut all = vec![self.atom(depth)?];
        while let (Tok::And, _) = self.peek() {
            self.take(Tok::And);
            all.push(self.atom(depth)?);
        }
        Ok(if all.len() == 1 {
            all.swap_remove(0)
        } else {
            Query::All(all)
        })
    }

    fn atom(&mut self, depth: usize) -> Result<Query, QueryError> {
        let (tok, at) = self.peek();
        match tok {
            Tok::Word(w) => {
                if let Some((i, why)) = permission_error(w) {
                    return self.error(at + i, why);
                }
                self.terms += 1;
                if self.terms > MAX_TERMS {
                    return self
                        .error(at, format!("a query names at most {MAX_TERMS} permissions"));
                }
                self.take(tok);
                Ok(Query::Has(Permission::parse(w).map_err(|e| {
                    QueryError {
                        position: at + 1,
                        reason: e,
                    }
                })?))
            }
            Tok::Open => {
                if depth >= MAX_DEPTH {
                    return self.error(at, format!("parentheses nest at most {MAX_DEPTH} deep"));
                }
                self.take(tok);
                let inner = self.query(depth + 1)?;
                match self.peek() {
                    (Tok::Close, _) => {
                        self.take(Tok::Close);
                        Ok(inner)
                    }
                    (t, at) => self.error(at, format!("expected `)`, found {}", describe(t))),
                }
            }
            t => self.error(
                at,
                format!("expected a permission name or `(`, found {}", describe(t)),
            ),
        }
    }
}

fn describe(t: Tok<'_>) -> String {
    match t {
        Tok::Word(w) => format!("`{}`", shown(w)),
        Tok::And => "AND".into(),
        Tok::Or => "OR".into(),
        Tok::Open => "`(`".into(),
        Tok::Close => "`)`".into(),
        Tok::End => "the end".into(),
    }
}

impl Query {
    /// Parses a query, refusing one over the bounds before looking further.
    pub fn parse(src: &str) -> Result<Query, QueryError> {
        if src.len() > MAX_QUERY_LEN {
            return Err(QueryError {
                position: MAX_QUERY_LEN + 1,
                reason: format!("a query is at most {MAX_QUERY_LEN} characters"),
            });
        }
        let mut p = Parser {
            src,
            at: 0,
            terms: 0,
        };
        let q = p.query(0)?;
        match p.peek() {
            (Tok::End, _) => Ok(q),
            (t, at) => p.error(
                at,
                format!("expected AND, OR or the end, found {}", describe(t)),
            ),
        }
    }

    /// `Ok` when `granted` satisfies the query, else the permissions missing (AND: those
    /// of every unmet part; OR: those of the alternative missing fewest, the first of
    /// equals).
    pub fn check(&self, granted: &Granted) -> Result<(), Vec<Permission>> {
        match self {
            Query::Has(p) => {
                if granted.has(p) {
                    Ok(())
                } else {
                    Err(vec![p.clone()])
                }
            }
            Query::All(parts) => all_of(parts.iter(), granted),
            Query::Any(parts) => {
                let mut best: Option<Vec<Permission>> = None;
                for part in parts {
                    match part.check(granted) {
                        Ok(()) => return Ok(()),
                        Err(m) => {
                            if best.as_ref().is_none_or(|b| m.len() < b.len()) {
                                best = Some(m);
                            }
                        }
                    }
                }
                Err(best.unwrap_or_default())
            }
        }
    }

    /// Whether `granted` satisfies the query (no list of what is missing).
    pub fn allows(&self, granted: &Granted) -> bool {
        match self {
            Query::Has(p) => granted.has(p),
            Query::All(parts) => parts.iter().all(|q| q.allows(granted)),
            Query::Any(parts) => parts.iter().any(|q| q.allows(granted)),
        }
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, nested: bool) -> fmt::Result {
        match self {
            Query::Has(p) => f.write_str(p.as_str()),
            Query::All(parts) | Query::Any(parts) => {
                let word = if matches!(self, Query::All(_)) {
                    " AND "
                } else {
                    " OR "
                };
                if nested {
                    f.write_str("(")?;
                }
                for (i, q) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(word)?;
                    }
                    q.write(f, true)?;
                }
                if nested {
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

/// `Ok` when `granted` meets every query, else what the unmet ones miss, each
/// permission once (a query's `AND`, and several requirements of one request alike).
pub fn all_of<'q>(
    queries: impl Iterator<Item = &'q Query>,
    granted: &Granted,
) -> Result<(), Vec<Permission>> {
    let mut missing: Vec<Permission> = Vec::new();
    for q in queries {
        if let Err(m) = q.check(granted) {
            for p in m {
                if !missing.contains(&p) {
                    missing.push(p);
                }
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

/// The query written back: every group in parentheses, so it reads one way.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Query({self})")
    }
}
