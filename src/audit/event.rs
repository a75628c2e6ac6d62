//! One audit event, shaped like a CloudTrail record so the tools that read
//! CloudTrail (and the people who know it) read it too.
//!
//! Events never carry plaintext, data keys, ciphertext blobs or signatures:
//! only identifiers (key ARNs, bucket and object names), encryption contexts,
//! algorithms and outcomes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// CloudTrail's record format version the fields follow.
const EVENT_VERSION: &str = "1.08";

pub const KMS_SOURCE: &str = "kms.amazonaws.com";
pub const S3_SOURCE: &str = "s3.amazonaws.com";

/// Where a request came from, as the server saw it.
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin {
    pub request_id: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Who acted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity {
    /// `IAMUser` for a client credential, `AWSService` for s3seal's own
    /// work (scheduled rotation), `Unknown` when authentication failed.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// `s3.amazonaws.com` when s3seal used a key on behalf of an S3 request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
}

impl UserIdentity {
    /// An authenticated client.
    pub fn user(principal: &crate::auth::Principal, account_id: &str) -> Self {
        UserIdentity {
            kind: "IAMUser".into(),
            principal_id: Some(principal.access_key_id.clone()),
            arn: Some(principal.arn.clone()),
            account_id: Some(account_id.to_string()),
            access_key_id: Some(principal.access_key_id.clone()),
            user_name: Some(principal.name.clone()),
            invoked_by: None,
        }
    }

    /// A caller whose authentication failed: only the key id it claimed.
    pub fn unauthenticated(claimed_access_key_id: Option<String>) -> Self {
        UserIdentity {
            kind: "Unknown".into(),
            access_key_id: claimed_access_key_id,
            ..Default::default()
        }
    }

    /// s3seal itself (scheduled work) or the operator's offline tools.
    pub fn service(name: &str) -> Self {
        UserIdentity {
            kind: "AWSService".into(),
            invoked_by: Some(name.to_string()),
            ..Default::default()
        }
    }

    pub fn invoked_by_s3(mut self) -> Self {
        self.invoked_by = Some(S3_SOURCE.into());
        self
    }
}

/// A resource the event touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "ARN")]
    pub arn: String,
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

pub const KMS_KEY_RESOURCE: &str = "AWS::KMS::Key";
pub const S3_OBJECT_RESOURCE: &str = "AWS::S3::Object";
pub const S3_BUCKET_RESOURCE: &str = "AWS::S3::Bucket";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub event_version: String,
    pub event_time: String,
    pub event_source: String,
    pub event_name: String,
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub user_identity: UserIdentity,
    pub request_parameters: Option<Value>,
    pub response_elements: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub additional_event_data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_message: Option<String>,
    #[serde(rename = "requestID")]
    pub request_id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub read_only: bool,
    pub resources: Vec<Resource>,
    /// `AwsApiCall`, or `AwsServiceEvent` for s3seal's own scheduled work.
    pub event_type: String,
    pub management_event: bool,
    pub recipient_account_id: String,
    /// `Management` for key and policy changes, `Data` for key uses.
    pub event_category: String,
}

impl AuditEvent {
    /// An API call event, stamped now with a fresh event id.
    pub fn api_call(
        source: &str,
        name: &str,
        region: &str,
        account_id: &str,
        identity: UserIdentity,
        origin: &RequestOrigin,
    ) -> Self {
        AuditEvent {
            event_version: EVENT_VERSION.into(),
            event_time: now_rfc3339(),
            event_source: source.into(),
            event_name: name.into(),
            aws_region: region.into(),
            source_ip_address: origin.source_ip.clone(),
            user_agent: origin.user_agent.clone(),
            user_identity: identity,
            request_parameters: None,
            response_elements: None,
            additional_event_data: None,
            error_code: None,
            error_message: None,
            request_id: origin.request_id.clone(),
            event_id: uuid::Uuid::new_v4().to_string(),
            read_only: is_read_only(name),
            resources: Vec::new(),
            event_type: "AwsApiCall".into(),
            management_event: true,
            recipient_account_id: account_id.into(),
            event_category: "Management".into(),
        }
    }

    /// Work s3seal does by itself (scheduled rotation, key destruction).
    pub fn service_event(name: &str, region: &str, account_id: &str) -> Self {
        let mut event = AuditEvent::api_call(
            KMS_SOURCE,
            name,
            region,
            account_id,
            UserIdentity::service("s3seal"),
            &RequestOrigin::default(),
        );
        event.event_type = "AwsServiceEvent".into();
        event
    }

    /// A use of key material (encrypt, decrypt, sign, …) rather than a change.
    pub fn as_key_use(mut self) -> Self {
        self.management_event = false;
        self.event_category = "Data".into();
        self
    }

    pub fn with_parameters(mut self, parameters: Value) -> Self {
        self.request_parameters = Some(parameters);
        self
    }

    /// Adds one field to the request parameters.
    pub fn with_parameters_entry(mut self, name: &str, value: Value) -> Self {
        if let Some(Value::Object(parameters)) = &mut self.request_parameters {
            parameters.insert(name.to_string(), value);
        }
        self
    }

    pub fn with_response(mut self, response: Option<Value>) -> Self {
        self.response_elements = response;
        self
    }

    pub fn with_error(mut self, code: &str, message: &str) -> Self {
        self.error_code = Some(code.to_string());
        self.error_message = Some(message.to_string());
        self
    }

    pub fn with_resource(mut self, kind: &str, arn: String) -> Self {
        if !self.resources.iter().any(|r| r.arn == arn) {
            self.resources.push(Resource {
                arn,
                account_id: self.recipient_account_id.clone(),
                kind: kind.to_string(),
            });
        }
        self
    }
}

/// CloudTrail marks Describe/Get/List calls (and pure key uses that change
/// nothing, such as Decrypt) read-only.
fn is_read_only(name: &str) -> bool {
    ["Describe", "Get", "List", "Head", "Decrypt", "Verify"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        && name != "GetParametersForImport"
}

pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// `arn:aws:s3:::bucket` or `arn:aws:s3:::bucket/key`.
pub fn s3_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_cloudtrail_field_names() {
        let origin = RequestOrigin {
            request_id: "R1".into(),
            source_ip: Some("10.0.0.1".into()),
            user_agent: Some("aws-cli".into()),
        };
        let event = AuditEvent::api_call(
            KMS_SOURCE,
            "Decrypt",
            "us-east-1",
            "111122223333",
            UserIdentity::unauthenticated(Some("AKID".into())),
            &origin,
        )
        .as_key_use()
        .with_error("AccessDeniedException", "no")
        .with_resource(KMS_KEY_RESOURCE, "arn:k".into())
        .with_resource(KMS_KEY_RESOURCE, "arn:k".into());
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["eventSource"], "kms.amazonaws.com");
        assert_eq!(json["requestID"], "R1");
        assert_eq!(json["sourceIPAddress"], "10.0.0.1");
        assert_eq!(json["userIdentity"]["type"], "Unknown");
        assert_eq!(json["userIdentity"]["accessKeyId"], "AKID");
        assert_eq!(json["errorCode"], "AccessDeniedException");
        assert_eq!(json["readOnly"], true);
        assert_eq!(json["eventCategory"], "Data");
        assert_eq!(json["resources"].as_array().unwrap().len(), 1);
        assert_eq!(json["resources"][0]["ARN"], "arn:k");
        let back: AuditEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn changes_are_not_read_only() {
        for name in [
            "CreateKey",
            "PutKeyPolicy",
            "GenerateDataKey",
            "GetParametersForImport",
        ] {
            assert!(!is_read_only(name), "{name}");
        }
        for name in ["DescribeKey", "ListAliases", "Decrypt", "GetKeyPolicy"] {
            assert!(is_read_only(name), "{name}");
        }
    }
}
