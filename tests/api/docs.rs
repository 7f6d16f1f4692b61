//! Every TOML example in the README and in docs/ is a valid keygate configuration.

use std::collections::BTreeMap;
use std::path::Path;

use keygate::config::{Overrides, load};

fn toml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => current = Some(String::new()),
            (Some(_), l) if l.starts_with("```") => blocks.push(current.take().unwrap()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn every_toml_example_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    if let Ok(dir) = std::fs::read_dir(root.join("docs")) {
        files.extend(
            dir.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "md")),
        );
    }
    let mut seen = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for block in toml_blocks(&text) {
            let tmp = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(tmp.path(), &block).unwrap();
            if let Err(e) = load(Some(tmp.path()), &BTreeMap::new(), &Overrides::new()) {
                panic!("{}: example does not load: {e}\n{block}", file.display());
            }
            seen += 1;
        }
    }
    assert!(seen >= 1, "the README has a configuration example");
}

/// The web UI's zod schemas are checked against a snapshot of `/openapi.json`
/// (web/src/lib/schemas.openapi.test.ts); this keeps the snapshot what the server
/// serves, so neither side can drift without a failing test.
#[tokio::test]
async fn the_ui_checks_its_schemas_against_the_served_openapi_document() {
    let t = crate::helpers::TestApp::spawn(crate::helpers::Backend::Memory).await;
    let served: serde_json::Value = t
        .get("/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/web/src/lib/openapi.snapshot.json"
    );
    let snapshot: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        served == snapshot,
        "web/src/lib/openapi.snapshot.json is not what the server serves: run \
         `cargo build && (cd web && npm run openapi:snapshot)`, then `cd web && npm test`"
    );
}
