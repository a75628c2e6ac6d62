//! The POST policy: what a signed browser upload form may do.
//!
//! The form's `policy` field is base64 of a JSON document such as
//!
//! ```json
//! { "expiration": "2026-12-30T12:00:00.000Z",
//!   "conditions": [
//!     {"bucket": "photos"},
//!     ["starts-with", "$key", "user/eric/"],
//!     ["eq", "$acl", "private"],
//!     ["content-length-range", 1, 10485760] ] }
//! ```
//!
//! and the form's signature covers it (see `crate::auth::post_form`). The
//! upload is allowed only until `expiration`, only if every condition holds,
//! and only if every form field is named by some condition, so whoever
//! signed the policy decides every field the upload can set. Conditions are
//! matched against the fields *after* `${filename}` is expanded, with field
//! names compared case-insensitively (as S3 does) and values case-sensitively.
//! `bucket` is the request's bucket. `content-length-range` bounds the file's
//! size, which only the upload can check (see [`PostPolicy::content_length_range`]).
//!
//! This module is pure: parsing and matching, no I/O. Its errors are
//! [`PostPolicyError`]s, turned into S3 errors in `crate::error`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Form fields the conditions need not name: the signature and its
/// credential's key id, the policy itself, the file, and `x-ignore-*`.
const UNCONDITIONED_FIELDS: [&str; 5] = [
    "policy",
    "x-amz-signature",
    "signature",
    "awsaccesskeyid",
    "file",
];

/// Why a policy does not allow an upload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostPolicyError {
    /// Not base64, not JSON, or not a policy document (400 InvalidPolicyDocument).
    #[error("Invalid Policy: {0}")]
    Invalid(String),
    /// Past its `expiration` (403 AccessDenied).
    #[error("Invalid according to Policy: Policy expired.")]
    Expired,
    /// A condition does not hold; the text is the condition, as JSON (403 AccessDenied).
    #[error("Invalid according to Policy: Policy Condition failed: {0}")]
    ConditionFailed(String),
    /// Form fields no condition names (403 AccessDenied).
    #[error("Invalid according to Policy: Extra input fields: {0}")]
    ExtraFields(String),
}

/// One condition of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `{"field": "value"}` or `["eq", "$field", "value"]`.
    Equals { field: String, value: String },
    /// `["starts-with", "$field", "prefix"]`; an empty prefix allows any value.
    StartsWith { field: String, prefix: String },
    /// `["content-length-range", min, max]`: the file's size in bytes.
    ContentLengthRange { min: u64, max: u64 },
}

impl Condition {
    /// The form field the condition constrains (lower case), if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Condition::Equals { field, .. } | Condition::StartsWith { field, .. } => Some(field),
            Condition::ContentLengthRange { .. } => None,
        }
    }

    /// The condition as JSON, as S3 quotes it in its error messages.
    fn describe(&self) -> String {
        let json = match self {
            Condition::Equals { field, value } => {
                serde_json::json!(["eq", format!("${field}"), value])
            }
            Condition::StartsWith { field, prefix } => {
                serde_json::json!(["starts-with", format!("${field}"), prefix])
            }
            Condition::ContentLengthRange { min, max } => {
                serde_json::json!(["content-length-range", min, max])
            }
        };
        json.to_string()
    }

    /// Whether `value` (the field's value, empty when absent) satisfies the condition.
    fn holds_for(&self, value: &str) -> bool {
        match self {
            Condition::Equals {
                value: expected, ..
            } => value == expected,
            // S3 reads a Content-Type with commas as a list: every entry must match.
            Condition::StartsWith { field, prefix } if field == "content-type" => value
                .split(',')
                .all(|entry| entry.trim().starts_with(prefix.as_str())),
            Condition::StartsWith { prefix, .. } => value.starts_with(prefix.as_str()),
            Condition::ContentLengthRange { .. } => true,
        }
    }
}

/// A parsed POST policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    pub expiration: OffsetDateTime,
    pub conditions: Vec<Condition>,
}

impl PostPolicy {
    /// Decodes the form's `policy` field (base64; whitespace, which some
    /// encoders insert every 60 or 76 characters, is ignored).
    pub fn from_base64(field: &str) -> Result<Self, PostPolicyError> {
        let compact: String = field.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let json = B64
            .decode(compact)
            .map_err(|_| invalid("the policy is not valid base64"))?;
        Self::parse(&json)
    }

    /// Parses the JSON document.
    pub fn parse(json: &[u8]) -> Result<Self, PostPolicyError> {
        let document: Value = serde_json::from_slice(json).map_err(|_| invalid("Invalid JSON."))?;
        let Value::Object(document) = document else {
            return Err(invalid("the policy must be a JSON object"));
        };
        let expiration = match document.get("expiration") {
            Some(Value::String(text)) => OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                invalid(&format!(
                    "Invalid 'expiration' value: '{text}' (expected ISO 8601, e.g. 2026-12-01T12:00:00.000Z)"
                ))
            })?,
            _ => return Err(invalid("Policy missing expiration.")),
        };
        let Some(Value::Array(items)) = document.get("conditions") else {
            return Err(invalid("Policy missing conditions."));
        };
        let mut conditions = Vec::with_capacity(items.len());
        for item in items {
            parse_condition(item, &mut conditions)?;
        }
        Ok(PostPolicy {
            expiration,
            conditions,
        })
    }

    /// Refuses a policy past its expiration.
    pub fn check_expiration(&self, now: OffsetDateTime) -> Result<(), PostPolicyError> {
        if now > self.expiration {
            return Err(PostPolicyError::Expired);
        }
        Ok(())
    }

    /// Checks every field condition against the form, then that every form
    /// field is named by a condition. `fields` maps lower-case field names to
    /// their values (repeated fields joined with commas, as S3 matches them);
    /// `bucket` is the bucket the request is for.
    pub fn check_fields(
        &self,
        bucket: &str,
        fields: &BTreeMap<String, String>,
    ) -> Result<(), PostPolicyError> {
        for condition in &self.conditions {
            let Some(field) = condition.field() else {
                continue;
            };
            let value = match field {
                "bucket" => bucket,
                name => fields.get(name).map_or("", String::as_str),
            };
            if !condition.holds_for(value) {
                return Err(PostPolicyError::ConditionFailed(condition.describe()));
            }
        }
        let extra: Vec<&str> = fields
            .keys()
            .map(String::as_str)
            .filter(|name| !UNCONDITIONED_FIELDS.contains(name) && !name.starts_with("x-ignore-"))
            .filter(|name| !self.conditions.iter().any(|c| c.field() == Some(*name)))
            .collect();
        if !extra.is_empty() {
            return Err(PostPolicyError::ExtraFields(extra.join(", ")));
        }
        Ok(())
    }

    /// The file sizes every `content-length-range` allows together
    /// (`None`: the policy does not limit the size).
    pub fn content_length_range(&self) -> Option<(u64, u64)> {
        self.conditions
            .iter()
            .filter_map(|c| match c {
                Condition::ContentLengthRange { min, max } => Some((*min, *max)),
                _ => None,
            })
            .reduce(|(min_a, max_a), (min_b, max_b)| (min_a.max(min_b), max_a.min(max_b)))
    }
}

fn invalid(reason: &str) -> PostPolicyError {
    PostPolicyError::Invalid(reason.to_string())
}

/// One element of `conditions`: an object of exact matches, or an array.
fn parse_condition(item: &Value, out: &mut Vec<Condition>) -> Result<(), PostPolicyError> {
    match item {
        Value::Object(pairs) if !pairs.is_empty() => {
            for (field, value) in pairs {
                let Value::String(value) = value else {
                    return Err(invalid(&format!(
                        "the condition on '{field}' must be a string"
                    )));
                };
                out.push(Condition::Equals {
                    field: field.to_ascii_lowercase(),
                    value: value.clone(),
                });
            }
            Ok(())
        }
        Value::Array(parts) => {
            out.push(parse_array_condition(parts)?);
            Ok(())
        }
        _ => Err(invalid("a condition must be an object or an array")),
    }
}

fn parse_array_condition(parts: &[Value]) -> Result<Condition, PostPolicyError> {
    let [Value::String(operator), first, second] = parts else {
        return Err(invalid("a condition array must have three elements"));
    };
    match operator.to_ascii_lowercase().as_str() {
        "eq" => Ok(Condition::Equals {
            field: field_reference(first)?,
            value: string(second)?,
        }),
        "starts-with" => Ok(Condition::StartsWith {
            field: field_reference(first)?,
            prefix: string(second)?,
        }),
        "content-length-range" => {
            let (min, max) = (size(first)?, size(second)?);
            if min > max {
                return Err(invalid(
                    "content-length-range: the minimum is larger than the maximum",
                ));
            }
            Ok(Condition::ContentLengthRange { min, max })
        }
        _ => Err(invalid(&format!("Unknown condition operator '{operator}'"))),
    }
}

/// `"$name"` → `name` (lower case).
fn field_reference(value: &Value) -> Result<String, PostPolicyError> {
    match value {
        Value::String(text) if text.len() > 1 && text.starts_with('$') => {
            Ok(text[1..].to_ascii_lowercase())
        }
        _ => Err(invalid(
            "the second element of a condition must name a form field as \"$name\"",
        )),
    }
}

fn string(value: &Value) -> Result<String, PostPolicyError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        _ => Err(invalid("the third element of a condition must be a string")),
    }
}

/// A size bound: a non-negative integer (or a string of digits, which some
/// SDKs send). Fractions are refused, as on S3.
fn size(value: &Value) -> Result<u64, PostPolicyError> {
    let parsed = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(text) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse().ok()
        }
        _ => None,
    };
    parsed.ok_or_else(|| invalid("content-length-range bounds must be non-negative integers"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(conditions: &str) -> Result<PostPolicy, PostPolicyError> {
        PostPolicy::parse(
            format!(
                r#"{{"expiration": "2030-01-01T00:00:00.000Z", "conditions": [{conditions}]}}"#
            )
            .as_bytes(),
        )
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// AWS's SigV4 example policy (CRLF line ends, a blank line), as published.
    #[test]
    fn parses_the_aws_example_policy() {
        let b64 = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
        let p = PostPolicy::from_base64(b64).unwrap();
        assert_eq!(p.conditions.len(), 11);
        assert_eq!(
            p.conditions[1],
            Condition::StartsWith {
                field: "key".into(),
                prefix: "user/user1/".into()
            }
        );
        let form = fields(&[
            ("key", "user/user1/photo.jpg"),
            ("acl", "public-read"),
            (
                "success_action_redirect",
                "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
            ),
            ("content-type", "image/jpeg"),
            ("x-amz-meta-uuid", "14365123651274"),
            ("x-amz-server-side-encryption", "AES256"),
            ("x-amz-meta-tag", ""),
            (
                "x-amz-credential",
                "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
            ),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-date", "20151229T000000Z"),
            ("policy", b64),
            ("x-amz-signature", "8afd"),
        ]);
        p.check_fields("sigv4examplebucket", &form).unwrap();
        assert!(matches!(
            p.check_fields("otherbucket", &form),
            Err(PostPolicyError::ConditionFailed(c)) if c == r#"["eq","$bucket","sigv4examplebucket"]"#
        ));
        let expiry = p.expiration;
        assert!(p.check_expiration(expiry).is_ok());
        assert_eq!(
            p.check_expiration(expiry + time::Duration::seconds(1)),
            Err(PostPolicyError::Expired)
        );
        // Whitespace inside the base64 (line-wrapping encoders) is fine.
        let wrapped: String = b64
            .as_bytes()
            .chunks(60)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(PostPolicy::from_base64(&wrapped).unwrap(), p);
    }

    /// Conditions, form fields, bucket, and the outcome: `None` = allowed,
    /// `Some(start of the error message)`.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, Option<&'a str>);

    #[test]
    fn condition_matching_table() {
        let cases: &[Case] = &[
            (r#"{"key": "a"}"#, &[("key", "a")], "b", None),
            (
                r#"{"key": "a"}"#,
                &[("key", "ab")],
                "b",
                Some(
                    "Invalid according to Policy: Policy Condition failed: [\"eq\",\"$key\",\"a\"]",
                ),
            ),
            (r#"["eq", "$key", "a"]"#, &[("key", "a")], "b", None),
            (r#"["eq", "$Key", "a"]"#, &[("key", "a")], "b", None),
            (r#"["EQ", "$key", "a"]"#, &[("key", "a")], "b", None),
            (
                r#"["eq", "$key", "A"]"#,
                &[("key", "a")],
                "b",
                Some("Invalid according to Policy: Policy Condition failed"),
            ),
            (
                r#"["starts-with", "$key", "user/"]"#,
                &[("key", "user/x")],
                "b",
                None,
            ),
            (
                r#"["starts-with", "$key", "user/"]"#,
                &[("key", "users/x")],
                "b",
                Some(
                    "Invalid according to Policy: Policy Condition failed: [\"starts-with\",\"$key\",\"user/\"]",
                ),
            ),
            (
                r#"["starts-with", "$key", ""]"#,
                &[("key", "anything")],
                "b",
                None,
            ),
            // A condition on a field the form lacks sees an empty value.
            (
                r#"{"key": "k"}, {"acl": "private"}"#,
                &[("key", "k")],
                "b",
                Some(
                    "Invalid according to Policy: Policy Condition failed: [\"eq\",\"$acl\",\"private\"]",
                ),
            ),
            (
                r#"{"key": "k"}, ["starts-with", "$x-amz-meta-tag", ""]"#,
                &[("key", "k")],
                "b",
                None,
            ),
            // Content-Type lists: every entry must match.
            (
                r#"["starts-with", "$Content-Type", "image/"]"#,
                &[("content-type", "image/jpg,image/png")],
                "b",
                None,
            ),
            (
                r#"["starts-with", "$Content-Type", "image/"]"#,
                &[("content-type", "image/jpg,text/plain")],
                "b",
                Some("Invalid according to Policy: Policy Condition failed"),
            ),
            // bucket is the request's bucket, not a field.
            (r#"{"bucket": "b"}"#, &[], "b", None),
            (
                r#"{"bucket": "b"}"#,
                &[],
                "c",
                Some(
                    "Invalid according to Policy: Policy Condition failed: [\"eq\",\"$bucket\",\"b\"]",
                ),
            ),
            // Every field must be named by a condition...
            (
                r#"{"key": "k"}"#,
                &[("key", "k"), ("x-amz-meta-a", "1"), ("acl", "private")],
                "b",
                Some("Invalid according to Policy: Extra input fields: acl, x-amz-meta-a"),
            ),
            // ...except the signature's own fields, the file and x-ignore-*.
            (
                r#"{"key": "k"}"#,
                &[
                    ("key", "k"),
                    ("policy", "p"),
                    ("x-amz-signature", "s"),
                    ("signature", "s"),
                    ("awsaccesskeyid", "a"),
                    ("x-ignore-submit", "go"),
                ],
                "b",
                None,
            ),
            // content-length-range is not about fields.
            (
                r#"["content-length-range", 0, 10], {"key": "k"}"#,
                &[("key", "k")],
                "b",
                None,
            ),
        ];
        for (conditions, form, bucket, expected) in cases {
            let p = policy(conditions).unwrap();
            let got = p
                .check_fields(bucket, &fields(form))
                .map_err(|e| e.to_string());
            match expected {
                None => assert!(got.is_ok(), "{conditions} with {form:?}: {got:?}"),
                Some(prefix) => assert!(
                    got.as_ref().is_err_and(|e| e.starts_with(prefix)),
                    "{conditions} with {form:?}: expected {prefix:?}, got {got:?}"
                ),
            }
        }
    }

    #[test]
    fn malformed_policies_table() {
        let cases: &[(&str, &str)] = &[
            ("not json", "Invalid Policy: Invalid JSON."),
            ("[]", "Invalid Policy: the policy must be a JSON object"),
            (
                r#"{"conditions": []}"#,
                "Invalid Policy: Policy missing expiration.",
            ),
            (
                r#"{"expiration": 5, "conditions": []}"#,
                "Invalid Policy: Policy missing expiration.",
            ),
            (
                r#"{"expiration": "tomorrow", "conditions": []}"#,
                "Invalid Policy: Invalid 'expiration' value: 'tomorrow'",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z"}"#,
                "Invalid Policy: Policy missing conditions.",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": {}}"#,
                "Invalid Policy: Policy missing conditions.",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": ["key"]}"#,
                "Invalid Policy: a condition must be an object or an array",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{}]}"#,
                "Invalid Policy: a condition must be an object or an array",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": 1}]}"#,
                "Invalid Policy: the condition on 'key' must be a string",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$key"]]}"#,
                "Invalid Policy: a condition array must have three elements",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "key", "a"]]}"#,
                "Invalid Policy: the second element of a condition must name a form field",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$", "a"]]}"#,
                "Invalid Policy: the second element of a condition must name a form field",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$key", 1]]}"#,
                "Invalid Policy: the third element of a condition must be a string",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["ends-with", "$key", "a"]]}"#,
                "Invalid Policy: Unknown condition operator 'ends-with'",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 0, 512.0]]}"#,
                "Invalid Policy: content-length-range bounds must be non-negative integers",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 5]]}"#,
                "Invalid Policy: content-length-range bounds must be non-negative integers",
            ),
            (
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 9, 5]]}"#,
                "Invalid Policy: content-length-range: the minimum is larger than the maximum",
            ),
        ];
        for (json, message) in cases {
            let err = PostPolicy::parse(json.as_bytes()).unwrap_err();
            assert!(
                err.to_string().starts_with(message),
                "{json}: expected {message:?}, got {err}"
            );
        }
        assert_eq!(
            PostPolicy::from_base64("%%%").unwrap_err(),
            PostPolicyError::Invalid("the policy is not valid base64".into())
        );
    }

    #[test]
    fn content_length_ranges_intersect() {
        assert_eq!(
            policy(r#"{"key": "k"}"#).unwrap().content_length_range(),
            None
        );
        let p =
            policy(r#"["content-length-range", 10, 100], ["content-length-range", "20", "1000"]"#)
                .unwrap();
        assert_eq!(p.content_length_range(), Some((20, 100)));
    }
}
