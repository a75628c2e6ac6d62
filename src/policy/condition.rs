//! Condition operators of the AWS policy language, and their evaluation.
//!
//! Semantics follow the IAM reference: condition key names are
//! case-insensitive; several values for one key are ORed; a key missing from
//! the request makes positive operators false and negated operators
//! (`StringNotEquals`, `NotIpAddress`, …) true, unless `…IfExists` makes any
//! operator true; `ForAnyValue:`/`ForAllValues:` compare multi-valued keys as
//! sets. The classic "deny uploads that are not SSE-KMS" policy relies on the
//! negated rule: `StringNotEquals {"s3:x-amz-server-side-encryption": "aws:kms"}`
//! also denies uploads without the header.

use std::net::IpAddr;

use ipnet::IpNet;

use super::document::PolicyError;
use super::wildcard::glob_match;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
    Null,
}

const KINDS: &[(&str, Kind)] = &[
    ("StringEquals", Kind::StringEquals),
    ("StringNotEquals", Kind::StringNotEquals),
    ("StringEqualsIgnoreCase", Kind::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Kind::StringNotEqualsIgnoreCase),
    ("StringLike", Kind::StringLike),
    ("StringNotLike", Kind::StringNotLike),
    ("NumericEquals", Kind::NumericEquals),
    ("NumericNotEquals", Kind::NumericNotEquals),
    ("NumericLessThan", Kind::NumericLessThan),
    ("NumericLessThanEquals", Kind::NumericLessThanEquals),
    ("NumericGreaterThan", Kind::NumericGreaterThan),
    ("NumericGreaterThanEquals", Kind::NumericGreaterThanEquals),
    ("DateEquals", Kind::DateEquals),
    ("DateNotEquals", Kind::DateNotEquals),
    ("DateLessThan", Kind::DateLessThan),
    ("DateLessThanEquals", Kind::DateLessThanEquals),
    ("DateGreaterThan", Kind::DateGreaterThan),
    ("DateGreaterThanEquals", Kind::DateGreaterThanEquals),
    ("Bool", Kind::Bool),
    ("IpAddress", Kind::IpAddress),
    ("NotIpAddress", Kind::NotIpAddress),
    ("ArnEquals", Kind::ArnEquals),
    ("ArnNotEquals", Kind::ArnNotEquals),
    ("ArnLike", Kind::ArnLike),
    ("ArnNotLike", Kind::ArnNotLike),
    ("Null", Kind::Null),
];

impl Kind {
    fn negated(self) -> bool {
        matches!(
            self,
            Kind::StringNotEquals
                | Kind::StringNotEqualsIgnoreCase
                | Kind::StringNotLike
                | Kind::NumericNotEquals
                | Kind::DateNotEquals
                | Kind::NotIpAddress
                | Kind::ArnNotEquals
                | Kind::ArnNotLike
        )
    }

    /// The positive operator a negated one is the complement of.
    fn positive(self) -> Kind {
        match self {
            Kind::StringNotEquals => Kind::StringEquals,
            Kind::StringNotEqualsIgnoreCase => Kind::StringEqualsIgnoreCase,
            Kind::StringNotLike => Kind::StringLike,
            Kind::NumericNotEquals => Kind::NumericEquals,
            Kind::DateNotEquals => Kind::DateEquals,
            Kind::NotIpAddress => Kind::IpAddress,
            Kind::ArnNotEquals => Kind::ArnEquals,
            Kind::ArnNotLike => Kind::ArnLike,
            other => other,
        }
    }
}

/// How a multi-valued request key is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionOperator {
    name: String,
    kind: Kind,
    if_exists: bool,
    set: SetQualifier,
}

impl ConditionOperator {
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let (set, rest) = if let Some(rest) = text.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else if let Some(rest) = text.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else {
            (SetQualifier::None, text)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let kind = KINDS
            .iter()
            .find(|(name, _)| *name == base)
            .map(|(_, k)| *k)
            .ok_or_else(|| PolicyError(format!("unknown condition operator '{text}'")))?;
        if kind == Kind::Null && (if_exists || set != SetQualifier::None) {
            return Err(PolicyError(format!("'{text}' is not a valid operator")));
        }
        Ok(ConditionOperator {
            name: text.to_string(),
            kind,
            if_exists,
            set,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One `operator: {key: values}` test.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    operator: ConditionOperator,
    /// The key as written, and lower-cased for lookups.
    key: String,
    key_lower: String,
    values: Vec<String>,
}

impl Condition {
    /// Checks the values fit the operator (numbers, dates, CIDRs, booleans).
    pub fn new(
        operator: ConditionOperator,
        key: &str,
        values: Vec<String>,
    ) -> Result<Self, PolicyError> {
        let bad = |v: &str, what: &str| {
            PolicyError(format!(
                "condition {} on '{key}': '{v}' is not {what}",
                operator.name
            ))
        };
        for v in &values {
            match operator.kind.positive() {
                Kind::NumericEquals
                | Kind::NumericLessThan
                | Kind::NumericLessThanEquals
                | Kind::NumericGreaterThan
                | Kind::NumericGreaterThanEquals => {
                    v.parse::<f64>().map_err(|_| bad(v, "a number"))?;
                }
                Kind::DateEquals
                | Kind::DateLessThan
                | Kind::DateLessThanEquals
                | Kind::DateGreaterThan
                | Kind::DateGreaterThanEquals => {
                    parse_date(v).ok_or_else(|| bad(v, "a date (ISO 8601 or epoch seconds)"))?;
                }
                Kind::IpAddress => {
                    parse_cidr(v).ok_or_else(|| bad(v, "an IP address or CIDR block"))?;
                }
                Kind::Bool | Kind::Null
                    if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") =>
                {
                    return Err(bad(v, "true or false"));
                }
                _ => {}
            }
        }
        Ok(Condition {
            key_lower: key.to_ascii_lowercase(),
            key: key.to_string(),
            operator,
            values,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Evaluates against the request's values for this key (`None`: absent).
    pub fn evaluate(&self, lookup: &dyn Fn(&str) -> Option<Vec<String>>) -> bool {
        let present = lookup(&self.key_lower).filter(|v| !v.is_empty());
        let kind = self.operator.kind;
        if kind == Kind::Null {
            let wants_absent = self.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
            return wants_absent == present.is_none();
        }
        let Some(request) = present else {
            return match self.operator.set {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => false,
                SetQualifier::None => self.operator.if_exists || kind.negated(),
            };
        };
        let positive = kind.positive();
        let matches_one = |value: &str| self.values.iter().any(|p| matches(positive, p, value));
        match self.operator.set {
            // Every request value must satisfy the operator.
            SetQualifier::ForAllValues => request.iter().all(|v| matches_one(v) != kind.negated()),
            // At least one request value must.
            SetQualifier::ForAnyValue => request.iter().any(|v| matches_one(v) != kind.negated()),
            SetQualifier::None if kind.negated() => !request.iter().any(|v| matches_one(v)),
            SetQualifier::None => request.iter().any(|v| matches_one(v)),
        }
    }
}

/// Does the request value match one policy value under a positive operator?
fn matches(kind: Kind, policy: &str, value: &str) -> bool {
    match kind {
        Kind::StringEquals | Kind::ArnEquals => policy == value,
        Kind::StringEqualsIgnoreCase => policy.eq_ignore_ascii_case(value),
        Kind::StringLike | Kind::ArnLike => glob_match(policy, value, false),
        Kind::NumericEquals
        | Kind::NumericLessThan
        | Kind::NumericLessThanEquals
        | Kind::NumericGreaterThan
        | Kind::NumericGreaterThanEquals => match (value.parse::<f64>(), policy.parse::<f64>()) {
            (Ok(v), Ok(p)) => compare(kind, v.partial_cmp(&p)),
            _ => false,
        },
        Kind::DateEquals
        | Kind::DateLessThan
        | Kind::DateLessThanEquals
        | Kind::DateGreaterThan
        | Kind::DateGreaterThanEquals => match (parse_date(value), parse_date(policy)) {
            (Some(v), Some(p)) => compare(kind, Some(v.cmp(&p))),
            _ => false,
        },
        Kind::Bool => policy.eq_ignore_ascii_case(value),
        Kind::IpAddress => match (value.parse::<IpAddr>(), parse_cidr(policy)) {
            (Ok(ip), Some(net)) => net.contains(&ip),
            _ => false,
        },
        _ => false,
    }
}

fn compare(kind: Kind, ordering: Option<std::cmp::Ordering>) -> bool {
    use std::cmp::Ordering::*;
    match (kind, ordering) {
        (_, None) => false,
        (Kind::NumericEquals | Kind::DateEquals, Some(o)) => o == Equal,
        (Kind::NumericLessThan | Kind::DateLessThan, Some(o)) => o == Less,
        (Kind::NumericLessThanEquals | Kind::DateLessThanEquals, Some(o)) => o != Greater,
        (Kind::NumericGreaterThan | Kind::DateGreaterThan, Some(o)) => o == Greater,
        (Kind::NumericGreaterThanEquals | Kind::DateGreaterThanEquals, Some(o)) => o != Less,
        _ => false,
    }
}

/// ISO 8601 / RFC 3339 timestamps, dates, or epoch seconds → Unix seconds.
pub fn parse_date(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    use time::format_description::well_known::{Iso8601, Rfc3339};
    if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    if let Ok(t) = time::OffsetDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp());
    }
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

fn parse_cidr(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        Condition::new(
            ConditionOperator::parse(op).unwrap(),
            key,
            values.iter().map(|s| s.to_string()).collect(),
        )
        .unwrap()
    }

    fn with(pairs: &[(&str, &[&str])]) -> impl Fn(&str) -> Option<Vec<String>> {
        let map: Vec<(String, Vec<String>)> = pairs
            .iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    v.iter().map(|s| s.to_string()).collect(),
                )
            })
            .collect();
        move |key: &str| map.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    const SSE: &str = "s3:x-amz-server-side-encryption";

    #[test]
    fn negated_operators_are_true_for_missing_keys() {
        let c = cond("StringNotEquals", SSE, &["aws:kms"]);
        assert!(
            c.evaluate(&with(&[])),
            "no header: the classic deny applies"
        );
        assert!(c.evaluate(&with(&[(SSE, &["AES256"])])));
        assert!(!c.evaluate(&with(&[(SSE, &["aws:kms"])])));
        let c = cond("StringEquals", SSE, &["aws:kms"]);
        assert!(!c.evaluate(&with(&[])));
        let c = cond("StringEqualsIfExists", SSE, &["aws:kms"]);
        assert!(c.evaluate(&with(&[])));
        assert!(!c.evaluate(&with(&[(SSE, &["AES256"])])));
    }

    #[test]
    fn null_checks_presence() {
        let c = cond("Null", SSE, &["true"]);
        assert!(c.evaluate(&with(&[])));
        assert!(!c.evaluate(&with(&[(SSE, &["aws:kms"])])));
        assert!(cond("Null", SSE, &["false"]).evaluate(&with(&[(SSE, &["x"])])));
    }

    #[test]
    fn keys_are_case_insensitive_values_are_not() {
        let c = cond("StringEquals", "AWS:UserName", &["Alice"]);
        assert!(c.evaluate(&with(&[("aws:username", &["Alice"])])));
        assert!(!c.evaluate(&with(&[("aws:username", &["alice"])])));
        assert!(
            cond("StringEqualsIgnoreCase", "aws:username", &["ALICE"])
                .evaluate(&with(&[("aws:username", &["alice"])]))
        );
    }

    #[test]
    fn like_numeric_date_ip_arn_bool() {
        assert!(
            cond("StringLike", "s3:prefix", &["home/*"])
                .evaluate(&with(&[("s3:prefix", &["home/a/b"])]))
        );
        assert!(
            !cond("StringNotLike", "s3:prefix", &["home/*"])
                .evaluate(&with(&[("s3:prefix", &["home/x"])]))
        );
        assert!(
            cond("NumericLessThanEquals", "s3:max-keys", &["10"])
                .evaluate(&with(&[("s3:max-keys", &["10"])]))
        );
        assert!(
            !cond("NumericLessThan", "s3:max-keys", &["10"])
                .evaluate(&with(&[("s3:max-keys", &["11"])]))
        );
        assert!(
            !cond("NumericLessThan", "s3:max-keys", &["10"])
                .evaluate(&with(&[("s3:max-keys", &["x"])]))
        );
        let now = [("aws:currenttime", &["2026-11-23T10:00:00Z"][..])];
        assert!(
            cond(
                "DateGreaterThan",
                "aws:CurrentTime",
                &["2026-01-01T00:00:00Z"]
            )
            .evaluate(&with(&now))
        );
        assert!(cond("DateLessThan", "aws:CurrentTime", &["2027-01-01"]).evaluate(&with(&now)));
        let ip = [("aws:sourceip", &["10.1.2.3"][..])];
        assert!(cond("IpAddress", "aws:SourceIp", &["10.0.0.0/8"]).evaluate(&with(&ip)));
        assert!(!cond("NotIpAddress", "aws:SourceIp", &["10.0.0.0/8", "::1"]).evaluate(&with(&ip)));
        assert!(cond("NotIpAddress", "aws:SourceIp", &["192.168.0.0/16"]).evaluate(&with(&ip)));
        let arn = [(
            "aws:principalarn",
            &["arn:aws:iam::000000000000:user/payments"][..],
        )];
        assert!(
            cond("ArnLike", "aws:PrincipalArn", &["arn:aws:iam::*:user/pay*"])
                .evaluate(&with(&arn))
        );
        assert!(
            cond(
                "ArnNotEquals",
                "aws:PrincipalArn",
                &["arn:aws:iam::000000000000:user/x"]
            )
            .evaluate(&with(&arn))
        );
        let tls = [("aws:securetransport", &["false"][..])];
        assert!(cond("Bool", "aws:SecureTransport", &["false"]).evaluate(&with(&tls)));
        assert!(!cond("Bool", "aws:SecureTransport", &["true"]).evaluate(&with(&tls)));
    }

    #[test]
    fn set_qualifiers() {
        let keys = [("kms:encryptioncontextkeys", &["project", "team"][..])];
        assert!(
            cond(
                "ForAllValues:StringEquals",
                "kms:EncryptionContextKeys",
                &["project", "team", "x"]
            )
            .evaluate(&with(&keys))
        );
        assert!(
            !cond(
                "ForAllValues:StringEquals",
                "kms:EncryptionContextKeys",
                &["project"]
            )
            .evaluate(&with(&keys))
        );
        assert!(
            cond(
                "ForAllValues:StringEquals",
                "kms:EncryptionContextKeys",
                &["project"]
            )
            .evaluate(&with(&[]))
        );
        assert!(
            cond(
                "ForAnyValue:StringEquals",
                "kms:EncryptionContextKeys",
                &["team"]
            )
            .evaluate(&with(&keys))
        );
        assert!(
            !cond(
                "ForAnyValue:StringEquals",
                "kms:EncryptionContextKeys",
                &["team"]
            )
            .evaluate(&with(&[]))
        );
    }

    #[test]
    fn bad_values_and_operators_are_rejected() {
        let op = |s| ConditionOperator::parse(s);
        assert!(op("StringSort").is_err());
        assert!(op("NullIfExists").is_err());
        for (o, v) in [
            ("NumericEquals", "ten"),
            ("DateLessThan", "yesterday"),
            ("IpAddress", "10.0.0.0/99"),
            ("Bool", "yes"),
        ] {
            assert!(
                Condition::new(op(o).unwrap(), "k", vec![v.into()]).is_err(),
                "{o} {v}"
            );
        }
    }
}
