//! Mutual TLS: principals come from verified client certificates, bearer
//! tokens only over TLS, and every bad handshake is refused before a
//! handler runs.

mod common;
use std::path::{Path, PathBuf};

use common::*;
use interlock_client::pki::{self, Ca, Ecosystem};
use interlock_client::{pb, Client, TlsOptions};
use interlock_server::auth::hash_token;
use tonic::Code;

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        pki::write_dev_pki(dir.path(), &Ecosystem::default()).unwrap();
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tls(&self, who: Option<&str>) -> TlsOptions {
        let (cert, key) = match who {
            Some(w) => (
                self.path(&format!("{w}.pem")),
                self.path(&format!("{w}.key")),
            ),
            None => (PathBuf::new(), PathBuf::new()),
        };
        TlsOptions::from_files(
            &self.path("ca.pem"),
            who.map(|_| (cert.as_path(), key.as_path())),
        )
        .unwrap()
    }

    fn config(&self, principals: Option<&Path>, optional: bool) -> interlock_server::Config {
        let mut c = interlock_server::Config::dev_for_tests();
        c.dev = false;
        c.tls_cert = Some(self.path("server.pem"));
        c.tls_key = Some(self.path("server.key"));
        c.tls_client_ca = Some(self.path("ca.pem"));
        c.tls_client_cert_optional = optional;
        c.principals = principals.map(Path::to_path_buf);
        c
    }
}

fn https(s: &TestServer) -> String {
    format!("https://127.0.0.1:{}", s.addr.port())
}

async fn as_cert(s: &TestServer, pki: &Pki, who: &str, token: Option<&str>) -> Client {
    Client::connect_with(&https(s), Some(&pki.tls(Some(who))), token)
        .await
        .unwrap()
}

#[tokio::test]
async fn principals_come_from_certificates_and_metadata_cannot_change_them() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("principals.json");
    let json = serde_json::json!({ "principals": [
        { "id": "ops", "role": "admin", "token_sha256": hash_token("admin-token") },
    ]});
    std::fs::write(&file, json.to_string()).unwrap();
    let s = start_with(pki.config(Some(&file), true)).await;

    let admin = as_cert(&s, &pki, "admin-admin", None).await;
    let scope = pb::Scope {
        asset: "ETH".into(),
        ..Default::default()
    };
    admin
        .set_limit(pb::SetLimitRequest {
            kind: pb::LimitKind::AssetCap.into(),
            scope: Some(scope.clone()),
            value: "1000".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let audit = admin.audit(0, 10).await.unwrap();
    assert_eq!(audit[0].principal, "admin", "the id from the certificate");

    // An auditor reads but cannot change anything.
    let auditor = as_cert(&s, &pki, "auditor-auditor", None).await;
    assert_eq!(auditor.list_limits().await.unwrap().len(), 1);
    let e = auditor
        .set_trading_state("fund", pb::TradingState::Halted, "")
        .await
        .unwrap_err();
    assert!(message(&e).contains("needs the admin role"), "{e}");
    assert_eq!(code(e), Code::PermissionDenied);

    // A venue certificate stays a venue, whatever token rides along.
    let venue = as_cert(&s, &pki, "venue-venue-a", Some("admin-token")).await;
    assert_eq!(
        code(venue.list_limits().await.unwrap_err()),
        Code::PermissionDenied
    );
    let r = venue.check(check("o1", "fund", "1")).await.unwrap();
    assert_eq!(r.verdict(), pb::Verdict::Rejected, "default deny");
    let broker = as_cert(&s, &pki, "broker-prime-1", None).await;
    assert_eq!(broker.sync_state().await.unwrap().broker, "prime-1");

    // Without a certificate (allowed here), the bearer token decides.
    let token_admin = Client::connect_with(&https(&s), Some(&pki.tls(None)), Some("admin-token"))
        .await
        .unwrap();
    assert_eq!(token_admin.list_limits().await.unwrap().len(), 1);
    let nobody = Client::connect_with(&https(&s), Some(&pki.tls(None)), None)
        .await
        .unwrap();
    assert_eq!(
        code(nobody.list_limits().await.unwrap_err()),
        Code::Unauthenticated
    );
    assert_eq!(
        admin.list_limits().await.unwrap().len(),
        1,
        "nothing changed"
    );
    s.stop().await;
}

/// A connection that must not reach a handler: the handshake or the first
/// call fails (never with PERMISSION_DENIED, which a handler-side check
/// would give).
async fn refused(endpoint: &str, tls: Option<&TlsOptions>) -> String {
    match Client::connect_with(endpoint, tls, None).await {
        Err(e) => e.to_string(),
        Ok(c) => {
            let e = c
                .list_limits()
                .await
                .expect_err("a refused connection answered");
            let text = e.to_string();
            assert_ne!(code(e), Code::PermissionDenied, "{text}");
            text
        }
    }
}

#[tokio::test]
async fn bad_handshakes_and_certificates_are_refused_before_any_handler() {
    // A PKI whose CA key the test keeps, to sign bad certificates with it.
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n);
    let ca = Ca::new("test CA").unwrap();
    std::fs::write(path("ca.pem"), ca.cert_pem()).unwrap();
    let server = ca.server(&["localhost", "127.0.0.1"]).unwrap();
    std::fs::write(path("server.pem"), &server.cert).unwrap();
    std::fs::write(path("server.key"), &server.key).unwrap();
    let tls = |pem: Option<&pki::Pem>| TlsOptions {
        ca_pem: ca.cert_pem().to_owned(),
        identity: pem.map(|p| (p.cert.clone(), p.key.clone())),
        domain: None,
    };
    let mut config = interlock_server::Config::dev_for_tests();
    config.dev = false;
    config.tls_cert = Some(path("server.pem"));
    config.tls_key = Some(path("server.key"));
    config.tls_client_ca = Some(path("ca.pem"));
    let s = start_with(config).await;
    let ep = https(&s);

    let good = ca.client("admin", "admin", None).unwrap();
    let admin = Client::connect_with(&ep, Some(&tls(Some(&good))), None)
        .await
        .unwrap();
    assert!(admin.list_limits().await.unwrap().is_empty());

    let foreign = Ca::new("someone else")
        .unwrap()
        .client("admin", "admin", None)
        .unwrap();
    let expired = ca
        .client("admin", "admin", Some(((2001, 1, 1), (2002, 1, 1))))
        .unwrap();
    let future = ca
        .client("admin", "admin", Some(((2090, 1, 1), (2091, 1, 1))))
        .unwrap();
    let cases: [(&str, Option<&pki::Pem>); 4] = [
        ("no client certificate", None),
        ("a certificate from a foreign CA", Some(&foreign)),
        ("an expired certificate", Some(&expired)),
        ("a not-yet-valid certificate", Some(&future)),
    ];
    for (what, pem) in cases {
        // Refused by the TLS layer itself: our interceptor never saw it.
        let e = refused(&ep, Some(&tls(pem))).await;
        assert!(
            !e.contains("bearer token") && !e.contains("client certificate:"),
            "{what}: {e}"
        );
    }
    // Plaintext to the TLS port.
    let plain = format!("http://127.0.0.1:{}", s.addr.port());
    refused(&plain, None).await;
    // A valid certificate without an Interlock identity: the TLS layer
    // accepts it, the interceptor refuses it, no handler runs.
    let anonymous = ca.anonymous_client().unwrap();
    let c = Client::connect_with(&ep, Some(&tls(Some(&anonymous))), None)
        .await
        .unwrap();
    let e = c.list_limits().await.unwrap_err();
    assert!(message(&e).contains("no Interlock identity"), "{e}");
    assert_eq!(code(e), Code::Unauthenticated);
    // Nothing reached a handler: the audit log holds only the refusal the
    // interceptor recorded (TLS-level refusals never get that far).
    let audit = admin.audit(0, 10).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert!(
        audit[0].outcome.starts_with("denied: UNAUTHENTICATED"),
        "{audit:?}"
    );
    assert!(
        audit[0].principal.starts_with("anonymous@127.0.0.1"),
        "{audit:?}"
    );
    assert_eq!(audit[0].action, "interlock.v1.AdminService/ListLimits");
    s.stop().await;
}

/// Outside dev mode, plaintext is refused at start-up.
#[tokio::test]
async fn plaintext_outside_dev_mode_does_not_start() {
    let mut config = interlock_server::Config::dev_for_tests();
    config.dev = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let e = interlock_server::serve(config, listener, async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("--tls-cert"), "{e}");
}

/// Outside dev mode, bearer tokens (over TLS) come from a file of SHA-256
/// token hashes; the demo tokens mean nothing there.
#[tokio::test]
async fn principals_file_maps_hashed_tokens_to_roles() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("principals.json");
    let file = serde_json::json!({ "principals": [
        { "id": "ops", "role": "admin", "token_sha256": hash_token("s3cret-admin") },
        { "id": "xchg-1", "role": "venue", "token_sha256": hash_token("s3cret-venue").to_uppercase() },
    ]});
    std::fs::write(&path, file.to_string()).unwrap();
    let config = pki.config(Some(&path), true);
    let s = start_with(config.clone()).await;
    let token = |t: &'static str| {
        let (ep, tls) = (https(&s), pki.tls(None));
        async move {
            Client::connect_with(&ep, Some(&tls), Some(t))
                .await
                .unwrap()
        }
    };
    let admin = token("s3cret-admin").await;
    assert!(admin.list_limits().await.unwrap().is_empty());
    let venue = token("s3cret-venue").await;
    assert_eq!(
        code(venue.list_limits().await.unwrap_err()),
        Code::PermissionDenied
    );
    // The venue id in the file is the venue its checks count against.
    let r = venue.check(check("o1", "fund", "1")).await.unwrap();
    assert_eq!(
        r.verdict(),
        pb::Verdict::Rejected,
        "no collateral: default deny"
    );
    for t in ["dev-admin", "s3cret-admin2"] {
        let c = token(t).await;
        assert_eq!(
            code(c.list_limits().await.unwrap_err()),
            Code::Unauthenticated,
            "{t:?}"
        );
    }
    s.stop().await;

    // A malformed file is refused at start-up with the file's name.
    std::fs::write(
        &path,
        r#"{"principals":[{"id":"ops","role":"admin","token_sha256":"abc"}]}"#,
    )
    .unwrap();
    let e = interlock_server::principals(&config)
        .unwrap_err()
        .to_string();
    assert!(e.contains("token_sha256"), "{e}");
    // One token for two principals would make identity ambiguous.
    let twice = serde_json::json!({ "principals": [
        { "id": "ops", "role": "admin", "token_sha256": hash_token("same") },
        { "id": "xchg-1", "role": "venue", "token_sha256": hash_token("same") },
    ]});
    std::fs::write(&path, twice.to_string()).unwrap();
    let e = interlock_server::principals(&config)
        .unwrap_err()
        .to_string();
    assert!(e.contains("xchg-1") && e.contains("same token"), "{e}");
    std::fs::write(&path, "{").unwrap();
    let e = interlock_server::principals(&config)
        .unwrap_err()
        .to_string();
    assert!(e.contains("principals.json"), "{e}");
}
