//! Evaluating a policy document for one request.
//!
//! As AWS does for one resource-based policy: a matching `Deny` statement
//! wins; otherwise a matching `Allow` allows; otherwise the policy does not
//! speak to the request and the caller's default applies.

use std::collections::HashMap;

use super::document::{Effect, Matcher, PolicyDocument, Principals, Statement};
use super::wildcard::glob_match;

/// The outcome of one policy for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A statement explicitly denies: nothing else can allow.
    Deny,
    Allow,
    /// No statement applies.
    NotApplicable,
}

/// Everything a policy can look at.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts {
    /// The caller's ARN (`arn:aws:iam::<account>:user/<name>`); `None` for anonymous.
    pub principal_arn: Option<String>,
    pub principal_account: Option<String>,
    /// `service:Action`, e.g. `s3:GetObject`, `kms:Decrypt`.
    pub action: String,
    /// The resource ARN.
    pub resource: String,
    /// Condition keys (lower-cased) and their values.
    pub keys: HashMap<String, Vec<String>>,
}

impl RequestFacts {
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        self.keys.insert(key.to_ascii_lowercase(), values);
    }

    pub fn set_one(&mut self, key: &str, value: impl Into<String>) {
        self.set(key, vec![value.into()]);
    }
}

impl PolicyDocument {
    pub fn evaluate(&self, facts: &RequestFacts) -> Decision {
        self.evaluate_explained(facts).0
    }

    /// The decision and the `Sid` of the statement that made it (a deny's, or
    /// the first allow's), for the audit log.
    pub fn evaluate_explained(&self, facts: &RequestFacts) -> (Decision, Option<String>) {
        let mut allowed_by: Option<Option<String>> = None;
        for statement in &self.statements {
            if statement_applies(statement, facts) {
                match statement.effect {
                    Effect::Deny => return (Decision::Deny, statement.sid.clone()),
                    Effect::Allow => {
                        allowed_by.get_or_insert_with(|| statement.sid.clone());
                    }
                }
            }
        }
        match allowed_by {
            Some(sid) => (Decision::Allow, sid),
            None => (Decision::NotApplicable, None),
        }
    }

    /// Does any statement's condition look at a key starting with `prefix`?
    /// (Some keys cost an upstream request to know.)
    pub fn mentions_condition_key(&self, prefix: &str) -> bool {
        self.statements.iter().any(|s| {
            s.conditions.iter().any(|c| {
                c.key()
                    .to_ascii_lowercase()
                    .starts_with(&prefix.to_ascii_lowercase())
            })
        })
    }
}

fn statement_applies(statement: &Statement, facts: &RequestFacts) -> bool {
    let principal_ok = match &statement.principal {
        None => true,
        Some(Matcher::Is(p)) => principal_matches(p, facts),
        Some(Matcher::IsNot(p)) => !principal_matches(p, facts),
    };
    let action_ok = match &statement.action {
        Matcher::Is(list) => list.iter().any(|a| glob_match(a, &facts.action, true)),
        Matcher::IsNot(list) => !list.iter().any(|a| glob_match(a, &facts.action, true)),
    };
    let resource_ok = match &statement.resource {
        None => true,
        Some(Matcher::Is(list)) => list.iter().any(|r| glob_match(r, &facts.resource, false)),
        Some(Matcher::IsNot(list)) => !list.iter().any(|r| glob_match(r, &facts.resource, false)),
    };
    principal_ok
        && action_ok
        && resource_ok
        && statement
            .conditions
            .iter()
            .all(|c| c.evaluate(&|key: &str| facts.keys.get(key).cloned()))
}

/// A principal entry names the caller itself, or its whole account
/// (`arn:aws:iam::<account>:root` or the bare account id).
fn principal_matches(principals: &Principals, facts: &RequestFacts) -> bool {
    match principals {
        Principals::Anyone => true,
        Principals::Aws(list) => list.iter().any(|p| {
            let account_root = facts.principal_account.as_deref().is_some_and(|account| {
                *p == format!("arn:aws:iam::{account}:root") || p == account
            });
            account_root || facts.principal_arn.as_deref() == Some(p.as_str())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(user: &str, action: &str, resource: &str) -> RequestFacts {
        RequestFacts {
            principal_arn: Some(format!("arn:aws:iam::000000000000:user/{user}")),
            principal_account: Some("000000000000".into()),
            action: action.into(),
            resource: resource.into(),
            keys: HashMap::new(),
        }
    }

    #[test]
    fn deny_wins_then_allow_then_nothing() {
        let doc = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Sid":"all","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"},
                {"Sid":"no-bob","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},"Action":"s3:Get*","Resource":"arn:aws:s3:::b/secret/*"}
            ]}"#,
            true,
        )
        .unwrap();
        assert_eq!(
            doc.evaluate(&facts("alice", "s3:GetObject", "arn:aws:s3:::b/secret/x")),
            Decision::Allow
        );
        assert_eq!(
            doc.evaluate(&facts("bob", "s3:GetObject", "arn:aws:s3:::b/secret/x")),
            Decision::Deny
        );
        assert_eq!(
            doc.evaluate(&facts("bob", "s3:GetObject", "arn:aws:s3:::b/public/x")),
            Decision::Allow
        );
        assert_eq!(
            doc.evaluate(&facts("bob", "s3:ListBucket", "arn:aws:s3:::b")),
            Decision::NotApplicable
        );
        let mut other_account = facts("eve", "s3:GetObject", "arn:aws:s3:::b/x");
        other_account.principal_account = Some("111111111111".into());
        other_account.principal_arn = Some("arn:aws:iam::111111111111:user/eve".into());
        assert_eq!(doc.evaluate(&other_account), Decision::NotApplicable);
    }

    /// (operator, policy value, a request value that matches, one that does not).
    const OPERATORS: &[(&str, &str, &str, &str)] = &[
        ("StringEquals", "aws:kms", "aws:kms", "AES256"),
        ("StringNotEquals", "aws:kms", "AES256", "aws:kms"),
        ("StringEqualsIgnoreCase", "AWS:KMS", "aws:kms", "AES256"),
        ("StringNotEqualsIgnoreCase", "AWS:KMS", "AES256", "aws:kms"),
        ("StringLike", "home/*", "home/a", "work/a"),
        ("StringNotLike", "home/*", "work/a", "home/a"),
        ("NumericEquals", "10", "10", "11"),
        ("NumericNotEquals", "10", "11", "10"),
        ("NumericLessThan", "10", "9", "10"),
        ("NumericLessThanEquals", "10", "10", "11"),
        ("NumericGreaterThan", "10", "11", "10"),
        ("NumericGreaterThanEquals", "10", "10", "9"),
        (
            "DateEquals",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "2026-01-02T00:00:00Z",
        ),
        (
            "DateNotEquals",
            "2026-01-01T00:00:00Z",
            "2026-01-02T00:00:00Z",
            "2026-01-01T00:00:00Z",
        ),
        (
            "DateLessThan",
            "2026-01-01T00:00:00Z",
            "2025-12-31T23:59:59Z",
            "2026-01-01T00:00:00Z",
        ),
        (
            "DateLessThanEquals",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:01Z",
        ),
        (
            "DateGreaterThan",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:01Z",
            "2026-01-01T00:00:00Z",
        ),
        (
            "DateGreaterThanEquals",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "2025-12-31T00:00:00Z",
        ),
        ("Bool", "true", "true", "false"),
        ("IpAddress", "10.0.0.0/8", "10.1.2.3", "192.168.0.1"),
        ("NotIpAddress", "10.0.0.0/8", "192.168.0.1", "10.1.2.3"),
        (
            "ArnEquals",
            "arn:aws:iam::000000000000:user/a",
            "arn:aws:iam::000000000000:user/a",
            "arn:aws:iam::000000000000:user/b",
        ),
        (
            "ArnNotEquals",
            "arn:aws:iam::000000000000:user/a",
            "arn:aws:iam::000000000000:user/b",
            "arn:aws:iam::000000000000:user/a",
        ),
        (
            "ArnLike",
            "arn:aws:iam::*:user/a*",
            "arn:aws:iam::000000000000:user/ab",
            "arn:aws:iam::000000000000:role/a",
        ),
        (
            "ArnNotLike",
            "arn:aws:iam::*:user/a*",
            "arn:aws:iam::000000000000:role/a",
            "arn:aws:iam::000000000000:user/ab",
        ),
    ];

    /// A deny policy with one condition on `test:key`.
    fn deny_if(operator: &str, value: &str) -> PolicyDocument {
        PolicyDocument::parse(
            &serde_json::json!({"Statement": [{"Sid": "t", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": "*", "Condition": {operator: {"test:key": value}}}]})
            .to_string(),
            true,
        )
        .unwrap()
    }

    fn request(value: Option<&str>) -> RequestFacts {
        let mut f = facts("a", "s3:PutObject", "arn:aws:s3:::b/k");
        if let Some(v) = value {
            f.set_one("test:key", v);
        }
        f
    }

    #[test]
    fn every_operator_and_its_if_exists_form() {
        for (operator, policy, matching, other) in OPERATORS {
            let negated = operator.contains("Not");
            let plain = deny_if(operator, policy);
            assert_eq!(
                plain.evaluate(&request(Some(matching))),
                Decision::Deny,
                "{operator} {matching}"
            );
            assert_eq!(
                plain.evaluate(&request(Some(other))),
                Decision::NotApplicable,
                "{operator} {other}"
            );
            let missing = if negated {
                Decision::Deny
            } else {
                Decision::NotApplicable
            };
            assert_eq!(
                plain.evaluate(&request(None)),
                missing,
                "{operator} with the key missing"
            );
            let if_exists = deny_if(&format!("{operator}IfExists"), policy);
            assert_eq!(
                if_exists.evaluate(&request(Some(matching))),
                Decision::Deny,
                "{operator}IfExists {matching}"
            );
            assert_eq!(
                if_exists.evaluate(&request(Some(other))),
                Decision::NotApplicable,
                "{operator}IfExists {other}"
            );
            assert_eq!(
                if_exists.evaluate(&request(None)),
                Decision::Deny,
                "{operator}IfExists with the key missing"
            );
        }
        let null_true = deny_if("Null", "true");
        assert_eq!(null_true.evaluate(&request(None)), Decision::Deny);
        assert_eq!(
            null_true.evaluate(&request(Some("x"))),
            Decision::NotApplicable
        );
        let null_false = deny_if("Null", "false");
        assert_eq!(null_false.evaluate(&request(Some("x"))), Decision::Deny);
        assert_eq!(null_false.evaluate(&request(None)), Decision::NotApplicable);
    }

    #[test]
    fn explained_decisions_name_the_statement() {
        let doc = deny_if("StringEquals", "x");
        assert_eq!(
            doc.evaluate_explained(&request(Some("x"))),
            (Decision::Deny, Some("t".into()))
        );
        assert_eq!(
            doc.evaluate_explained(&request(Some("y"))),
            (Decision::NotApplicable, None)
        );
        assert!(doc.mentions_condition_key("TEST:"));
    }

    #[test]
    fn not_elements_and_conditions() {
        let doc = PolicyDocument::parse(
            r#"{"Statement":[{"Effect":"Deny","Principal":"*","NotAction":"s3:Get*","NotResource":"arn:aws:s3:::b/open/*",
                "Condition":{"StringNotEquals":{"s3:x-amz-server-side-encryption":"aws:kms"}}}]}"#,
            true,
        )
        .unwrap();
        let mut put = facts("a", "s3:PutObject", "arn:aws:s3:::b/k");
        assert_eq!(doc.evaluate(&put), Decision::Deny, "no SSE header: denied");
        put.set_one("s3:x-amz-server-side-encryption", "aws:kms");
        assert_eq!(doc.evaluate(&put), Decision::NotApplicable);
        assert_eq!(
            doc.evaluate(&facts("a", "s3:GetObject", "arn:aws:s3:::b/k")),
            Decision::NotApplicable
        );
        assert_eq!(
            doc.evaluate(&facts("a", "s3:PutObject", "arn:aws:s3:::b/open/k")),
            Decision::NotApplicable
        );
    }
}
