//! [`AppState`]: the long-lived parts every request handler uses.

use std::sync::Arc;

use crate::audit::event::KMS_KEY_RESOURCE;
use crate::audit::signer::AuditSigner;
use crate::audit::{AuditEvent, AuditLog};
use crate::auth::{Authenticator, CredentialStore};
use crate::config::Config;
use crate::kms::external::ExternalKms;
use crate::kms::replication::Replicator;
use crate::kms::{KeyManager, RootKey};
use crate::s3::object_index::ObjectIndex;
use crate::store::Store;
use crate::upstream::UpstreamClient;

pub struct AppState {
    pub config: Config,
    pub auth: Authenticator,
    pub upstream: UpstreamClient,
    pub kms: KeyManager,
    pub index: ObjectIndex,
    /// The store itself, for multipart uploads and layouts.
    pub store: Arc<Store>,
    /// Key id used when an upload names none (and for `AES256`).
    pub default_kms_key_id: String,
    /// `[kms.external]`: wraps new objects' data keys under its bucket keys
    /// instead of the built-in KMS's keys.
    pub external_kms: Option<ExternalKms>,
    /// Every key use and security decision, durably (see [`crate::audit`]).
    pub audit: AuditLog,
    /// Multi-Region keys' peer deployments (see [`crate::kms::replication`]).
    pub replication: Replicator,
    /// `[limits]`: each principal's request rate.
    pub rate_limits: crate::limits::PrincipalRateLimiter,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartupError(pub String);

impl AppState {
    /// Opens the store and the key service over it, checking the root key.
    pub fn open_key_manager(config: &Config) -> Result<KeyManager, StartupError> {
        Self::key_manager(config, Self::open_store(config)?)
    }

    /// For the offline tools that change keys: the key service and the audit
    /// log their changes go to.
    pub fn open_for_key_changes(config: &Config) -> Result<(KeyManager, AuditLog), StartupError> {
        let store = Self::open_store(config)?;
        let kms = Self::key_manager(config, store.clone())?;
        let audit = Self::open_audit_log(config, &kms, store)?;
        Ok((kms, audit))
    }

    fn open_store(config: &Config) -> Result<Arc<Store>, StartupError> {
        Ok(Arc::new(
            Store::connect(&config.store).map_err(|e| StartupError(e.to_string()))?,
        ))
    }

    fn key_manager(config: &Config, store: Arc<Store>) -> Result<KeyManager, StartupError> {
        let root = match (
            &config.kms.root_key,
            &config.kms.root_key_file,
            config.kms.hsm(),
        ) {
            (Some(key), _, _) => RootKey::from_text(key.expose()),
            (None, Some(file), _) => RootKey::from_file(file),
            (None, None, Some((location, pin))) => RootKey::from_hsm(&location, pin),
            (None, None, None) => Err(crate::kms::root::RootKeyError::Missing),
        }
        .map_err(|e| StartupError(e.to_string()))?;
        KeyManager::new(
            store,
            root,
            &config.server.region,
            &config.server.account_id,
        )
        .map_err(|e| StartupError(e.to_string()))
    }

    pub fn new(config: Config) -> Result<Self, StartupError> {
        let store = Self::open_store(&config)?;
        let kms = Self::key_manager(&config, store.clone())?;
        let index = ObjectIndex::new(store.clone());
        let audit = Self::open_audit_log(&config, &kms, store.clone())?;
        let default_kms_key_id = match &config.kms.default_key_id {
            Some(key_ref) => {
                kms.describe_key(key_ref)
                    .map_err(|e| StartupError(format!("kms.default_key_id: {e}")))?
                    .key_id
            }
            None => {
                let own = kms
                    .ensure_default_key()
                    .map_err(|e| StartupError(e.to_string()))?;
                if own.created {
                    record_own_key_creation(&audit, &config, kms.key_arn(&own.key_id))?;
                }
                own.key_id
            }
        };
        let credentials = CredentialStore::new(&config.auth.credentials, &config.server.account_id)
            .map_err(StartupError)?;
        let auth = Authenticator::new(credentials, &config.server.region);
        let upstream = UpstreamClient::new(&config.upstream).map_err(StartupError)?;
        let external_kms = config
            .kms
            .external
            .as_ref()
            .map(ExternalKms::new)
            .transpose()
            .map_err(StartupError)?;
        let replication = Replicator::new(&config.kms.peer_regions).map_err(StartupError)?;
        Ok(AppState {
            rate_limits: crate::limits::PrincipalRateLimiter::new(&config.limits),
            replication,
            config,
            auth,
            upstream,
            kms,
            index,
            store,
            default_kms_key_id,
            external_kms,
            audit,
        })
    }

    /// Opens the audit log with its signing key (created on first start).
    pub fn open_audit_log(
        config: &Config,
        kms: &KeyManager,
        store: Arc<Store>,
    ) -> Result<AuditLog, StartupError> {
        let signer = AuditSigner::open(kms, config.audit.signing_key_id.as_deref())
            .map_err(|e| StartupError(e.to_string()))?;
        let created_key = signer
            .created_its_key()
            .then(|| signer.key_arn().to_string());
        let audit = AuditLog::open(
            &config.audit,
            config.audit_dir(),
            store,
            signer,
            (&config.server.region, &config.server.account_id),
        )
        .map_err(|e| StartupError(e.to_string()))?;
        if let Some(key_arn) = created_key {
            record_own_key_creation(&audit, config, key_arn)?;
        }
        Ok(audit)
    }
}

/// Records that s3seal created one of its own keys (the default key, the
/// audit signing key: [`crate::kms::manager::OwnKey`]) by itself, so that
/// every key's creation is in the audit log.
fn record_own_key_creation(
    audit: &AuditLog,
    config: &Config,
    key_arn: String,
) -> Result<(), StartupError> {
    let event = AuditEvent::service_event(
        "CreateKey",
        &config.server.region,
        &config.server.account_id,
    )
    .with_resource(KMS_KEY_RESOURCE, key_arn);
    audit
        .record_blocking(event)
        .map_err(|e| StartupError(format!("auditing the creation of s3seal's own key: {e}")))
}
