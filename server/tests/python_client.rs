//! The Python client's tests (`client/python/tests`), run by pytest in the
//! virtual environment `.ci/tools` makes, against this build's server
//! binary (the Python tests start it themselves). The package is built and
//! installed afresh each run, so its generated code is this proto's.

#[path = "../../tests/support/tools.rs"]
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `.ci/tools`: the tools directory (installing what is missing).
fn tools() -> PathBuf {
    tools::tools(&repo())
}

/// Runs `cmd` to completion within `limit`, killing it past that.
fn run(mut cmd: Command, limit: Duration) -> (bool, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_python_client_passes_its_tests_against_this_server() {
    let venv = tools().join("venv");
    let pkg = repo().join("client/python");
    let mut install = Command::new(venv.join("bin/pip"));
    install.args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-build-isolation",
        "--force-reinstall",
    ]);
    install.arg(&pkg);
    let (ok, out) = run(install, Duration::from_secs(300));
    assert!(ok, "building and installing client/python failed:\n{out}");
    // Development certificates for the mutual-TLS server the tests start.
    let pki = tempfile::tempdir().unwrap();
    interlock_client::pki::write_dev_pki(pki.path(), &interlock_client::pki::Ecosystem::default())
        .unwrap();
    let mut pytest = Command::new(venv.join("bin/python"));
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(pkg.join("tests"))
        .current_dir(&pkg)
        .env(
            "INTERLOCK_SERVER_BIN",
            env!("CARGO_BIN_EXE_interlock-server"),
        )
        .env("INTERLOCK_TEST_PKI", pki.path());
    let (ok, out) = run(pytest, Duration::from_secs(300));
    println!("{out}");
    assert!(ok, "pytest failed:\n{out}");
    assert!(out.contains(" passed"), "{out}");
}
