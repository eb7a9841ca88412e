//! The test tools beyond cargo (`.ci/tools` installs them into
//! `target/tools` the first time, at pinned versions): shared by the tests
//! that lint, render and run what is not Rust.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The tools directory (`target/tools` of the repository at `repo`),
/// installing what is missing.
pub fn tools(repo: &Path) -> PathBuf {
    let out = Command::new("bash")
        .arg(repo.join(".ci/tools"))
        .output()
        .expect("bash runs .ci/tools");
    assert!(
        out.status.success(),
        ".ci/tools failed (it installs the test tools from PyPI and npm):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}
