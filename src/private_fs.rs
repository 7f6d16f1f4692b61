//! The data dir and its files are the owner's alone: the store holds key hashes and
//! the salt they are keyed with. New directories are created 0700 and new files 0600;
//! ones found looser (made by an older keygate, or by hand) are tightened, with a
//! warning naming them.

use std::path::Path;

/// Creates `dir` (and missing parents) owner-only, or tightens it if it exists.
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
    tighten(dir, 0o700)
}

/// Makes sure `path` exists owner-only: created empty (0600) when missing, tightened
/// when looser. The store then opens the file it finds.
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
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tighten(path, 0o600),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let now = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if now & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            "{} was readable by others (mode {now:o}); made it owner-only ({mode:o})",
            path.display()
        );
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
