//! The data dir and its files: what keygate creates is its owner's alone (new
//! directories 0700, new files 0600), and nothing keygate did not create is changed.
//!
//! The store holds key hashes and the salt they are keyed with, so keygate makes them
//! owner-only. But the data dir is often not keygate's to change: a Kubernetes volume
//! with the chart's `fsGroup` (root-owned, group 65532, mode 2775), an `emptyDir`, a bind
//! mount someone made 777. keygate uses such a directory as it is — changing its mode
//! would fail (not the owner) or break whoever set it up — and says once, in one
//! warning, exactly what an operator could change. Files found looser than owner-only
//! get the same treatment: a warning naming the file and the `chmod` that fixes it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Paths already warned about in this process (each is said once).
static WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Creates `dir` (and missing parents) owner-only; an existing directory is used as it
/// is, with a warning when others may read or write it.
pub fn dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    check_loose(dir, true);
    Ok(())
}

/// Makes sure `path` exists: created empty and owner-only (0600) when missing; an
/// existing file is left as it is, with a warning when others may read it.
pub fn file(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            check_loose(path, false);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// What an operator could do about a loose `path` of `mode`, owned by `uid` when this
/// process runs as `me`; `None` when it is owner-only.
pub fn advice(path: &Path, is_dir: bool, mode: u32, uid: u32, me: u32) -> Option<String> {
    let loose = mode & 0o077;
    if loose == 0 {
        return None;
    }
    let who = match (loose & 0o070 != 0, loose & 0o007 != 0) {
        (true, true) => "its group and everyone else",
        (true, false) => "its group",
        _ => "everyone else",
    };
    let p = path.display();
    let what = if is_dir { "data dir" } else { "file" };
    let target = if is_dir { "700" } else { "600" };
    let fix = if uid == me {
        format!("`chmod {target} {p}`")
    } else if is_dir {
        format!(
            "`chmod {target} {p}` as its owner (uid {uid}), or point data_dir at a directory \
             inside it (e.g. {}/keygate), which keygate creates owner-only",
            p.to_string().trim_end_matches('/')
        )
    } else {
        format!("`chmod {target} {p}` as its owner (uid {uid})")
    };
    Some(format!(
        "{what} {p} (mode {mode:o}, owner uid {uid}) can be reached by {who}; keygate uses it as it \
         is and keeps the files it creates owner-only (0600). To restrict it: {fix}"
    ))
}

#[cfg(unix)]
fn check_loose(path: &Path, is_dir: bool) {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return;
    };
    let mode = m.mode() & 0o7777;
    // This process's user: the owner of /proc/self (no `unsafe` geteuid call needed).
    let me = std::fs::metadata("/proc/self").map_or(u32::MAX, |s| s.uid());
    let Some(text) = advice(path, is_dir, mode, m.uid(), me) else {
        return;
    };
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned
        .get_or_insert_with(HashSet::new)
        .insert(path.to_path_buf())
    {
        tracing::warn!(path = %path.display(), "{text}");
    }
}

#[cfg(not(unix))]
fn check_loose(_path: &Path, _is_dir: bool) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_who_and_the_fix() {
        let p = Path::new("/data");
        assert_eq!(advice(p, true, 0o700, 0, 0), None);
        assert_eq!(advice(p, true, 0o40700, 0, 0), None);
        let own = advice(p, true, 0o755, 10, 10).unwrap();
        assert!(own.contains("its group and everyone else"), "{own}");
        assert!(own.contains("`chmod 700 /data`"), "{own}");
        let fsgroup = advice(p, true, 0o2775, 0, 65532).unwrap();
        assert!(fsgroup.contains("mode 2775, owner uid 0"), "{fsgroup}");
        assert!(fsgroup.contains("as its owner (uid 0)"), "{fsgroup}");
        assert!(fsgroup.contains("/data/keygate"), "{fsgroup}");
        let file = advice(Path::new("/data/token_salt"), false, 0o640, 5, 5).unwrap();
        assert!(
            file.contains("its group;") || file.contains("its group "),
            "{file}"
        );
        assert!(file.contains("`chmod 600 /data/token_salt`"), "{file}");
    }
}
