//! The local endpoint's certificate authority: made per run, its key only in memory,
//! and name-constrained to the one DNS name it serves (`localhost`), so that even a
//! leaked CA key could not vouch for any named host (an AWS endpoint, say) to a
//! client that trusts it. Its constraints hold no `iPAddress` entry: Claude Code's
//! TLS stack refuses a CA with one ("unsupported name constraint type"), so the
//! addresses the endpoint serves are the leaf's subject alternative names only.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result};

/// The CA and the server certificate it signed, for 127.0.0.1, localhost and any
/// extra address.
pub struct LocalCa {
    cert_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalCa { key: REDACTED }")
    }
}

/// How long the certificates are valid. The key lives as long as the process, which
/// bounds its exposure; a long validity just lets a service run for months.
const VALIDITY: time::Duration = time::Duration::days(3650);

impl LocalCa {
    /// A new CA, and a server certificate for `127.0.0.1`, `localhost` and `extra`.
    pub fn new(extra: Option<IpAddr>) -> Result<LocalCa> {
        let fail = |e: rcgen::Error| Error::failure(format!("cannot make the local CA: {e}"));
        let mut addresses: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1])];
        if let Some(ip) = extra.filter(|ip| !addresses.contains(ip)) {
            addresses.push(ip);
        }
        let now = time::OffsetDateTime::now_utc();

        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(fail)?;
        let mut ca = CertificateParams::default();
        ca.distinguished_name = name("bedkey local proxy CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName("localhost".into())],
            excluded_subtrees: vec![],
        });
        ca.not_before = now - time::Duration::hours(1);
        ca.not_after = now + VALIDITY;
        let ca_cert = ca.self_signed(&ca_key).map_err(fail)?;
        let issuer = Issuer::new(ca, ca_key);

        let mut sans = vec!["localhost".to_string()];
        sans.extend(addresses.iter().map(IpAddr::to_string));
        let mut leaf = CertificateParams::new(sans).map_err(fail)?;
        // A common name that is not a host name, so that no client checks it against
        // the constraints (OpenSSL does for one that looks like a host).
        leaf.distinguished_name = name("bedkey local proxy");
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        leaf.not_before = now - time::Duration::hours(1);
        leaf.not_after = now + VALIDITY;
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(fail)?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(fail)?;

        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::failure(format!("cannot set up TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(vec![leaf_cert.der().clone()], key)
        .map_err(|e| Error::failure(format!("cannot set up TLS: {e}")))?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(LocalCa {
            cert_pem: ca_cert.pem(),
            server: Arc::new(server),
        })
    }

    /// The CA certificate (public), PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// TLS for the listener.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }
}

fn name(common: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common);
    dn
}

/// The roots bedkey trusts for Bedrock: `AWS_CA_BUNDLE` when set (it replaces the
/// system's, as the AWS CLI has it), else the system's (which honour `SSL_CERT_FILE`).
pub fn upstream_roots() -> Result<Vec<CertificateDer<'static>>> {
    if let Some(bundle) = std::env::var_os("AWS_CA_BUNDLE").filter(|b| !b.is_empty()) {
        return read_pem_certs(Path::new(&bundle)).map_err(|e| e.context("AWS_CA_BUNDLE"));
    }
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = found
            .errors
            .first()
            .map_or("none found".to_string(), |e| e.to_string());
        return Err(Error::failure(format!(
            "cannot load the system's TLS roots: {why}"
        )));
    }
    Ok(found.certs)
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::usage(format!(
                "cannot read certificates from {}: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::usage(format!(
            "{} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The files a client is pointed at: the CA alone (`NODE_EXTRA_CA_CERTS` adds it to
/// Node's roots) and a bundle of bedkey's roots plus the CA (`AWS_CA_BUNDLE` and
/// friends replace a client's roots). They live in a private directory (0700) that
/// is removed when this is dropped.
pub struct TrustFiles {
    dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub bundle: PathBuf,
}

impl TrustFiles {
    pub fn write(ca: &LocalCa, roots: &[CertificateDer<'_>]) -> Result<TrustFiles> {
        // XDG_RUNTIME_DIR may name a directory that is not there (after sudo or su,
        // in a container): the temp dir then.
        // It must be ours and private too: in a directory others may write, they
        // could swap the private directory for one holding a bundle of theirs.
        let parent = dirs::runtime_dir()
            .filter(|d| private_dir(d))
            .unwrap_or_else(std::env::temp_dir);
        let mut builder = tempfile::Builder::new();
        builder.prefix("bedkey-proxy-");
        // Not left to the umask: only this user may read or add files here.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        let dir = builder.tempdir_in(&parent).map_err(|e| {
            Error::failure(format!(
                "cannot make a private directory in {}: {}",
                parent.display(),
                std::io::Error::from(e.kind())
            ))
        })?;
        let ca_path = dir.path().join("ca.pem");
        let bundle_path = dir.path().join("bundle.pem");
        write_new(&ca_path, ca.cert_pem().as_bytes())?;
        let mut bundle = String::with_capacity(roots.len() * 2048);
        for root in roots {
            bundle.push_str(&pem::encode_config(
                &pem::Pem::new("CERTIFICATE", root.as_ref()),
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            ));
        }
        bundle.push_str(ca.cert_pem());
        write_new(&bundle_path, bundle.as_bytes())?;
        Ok(TrustFiles {
            dir,
            ca: ca_path,
            bundle: bundle_path,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A real directory (not a link), this user's, that no one else may write.
fn private_dir(dir: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return false;
    };
    if !meta.is_dir() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me || meta.mode() & 0o022 != 0 {
            return false;
        }
    }
    true
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| Error::failure(format!("cannot write {}: {e}", path.display())))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_a_private_directory_of_ours_holds_the_trust_files() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(private_dir(&private));
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(!private_dir(&open));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert!(!private_dir(&link));
        assert!(!private_dir(&dir.path().join("missing")));
    }
}
