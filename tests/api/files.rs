//! What keygate writes to disk is its owner's alone: the data dir 0700, every file in
//! it 0600 on a fresh start. A directory (or file) keygate did not create is used as it
//! is — a volume it does not own must not stop it — with a warning.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use keygate::app::App;
use keygate::clock::Clock;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn open(data: &Path) {
    let mut config = crate::helpers::base_config(data);
    config.token_salt = None; // the embedded store makes and keeps its own
    let app = App::open(config, Clock::system()).unwrap();
    drop(app);
}

fn assert_private(data: &Path) {
    assert_eq!(mode(data), 0o700, "{}", data.display());
    let mut files = 0;
    for entry in std::fs::read_dir(data).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        files += 1;
    }
    assert!(files >= 2, "the store file and the salt");
}

#[test]
fn a_fresh_data_dir_is_owner_only() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("nested/data");
    open(&data);
    assert!(data.join("keygate.redb").is_file());
    assert!(data.join("token_salt").is_file());
    assert_private(&data);
}

#[test]
fn a_loose_data_dir_is_used_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Like a Kubernetes volume with fsGroup (2775) or a bind mount made 777: keygate
    // does not own the mode and must neither change it nor refuse to start.
    for loose in [0o2775, 0o777] {
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(loose)).unwrap();
        open(&data);
        assert_eq!(
            std::fs::metadata(&data).unwrap().permissions().mode() & 0o7777,
            loose,
            "the directory's mode is left alone"
        );
        // What keygate created in it is owner-only.
        for f in ["keygate.redb", "token_salt"] {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
        // A second start on the same files works too.
        open(&data);
        std::fs::remove_dir_all(&data).unwrap();
    }
}

#[test]
fn files_keygate_did_not_create_are_not_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    open(&data);
    for f in ["keygate.redb", "token_salt"] {
        std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    open(&data);
    for f in ["keygate.redb", "token_salt"] {
        assert_eq!(mode(&data.join(f)), 0o640, "{f}");
    }
}
