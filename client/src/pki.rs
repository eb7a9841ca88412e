//! A development PKI: a CA, a server certificate and one client certificate
//! per principal, for mutual TLS in one command (`interlockctl certs init`).
//!
//! A client certificate names its principal in a URI subject alternative
//! name, `spiffe://interlock/<role>/<id>` (role: venue, broker, admin or
//! auditor); the server reads the principal from the verified certificate
//! and from nothing a client can forge.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// The URI prefix of principal identities in client certificates.
pub const SPIFFE_PREFIX: &str = "spiffe://interlock/";

/// A certificate and its private key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A certificate authority that signs server and client certificates.
pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    cert_pem: String,
}

/// A validity window as (year, month, day) pairs; `None` is rcgen's default
/// (far past to far future).
pub type Validity = Option<((i32, u8, u8), (i32, u8, u8))>;

fn apply(params: &mut CertificateParams, validity: Validity) {
    if let Some((from, to)) = validity {
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    }
}

impl Ca {
    /// A new self-signed CA.
    pub fn new(name: &str) -> Result<Ca, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        let cert = params.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            params,
            key,
        })
    }

    /// The CA's certificate (what servers and clients trust).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    fn sign(&self, mut params: CertificateParams, validity: Validity) -> Result<Pem, rcgen::Error> {
        apply(&mut params, validity);
        let key = KeyPair::generate()?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }

    /// A server certificate for these host names and addresses.
    pub fn server(&self, hosts: &[&str]) -> Result<Pem, rcgen::Error> {
        let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        let mut params = CertificateParams::new(hosts)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "interlock-server");
        params.distinguished_name = dn;
        self.sign(params, None)
    }

    /// A client certificate for principal `role`/`id`.
    pub fn client(&self, role: &str, id: &str, validity: Validity) -> Result<Pem, rcgen::Error> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![SanType::URI(
            format!("{SPIFFE_PREFIX}{role}/{id}").try_into()?,
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{role} {id}"));
        params.distinguished_name = dn;
        self.sign(params, validity)
    }

    /// A node's certificate for the cluster port: it serves (for these
    /// host names and addresses, where its peers reach it) and is
    /// presented as a client, naming `spiffe://interlock/node/<id>`.
    pub fn node(&self, id: &str, hosts: &[&str]) -> Result<Pem, rcgen::Error> {
        let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        let mut params = CertificateParams::new(hosts)?;
        params.subject_alt_names.push(SanType::URI(
            format!("{SPIFFE_PREFIX}node/{id}").try_into()?,
        ));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("node {id}"));
        params.distinguished_name = dn;
        self.sign(params, None)
    }

    /// A client certificate with no Interlock identity in it.
    pub fn anonymous_client(&self) -> Result<Pem, rcgen::Error> {
        let mut params = CertificateParams::default();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, None)
    }
}

/// The principals of a demo ecosystem.
#[derive(Debug, Clone)]
pub struct Ecosystem {
    pub venues: Vec<String>,
    pub brokers: Vec<String>,
    pub oracles: Vec<String>,
    pub admins: Vec<String>,
    pub auditors: Vec<String>,
    /// The node ids of a cluster (`--node-id`), each with a certificate
    /// for the cluster port.
    pub nodes: Vec<String>,
    /// Host names and addresses in the server certificate (and the nodes').
    pub hosts: Vec<String>,
}

impl Default for Ecosystem {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect();
        Ecosystem {
            venues: s(&["venue-a", "venue-b", "venue-c"]),
            brokers: s(&["prime-1"]),
            oracles: s(&["oracle-1"]),
            admins: s(&["admin"]),
            auditors: s(&["auditor"]),
            nodes: s(&["1", "2", "3"]),
            hosts: s(&["localhost", "127.0.0.1"]),
        }
    }
}

fn write(dir: &Path, name: &str, text: &str, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    #[cfg(unix)]
    if name.ends_with(".key") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    written.push(path);
    Ok(())
}

/// Writes `ca.pem`, `server.pem`/`server.key`, `<role>-<id>.pem`/`.key`
/// for every principal and `node-<id>.pem`/`.key` for every node into
/// `dir` (created if needed). The CA's key is not
/// kept: a dev PKI is re-created, never extended.
pub fn write_dev_pki(dir: &Path, eco: &Ecosystem) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let ca = Ca::new("Interlock dev CA")?;
    let mut written = Vec::new();
    write(dir, "ca.pem", ca.cert_pem(), &mut written)?;
    let hosts: Vec<&str> = eco.hosts.iter().map(String::as_str).collect();
    let server = ca.server(&hosts)?;
    write(dir, "server.pem", &server.cert, &mut written)?;
    write(dir, "server.key", &server.key, &mut written)?;
    for (role, ids) in [
        ("venue", &eco.venues),
        ("broker", &eco.brokers),
        ("oracle", &eco.oracles),
        ("admin", &eco.admins),
        ("auditor", &eco.auditors),
    ] {
        for id in ids {
            interlock_ledger_id_check(id)?;
            let pem = ca.client(role, id, None)?;
            write(dir, &format!("{role}-{id}.pem"), &pem.cert, &mut written)?;
            write(dir, &format!("{role}-{id}.key"), &pem.key, &mut written)?;
        }
    }
    for id in &eco.nodes {
        interlock_ledger_id_check(id)?;
        let pem = ca.node(id, &hosts)?;
        write(dir, &format!("node-{id}.pem"), &pem.cert, &mut written)?;
        write(dir, &format!("node-{id}.key"), &pem.key, &mut written)?;
    }
    Ok(written)
}

/// Ids go into file names and URIs: the same rule as the server's ids.
fn interlock_ledger_id_check(id: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'),
        "principal id {id:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
    );
    Ok(())
}
