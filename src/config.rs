//! Configuration: a TOML file, with every key overridable from the environment.
//!
//! A key `section.name` is read from the environment as `S3SEAL_SECTION_NAME`
//! (e.g. `upstream.access_key_id` ← `S3SEAL_UPSTREAM_ACCESS_KEY_ID`), so a
//! container needs no file at all. Lists take TOML-like values, e.g.
//! `S3SEAL_AUTH_CREDENTIALS='[{access_key_id="AK",secret_access_key="SK",principal="app"}]'`
//! or `S3SEAL_KMS_PEER_REGIONS='[{region="eu-west-1",endpoint="https://…",access_key_id="AK",secret_access_key="SK",principal="s3seal-eu-west-1"}]'`
//! (a list set from the environment replaces the file's list as a whole).
//! `config/s3seal.example.toml` documents every key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::auth::{ClientCredential, Secret};

/// The sections of the file; the first `_` of an env key after the prefix separates section and key.
const SECTIONS: [&str; 9] = [
    "server", "tls", "upstream", "store", "kms", "auth", "log", "audit", "limits",
];
/// Tables inside a section, matched before the sections: `S3SEAL_KMS_EXTERNAL_REGION`
/// is `kms.external.region`, not `kms.external_region`.
const SUBSECTIONS: [(&str, &str); 1] = [("kms", "external")];

#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    pub upstream: UpstreamConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub kms: KmsConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub limits: crate::limits::LimitsConfig,
}

/// Deserializes a string that may arrive as a number: the environment provider
/// parses `S3SEAL_SERVER_ACCOUNT_ID=123456789012` as an integer.
pub(crate) fn text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        String(String),
        Unsigned(u64),
        Signed(i64),
    }
    Ok(match Text::deserialize(deserializer)? {
        Text::String(s) => s,
        Text::Unsigned(n) => n.to_string(),
        Text::Signed(n) => n.to_string(),
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address the plain-HTTP S3 endpoint listens on.
    pub listen: SocketAddr,
    /// Serve plain HTTP on `listen`. `false` (with `tls.listen` set) serves
    /// HTTPS only.
    pub plain_http: bool,
    /// Region clients sign their requests for.
    #[serde(deserialize_with = "text")]
    pub region: String,
    /// 12-digit account id used in the ARNs s3seal reports.
    #[serde(deserialize_with = "text")]
    pub account_id: String,
    /// How long in-flight requests may run after SIGTERM/SIGINT.
    pub shutdown_grace_seconds: u64,
    /// Base domain for virtual-hosted-style requests (`bucket.<domain>`);
    /// path-style requests are served either way.
    pub virtual_host_domain: Option<String>,
    /// The global guard: no request may store an object unencrypted, whatever
    /// bucket policies say. Requests that would (SSE-C) are refused. s3seal
    /// has no plaintext write path, so `false` is refused at start until a
    /// pass-through mode exists.
    pub require_encryption: bool,
    /// Address of the operator's endpoints (`/health/live`, `/health/ready`,
    /// `/metrics`), plain HTTP without authentication: keep it on a private
    /// interface.
    pub admin_listen: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            plain_http: true,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            shutdown_grace_seconds: 30,
            virtual_host_domain: None,
            require_encryption: true,
            admin_listen: None,
        }
    }
}

/// TLS termination: the HTTPS listener and the certificate it serves (also
/// used by `kms.listen` when `kms.tls` is set).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// Address the HTTPS endpoint listens on; it serves what `server.listen`
    /// serves (S3, and the KMS API unless `kms.listen` is set).
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain: the server certificate first, then intermediates.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the server certificate.
    pub key_file: Option<PathBuf>,
}

impl TlsConfig {
    /// The certificate and key files, when both are set.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.cert_file.as_deref()?, self.key_file.as_deref()?))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamConfig {
    /// Base URL of the S3-compatible store, e.g. `http://127.0.0.1:3900`.
    pub url: String,
    #[serde(default = "default_upstream_region", deserialize_with = "text")]
    pub region: String,
    #[serde(deserialize_with = "text")]
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Path-style (`host/bucket/key`) rather than virtual-hosted requests.
    #[serde(default = "yes")]
    pub path_style: bool,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
    /// How long s3seal waits on the upstream without progress (taking body
    /// bytes, answering, sending response bytes) before giving up on the
    /// request: `503 ServiceUnavailable`, or a cut connection mid-body.
    /// Time spent waiting on the client does not count.
    #[serde(default = "default_upstream_idle_timeout")]
    pub idle_timeout_seconds: u64,
    /// For an `https://` upstream: a PEM file of the CA certificates to trust
    /// instead of the system's trust store.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
}

fn default_upstream_region() -> String {
    "us-east-1".into()
}
fn yes() -> bool {
    true
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_upstream_idle_timeout() -> u64 {
    120
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// `embedded` (one redb file, one instance) or `postgres` (shared by
    /// several instances).
    pub backend: StoreBackendKind,
    /// The embedded database file (created on first start).
    pub path: PathBuf,
    /// PostgreSQL (`backend = "postgres"`): libpq-style URL or key=value
    /// string, e.g. `postgres://s3seal:pw@db.internal:5432/s3seal?sslmode=require`.
    /// Holds a password: prefer the environment (`S3SEAL_STORE_POSTGRES_URL`).
    pub postgres_url: Option<Secret>,
    /// Connections in the pool (requests wait for one when all are busy).
    pub postgres_pool_size: u32,
    /// How long to wait for a connection (new or from the pool) before the
    /// request fails closed with 503.
    pub postgres_connect_timeout_seconds: u64,
    /// PEM CA certificates to trust for `sslmode=require` instead of the
    /// system's trust store.
    pub postgres_ca_bundle: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: StoreBackendKind::Embedded,
            path: PathBuf::from("s3seal-data/s3seal.redb"),
            postgres_url: None,
            postgres_pool_size: 16,
            postgres_connect_timeout_seconds: 5,
            postgres_ca_bundle: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackendKind {
    Embedded,
    Postgres,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct KmsConfig {
    /// The root key itself (base64 or hex of 32 bytes). Prefer the environment
    /// (`S3SEAL_KMS_ROOT_KEY`) or `root_key_file`; never commit it to a file.
    pub root_key: Option<Secret>,
    /// A file holding the root key (base64/hex text, or 32 raw bytes).
    pub root_key_file: Option<PathBuf>,
    /// Key used when an upload names none (and for `AES256`). Default: the
    /// key s3seal creates on first start, aliased `alias/aws/s3`.
    pub default_key_id: Option<String>,
    /// Serve the KMS API on this address instead of on `server.listen`.
    pub listen: Option<std::net::SocketAddr>,
    /// Serve `listen` over HTTPS, with the `tls` section's certificate.
    pub tls: bool,
    /// A PKCS#11 module (`.so`) whose token holds the root key instead.
    pub pkcs11_module: Option<PathBuf>,
    /// The label of the token holding the root key.
    pub pkcs11_token_label: Option<String>,
    /// The token's user PIN (prefer S3SEAL_KMS_PKCS11_PIN).
    pub pkcs11_pin: Option<Secret>,
    /// The label of the root key on the token (default `s3seal-root`).
    pub pkcs11_key_label: Option<String>,
    /// Wrap object data keys with an external AWS-KMS-compatible service
    /// instead of the built-in KMS (`[kms.external]`, docs/kms.md).
    pub external: Option<ExternalKmsConfig>,
    /// The other s3seal deployments (other Regions) that hold replicas of
    /// this one's multi-Region keys, or their primaries.
    pub peer_regions: Vec<PeerRegion>,
    /// How often the background work runs: due rotations and deletions,
    /// expired imports, and bringing multi-Region replicas up to date.
    /// Default 60 seconds.
    pub maintenance_interval_seconds: Option<u64>,
}

/// `[kms.external]`: an AWS KMS (or another s3seal's KMS API) that wraps the
/// bucket keys under which s3seal wraps each object's data key.
#[derive(Debug, Clone, Deserialize)]
pub struct ExternalKmsConfig {
    /// `https://kms.eu-west-1.amazonaws.com`, or `http://` (a trusted network only).
    pub endpoint: String,
    /// The region requests are signed for.
    #[serde(default = "default_upstream_region", deserialize_with = "text")]
    pub region: String,
    #[serde(deserialize_with = "text")]
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// The external key (id, ARN, alias or alias ARN) for uploads that name
    /// none, and for `AES256`.
    #[serde(deserialize_with = "text")]
    pub default_key_id: String,
    /// For an `https://` endpoint: a PEM file of the CA certificates to trust
    /// instead of the system's trust store.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
    /// How long one attempt of a KMS call may take.
    #[serde(default = "default_kms_attempt_timeout")]
    pub attempt_timeout_seconds: u64,
    /// Attempts per KMS call (the first included), with backoff between them.
    #[serde(default = "default_kms_max_attempts")]
    pub max_attempts: u32,
    /// How long a bucket key, or an unwrapped bucket key, is used without
    /// asking the KMS again: the revocation delay (docs/operations.md).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_seconds: u64,
    /// At most this many bucket keys are held per cache (uploads, reads).
    #[serde(default = "default_cache_size")]
    pub cache_size: usize,
}

fn default_kms_attempt_timeout() -> u64 {
    5
}
fn default_kms_max_attempts() -> u32 {
    3
}
fn default_cache_ttl() -> u64 {
    300
}
fn default_cache_size() -> usize {
    1000
}

/// Another s3seal deployment, in another Region, that this one replicates
/// multi-Region keys with (`[[kms.peer_regions]]`).
#[derive(Debug, Clone, Deserialize)]
pub struct PeerRegion {
    /// The peer's `server.region`.
    #[serde(deserialize_with = "text")]
    pub region: String,
    /// The peer's KMS API, e.g. `https://kms.eu-west-1.example:9443`.
    pub endpoint: String,
    /// The credential this deployment calls the peer with: one of the peer's
    /// `auth.credentials`, whose principal the peer lists as this Region's.
    #[serde(deserialize_with = "text")]
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// The principal (of this deployment's `auth.credentials`) the peer
    /// calls this deployment as. Only it may create or update replicas here
    /// on behalf of `region`.
    #[serde(deserialize_with = "text")]
    pub principal: String,
    /// For an `https://` endpoint: the CA certificates to trust instead of
    /// the system's.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
}

/// The default of `kms.maintenance_interval_seconds`.
const DEFAULT_MAINTENANCE_INTERVAL: u64 = 60;

impl KmsConfig {
    /// How often the background key work runs.
    pub fn maintenance_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.maintenance_interval_seconds
                .unwrap_or(DEFAULT_MAINTENANCE_INTERVAL),
        )
    }

    /// The peer deployment in `region`, if one is configured.
    pub fn peer(&self, region: &str) -> Option<&PeerRegion> {
        self.peer_regions.iter().find(|p| p.region == region)
    }

    /// The peer Region whose deployment calls this one as `principal`.
    pub fn peer_calling_as(&self, principal: &str) -> Option<&PeerRegion> {
        self.peer_regions.iter().find(|p| p.principal == principal)
    }

    /// Where the HSM root key is, if the root of trust is an HSM.
    pub fn hsm(&self) -> Option<(crate::kms::hsm::HsmLocation, &str)> {
        let module = self.pkcs11_module.clone()?;
        Some((
            crate::kms::hsm::HsmLocation {
                module,
                token_label: self.pkcs11_token_label.clone().unwrap_or_default(),
                key_label: self
                    .pkcs11_key_label
                    .clone()
                    .unwrap_or_else(|| "s3seal-root".to_string()),
            },
            self.pkcs11_pin
                .as_ref()
                .map(|p| p.expose())
                .unwrap_or_default(),
        ))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub credentials: Vec<ClientCredential>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `json` (default) or `text`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `s3seal=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "json".into(),
            level: "info".into(),
        }
    }
}

/// The audit log (see `crate::audit`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuditConfig {
    /// Where the log files go; default: `audit/` beside the embedded store
    /// file. Required with PostgreSQL: each instance needs its own.
    pub dir: Option<PathBuf>,
    /// A file is closed (signed) and a new one started past this size ...
    pub max_file_bytes: u64,
    /// ... or this age.
    pub max_file_age_seconds: u64,
    /// Unsigned events are signed at the latest after this long ...
    pub sign_interval_seconds: u64,
    /// ... or after this many events.
    pub sign_every_events: u64,
    /// The ECC_NIST_P256 SIGN_VERIFY key that signs digests (id, ARN or
    /// alias); default: `alias/s3seal-audit`, created at first start.
    pub signing_key_id: Option<String>,
    /// Names this instance's audit chain, whose signed head is kept in the
    /// store: instances sharing a store each keep their own log and chain.
    /// Default: none with the embedded store; `<host name>/<server.listen>`
    /// with PostgreSQL.
    pub instance: Option<String>,
}

impl AuditConfig {
    /// The store setting holding this chain's last signed head.
    pub fn chain_head_setting(&self) -> String {
        match &self.instance {
            None => "audit_chain_head".into(),
            Some(instance) => format!("audit_chain_head/{instance}"),
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            dir: None,
            max_file_bytes: 64 * 1024 * 1024,
            max_file_age_seconds: 24 * 60 * 60,
            sign_interval_seconds: 60,
            sign_every_events: 10_000,
            signing_key_id: None,
            instance: None,
        }
    }
}

impl Config {
    /// `audit.dir`, or `audit/` beside the store.
    pub fn audit_dir(&self) -> PathBuf {
        self.audit.dir.clone().unwrap_or_else(|| {
            self.store
                .path
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join("audit")
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration error: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration error: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads `file` (if given) and then the `S3SEAL_*` environment on top.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(env_provider());
        let mut config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        if config.store.backend == StoreBackendKind::Postgres && config.audit.instance.is_none() {
            // Unique among instances sharing the store: two on one host
            // cannot listen on one address.
            let host = host_name().ok_or_else(|| {
                ConfigError::Invalid(
                    "cannot read the host name: set audit.instance (each instance sharing a store needs its own)".into(),
                )
            })?;
            config.audit.instance = Some(format!("{host}/{}", config.server.listen));
        }
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        let url: http::Uri = self
            .upstream
            .url
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("upstream.url is not a URL: {e}")))?;
        match url.scheme_str() {
            Some("https") => {}
            Some("http") if self.upstream.ca_bundle.is_some() => {
                return invalid("upstream.ca_bundle is set, but upstream.url is not https://");
            }
            Some("http") => {}
            _ => return invalid("upstream.url must start with http:// or https://"),
        }
        if url.host().is_none() {
            return invalid("upstream.url has no host");
        }
        if self.upstream.idle_timeout_seconds == 0 {
            return invalid("upstream.idle_timeout_seconds must be positive");
        }
        self.validate_tls()?;
        if let Some(problem) = self.limits.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        if self.store.backend == StoreBackendKind::Postgres {
            if self.store.postgres_url.is_none() {
                return invalid(
                    "store.backend is \"postgres\" but store.postgres_url (S3SEAL_STORE_POSTGRES_URL) is not set",
                );
            }
            // Its default lives beside the store file, which PostgreSQL
            // instances do not have: two would share one log and break its chain.
            if self.audit.dir.is_none() {
                return invalid(
                    "store.backend is \"postgres\": set audit.dir (S3SEAL_AUDIT_DIR) to this instance's own audit log directory",
                );
            }
        }
        if !self.server.require_encryption {
            return invalid(
                "server.require_encryption = false is not supported: s3seal has no path that stores objects unencrypted",
            );
        }
        if self.auth.credentials.is_empty() {
            return invalid("auth.credentials is empty: configure at least one client credential");
        }
        if self.server.account_id.len() != 12
            || !self.server.account_id.bytes().all(|b| b.is_ascii_digit())
        {
            return invalid("server.account_id must be 12 digits");
        }
        let roots = [
            self.kms.root_key.is_some(),
            self.kms.root_key_file.is_some(),
            self.kms.pkcs11_module.is_some(),
        ];
        if roots.iter().filter(|set| **set).count() > 1 {
            return invalid(
                "set only one of kms.root_key, kms.root_key_file and kms.pkcs11_module",
            );
        }
        if self.kms.pkcs11_module.is_some()
            && (self.kms.pkcs11_token_label.is_none() || self.kms.pkcs11_pin.is_none())
        {
            return invalid("kms.pkcs11_module needs kms.pkcs11_token_label and kms.pkcs11_pin");
        }
        if let Some(external) = &self.kms.external {
            external.validate()?;
        }
        if self.kms.maintenance_interval_seconds == Some(0) {
            return invalid("kms.maintenance_interval_seconds must be at least 1");
        }
        self.validate_peers()
    }

    /// Each peer is another Region, named once, reachable, and calls this
    /// deployment as a principal of its own.
    fn validate_peers(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let peers = &self.kms.peer_regions;
        for (i, peer) in peers.iter().enumerate() {
            let name = format!("kms.peer_regions[{i}] ({})", peer.region);
            if !crate::kms::replication::is_region_name(&peer.region) {
                return invalid(format!(
                    "{name}: region must look like an AWS Region name (e.g. eu-west-1)"
                ));
            }
            if peer.region == self.server.region {
                return invalid(format!(
                    "{name}: a peer must be in another Region than server.region"
                ));
            }
            if peers[..i].iter().any(|p| p.region == peer.region) {
                return invalid(format!("{name}: the Region is configured twice"));
            }
            if peers[..i].iter().any(|p| p.principal == peer.principal) {
                return invalid(format!(
                    "{name}: principal {} already belongs to another peer",
                    peer.principal
                ));
            }
            let url: http::Uri = peer
                .endpoint
                .parse()
                .map_err(|e| ConfigError::Invalid(format!("{name}: endpoint is not a URL: {e}")))?;
            match url.scheme_str() {
                Some("https") => {}
                Some("http") if peer.ca_bundle.is_none() => {}
                Some("http") => {
                    return invalid(format!(
                        "{name}: ca_bundle is set, but endpoint is not https://"
                    ));
                }
                _ => {
                    return invalid(format!(
                        "{name}: endpoint must start with http:// or https://"
                    ));
                }
            }
            if url.host().is_none() {
                return invalid(format!("{name}: endpoint has no host"));
            }
            if peer.access_key_id.is_empty() || peer.secret_access_key.expose().is_empty() {
                return invalid(format!(
                    "{name}: access_key_id and secret_access_key are required"
                ));
            }
            if !self
                .auth
                .credentials
                .iter()
                .any(|c| c.principal == peer.principal)
            {
                return invalid(format!(
                    "{name}: principal {} is not one of auth.credentials, so the peer could never call this deployment",
                    peer.principal
                ));
            }
        }
        Ok(())
    }

    /// Every TLS listener has a certificate, and a certificate has a listener.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        let tls = &self.tls;
        let serves_tls = tls.listen.is_some() || self.kms.tls;
        let has_files = tls.cert_file.is_some() || tls.key_file.is_some();
        if serves_tls && tls.files().is_none() {
            return invalid("tls.listen and kms.tls need both tls.cert_file and tls.key_file");
        }
        if has_files && !serves_tls {
            return invalid(
                "tls.cert_file/tls.key_file are set, but nothing serves TLS: set tls.listen (or kms.tls)",
            );
        }
        if self.kms.tls && self.kms.listen.is_none() {
            return invalid("kms.tls is set, but kms.listen is not");
        }
        if !self.server.plain_http && tls.listen.is_none() {
            return invalid("server.plain_http = false needs tls.listen: nothing would serve S3");
        }
        Ok(())
    }
}

/// This machine's name, for per-instance defaults.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

impl ExternalKmsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(format!("kms.external.{m}")));
        let url: http::Uri = self.endpoint.parse().map_err(|e| {
            ConfigError::Invalid(format!("kms.external.endpoint is not a URL: {e}"))
        })?;
        match url.scheme_str() {
            Some("https") => {}
            Some("http") if self.ca_bundle.is_some() => {
                return invalid("ca_bundle is set, but kms.external.endpoint is not https://");
            }
            Some("http") => {}
            _ => return invalid("endpoint must start with http:// or https://"),
        }
        if url.host().is_none() {
            return invalid("endpoint has no host");
        }
        if self.default_key_id.is_empty() {
            return invalid(
                "default_key_id is empty: name the external key for uploads that name none",
            );
        }
        if self.max_attempts == 0 || self.max_attempts > 10 {
            return invalid("max_attempts must be 1..=10");
        }
        if self.attempt_timeout_seconds == 0 || self.connect_timeout_seconds == 0 {
            return invalid("attempt_timeout_seconds and connect_timeout_seconds must be positive");
        }
        if self.cache_size == 0 {
            return invalid("cache_size must be at least 1");
        }
        Ok(())
    }
}

/// `S3SEAL_SECTION_KEY` → `section.key`, and `S3SEAL_SECTION_TABLE_KEY` →
/// `section.table.key` for the [`SUBSECTIONS`].
fn env_provider() -> Env {
    Env::prefixed("S3SEAL_").map(|key| {
        let lower = key.as_str().to_ascii_lowercase();
        for (section, table) in SUBSECTIONS {
            if let Some(rest) = lower
                .strip_prefix(&format!("{section}_{table}_"))
                .filter(|rest| !rest.is_empty())
            {
                return format!("{section}.{table}.{rest}").into();
            }
        }
        for section in SECTIONS {
            if let Some(rest) = lower
                .strip_prefix(section)
                .and_then(|r| r.strip_prefix('_'))
            {
                return format!("{section}.{rest}").into();
            }
        }
        lower.into()
    })
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "s3seal.toml",
                r#"
                [server]
                listen = "127.0.0.1:9000"
                [upstream]
                url = "http://127.0.0.1:3900"
                access_key_id = "GKfile"
                secret_access_key = "file-secret"
                [[auth.credentials]]
                access_key_id = "AK1"
                secret_access_key = "SK1"
                principal = "app"
                "#,
            )?;
            jail.set_env("S3SEAL_UPSTREAM_ACCESS_KEY_ID", "GKenv");
            jail.set_env("S3SEAL_KMS_ROOT_KEY", "abc");
            jail.set_env("S3SEAL_SERVER_SHUTDOWN_GRACE_SECONDS", "7");
            jail.set_env("S3SEAL_SERVER_ACCOUNT_ID", "123456789012");
            jail.set_env("S3SEAL_UPSTREAM_SECRET_ACCESS_KEY", "1234");
            let config = Config::load(Some(Path::new("s3seal.toml"))).unwrap();
            assert_eq!(config.upstream.access_key_id, "GKenv");
            assert_eq!(config.upstream.secret_access_key.expose(), "1234");
            assert_eq!(config.server.account_id, "123456789012");
            assert_eq!(config.server.listen.port(), 9000);
            assert_eq!(config.server.shutdown_grace_seconds, 7);
            assert_eq!(config.kms.root_key.unwrap().expose(), "abc");
            assert_eq!(config.auth.credentials[0].principal, "app");
            Ok(())
        });
    }

    #[test]
    fn environment_only() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("S3SEAL_UPSTREAM_URL", "http://garage:3900");
            jail.set_env("S3SEAL_UPSTREAM_ACCESS_KEY_ID", "GK");
            jail.set_env("S3SEAL_UPSTREAM_SECRET_ACCESS_KEY", "S");
            jail.set_env(
                "S3SEAL_AUTH_CREDENTIALS",
                r#"[{access_key_id="AK",secret_access_key="SK",principal="app"}]"#,
            );
            let config = Config::load(None).unwrap();
            assert_eq!(config.upstream.url, "http://garage:3900");
            assert_eq!(config.auth.credentials.len(), 1);
            Ok(())
        });
    }

    #[test]
    fn a_postgres_store_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.set_env("S3SEAL_STORE_BACKEND", "postgres");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("store.postgres_url"), "{err}");
            jail.set_env(
                "S3SEAL_STORE_POSTGRES_URL",
                "postgres://s3seal:hunter2@db:5432/s3seal",
            );
            jail.set_env("S3SEAL_STORE_POSTGRES_POOL_SIZE", "4");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("audit.dir"), "{err}");
            jail.set_env("S3SEAL_AUDIT_DIR", "/var/lib/s3seal/audit");
            jail.set_env("S3SEAL_SERVER_LISTEN", "0.0.0.0:9000");
            let config = Config::load(None).unwrap();
            assert_eq!(config.store.backend, StoreBackendKind::Postgres);
            assert_eq!(config.store.postgres_pool_size, 4);
            assert!(
                !format!("{config:?}").contains("hunter2"),
                "the password is redacted"
            );
            // Each instance sharing the store gets its own audit chain.
            let instance = config.audit.instance.clone().unwrap();
            assert!(instance.ends_with("/0.0.0.0:9000"), "{instance}");
            assert_eq!(
                config.audit.chain_head_setting(),
                format!("audit_chain_head/{instance}")
            );
            jail.set_env("S3SEAL_AUDIT_INSTANCE", "s3seal-a");
            let config = Config::load(None).unwrap();
            assert_eq!(
                config.audit.chain_head_setting(),
                "audit_chain_head/s3seal-a"
            );
            Ok(())
        });
    }

    #[test]
    fn the_embedded_store_keeps_its_single_chain() {
        figment::Jail::expect_with(|jail| {
            minimal_env(jail);
            let config = Config::load(None).unwrap();
            assert_eq!(config.store.backend, StoreBackendKind::Embedded);
            assert_eq!(config.audit.chain_head_setting(), "audit_chain_head");
            Ok(())
        });
    }

    /// The environment every TLS test starts from: a valid plain-HTTP setup.
    fn minimal_env(jail: &mut figment::Jail) {
        jail.set_env("S3SEAL_UPSTREAM_URL", "https://s3.example.com");
        jail.set_env("S3SEAL_UPSTREAM_ACCESS_KEY_ID", "GK");
        jail.set_env("S3SEAL_UPSTREAM_SECRET_ACCESS_KEY", "S");
        jail.set_env(
            "S3SEAL_AUTH_CREDENTIALS",
            r#"[{access_key_id="AK",secret_access_key="SK",principal="app"}]"#,
        );
    }

    #[test]
    fn tls_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.set_env("S3SEAL_TLS_LISTEN", "0.0.0.0:8443");
            jail.set_env("S3SEAL_TLS_CERT_FILE", "/etc/s3seal/cert.pem");
            jail.set_env("S3SEAL_TLS_KEY_FILE", "/etc/s3seal/key.pem");
            jail.set_env("S3SEAL_SERVER_PLAIN_HTTP", "false");
            jail.set_env("S3SEAL_UPSTREAM_CA_BUNDLE", "/etc/s3seal/ca.pem");
            let config = Config::load(None).unwrap();
            assert_eq!(config.tls.listen.unwrap().port(), 8443);
            assert_eq!(
                config.tls.files(),
                Some((
                    Path::new("/etc/s3seal/cert.pem"),
                    Path::new("/etc/s3seal/key.pem")
                ))
            );
            assert!(!config.server.plain_http);
            assert_eq!(
                config.upstream.ca_bundle.as_deref(),
                Some(Path::new("/etc/s3seal/ca.pem"))
            );
            Ok(())
        });
    }

    #[test]
    fn inconsistent_tls_settings_are_explained() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[("S3SEAL_TLS_LISTEN", "127.0.0.1:8443")], "tls.cert_file"),
            (&[("S3SEAL_TLS_CERT_FILE", "c.pem")], "nothing serves TLS"),
            (
                &[
                    ("S3SEAL_KMS_TLS", "true"),
                    ("S3SEAL_TLS_CERT_FILE", "c.pem"),
                    ("S3SEAL_TLS_KEY_FILE", "k.pem"),
                ],
                "kms.listen",
            ),
            (&[("S3SEAL_SERVER_PLAIN_HTTP", "false")], "needs tls.listen"),
            (
                &[
                    ("S3SEAL_UPSTREAM_URL", "http://127.0.0.1:3900"),
                    ("S3SEAL_UPSTREAM_CA_BUNDLE", "ca.pem"),
                ],
                "upstream.ca_bundle",
            ),
            (&[("S3SEAL_UPSTREAM_URL", "ftp://x")], "upstream.url"),
        ];
        for (env, expected) in cases {
            figment::Jail::expect_with(|jail| {
                minimal_env(jail);
                for (key, value) in env {
                    jail.set_env(key, value);
                }
                let err = Config::load(None).unwrap_err().to_string();
                assert!(err.contains(expected), "{env:?}: {err}");
                Ok(())
            });
        }
    }

    fn peer_env(jail: &mut figment::Jail, peers: &str) {
        jail.set_env("S3SEAL_UPSTREAM_URL", "http://127.0.0.1:3900");
        jail.set_env("S3SEAL_UPSTREAM_ACCESS_KEY_ID", "GK");
        jail.set_env("S3SEAL_UPSTREAM_SECRET_ACCESS_KEY", "S");
        jail.set_env(
            "S3SEAL_AUTH_CREDENTIALS",
            r#"[{access_key_id="AK",secret_access_key="SK",principal="app"},{access_key_id="PEER",secret_access_key="PS",principal="s3seal-eu-west-1"}]"#,
        );
        jail.set_env("S3SEAL_KMS_PEER_REGIONS", peers);
    }

    #[test]
    fn peer_regions_from_file_and_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "s3seal.toml",
                r#"
                [upstream]
                url = "http://127.0.0.1:3900"
                access_key_id = "GK"
                secret_access_key = "S"
                [kms]
                maintenance_interval_seconds = 5
                [[kms.peer_regions]]
                region = "eu-west-1"
                endpoint = "https://kms.eu.example:9443"
                access_key_id = "AKUS"
                secret_access_key = "us-secret"
                principal = "s3seal-eu-west-1"
                ca_bundle = "/etc/s3seal/eu-ca.pem"
                [[auth.credentials]]
                access_key_id = "PEER"
                secret_access_key = "PS"
                principal = "s3seal-eu-west-1"
                "#,
            )?;
            let config = Config::load(Some(Path::new("s3seal.toml"))).unwrap();
            let peer = config.kms.peer("eu-west-1").unwrap();
            assert_eq!(peer.endpoint, "https://kms.eu.example:9443");
            assert_eq!(peer.secret_access_key.expose(), "us-secret");
            assert_eq!(peer.connect_timeout_seconds, 5);
            assert_eq!(
                config
                    .kms
                    .peer_calling_as("s3seal-eu-west-1")
                    .unwrap()
                    .region,
                "eu-west-1"
            );
            assert!(config.kms.peer_calling_as("app").is_none());
            assert_eq!(config.kms.maintenance_interval().as_secs(), 5);
            assert!(!format!("{config:?}").contains("us-secret"));
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            peer_env(
                jail,
                r#"[{region="eu-west-1",endpoint="http://127.0.0.1:9001",access_key_id="A",secret_access_key="B",principal="s3seal-eu-west-1"}]"#,
            );
            jail.set_env("S3SEAL_KMS_MAINTENANCE_INTERVAL_SECONDS", "2");
            let config = Config::load(None).unwrap();
            assert_eq!(config.kms.peer_regions.len(), 1);
            assert_eq!(config.kms.peer("eu-west-1").unwrap().access_key_id, "A");
            assert_eq!(config.kms.maintenance_interval().as_secs(), 2);
            Ok(())
        });
    }

    #[test]
    fn inconsistent_peers_are_explained() {
        let peer = |region: &str, endpoint: &str, principal: &str| {
            format!(
                r#"{{region="{region}",endpoint="{endpoint}",access_key_id="A",secret_access_key="B",principal="{principal}"}}"#
            )
        };
        let ok = peer("eu-west-1", "http://127.0.0.1:9001", "s3seal-eu-west-1");
        let cases = [
            (
                format!("[{}]", peer("us-east-1", "http://h", "s3seal-eu-west-1")),
                "another Region",
            ),
            (format!("[{ok},{ok}]"), "configured twice"),
            (
                format!("[{}]", peer("eu-west-1", "ftp://h", "s3seal-eu-west-1")),
                "http:// or https://",
            ),
            (
                format!("[{}]", peer("eu-west-1", "http://h", "nobody")),
                "not one of auth.credentials",
            ),
            (
                format!("[{}]", peer("Europe", "http://h", "s3seal-eu-west-1")),
                "Region name",
            ),
        ];
        for (peers, expected) in cases {
            figment::Jail::expect_with(|jail| {
                peer_env(jail, &peers);
                let err = Config::load(None).unwrap_err().to_string();
                assert!(err.contains(expected), "{peers}: {err}");
                Ok(())
            });
        }
        figment::Jail::expect_with(|jail| {
            peer_env(jail, "[]");
            jail.set_env("S3SEAL_KMS_MAINTENANCE_INTERVAL_SECONDS", "0");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("maintenance_interval_seconds"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn external_kms_from_file_and_environment() {
        figment::Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.create_file(
                "s3seal.toml",
                r#"
                [kms.external]
                endpoint = "https://kms.eu-west-1.amazonaws.com"
                region = "eu-west-1"
                access_key_id = "AKIAFILE"
                secret_access_key = "file-secret"
                default_key_id = "alias/s3"
                cache_ttl_seconds = 60
                "#,
            )?;
            jail.set_env("S3SEAL_KMS_EXTERNAL_ACCESS_KEY_ID", "AKIAENV");
            jail.set_env("S3SEAL_KMS_EXTERNAL_SECRET_ACCESS_KEY", "env-secret");
            jail.set_env("S3SEAL_KMS_EXTERNAL_CACHE_SIZE", "7");
            jail.set_env("S3SEAL_KMS_EXTERNAL_CA_BUNDLE", "/etc/s3seal/kms-ca.pem");
            let config = Config::load(Some(Path::new("s3seal.toml"))).unwrap();
            let external = config.kms.external.unwrap();
            assert_eq!(external.endpoint, "https://kms.eu-west-1.amazonaws.com");
            assert_eq!(external.region, "eu-west-1");
            assert_eq!(external.access_key_id, "AKIAENV");
            assert_eq!(external.secret_access_key.expose(), "env-secret");
            assert_eq!(external.default_key_id, "alias/s3");
            assert_eq!((external.cache_ttl_seconds, external.cache_size), (60, 7));
            assert_eq!(
                external.ca_bundle.as_deref(),
                Some(Path::new("/etc/s3seal/kms-ca.pem"))
            );
            assert_eq!(
                (
                    external.connect_timeout_seconds,
                    external.attempt_timeout_seconds,
                    external.max_attempts
                ),
                (5, 5, 3),
                "defaults"
            );
            Ok(())
        });
    }

    /// The required `[kms.external]` keys, from the environment.
    fn minimal_external_env(jail: &mut figment::Jail) {
        jail.set_env("S3SEAL_KMS_EXTERNAL_ENDPOINT", "http://127.0.0.1:9000");
        jail.set_env("S3SEAL_KMS_EXTERNAL_ACCESS_KEY_ID", "AK");
        jail.set_env("S3SEAL_KMS_EXTERNAL_SECRET_ACCESS_KEY", "SK");
        jail.set_env("S3SEAL_KMS_EXTERNAL_DEFAULT_KEY_ID", "1234");
    }

    #[test]
    fn external_kms_from_the_environment_only() {
        figment::Jail::expect_with(|jail| {
            minimal_env(jail);
            assert!(Config::load(None).unwrap().kms.external.is_none());
            minimal_external_env(jail);
            let external = Config::load(None).unwrap().kms.external.unwrap();
            assert_eq!(external.endpoint, "http://127.0.0.1:9000");
            assert_eq!(external.default_key_id, "1234");
            assert_eq!(external.region, "us-east-1");
            assert_eq!(external.cache_ttl_seconds, 300);
            Ok(())
        });
    }

    #[test]
    fn invalid_external_kms_settings_are_explained() {
        let cases: [(&str, &str, &str); 6] = [
            (
                "S3SEAL_KMS_EXTERNAL_ENDPOINT",
                "ftp://kms",
                "endpoint must start",
            ),
            ("S3SEAL_KMS_EXTERNAL_CA_BUNDLE", "ca.pem", "ca_bundle"),
            (
                "S3SEAL_KMS_EXTERNAL_DEFAULT_KEY_ID",
                "\"\"",
                "default_key_id",
            ),
            ("S3SEAL_KMS_EXTERNAL_MAX_ATTEMPTS", "0", "max_attempts"),
            ("S3SEAL_KMS_EXTERNAL_CACHE_SIZE", "0", "cache_size"),
            (
                "S3SEAL_KMS_EXTERNAL_ATTEMPT_TIMEOUT_SECONDS",
                "0",
                "attempt_timeout",
            ),
        ];
        for (key, value, expected) in cases {
            figment::Jail::expect_with(|jail| {
                minimal_env(jail);
                minimal_external_env(jail);
                jail.set_env(key, value);
                let err = Config::load(None).unwrap_err().to_string();
                assert!(err.contains(expected), "{key}={value}: {err}");
                Ok(())
            });
        }
        figment::Jail::expect_with(|jail| {
            minimal_env(jail);
            jail.set_env("S3SEAL_KMS_EXTERNAL_ENDPOINT", "http://127.0.0.1:9000");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("access_key_id"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn invalid_configs_are_explained() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("S3SEAL_UPSTREAM_URL", "ftp://x");
            jail.set_env("S3SEAL_UPSTREAM_ACCESS_KEY_ID", "GK");
            jail.set_env("S3SEAL_UPSTREAM_SECRET_ACCESS_KEY", "S");
            jail.set_env(
                "S3SEAL_AUTH_CREDENTIALS",
                r#"[{access_key_id="AK",secret_access_key="SK",principal="app"}]"#,
            );
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("upstream.url"), "{err}");
            Ok(())
        });
    }
}
