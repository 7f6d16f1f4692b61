//! How the CLI prints keys, limits and roles: a table or a block for people, JSON for
//! scripts. Shared by the local and the remote commands.

use std::io::Write;

use anyhow::Context;
use serde_json::Value;

use crate::limits::RateLimit;
use crate::manage::{EffectivePermission, LimitsView, RoleView, TokenView};

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
        "{:<16}  {:<20}  {:<24}  {:<16}  {:<8}  {:<20}  {:<20}  {:<28}  LIMITS",
        "ID", "OWNER", "NAME", "HINT", "STATUS", "EXPIRES", "LAST USED", "GRANTS"
    )?;
    for v in views {
        writeln!(
            out,
            "{:<16}  {:<20}  {:<24}  {:<16}  {:<8}  {:<20}  {:<20}  {:<28}  {}",
            v.id.as_str(),
            clip(&v.owner, 20),
            clip(&v.name, 24),
            v.hint,
            v.status,
            v.expires_at.map_or("never".into(), |t| t.to_string()),
            v.last_used_at.map_or("never".into(), |t| t.to_string()),
            clip(&grants_compact(v), 28),
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
    for r in &v.roles {
        writeln!(out, "role:       {r}")?;
    }
    for p in &v.permissions {
        writeln!(out, "permission: {p}")?;
    }
    if v.inherit_owner_roles {
        writeln!(out, "inherits:   the owner's roles")?;
    } else {
        writeln!(out, "inherits:   nothing (not the owner's roles)")?;
    }
    Ok(())
}

/// The compact form of a key's grants in tables: `role:reader billing.read`, and
/// `no-owner-roles` when it does not inherit its owner's.
pub fn grants_compact(v: &TokenView) -> String {
    let mut parts: Vec<String> = v.roles.iter().map(|r| format!("role:{r}")).collect();
    parts.extend(v.permissions.iter().cloned());
    if !v.inherit_owner_roles {
        parts.push("no-owner-roles".into());
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

/// A key's effective permissions and where each comes from (`key`, `role:NAME`,
/// `owner-role:NAME`); JSON as the API answers.
pub fn print_permissions(
    out: &mut impl Write,
    perms: &[EffectivePermission],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let doc = serde_json::json!({ "permissions": perms });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    writeln!(out, "{:<40}  SOURCES", "PERMISSION")?;
    for p in perms {
        writeln!(out, "{:<40}  {}", p.permission, p.sources.join(", "))?;
    }
    Ok(())
}

/// Every role: a table, or JSON as the API answers (`{"roles": […]}`).
pub fn print_roles(out: &mut impl Write, roles: &[RoleView], json: bool) -> anyhow::Result<()> {
    if json {
        let doc = serde_json::json!({ "roles": roles });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<24}  {:<40}  {:<24}  DESCRIPTION",
        "NAME", "PERMISSIONS", "OWNERS"
    )?;
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(",")
        }
    };
    for r in roles {
        writeln!(
            out,
            "{:<24}  {:<40}  {:<24}  {}",
            r.name,
            clip(&list(&r.permissions), 40),
            clip(&list(&r.owners), 24),
            r.description
        )?;
    }
    Ok(())
}

/// One role: a block, or JSON as the API answers.
pub fn print_role(out: &mut impl Write, r: &RoleView, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(r)?)?;
        return Ok(());
    }
    writeln!(out, "name:        {}", r.name)?;
    if !r.description.is_empty() {
        writeln!(out, "description: {}", r.description)?;
    }
    if r.permissions.is_empty() {
        writeln!(out, "permission:  none")?;
    }
    for p in &r.permissions {
        writeln!(out, "permission:  {p}")?;
    }
    for o in &r.owners {
        writeln!(out, "owner:       {o}")?;
    }
    writeln!(out, "created:     {}", r.created_at)?;
    writeln!(out, "updated:     {}", r.updated_at)?;
    Ok(())
}

/// The roles granted to an owner: one a line, or JSON as the API answers.
pub fn print_owner_roles(
    out: &mut impl Write,
    owner: &str,
    roles: &[String],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let doc = serde_json::json!({ "owner": owner, "roles": roles });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    writeln!(out, "owner:       {owner}")?;
    if roles.is_empty() {
        writeln!(out, "role:        none")?;
    }
    for r in roles {
        writeln!(out, "role:        {r}")?;
    }
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
