//! Who is calling: bearer tokens mapped to principals.
//!
//! Tokens are kept only as SHA-256 hashes. Every RPC of a service requires
//! one role; the interceptor answers UNAUTHENTICATED (no or unknown token) or
//! PERMISSION_DENIED (wrong role) before any handler runs, so a denied call
//! never changes state.

use std::path::Path;
use std::sync::Arc;

use dashmap::DashMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::{Request, Status};

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Venue,
    Broker,
    Admin,
    /// Read-only admin: exposure, limits, alerts and audit, no changes.
    Auditor,
    /// A price source: publishes quotes.
    Oracle,
    /// Another node of the cluster, on the cluster port only (its
    /// certificate's identity; no API service admits it).
    Node,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        match s {
            "venue" => Some(Role::Venue),
            "broker" => Some(Role::Broker),
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            "oracle" => Some(Role::Oracle),
            "node" => Some(Role::Node),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Venue => "venue",
            Role::Broker => "broker",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Oracle => "oracle",
            Role::Node => "node",
        }
    }
}

/// Most denial records per second from one source; the rest are counted
/// and the count goes into the next record, so a flood of bad calls cannot
/// flood the audit log.
pub const DENIAL_RECORDS_PER_SECOND: u32 = 10;
/// Most sources the denial limiter tracks at once (it starts over when full).
pub const DENIAL_SOURCES_MAX: usize = 10_000;

/// Records refused calls in the audit log (through the ledger, so they are
/// journaled and chained like every other record), rate-limited per source.
#[derive(Clone)]
pub struct DenialLog {
    ledger: std::sync::Arc<interlock_ledger::Ledger>,
    clock: crate::clock::Clock,
    /// source → (second, records this second, suppressed).
    window: std::sync::Arc<DashMap<String, (i64, u32, u64)>>,
    /// Bounds the log when recording fails for many sources at once.
    log: std::sync::Arc<crate::lograte::LogRate>,
    /// On a node of a cluster a denial is proposed like every change (the
    /// audit chain is the same on every node); a follower's own denials
    /// reach the audit through the leader, or not at all without one.
    cluster: Option<std::sync::Arc<crate::cluster::Node>>,
}

impl std::fmt::Debug for DenialLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DenialLog")
    }
}

impl DenialLog {
    pub fn new(
        ledger: std::sync::Arc<interlock_ledger::Ledger>,
        clock: crate::clock::Clock,
    ) -> Self {
        DenialLog {
            ledger,
            clock,
            window: std::sync::Arc::new(DashMap::new()),
            log: Default::default(),
            cluster: None,
        }
    }

    /// Denials are proposed to `node` instead of applied here.
    pub fn replicated(mut self, node: std::sync::Arc<crate::cluster::Node>) -> Self {
        self.cluster = Some(node);
        self
    }

    /// Records that `who` was refused `action` with `status`.
    pub fn record(&self, who: &str, action: &str, status: &Status) {
        let at_ms = self.clock.now_ms();
        let second = at_ms.div_euclid(1000);
        if self.window.len() >= DENIAL_SOURCES_MAX {
            self.window.clear();
        }
        let suppressed = {
            let mut e = self.window.entry(who.to_owned()).or_insert((second, 0, 0));
            if e.0 != second {
                *e = (second, 0, e.2);
            }
            if e.1 >= DENIAL_RECORDS_PER_SECOND {
                e.2 += 1;
                return;
            }
            e.1 += 1;
            std::mem::take(&mut e.2)
        };
        let mut reason = format!("{}: {}", interlock_code(status.code()), status.message());
        if suppressed > 0 {
            reason.push_str(&format!(
                " (+{suppressed} more from this source not recorded)"
            ));
        }
        let cmd = interlock_ledger::Command::RecordDenial {
            at_ms,
            principal: who.to_owned(),
            action: action.to_owned(),
            reason,
        };
        if let Some(node) = &self.cluster {
            let (node, log) = (node.clone(), self.log.clone());
            tokio::spawn(async move {
                if let Err(e) = node.propose(cmd).await {
                    let v = log.admit();
                    if v.log {
                        tracing::warn!(error = %e.message(), not_logged_before = v.suppressed_before, "a denied call could not be audited");
                    }
                }
            });
            return;
        }
        let (result, _) = self.ledger.apply(cmd);
        if let Err(e) = result {
            let v = self.log.admit();
            if v.log {
                tracing::warn!(error = %e, not_logged_before = v.suppressed_before, "a denied call could not be audited");
            }
        }
    }
}

fn interlock_code(c: tonic::Code) -> &'static str {
    match c {
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        _ => "DENIED",
    }
}

/// The path of a call ("/interlock.v1.AdminService/SetLimit"), put into
/// the request's extensions by [`call_path_layer`] so that interceptors,
/// which do not see the URI, can name the call in audit records.
/// Kept as the request's `Uri` (a reference-counted clone, no copy); the
/// text is made only when a denial is audited.
#[derive(Debug, Clone)]
pub struct CallPath(pub tonic::codegen::http::Uri);

/// A layer that records each request's path as a [`CallPath`] extension.
pub fn call_path_layer<B>() -> tower::util::MapRequestLayer<
    fn(tonic::codegen::http::Request<B>) -> tonic::codegen::http::Request<B>,
> {
    fn tag<B>(mut req: tonic::codegen::http::Request<B>) -> tonic::codegen::http::Request<B> {
        let uri = req.uri().clone();
        req.extensions_mut().insert(CallPath(uri));
        req
    }
    tower::util::MapRequestLayer::new(tag::<B>)
}

/// The gRPC method of a request, for audit records.
pub fn method_of<T>(req: &Request<T>) -> String {
    req.extensions()
        .get::<CallPath>()
        .map(|p| {
            p.0.path()
                .trim_start_matches('/')
                .chars()
                .take(200)
                .collect()
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Who a request came from, for audit records: the principal if known,
/// else the peer address.
pub fn source_of<T>(req: &Request<T>, principal: Option<&Principal>) -> String {
    match principal {
        Some(p) => p.key.clone(),
        None => match req.remote_addr() {
            Some(a) => format!("anonymous@{}", a.ip()),
            None => "anonymous".to_owned(),
        },
    }
}

/// Most client certificates whose principal is remembered (the cache starts
/// over when full).
pub const CERT_CACHE_MAX: usize = 10_000;

/// The URI prefix of a principal in a client certificate:
/// `spiffe://interlock/<role>/<id>`.
pub const SPIFFE_PREFIX: &str = "spiffe://interlock/";

/// The principal a verified client certificate names (its URI subject
/// alternative name). The TLS layer has already checked the chain and the
/// validity dates; a certificate without exactly one Interlock identity is
/// refused.
pub fn cert_principal(der: &[u8]) -> Result<Principal, Status> {
    let refuse = |why: &str| Status::unauthenticated(format!("client certificate: {why}"));
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|_| refuse("unreadable"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|_| refuse("bad subject alternative names"))?
        .ok_or_else(|| refuse("no Interlock identity (spiffe://interlock/<role>/<id>)"))?;
    let mut found = None;
    for name in &san.value.general_names {
        if let x509_parser::extensions::GeneralName::URI(uri) = name {
            if let Some(rest) = uri.strip_prefix(SPIFFE_PREFIX) {
                if found.is_some() {
                    return Err(refuse("more than one Interlock identity"));
                }
                found = Some(rest.to_owned());
            }
        }
    }
    let rest =
        found.ok_or_else(|| refuse("no Interlock identity (spiffe://interlock/<role>/<id>)"))?;
    let (role, id) = rest
        .split_once('/')
        .ok_or_else(|| refuse("identity is not <role>/<id>"))?;
    let role = Role::parse(role).ok_or_else(|| refuse("unknown role"))?;
    interlock_ledger::validate_id(id).map_err(|_| refuse("invalid id"))?;
    Ok(Principal::new(role, id))
}

/// An authenticated caller. Built once per principal (when the principals
/// are loaded or a certificate is first seen) and shared by every request
/// it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    /// The venue, broker or admin id (a venue's id is its venue id).
    pub id: String,
    /// "role:id": the principal's key for rate limits and audit records.
    pub key: String,
}

impl Principal {
    pub fn new(role: Role, id: &str) -> Self {
        Principal {
            role,
            id: id.to_owned(),
            key: format!("{}:{id}", role.name()),
        }
    }
}

#[derive(Deserialize)]
struct PrincipalsFile {
    principals: Vec<PrincipalEntry>,
}

#[derive(Deserialize)]
struct PrincipalEntry {
    id: String,
    role: Role,
    token_sha256: String,
}

/// Demo tokens of `--dev` mode: (token, role, id).
pub const DEV_TOKENS: &[(&str, Role, &str)] = &[
    ("dev-admin", Role::Admin, "admin"),
    ("dev-broker", Role::Broker, "prime-1"),
    ("dev-venue-a", Role::Venue, "venue-a"),
    ("dev-venue-b", Role::Venue, "venue-b"),
    ("dev-venue-c", Role::Venue, "venue-c"),
    ("dev-oracle", Role::Oracle, "oracle-1"),
];

/// Most principals in a principals file.
pub const PRINCIPALS_MAX: usize = 10_000;

/// Hex SHA-256 of a token, as stored in the principals file.
pub fn hash_token(token: &str) -> String {
    hex::encode(token_digest(token))
}

/// SHA-256 of a token: the key it is looked up by (only digests of tokens
/// are kept in memory).
type TokenDigest = [u8; 32];

fn token_digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// Token digest → principal.
#[derive(Debug, Default, Clone)]
pub struct Principals {
    by_hash: Arc<DashMap<TokenDigest, Arc<Principal>>>,
    /// Principals of verified client certificates, by DER bytes.
    by_cert: Arc<DashMap<Vec<u8>, Arc<Principal>>>,
}

impl Principals {
    /// The demo principals of `--dev` mode.
    pub fn dev() -> Self {
        let p = Principals::default();
        for (token, role, id) in DEV_TOKENS {
            p.by_hash
                .insert(token_digest(token), Arc::new(Principal::new(*role, id)));
        }
        p
    }

    /// Loads a principals file (see `Config::principals`).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let file: PrincipalsFile = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
        anyhow::ensure!(
            file.principals.len() <= PRINCIPALS_MAX,
            "{}: more than {PRINCIPALS_MAX} principals",
            path.display()
        );
        let p = Principals::default();
        for e in file.principals {
            interlock_ledger::validate_id(&e.id).map_err(|err| {
                anyhow::anyhow!("{}: principal id {:?}: {err}", path.display(), e.id)
            })?;
            anyhow::ensure!(
                e.role != Role::Node,
                "{}: principal {}: the node role comes only from a node's certificate on the cluster port, never from a token",
                path.display(),
                e.id
            );
            let digest = hex::decode(&e.token_sha256)
                .ok()
                .and_then(|d| TokenDigest::try_from(d).ok())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: principal {}: token_sha256 must be 64 hex digits",
                        path.display(),
                        e.id
                    )
                })?;
            let id = e.id.clone();
            let earlier = p
                .by_hash
                .insert(digest, Arc::new(Principal::new(e.role, &e.id)));
            if let Some(earlier) = earlier {
                anyhow::bail!(
                    "{}: principal {id} has the same token as principal {}",
                    path.display(),
                    earlier.id
                );
            }
        }
        Ok(p)
    }

    /// [`cert_principal`], remembered by the certificate's bytes: a
    /// connection sends the same verified certificate with every call, and
    /// parsing X.509 per request would cost more than the check itself.
    fn cert_principal_cached(&self, der: &[u8]) -> Result<Arc<Principal>, Status> {
        if let Some(p) = self.by_cert.get(der) {
            return Ok(p.clone());
        }
        let p = Arc::new(cert_principal(der)?);
        if self.by_cert.len() >= CERT_CACHE_MAX {
            self.by_cert.clear();
        }
        self.by_cert.insert(der.to_vec(), p.clone());
        Ok(p)
    }

    fn lookup(&self, token: &str) -> Option<Arc<Principal>> {
        self.by_hash.get(&token_digest(token)).map(|p| p.clone())
    }

    /// An interceptor that admits only `roles` and attaches the principal.
    ///
    /// The principal comes from the verified client certificate when the
    /// connection has one (any token is then ignored: metadata cannot
    /// change who a certificate says the caller is), else from the bearer
    /// token.
    pub fn require(
        &self,
        roles: &'static [Role],
        denials: Option<DenialLog>,
        limiter: Arc<crate::ratelimit::RateLimiter>,
    ) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
        let principals = self.clone();
        move |mut req: Request<()>| {
            let principal = principals.identify(&req);
            let verdict = match &principal {
                Ok(p) if roles.contains(&p.role) => Ok(()),
                Ok(_) => Err(needs(roles[0])),
                Err(e) => Err(e.clone()),
            };
            if let Err(status) = verdict {
                if let Some(d) = &denials {
                    d.record(
                        &source_of(&req, principal.as_deref().ok()),
                        &method_of(&req),
                        &status,
                    );
                }
                return Err(status);
            }
            if let Ok(p) = principal {
                // Throttling is a resource limit, not a denial: not audited.
                limiter.admit(&p.key)?;
                req.extensions_mut().insert(p);
            }
            Ok(req)
        }
    }

    fn identify(&self, req: &Request<()>) -> Result<Arc<Principal>, Status> {
        match req.peer_certs() {
            Some(certs) if !certs.is_empty() => self.cert_principal_cached(&certs[0]),
            _ => {
                let token = req
                    .metadata()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
                self.lookup(token)
                    .ok_or_else(|| Status::unauthenticated("unknown token"))
            }
        }
    }
}

/// The PERMISSION_DENIED answer for a call outside the caller's role.
pub fn needs(role: Role) -> Status {
    Status::permission_denied(format!("this call needs the {} role", role.name()))
}

/// The principal the interceptor attached.
pub fn principal<T>(req: &Request<T>) -> Result<&Principal, Status> {
    req.extensions()
        .get::<Arc<Principal>>()
        .map(|p| &**p)
        .ok_or_else(|| Status::unauthenticated("no principal"))
}

/// The principal, who must be an admin (not an auditor): for changes.
pub fn admin<T>(req: &Request<T>) -> Result<&Principal, Status> {
    let p = principal(req)?;
    if p.role == Role::Admin {
        Ok(p)
    } else {
        Err(needs(Role::Admin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(json: &str) -> anyhow::Result<Principals> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("principals.json");
        std::fs::write(&path, json)?;
        Principals::load(&path)
    }

    #[test]
    fn tokens_are_found_by_their_digest_in_either_case() {
        let upper = hash_token("s3cret").to_uppercase();
        let p = load(&format!(
            r#"{{"principals": [{{"id": "xchg-1", "role": "venue", "token_sha256": "{upper}"}}]}}"#
        ))
        .unwrap();
        let found = p.lookup("s3cret").expect("known token");
        assert_eq!(*found, Principal::new(Role::Venue, "xchg-1"));
        assert_eq!(found.key, "venue:xchg-1");
        assert!(p.lookup("S3CRET").is_none());
        assert!(p.lookup("").is_none());
    }

    #[test]
    fn a_digest_that_is_not_64_hex_digits_is_refused_naming_the_principal() {
        let short = &hash_token("x")[..62];
        let not_hex = format!("{}zz", &hash_token("x")[..62]);
        for bad in [short, not_hex.as_str(), ""] {
            let err = load(&format!(
                r#"{{"principals": [{{"id": "ops", "role": "admin", "token_sha256": "{bad}"}}]}}"#
            ))
            .expect_err("refused")
            .to_string();
            assert!(
                err.contains("principal ops: token_sha256 must be 64 hex digits"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_node_role_never_comes_from_a_token() {
        let err = load(&format!(
            r#"{{"principals": [{{"id": "2", "role": "node", "token_sha256": "{}"}}]}}"#,
            hash_token("x")
        ))
        .expect_err("refused")
        .to_string();
        assert!(err.contains("only from a node's certificate"), "{err}");
    }
}
