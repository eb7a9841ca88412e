//! Analytics, like the domain core, know no transport: no tonic, prost or tokio in its
//! manifest and no `async`/`.await` in its source.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn manifest_has_no_transport_dependency() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    for banned in ["tonic", "prost", "tokio", "futures", "async"] {
        assert!(
            !deps.lines().any(|l| l.trim_start().starts_with(banned)),
            "interlock-analytics must not depend on {banned}"
        );
    }
}

#[test]
fn source_has_no_async_code() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() >= 5, "found only {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Code only: comments may talk about what the crate does not do.
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for banned in [
            ".await",
            "async fn",
            "async move",
            "tokio::",
            "tonic::",
            "prost::",
        ] {
            assert!(
                !code.contains(banned),
                "{} contains `{banned}`",
                file.display()
            );
        }
    }
}
