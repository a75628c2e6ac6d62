//! Client credentials: access key id → secret and the principal it authenticates.

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use zeroize::Zeroizing;

/// A secret string that is zeroized on drop and never printed.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::config::text(deserializer).map(Secret::new)
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One client credential as configured.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientCredential {
    #[serde(deserialize_with = "crate::config::text")]
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// The principal's name; its ARN is `arn:aws:iam::<account>:user/<name>`.
    #[serde(deserialize_with = "crate::config::text")]
    pub principal: String,
    /// Buckets this principal owns (names, `*` wildcards allowed): on them it
    /// may do whatever no bucket policy denies. Elsewhere it needs a bucket
    /// policy that allows it. Default: every bucket.
    #[serde(default = "all_buckets")]
    pub buckets: Vec<String>,
}

fn all_buckets() -> Vec<String> {
    vec!["*".to_string()]
}

/// Who made a request, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub arn: String,
    pub access_key_id: String,
    /// Bucket name patterns this principal owns.
    pub owned_buckets: Vec<String>,
}

impl Principal {
    pub fn owns(&self, bucket: &str) -> bool {
        self.owned_buckets
            .iter()
            .any(|pattern| crate::policy::wildcard::glob_match(pattern, bucket, false))
    }
}

#[derive(Debug, Default)]
pub struct CredentialStore {
    by_access_key: HashMap<String, ClientCredential>,
    account_id: String,
}

impl CredentialStore {
    pub fn new(credentials: &[ClientCredential], account_id: &str) -> Result<Self, String> {
        let mut by_access_key = HashMap::new();
        for cred in credentials {
            if cred.access_key_id.is_empty()
                || cred.secret_access_key.expose().is_empty()
                || cred.principal.is_empty()
            {
                return Err(
                    "every credential needs access_key_id, secret_access_key and principal".into(),
                );
            }
            if by_access_key
                .insert(cred.access_key_id.clone(), cred.clone())
                .is_some()
            {
                return Err(format!(
                    "access key id {} is configured twice",
                    cred.access_key_id
                ));
            }
        }
        Ok(CredentialStore {
            by_access_key,
            account_id: account_id.to_string(),
        })
    }

    pub fn lookup(&self, access_key_id: &str) -> Option<(&Secret, Principal)> {
        self.by_access_key.get(access_key_id).map(|cred| {
            let principal = Principal {
                name: cred.principal.clone(),
                arn: format!("arn:aws:iam::{}:user/{}", self.account_id, cred.principal),
                access_key_id: cred.access_key_id.clone(),
                owned_buckets: cred.buckets.clone(),
            };
            (&cred.secret_access_key, principal)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let cred = ClientCredential {
            access_key_id: "AK".into(),
            secret_access_key: Secret::new("supersecretvalue"),
            principal: "alice".into(),
            buckets: vec!["*".into()],
        };
        let store = CredentialStore::new(std::slice::from_ref(&cred), "123456789012").unwrap();
        assert!(!format!("{cred:?}{store:?}").contains("supersecretvalue"));
        let (_, principal) = store.lookup("AK").unwrap();
        assert_eq!(principal.arn, "arn:aws:iam::123456789012:user/alice");
        assert!(CredentialStore::new(&[cred.clone(), cred], "1").is_err());
    }
}
