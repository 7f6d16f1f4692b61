//! The module layout guard: imports only run downward, and no two files import each
//! other, directly or through others (src/lib.rs states the layers; LAYOUT.md says why).
//!
//! It reads `src/` as text the way `../shared/tools/layout-check.py` does — `use
//! crate::…`, `use super::…` and inline `crate::…` paths outside `#[cfg(test)]`
//! modules; a child using its parent's items does not count — so that the rule is
//! checked in `make test` without a tool that would have to be built first (`cargo
//! modules` needs a nightly rustdoc and a long build). A new module must be given a
//! layer below, or the test names it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module is in the layer of the longest entry that is a
/// prefix of its path. A module may import its own layer or lower ones, never higher.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "vocabulary",
        &[
            "clock",
            "token",
            "rules",
            "permissions",
            "model",
            "limits",
            "config",
            "analytics",
            "metrics",
            "logsink",
            "private_fs",
            "keyfile",
            "oidc",
            "assertion",
            "decide::credential",
            "decide::throttle",
        ],
    ),
    ("store", &["store"]),
    ("engines", &["limits::engine"]),
    ("services", &["decide", "manage", "events"]),
    ("observe", &["access_log"]),
    ("composition", &["sources", "app"]),
    ("transport", &["listen"]),
    ("faces", &["http", "proxy", "grpc", "cli", "fuzzing"]),
];

/// Services that must not import each other (they meet through ports in `store`).
const APART: &[(&str, &str)] = &[
    ("decide", "manage"),
    ("manage", "decide"),
    ("events", "decide"),
    ("events", "manage"),
    ("decide", "events"),
    ("manage", "events"),
];

type Module = Vec<String>;

fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code before the `#[cfg(test)] mod …`, without comments and string contents.
fn code_of(text: &str) -> String {
    let cut = text
        .find("#[cfg(test)]\nmod ")
        .or_else(|| text.find("#[cfg(test)]\npub mod "))
        .unwrap_or(text.len());
    let mut out = String::new();
    let b = &text.as_bytes()[..cut];
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i + 1 < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let (mut depth, mut close) = (0, open);
    for (j, c) in tree.char_indices().skip(open) {
        depth += match c {
            '{' => 1,
            '}' => -1,
            _ => 0,
        };
        if depth == 0 {
            close = j;
            break;
        }
    }
    let (head, inner, tail) = (&tree[..open], &tree[open + 1..close], &tree[close + 1..]);
    let (mut parts, mut cur, mut depth) = (Vec::new(), String::new(), 0);
    for c in inner.chars() {
        if c == ',' && depth == 0 {
            parts.push(std::mem::take(&mut cur));
            continue;
        }
        depth += match c {
            '{' => 1,
            '}' => -1,
            _ => 0,
        };
        cur.push(c);
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{head}{p}{tail}")))
        .collect()
}

/// The module a `crate::…` / `super::…` path names, if it is one of ours.
fn resolve(from: &Module, path: &str, modules: &BTreeSet<Module>) -> Option<Module> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let (mut base, rest): (Module, &[&str]) = match segs.first() {
        Some(&"crate") => (Vec::new(), &segs[1..]),
        Some(&"super" | &"self") => (from.clone(), &segs[..]),
        _ => return None,
    };
    let mut rest = rest;
    while let Some(&s) = rest.first() {
        match s {
            "super" => {
                base.pop();
            }
            "self" => {}
            _ => break,
        }
        rest = &rest[1..];
    }
    let mut full = base;
    full.extend(
        rest.iter()
            .map(|s| s.split(" as ").next().unwrap_or(s).to_owned()),
    );
    (0..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|m| modules.contains(m))
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: BTreeMap<Module, PathBuf> = files
        .iter()
        .map(|f| (module_of(&root, f), f.clone()))
        .collect();
    let names: BTreeSet<Module> = modules.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (m, file) in &modules {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let mut paths = Vec::new();
        for stmt in use_trees(&code) {
            paths.extend(expand(&stmt));
        }
        paths.extend(inline_paths(&code));
        let targets: BTreeSet<Module> = paths
            .iter()
            .filter_map(|p| resolve(m, p, &names))
            .filter(|t| t != m && !m.starts_with(t))
            .collect();
        edges.insert(m.clone(), targets);
    }
    edges
}

/// The trees of `use crate::…;`, `use super::…;`, `use self::…;` statements.
fn use_trees(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let b = rest.as_bytes();
        let before_ok = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        let after = &rest[i + 4..];
        rest = after;
        let trimmed = after.trim_start();
        if before_ok
            && ["crate", "super", "self"]
                .iter()
                .any(|r| trimmed.starts_with(r))
            && let Some(end) = trimmed.find(';')
        {
            out.push(trimmed[..end].to_owned());
        }
    }
    out
}

/// Inline `crate::a::b` and `super::a` paths (not preceded by `::` or a word character).
fn inline_paths(code: &str) -> Vec<String> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0
                && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_' || b[at - 1] == b':')
            {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            out.push(code[at..end].trim_end_matches(':').to_owned());
        }
    }
    out
}

fn layer_of(m: &Module) -> Option<usize> {
    let path = m.join("::");
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, prefixes))| prefixes.iter().map(move |p| (i, *p)))
        .filter(|(_, p)| path == *p || path.starts_with(&format!("{p}::")))
        .max_by_key(|(_, p)| p.len())
        .map(|(i, _)| i)
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("::")
    }
}

#[test]
fn imports_only_run_downward_and_never_in_a_circle() {
    let edges = graph();
    assert!(edges.len() > 40, "src/ not read: {} modules", edges.len());
    let mut problems = Vec::new();
    for (m, targets) in &edges {
        if m.is_empty() {
            continue; // lib.rs declares every module
        }
        let Some(from) = layer_of(m) else {
            problems.push(format!(
                "{} has no layer: add it to LAYERS in tests/api/layout.rs",
                name(m)
            ));
            continue;
        };
        for t in targets {
            let Some(to) = layer_of(t) else { continue };
            if to > from {
                problems.push(format!(
                    "{} ({}) imports {} ({}): imports run downward only",
                    name(m),
                    LAYERS[from].0,
                    name(t),
                    LAYERS[to].0
                ));
            }
            for (a, b) in APART {
                if name(m).split("::").next() == Some(a) && name(t).split("::").next() == Some(b) {
                    problems.push(format!(
                        "{} imports {}: services meet through ports, never directly",
                        name(m),
                        name(t)
                    ));
                }
            }
        }
    }
    // Circles: strongly connected components of more than one module.
    let nodes: Vec<&Module> = edges.keys().collect();
    let index_of: BTreeMap<&Module, usize> =
        nodes.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let reach = |from: usize| {
        let mut seen = vec![false; nodes.len()];
        let mut stack = vec![from];
        while let Some(v) = stack.pop() {
            for t in &edges[nodes[v]] {
                let w = index_of[t];
                if !seen[w] {
                    seen[w] = true;
                    stack.push(w);
                }
            }
        }
        seen
    };
    let reachable: Vec<Vec<bool>> = (0..nodes.len()).map(reach).collect();
    let mut reported = BTreeSet::new();
    for (i, from_i) in reachable.iter().enumerate() {
        let circle: Vec<String> = (0..nodes.len())
            .filter(|&j| from_i[j] && reachable[j][i])
            .map(|j| name(nodes[j]))
            .collect();
        if circle.len() > 1 && reported.insert(circle.clone()) {
            problems.push(format!("an import circle: {}", circle.join(" → ")));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The guard can fail: a graph with an upward import and a circle is reported.
#[test]
fn the_guard_sees_circles_and_upward_imports() {
    let names: BTreeSet<Module> = [vec!["store".to_owned()], vec!["decide".to_owned()], vec![]]
        .into_iter()
        .collect();
    let store = vec!["store".to_owned()];
    assert_eq!(
        resolve(&store, "crate::decide::Gate", &names),
        Some(vec!["decide".to_owned()])
    );
    assert_eq!(layer_of(&store), Some(1));
    assert!(layer_of(&vec!["decide".to_owned()]) > layer_of(&store));
    assert_eq!(
        layer_of(&vec!["decide".to_owned(), "throttle".to_owned()]),
        Some(0)
    );
    assert_eq!(
        expand("crate::{a, b::{c, d}}"),
        ["crate::a", "crate::b::c", "crate::b::d"]
    );
    let code = code_of(
        "use crate::a::{B, c::D};\n// use crate::z;\nfn f() { crate::e::f(); }\n#[cfg(test)]\nmod tests { use crate::t; }\n",
    );
    assert_eq!(use_trees(&code), ["crate::a::{B, c::D}"]);
    // (`use` paths are found again inline: the same modules, no harm.)
    assert_eq!(inline_paths(&code), ["crate::a", "crate::e::f"]);
}
