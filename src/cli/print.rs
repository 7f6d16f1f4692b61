//! How the CLI prints keys and limits: a table or a block for people, JSON for
//! scripts. Shared by the local and the remote commands.

use std::io::Write;

use anyhow::Context;
use serde_json::Value;

use crate::limits::RateLimit;
use crate::manage::{LimitsView, TokenView};

pub fn print_views(out: &mut impl Write, views: &[TokenView], json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(views)?)?;
    } else {
        print_table(out, views)?;
    }
    Ok(())
}

pub fn print_view(out: &mut impl Write, v: &TokenView, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    } else {
        print_one(out, v)?;
    }
    Ok(())
}

pub fn print_table(out: &mut impl Write, views: &[TokenView]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<16}  {:<20}  {:<24}  {:<16}  {:<8}  {:<20}  {:<20}  LIMITS",
        "ID", "OWNER", "NAME", "HINT", "STATUS", "EXPIRES", "LAST USED"
    )?;
    for v in views {
        writeln!(
            out,
            "{:<16}  {:<20}  {:<24}  {:<16}  {:<8}  {:<20}  {:<20}  {}",
            v.id.as_str(),
            clip(&v.owner, 20),
            clip(&v.name, 24),
            v.hint,
            v.status,
            v.expires_at.map_or("never".into(), |t| t.to_string()),
            v.last_used_at.map_or("never".into(), |t| t.to_string()),
            limits_compact(&v.limits),
        )?;
    }
    Ok(())
}

pub fn print_one(out: &mut impl Write, v: &TokenView) -> std::io::Result<()> {
    writeln!(out, "id:         {}", v.id)?;
    writeln!(out, "owner:      {}", v.owner)?;
    writeln!(out, "name:       {}", v.name)?;
    writeln!(out, "hint:       {}", v.hint)?;
    writeln!(out, "status:     {}", v.status)?;
    writeln!(out, "created:    {} by {}", v.created_at, v.created_by)?;
    writeln!(
        out,
        "expires:    {}",
        v.expires_at.map_or("never".into(), |t| t.to_string())
    )?;
    writeln!(
        out,
        "last used:  {}",
        v.last_used_at.map_or("never".into(), |t| t.to_string())
    )?;
    for r in &v.rules {
        writeln!(out, "rule:       {r}")?;
    }
    for (k, val) in &v.metadata {
        writeln!(out, "metadata:   {k}={val}")?;
    }
    print_limits_lines(out, &v.limits)?;
    Ok(())
}

pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(n - 1).collect();
        c.push('…');
        c
    }
}

/// The compact form of limits in tables: `100/1m per-hour=5000/1h · 9950 cr`.
pub fn limits_compact(l: &LimitsView) -> String {
    let mut parts: Vec<String> = l.rate_limits.iter().map(rate_spec).collect();
    if let Some(c) = &l.credits {
        if !parts.is_empty() {
            parts.push("·".into());
        }
        parts.push(format!("{} cr", c.remaining));
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

/// `100/1m`, or `name=100/1m` when the name is not the window.
pub fn rate_spec(r: &RateLimit) -> String {
    let window = r.window.to_string();
    if r.name == window {
        format!("{}/{window}", r.limit)
    } else {
        format!("{}={}/{window}", r.name, r.limit)
    }
}

pub fn print_limits_lines(out: &mut impl Write, l: &LimitsView) -> std::io::Result<()> {
    if l.rate_limits.is_empty() {
        writeln!(out, "rate limit: none")?;
    }
    for r in &l.rate_limits {
        writeln!(out, "rate limit: {}", rate_spec(r))?;
    }
    match &l.credits {
        None => writeln!(out, "credits:    no quota")?,
        Some(c) => match c.refill {
            Some(r) => writeln!(
                out,
                "credits:    {} left, refilled to {} {}",
                c.remaining,
                r.amount,
                match r.interval {
                    crate::limits::Interval::Every(s) => format!("every {s}"),
                    i => i.to_string(),
                }
            )?,
            None => writeln!(out, "credits:    {} left, no refill", c.remaining)?,
        },
    }
    Ok(())
}

/// Prints an owner's limits (`GET /api/users/{sub}/limits` shape).
pub fn print_owner_limits(out: &mut impl Write, v: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
        return Ok(());
    }
    let limits: LimitsView = serde_json::from_value(v["limits"].clone())
        .context("the server's answer has no readable limits")?;
    let source = match v["source"].as_str().unwrap_or("?") {
        "owner" => "their own",
        "default" => "the default ([limits.owner])",
        "none" => "none (no limits of their own and no default)",
        other => other,
    };
    writeln!(out, "owner:      {}", v["owner"].as_str().unwrap_or("?"))?;
    writeln!(out, "limits:     {source}")?;
    print_limits_lines(out, &limits)?;
    Ok(())
}

/// Names damaged records on stderr, so a listing never hides them.
pub fn report_damaged(unlisted: &[super::ops::Unlisted]) {
    for u in unlisted {
        let id = &u.id;
        match &u.newer {
            Some(why) => eprintln!("warning: {why} (left out)"),
            None => eprintln!(
                "warning: the stored record of key {id} is damaged (left out); `keygate token revoke {id}` or `keygate doctor --fix` removes it"
            ),
        }
    }
}
