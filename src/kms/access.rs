//! Who may use a KMS key: key policies and grants, evaluated on every use.
//!
//! As on AWS, a key's policy is the primary control: an explicit `Deny`
//! refuses, an `Allow` permits, and otherwise a grant naming the caller and
//! the operation permits; else `AccessDeniedException`. s3seal has no IAM, so
//! the default policy's `arn:aws:iam::<account>:root` principal (AWS: "the
//! account, through its IAM policies") means every s3seal principal of the
//! account. Key uses s3seal makes while serving S3 requests are checked for
//! the S3 caller's own principal, with `kms:ViaService` set to
//! `s3.<region>.amazonaws.com`, so "only the payments role can read the
//! payments bucket's data" is a key policy.

use super::grants::Grant;
use super::{EncryptionContext, KeyRecord, KmsError};
use crate::policy::{Decision, RequestFacts};

/// How a KMS API request reached s3seal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// The client's address (`aws:SourceIp`).
    pub source_ip: Option<String>,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure: bool,
}

/// Who is using a key, and through what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `arn:aws:iam::<account>:user/<name>`.
    pub arn: String,
    pub account: String,
    /// `s3.<region>.amazonaws.com` when s3seal uses the key for an S3 request.
    pub via_service: Option<String>,
    /// For KMS API requests: the client's connection. Key uses s3seal makes
    /// for S3 requests have none, as AWS's own service-to-KMS calls.
    pub transport: Option<Transport>,
    /// The operator's offline tools (`s3seal kms …`): they hold the root key
    /// already, so key policies do not apply to them.
    operator: bool,
}

impl Caller {
    pub fn principal(arn: &str, account: &str) -> Self {
        Caller {
            arn: arn.to_string(),
            account: account.to_string(),
            via_service: None,
            transport: None,
            operator: false,
        }
    }

    pub fn via(mut self, service: impl Into<String>) -> Self {
        self.via_service = Some(service.into());
        self
    }

    pub fn over(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    pub fn operator(account: &str) -> Self {
        Caller {
            arn: format!("arn:aws:iam::{account}:root"),
            account: account.to_string(),
            via_service: None,
            transport: None,
            operator: true,
        }
    }

    /// The user name at the end of the ARN (`aws:username`).
    pub fn user_name(&self) -> Option<&str> {
        self.arn.rsplit_once(":user/").map(|(_, name)| name)
    }
}

/// AWS's default key policy: the account (here: all its principals) may do everything.
pub fn default_policy(account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

/// The facts a key policy sees for `action` on `key_arn`.
pub fn request_facts(
    caller: &Caller,
    action: &str,
    key_arn: &str,
    context: Option<&EncryptionContext>,
) -> RequestFacts {
    let mut facts = RequestFacts {
        principal_arn: Some(caller.arn.clone()),
        principal_account: Some(caller.account.clone()),
        action: action.to_string(),
        resource: key_arn.to_string(),
        ..RequestFacts::default()
    };
    facts.set_one("aws:PrincipalArn", caller.arn.clone());
    facts.set_one("aws:PrincipalAccount", caller.account.clone());
    facts.set_one("kms:CallerAccount", caller.account.clone());
    if let Some(name) = caller.user_name() {
        facts.set_one("aws:username", name);
    }
    if let Some(service) = &caller.via_service {
        facts.set_one("kms:ViaService", service.clone());
    }
    if let Some(transport) = &caller.transport {
        if let Some(ip) = &transport.source_ip {
            facts.set_one("aws:SourceIp", ip.clone());
        }
        facts.set_one("aws:SecureTransport", transport.secure.to_string());
    }
    facts.set_one("aws:CurrentTime", now_rfc3339());
    facts.set_one("aws:EpochTime", super::manager::unix_now().to_string());
    if let Some(context) = context {
        let keys: Vec<String> = context.iter().map(|(k, _)| k.to_string()).collect();
        if !keys.is_empty() {
            facts.set("kms:EncryptionContextKeys", keys);
        }
        for (k, v) in context.iter() {
            facts.set_one(&format!("kms:EncryptionContext:{k}"), v);
        }
    }
    facts
}

/// Allows or refuses `action` (`kms:Decrypt`, …) on `record` for `caller`.
pub fn authorize(
    caller: &Caller,
    action: &str,
    record: &KeyRecord,
    key_arn: &str,
    context: Option<&EncryptionContext>,
    grants: &[Grant],
) -> Result<(), KmsError> {
    if caller.operator {
        return Ok(());
    }
    // The default policy names the key's own account (the 5th field of its ARN).
    let key_account = key_arn.split(':').nth(4).unwrap_or_default();
    let policy_text = record
        .policy
        .clone()
        .unwrap_or_else(|| default_policy(key_account));
    let policy = crate::policy::parsed::parse_stored(&policy_text, true)
        .map_err(|e| KmsError::Internal(format!("stored key policy is invalid: {e}")))?;
    let facts = request_facts(caller, action, key_arn, context);
    match policy.evaluate(&facts) {
        Decision::Deny => Err(denied(
            caller,
            action,
            key_arn,
            "with an explicit deny in the key policy",
        )),
        Decision::Allow => Ok(()),
        Decision::NotApplicable => {
            let operation = action.strip_prefix("kms:").unwrap_or(action);
            if grants
                .iter()
                .any(|g| g.allows(&caller.arn, operation, context))
            {
                Ok(())
            } else {
                Err(denied(
                    caller,
                    action,
                    key_arn,
                    "because no key policy or grant allows it",
                ))
            }
        }
    }
}

fn denied(caller: &Caller, action: &str, key_arn: &str, why: &str) -> KmsError {
    KmsError::AccessDenied(format!(
        "User: {} is not authorized to perform: {action} on resource: {key_arn} {why}",
        caller.arn
    ))
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::KeyState;

    fn record(policy: Option<&str>) -> KeyRecord {
        KeyRecord {
            key_id: "k".into(),
            description: String::new(),
            created_at: 0,
            state: KeyState::Enabled,
            key_spec: "SYMMETRIC_DEFAULT".into(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            origin: "AWS_KMS".into(),
            current_version: 1,
            versions: vec![],
            policy: policy.map(str::to_string),
            tags: vec![],
            rotation: None,
            deletion_date: None,
            deletion_window_days: None,
            import: None,
            material_valid_to: None,
            material_commitment: None,
            key_manager: "CUSTOMER".into(),
            multi_region: None,
        }
    }

    const ACCOUNT: &str = "000000000000";
    const KEY_ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/k";

    fn user(name: &str) -> Caller {
        Caller::principal(&format!("arn:aws:iam::{ACCOUNT}:user/{name}"), ACCOUNT)
    }

    #[test]
    fn default_policy_allows_the_account() {
        assert!(authorize(&user("a"), "kms:Decrypt", &record(None), KEY_ARN, None, &[]).is_ok());
        let stranger = Caller::principal("arn:aws:iam::111111111111:user/x", "111111111111");
        assert!(matches!(
            authorize(&stranger, "kms:Decrypt", &record(None), KEY_ARN, None, &[]),
            Err(KmsError::AccessDenied(_))
        ));
    }

    #[test]
    fn policies_with_context_and_via_service() {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[
              {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/payments"}},"Action":["kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*",
                "Condition":{{"StringEquals":{{"kms:ViaService":"s3.us-east-1.amazonaws.com"}},"StringLike":{{"kms:EncryptionContext:aws:s3:arn":"arn:aws:s3:::payments/*"}}}}}}]}}"#
        );
        let key = record(Some(&policy));
        let ctx = EncryptionContext::for_object("payments", "2026/01.csv");
        let s3 = |name: &str| user(name).via("s3.us-east-1.amazonaws.com");
        assert!(
            authorize(
                &s3("payments"),
                "kms:Decrypt",
                &key,
                KEY_ARN,
                Some(&ctx),
                &[]
            )
            .is_ok()
        );
        assert!(
            authorize(
                &s3("payments"),
                "kms:GenerateDataKey",
                &key,
                KEY_ARN,
                Some(&ctx),
                &[]
            )
            .is_ok()
        );
        assert!(
            authorize(
                &s3("analytics"),
                "kms:Decrypt",
                &key,
                KEY_ARN,
                Some(&ctx),
                &[]
            )
            .is_err()
        );
        assert!(
            authorize(
                &user("payments"),
                "kms:Decrypt",
                &key,
                KEY_ARN,
                Some(&ctx),
                &[]
            )
            .is_err(),
            "not via S3"
        );
        let other = EncryptionContext::for_object("other", "k");
        assert!(
            authorize(
                &s3("payments"),
                "kms:Decrypt",
                &key,
                KEY_ARN,
                Some(&other),
                &[]
            )
            .is_err()
        );
        assert!(
            authorize(
                &Caller::operator(ACCOUNT),
                "kms:Decrypt",
                &key,
                KEY_ARN,
                None,
                &[]
            )
            .is_ok()
        );
    }

    #[test]
    fn secure_transport_comes_from_the_connection() {
        let policy = format!(
            r#"{{"Statement":[
              {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
              {{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",
                "Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}}]}}"#
        );
        let key = record(Some(&policy));
        let over = |secure| {
            user("a").over(Transport {
                source_ip: Some("127.0.0.1".into()),
                secure,
            })
        };
        let decrypt = |caller: &Caller| authorize(caller, "kms:Decrypt", &key, KEY_ARN, None, &[]);
        assert!(decrypt(&over(true)).is_ok());
        assert!(decrypt(&over(false)).is_err());
        // Key uses for S3 requests carry no transport, as AWS's service calls:
        // the condition key is absent, so `Bool` does not match.
        assert!(decrypt(&user("a").via("s3.us-east-1.amazonaws.com")).is_ok());
    }

    #[test]
    fn grants_add_permissions_but_not_over_a_deny() {
        let policy = format!(
            r#"{{"Statement":[{{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/mallory"}},"Action":"kms:*","Resource":"*"}}]}}"#
        );
        let key = record(Some(&policy));
        let grant = |who: &str| {
            Grant::for_test(
                "k",
                &format!("arn:aws:iam::{ACCOUNT}:user/{who}"),
                &["Decrypt"],
            )
        };
        assert!(authorize(&user("bob"), "kms:Decrypt", &key, KEY_ARN, None, &[]).is_err());
        assert!(
            authorize(
                &user("bob"),
                "kms:Decrypt",
                &key,
                KEY_ARN,
                None,
                &[grant("bob")]
            )
            .is_ok()
        );
        assert!(
            authorize(
                &user("bob"),
                "kms:Encrypt",
                &key,
                KEY_ARN,
                None,
                &[grant("bob")]
            )
            .is_err()
        );
        assert!(
            authorize(
                &user("mallory"),
                "kms:Decrypt",
                &key,
                KEY_ARN,
                None,
                &[grant("mallory")]
            )
            .is_err()
        );
    }
}
