//! Grants: per-principal permissions on one key, beside its policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EncryptionContext;

/// The operations a grant can allow (AWS's `GrantOperation` enum).
pub const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

/// `EncryptionContextSubset` / `EncryptionContextEquals`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantConstraints {
    #[serde(default)]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grant_id: String,
    /// Secret-free token returned to the creator; usable with RetireGrant.
    pub grant_token: String,
    pub key_id: String,
    pub grantee_principal: String,
    pub retiring_principal: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<String>,
    pub constraints: Option<GrantConstraints>,
    pub name: Option<String>,
    pub creation_date: i64,
}

impl crate::store::HasKeyId for Grant {
    fn key_id(&self) -> &str {
        &self.key_id
    }
}

impl Grant {
    /// Does this grant let `principal` perform `operation` with `context`?
    pub fn allows(
        &self,
        principal: &str,
        operation: &str,
        context: Option<&EncryptionContext>,
    ) -> bool {
        if self.grantee_principal != principal {
            return false;
        }
        // GenerateDataKey* families are granted by name, as on AWS.
        if !self.operations.iter().any(|o| o == operation) {
            return false;
        }
        let Some(constraints) = &self.constraints else {
            return true;
        };
        let pairs: BTreeMap<&str, &str> = context.map(|c| c.iter().collect()).unwrap_or_default();
        if let Some(equals) = &constraints.encryption_context_equals {
            let wanted: BTreeMap<&str, &str> = equals
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if wanted != pairs {
                return false;
            }
        }
        if let Some(subset) = &constraints.encryption_context_subset
            && !subset
                .iter()
                .all(|(k, v)| pairs.get(k.as_str()) == Some(&v.as_str()))
        {
            return false;
        }
        true
    }

    #[cfg(test)]
    pub fn for_test(key_id: &str, grantee: &str, operations: &[&str]) -> Self {
        Grant {
            grant_id: "g".into(),
            grant_token: "t".into(),
            key_id: key_id.into(),
            grantee_principal: grantee.into(),
            retiring_principal: None,
            issuing_account: "000000000000".into(),
            operations: operations.iter().map(|s| s.to_string()).collect(),
            constraints: None,
            name: None,
            creation_date: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_limit_the_context() {
        let mut g = Grant::for_test("k", "p", &["Decrypt"]);
        let ctx = |pairs: &[(&str, &str)]| -> EncryptionContext {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        g.constraints = Some(GrantConstraints {
            encryption_context_subset: Some([("team".to_string(), "pay".to_string())].into()),
            encryption_context_equals: None,
        });
        assert!(g.allows("p", "Decrypt", Some(&ctx(&[("team", "pay"), ("x", "y")]))));
        assert!(!g.allows("p", "Decrypt", Some(&ctx(&[("team", "ops")]))));
        assert!(!g.allows("p", "Decrypt", None));
        g.constraints = Some(GrantConstraints {
            encryption_context_subset: None,
            encryption_context_equals: Some([("team".to_string(), "pay".to_string())].into()),
        });
        assert!(g.allows("p", "Decrypt", Some(&ctx(&[("team", "pay")]))));
        assert!(!g.allows("p", "Decrypt", Some(&ctx(&[("team", "pay"), ("x", "y")]))));
        assert!(!g.allows("q", "Decrypt", Some(&ctx(&[("team", "pay")]))));
    }
}
