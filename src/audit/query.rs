//! `s3seal audit query`: the events of some log files that match filters on
//! key, principal, bucket, event name and time range.

use std::path::PathBuf;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{AuditError, DIGEST_EVENT_TYPE, files};

/// Every filter given must match (an empty filter matches everything).
#[derive(Debug, Default, Clone)]
pub struct EventFilter {
    /// A key id, key ARN, or alias as the request named it.
    pub key: Option<String>,
    /// A principal ARN, user name or access key id.
    pub principal: Option<String>,
    pub bucket: Option<String>,
    /// Event names, any of which matches (case-insensitive).
    pub event_names: Vec<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Include digest records.
    pub include_digests: bool,
}

pub fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{text:?} is not an RFC 3339 time such as 2026-11-23T10:00:00Z: {e}"))
}

impl EventFilter {
    pub fn matches(&self, event: &Value) -> bool {
        if event["eventType"].as_str() == Some(DIGEST_EVENT_TYPE) {
            return self.include_digests && self.key.is_none() && self.principal.is_none();
        }
        self.key.as_deref().is_none_or(|k| names_key(event, k))
            && self
                .principal
                .as_deref()
                .is_none_or(|p| names_principal(event, p))
            && self
                .bucket
                .as_deref()
                .is_none_or(|b| names_bucket(event, b))
            && self.names_event(event)
            && self.in_time_range(event)
    }

    fn names_event(&self, event: &Value) -> bool {
        let name = event["eventName"].as_str().unwrap_or_default();
        self.event_names.is_empty()
            || self
                .event_names
                .iter()
                .any(|wanted| wanted.eq_ignore_ascii_case(name))
    }

    fn in_time_range(&self, event: &Value) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(time) = event["eventTime"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        else {
            return false;
        };
        self.since.is_none_or(|since| time >= since) && self.until.is_none_or(|until| time <= until)
    }
}

fn names_key(event: &Value, key: &str) -> bool {
    let is_it = |candidate: &str| {
        candidate == key
            || candidate.ends_with(&format!("/{key}"))
            || candidate.ends_with(&format!(":{key}"))
    };
    let in_resources = event["resources"].as_array().is_some_and(|resources| {
        resources.iter().any(|r| {
            r["type"].as_str() == Some(super::event::KMS_KEY_RESOURCE)
                && r["ARN"].as_str().is_some_and(is_it)
        })
    });
    let parameters = &event["requestParameters"];
    in_resources
        || ["keyId", "targetKeyId", "destinationKeyId", "sourceKeyId"]
            .iter()
            .any(|field| parameters[field].as_str().is_some_and(is_it))
}

fn names_principal(event: &Value, principal: &str) -> bool {
    let identity = &event["userIdentity"];
    ["arn", "userName", "accessKeyId", "principalId"]
        .iter()
        .any(|field| identity[field].as_str() == Some(principal))
}

fn names_bucket(event: &Value, bucket: &str) -> bool {
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let object_prefix = format!("{bucket_arn}/");
    event["requestParameters"]["bucketName"].as_str() == Some(bucket)
        || event["resources"].as_array().is_some_and(|resources| {
            resources.iter().any(|r| {
                r["ARN"]
                    .as_str()
                    .is_some_and(|arn| arn == bucket_arn || arn.starts_with(&object_prefix))
            })
        })
}

/// Calls `emit` with each matching line of `paths` (directories expand to
/// their audit files), in log order. Unparsable lines are skipped and counted.
pub fn query(
    paths: &[PathBuf],
    filter: &EventFilter,
    mut emit: impl FnMut(&[u8]),
) -> Result<QuerySummary, AuditError> {
    let mut summary = QuerySummary::default();
    for path in files::expand(paths).map_err(|e| AuditError::Io(e.to_string()))? {
        let (lines, _) = files::read_lines(&path)
            .map_err(|e| AuditError::Io(format!("{}: {e}", path.display())))?;
        for line in lines {
            summary.scanned += 1;
            match serde_json::from_slice::<Value>(&line) {
                Ok(event) if filter.matches(&event) => {
                    summary.matched += 1;
                    emit(&line);
                }
                Ok(_) => {}
                Err(_) => summary.unreadable += 1,
            }
        }
    }
    Ok(summary)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct QuerySummary {
    pub scanned: u64,
    pub matched: u64,
    pub unreadable: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "eventName": "GenerateDataKey",
            "eventTime": "2026-11-23T10:00:00Z",
            "userIdentity": {"arn": "arn:aws:iam::1:user/alice", "userName": "alice", "accessKeyId": "AKIA1"},
            "requestParameters": {"keyId": "alias/app", "bucketName": "photos"},
            "resources": [
                {"ARN": "arn:aws:kms:us-east-1:1:key/1234", "type": "AWS::KMS::Key"},
                {"ARN": "arn:aws:s3:::photos/cat.jpg", "type": "AWS::S3::Object"}
            ]
        })
    }

    #[test]
    fn each_filter_matches_what_it_names() {
        let e = event();
        let matches = |f: EventFilter| f.matches(&e);
        assert!(matches(EventFilter::default()));
        for key in ["1234", "arn:aws:kms:us-east-1:1:key/1234", "alias/app"] {
            assert!(
                matches(EventFilter {
                    key: Some(key.into()),
                    ..Default::default()
                }),
                "{key}"
            );
        }
        assert!(!matches(EventFilter {
            key: Some("234".into()),
            ..Default::default()
        }));
        for p in ["alice", "AKIA1", "arn:aws:iam::1:user/alice"] {
            assert!(
                matches(EventFilter {
                    principal: Some(p.into()),
                    ..Default::default()
                }),
                "{p}"
            );
        }
        assert!(!matches(EventFilter {
            principal: Some("bob".into()),
            ..Default::default()
        }));
        assert!(matches(EventFilter {
            bucket: Some("photos".into()),
            ..Default::default()
        }));
        assert!(!matches(EventFilter {
            bucket: Some("photo".into()),
            ..Default::default()
        }));
        let names = |n: &[&str]| EventFilter {
            event_names: n.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert!(matches(names(&["decrypt", "generatedatakey"])));
        assert!(!matches(names(&["Decrypt"])));
    }

    #[test]
    fn time_ranges_are_inclusive() {
        let e = event();
        let at = |s: &str| Some(parse_time(s).unwrap());
        let range = |since, until| EventFilter {
            since,
            until,
            ..Default::default()
        };
        assert!(range(at("2026-11-23T10:00:00Z"), at("2026-11-23T10:00:00Z")).matches(&e));
        assert!(!range(at("2026-11-23T10:00:01Z"), None).matches(&e));
        assert!(!range(None, at("2026-11-23T09:59:59Z")).matches(&e));
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn digests_are_left_out_unless_asked_for() {
        let digest = json!({"eventType": DIGEST_EVENT_TYPE});
        assert!(!EventFilter::default().matches(&digest));
        assert!(
            EventFilter {
                include_digests: true,
                ..Default::default()
            }
            .matches(&digest)
        );
    }
}
