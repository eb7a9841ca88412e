//! The deployment kit, checked by the tools its users trust: hadolint on the
//! Dockerfile (no findings), `kubectl kustomize` to render every
//! kustomization and `kubernetes-validate --strict` on what it renders, and
//! the Prometheus scrape config read by a YAML parser. `.ci/tools` installs
//! them. No container engine runs here: the image itself is not built.

#[path = "support/tools.rs"]
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tools() -> PathBuf {
    tools::tools(&repo())
}

/// The Kubernetes version manifests are validated against.
const KUBERNETES_VERSION: &str = "1.37.0";

fn output(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn kubectl(tools: &Path) -> PathBuf {
    let local = tools.join("kubectl");
    if local.exists() {
        local
    } else {
        PathBuf::from("kubectl")
    }
}

#[test]
fn the_dockerfile_has_no_hadolint_findings() {
    let t = tools();
    let (ok, out, err) = output(
        Command::new(t.join("venv/bin/hadolint"))
            .arg("--no-color")
            .arg(repo().join("deploy/Dockerfile")),
    );
    assert!(ok && out.trim().is_empty(), "hadolint:\n{out}{err}");
}

fn render(t: &Path, dir: &str) -> String {
    let (ok, out, err) = output(
        Command::new(kubectl(t))
            .arg("kustomize")
            .arg(repo().join(dir)),
    );
    assert!(ok, "kubectl kustomize {dir}:\n{err}");
    out
}

#[test]
fn every_kustomization_renders_and_validates() {
    let t = tools();
    for dir in ["deploy/k8s/base", "deploy/k8s/overlays/dev"] {
        let rendered = render_valid(&t, dir);
        for kind in [
            "kind: Deployment",
            "kind: Service",
            "kind: NetworkPolicy",
            "kind: PersistentVolumeClaim",
        ] {
            assert!(rendered.contains(kind), "{dir} renders no {kind}");
        }
        // What the probes and the scrape rely on.
        for want in [
            "--ops-listen=0.0.0.0:9464",
            "containerPort: 9464",
            "path: /livez",
            "path: /readyz",
            "readOnlyRootFilesystem: true",
            "runAsNonRoot: true",
            "secretName: interlock-tls",
        ] {
            assert!(rendered.contains(want), "{dir} renders no {want:?}");
        }
    }
}

/// Renders `dir` and validates it against the Kubernetes schema.
fn render_valid(t: &Path, dir: &str) -> String {
    let rendered = render(t, dir);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rendered.yaml");
    std::fs::write(&file, &rendered).unwrap();
    let (ok, out, err) = output(
        Command::new(t.join("venv/bin/kubernetes-validate"))
            .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
            .arg(&file),
    );
    assert!(
        ok,
        "kubernetes-validate {dir}:\n{out}{err}\n---\n{rendered}"
    );
    rendered
}

#[test]
fn the_three_node_cluster_renders_and_validates() {
    let t = tools();
    let rendered = render_valid(&t, "deploy/k8s/cluster");
    for want in [
        "kind: StatefulSet",
        "kind: PodDisruptionBudget",
        "kind: NetworkPolicy",
        "replicas: 3",
        "maxUnavailable: 1",
        "clusterIP: None",
        "publishNotReadyAddresses: true",
        "podManagementPolicy: Parallel",
        "topologyKey: kubernetes.io/hostname",
        "volumeClaimTemplates:",
        "fieldPath: metadata.labels['apps.kubernetes.io/pod-index']",
        "name: INTERLOCK_NODE_INDEX",
        "--cluster-listen=0.0.0.0:7400",
        "--cluster-tls-cert=/etc/interlock/cluster/$(POD_NAME).crt",
        "containerPort: 7400",
        "path: /readyz",
        "readOnlyRootFilesystem: true",
        "secretName: interlock-cluster-tls",
    ] {
        assert!(
            rendered.contains(want),
            "deploy/k8s/cluster renders no {want:?}"
        );
    }
    // The node list the pods are given parses as the server parses it, and
    // every pod's node id (its index + 1) is in it.
    let list = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("- --cluster="))
        .expect("a --cluster flag");
    let nodes = interlock_server::cluster::parse_nodes(list).unwrap();
    assert_eq!(nodes.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    for (id, node) in &nodes {
        let pod = format!("interlock-{}.interlock-peers", id - 1);
        assert_eq!(node.raft_addr, format!("{pod}:7400"));
        assert_eq!(node.api_addr, format!("{pod}:50051"));
    }
}

#[test]
fn a_manifest_with_a_mistake_is_refused() {
    // The validator is not vacuous: a wrong type is an error.
    let t = tools();
    let rendered = render(&t, "deploy/k8s/base").replace("replicas: 1", "replicas: one");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.yaml");
    std::fs::write(&file, rendered).unwrap();
    let (ok, _, _) = output(
        Command::new(t.join("venv/bin/kubernetes-validate"))
            .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
            .arg(&file),
    );
    assert!(!ok, "replicas: one was accepted");
}

#[test]
fn the_scrape_config_names_the_operations_port() {
    let t = tools();
    let script = r#"
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
jobs = {j["job_name"]: j for j in c["scrape_configs"]}
assert jobs["interlock"]["metrics_path"] == "/metrics"
keep = [r for r in jobs["interlock"]["relabel_configs"] if r.get("action") == "keep"]
assert keep and keep[0]["regex"] == "interlock;ops", keep
assert jobs["interlock-static"]["static_configs"][0]["targets"] == ["127.0.0.1:9464"]
print("ok")
"#;
    let (ok, out, err) = output(
        Command::new(t.join("venv/bin/python"))
            .args(["-c", script])
            .arg(repo().join("deploy/prometheus/prometheus.yml")),
    );
    assert!(ok && out.trim() == "ok", "{out}{err}");
}
