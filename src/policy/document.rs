//! Parsing AWS policy documents (key policies, bucket policies) into a typed form.
//!
//! The grammar follows the IAM policy reference: `Version`, `Statement` (one
//! object or a list), each with `Sid`, `Effect`, exactly one of
//! `Principal`/`NotPrincipal` (resource policies), exactly one of
//! `Action`/`NotAction`, at most one of `Resource`/`NotResource`, and an
//! optional `Condition`. Anything else is rejected with a message saying what
//! is wrong, because a policy that is silently misread is a security bug.

use serde_json::Value;

use super::condition::{Condition, ConditionOperator};

/// Why a policy document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError(message.into()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a statement applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Anyone,
    /// ARNs (`arn:aws:iam::<account>:user/<name>`, `...:root`) or bare account ids.
    Aws(Vec<String>),
}

/// A list of patterns, or its negation (`NotAction`, `NotResource`, `NotPrincipal`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher<T> {
    Is(T),
    IsNot(T),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// `None` for identity-less documents (never for resource policies).
    pub principal: Option<Matcher<Principals>>,
    pub action: Matcher<Vec<String>>,
    /// `None` means "any resource" (allowed in key policies only as `"*"`).
    pub resource: Option<Matcher<Vec<String>>>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    pub version: String,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

/// The policy language versions AWS accepts.
const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];

impl PolicyDocument {
    /// Parses a policy. `require_principal`: resource policies (bucket and key
    /// policies) must name a principal in every statement.
    pub fn parse(text: &str, require_principal: bool) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PolicyError(format!("the policy is not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return err("the policy must be a JSON object");
        };
        for key in map.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return err(format!("unknown policy element '{key}'"));
            }
        }
        let version = match map.get("Version") {
            None => "2008-10-17".to_string(),
            Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => v.clone(),
            Some(v) => {
                return err(format!(
                    "unsupported policy Version {v}; use \"2012-10-17\""
                ));
            }
        };
        let id = match map.get("Id") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return err("Id must be a string"),
        };
        let statements = match map.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().collect::<Vec<_>>(),
            Some(Value::Object(_)) => vec![&map["Statement"]],
            Some(Value::Array(_)) => return err("Statement must not be empty"),
            Some(_) => return err("Statement must be an object or a list of objects"),
            None => return err("the policy has no Statement"),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                parse_statement(s, require_principal)
                    .map_err(|e| PolicyError(format!("Statement {}: {}", i + 1, e.0)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PolicyDocument {
            version,
            id,
            statements,
        })
    }
}

fn parse_statement(value: &Value, require_principal: bool) -> Result<Statement, PolicyError> {
    let Value::Object(map) = value else {
        return err("a statement must be a JSON object");
    };
    for key in map.keys() {
        if !matches!(
            key.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return err(format!("unknown statement element '{key}'"));
        }
    }
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return err("Sid must be a string"),
    };
    let effect = match map.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(other) => return err(format!("Effect must be \"Allow\" or \"Deny\", not {other}")),
        None => return err("missing Effect"),
    };
    let principal = match (map.get("Principal"), map.get("NotPrincipal")) {
        (Some(_), Some(_)) => return err("Principal and NotPrincipal are mutually exclusive"),
        (Some(p), None) => Some(Matcher::Is(parse_principals(p)?)),
        (None, Some(p)) => Some(Matcher::IsNot(parse_principals(p)?)),
        (None, None) if require_principal => return err("missing Principal"),
        (None, None) => None,
    };
    let action = match (map.get("Action"), map.get("NotAction")) {
        (Some(_), Some(_)) => return err("Action and NotAction are mutually exclusive"),
        (Some(a), None) => Matcher::Is(string_list(a, "Action")?),
        (None, Some(a)) => Matcher::IsNot(string_list(a, "NotAction")?),
        (None, None) => return err("missing Action"),
    };
    for pattern in match &action {
        Matcher::Is(v) | Matcher::IsNot(v) => v,
    } {
        if pattern != "*" && !pattern.contains(':') {
            return err(format!(
                "action '{pattern}' must be \"*\" or \"service:Action\" (for example s3:GetObject)"
            ));
        }
    }
    let resource = match (map.get("Resource"), map.get("NotResource")) {
        (Some(_), Some(_)) => return err("Resource and NotResource are mutually exclusive"),
        (Some(r), None) => Some(Matcher::Is(string_list(r, "Resource")?)),
        (None, Some(r)) => Some(Matcher::IsNot(string_list(r, "NotResource")?)),
        (None, None) => None,
    };
    let conditions = match map.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c)?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn parse_principals(value: &Value) -> Result<Principals, PolicyError> {
    match value {
        Value::String(s) if s == "*" => Ok(Principals::Anyone),
        Value::String(s) => err(format!(
            "Principal \"{s}\" must be \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::123456789012:user/name\"}}"
        )),
        Value::Object(map) => {
            let mut arns = Vec::new();
            for (kind, v) in map {
                match kind.as_str() {
                    "AWS" => {
                        let list = string_list(v, "Principal AWS")?;
                        if list.iter().any(|p| p == "*") {
                            return Ok(Principals::Anyone);
                        }
                        for p in &list {
                            if !(p.starts_with("arn:")
                                || (p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit())))
                            {
                                return err(format!(
                                    "invalid principal '{p}': use an ARN or a 12-digit account id"
                                ));
                            }
                        }
                        arns.extend(list);
                    }
                    // Service and federated principals never sign requests to s3seal,
                    // but policies copied from AWS carry them; they match nobody here.
                    "Service" | "Federated" | "CanonicalUser" => {
                        string_list(v, kind)?;
                    }
                    other => return err(format!("unknown principal type '{other}'")),
                }
            }
            Ok(Principals::Aws(arns))
        }
        _ => err("Principal must be \"*\" or an object"),
    }
}

fn string_list(value: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => err(format!("{what} entries must be strings, not {other}")),
            })
            .collect(),
        Value::Array(_) => err(format!("{what} must not be empty")),
        other => err(format!(
            "{what} must be a string or a list of strings, not {other}"
        )),
    }
}

fn parse_conditions(value: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(operators) = value else {
        return err("Condition must be an object of operators");
    };
    let mut out = Vec::new();
    for (operator, block) in operators {
        let operator = ConditionOperator::parse(operator)?;
        let Value::Object(keys) = block else {
            return err(format!(
                "the {} condition must be an object of keys",
                operator.name()
            ));
        };
        for (key, values) in keys {
            let values = match values {
                Value::String(s) => vec![s.clone()],
                Value::Bool(b) => vec![b.to_string()],
                Value::Number(n) => vec![n.to_string()],
                Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s.clone()),
                        Value::Bool(b) => Ok(b.to_string()),
                        Value::Number(n) => Ok(n.to_string()),
                        other => err(format!("condition values must be scalars, not {other}")),
                    })
                    .collect::<Result<_, _>>()?,
                other => {
                    return err(format!(
                        "condition key '{key}' has an invalid value {other}"
                    ));
                }
            };
            out.push(Condition::new(operator.clone(), key, values)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_shapes() {
        let doc = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::000000000000:root"]},"Action":"kms:*","Resource":"*"}}"#,
            true,
        )
        .unwrap();
        assert_eq!(doc.statements.len(), 1);
        assert_eq!(
            doc.statements[0].principal,
            Some(Matcher::Is(Principals::Aws(vec![
                "arn:aws:iam::000000000000:root".into()
            ])))
        );
    }

    #[test]
    fn rejects_what_aws_rejects_with_a_reason() {
        let cases = [
            ("not json", "not valid JSON"),
            (r#"{"Statement":[]}"#, "must not be empty"),
            (r#"{"Version":"2020-01-01","Statement":{}}"#, "Version"),
            (
                r#"{"Statement":{"Effect":"Maybe","Principal":"*","Action":"s3:*"}}"#,
                "Effect",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*"}}"#,
                "missing Principal",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*"}}"#,
                "missing Action",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"GetObject"}}"#,
                "service:Action",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","NotResource":"*"}}"#,
                "mutually exclusive",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Condition":{"StringSort":{"a":"b"}}}}"#,
                "StringSort",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Extra":1}}"#,
                "Extra",
            ),
            (
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:*"}}"#,
                "bob",
            ),
        ];
        for (text, needle) in cases {
            let e = PolicyDocument::parse(text, true).unwrap_err();
            assert!(e.0.contains(needle), "{text}: {e}");
        }
    }
}
