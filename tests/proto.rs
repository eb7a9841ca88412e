//! The proto's hygiene with buf (from the npm registry, via `.ci/tools`):
//! `buf lint` clean under STANDARD with the exceptions `proto/buf.yaml`
//! lists and explains, and `buf breaking` (FILE rules) against the previous
//! commit, so no change breaks a deployed client by accident.

#[path = "support/tools.rs"]
mod tools;

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn buf() -> PathBuf {
    tools::tools(&repo()).join("npm/node_modules/.bin/buf")
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn buf_lint_is_clean() {
    let (ok, out) = run(Command::new(buf())
        .arg("lint")
        .arg("proto")
        .current_dir(repo()));
    assert!(ok && out.trim().is_empty(), "buf lint:\n{out}");
}

/// The commit to compare against: the previous one, or (in a clone without
/// history) the last one, which still catches a change not yet committed;
/// `None` outside a git checkout (an exported tree has no history to
/// compare with).
fn previous_commit() -> Option<&'static str> {
    let (in_git, _) = run(Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .current_dir(repo()));
    if !in_git {
        return None;
    }
    let (has_parent, _) = run(Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", "HEAD~1"])
        .current_dir(repo()));
    if has_parent {
        Some("HEAD~1")
    } else {
        eprintln!("no HEAD~1 in this clone (shallow?): comparing against HEAD");
        Some("HEAD")
    }
}

#[test]
fn buf_breaking_finds_nothing_against_the_previous_commit() {
    let Some(commit) = previous_commit() else {
        eprintln!("not a git checkout: no previous commit to compare the proto with");
        return;
    };
    let against = format!(".git#ref={commit},subdir=proto");
    let (ok, out) = run(Command::new(buf())
        .args(["breaking", "proto", "--against", &against])
        .current_dir(repo()));
    assert!(ok, "buf breaking against {against}:\n{out}");
}

#[test]
fn buf_breaking_catches_a_removed_field() {
    // The check is not vacuous: a copy of the proto without CheckRequest's
    // quantity breaks against the real one.
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("interlock/v1");
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(repo().join("proto/interlock/v1")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    let pretrade = dst.join("pretrade.proto");
    let text = std::fs::read_to_string(&pretrade).unwrap();
    assert!(text.contains("  string quantity = 4;\n"));
    std::fs::write(&pretrade, text.replace("  string quantity = 4;\n", "")).unwrap();
    std::fs::copy(repo().join("proto/buf.yaml"), tmp.path().join("buf.yaml")).unwrap();
    let (ok, out) = run(Command::new(buf())
        .arg("breaking")
        .arg(tmp.path())
        .arg("--against")
        .arg(repo().join("proto")));
    assert!(
        !ok && out.contains("quantity"),
        "a removed field passed:\n{out}"
    );
}
