//! Rebuild when the web UI changes: `rust-embed` embeds `web/dist` at compile time in
//! release builds, and a directory of new (content-hashed) file names would otherwise go
//! unnoticed by cargo. This never runs npm: `make web` builds the UI.
fn main() {
    // Cargo compares the newest modification time found under a watched directory.
    // Without a build, watch `web/` so that `web/dist` appearing is noticed (a path that
    // does not exist would rerun this script, and rebuild the crate, on every build).
    if std::path::Path::new("web/dist").is_dir() {
        println!("cargo:rerun-if-changed=web/dist");
    } else if std::path::Path::new("web").is_dir() {
        println!("cargo:rerun-if-changed=web");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
