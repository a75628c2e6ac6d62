//! Reading a KMS JSON request: typed accessors with AWS's validation messages.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::kms::EncryptionContext;

pub struct KmsRequest(Map<String, Value>);

impl KmsRequest {
    /// The request's fields as sent (for the audit event).
    pub fn fields(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        if body.is_empty() {
            return Ok(KmsRequest(Map::new()));
        }
        match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => Ok(KmsRequest(map)),
            Ok(_) => Err(ApiError::new(
                "SerializationException",
                "the request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::new(
                "SerializationException",
                format!("the request body is not valid JSON: {e}"),
            )),
        }
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("{name} must be a string"),
            )),
        }
    }

    pub fn str(&self, name: &str) -> Result<&str, ApiError> {
        self.opt_str(name)?.ok_or_else(|| {
            ApiError::validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(name)
            ))
        })
    }

    /// A required string of 1..=`max` characters.
    pub fn bounded_str(&self, name: &str, max: usize) -> Result<&str, ApiError> {
        let value = self.str(name)?;
        check_len(name, value, max)?;
        Ok(value)
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("{name} must be a boolean"),
            )),
        }
    }

    pub fn opt_int(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if range.contains(&v) => Ok(Some(v)),
                _ => Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{n}' at '{}' failed to satisfy constraint: Member must have value between {} and {}",
                    lower_first(name),
                    range.start(),
                    range.end()
                ))),
            },
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("{name} must be a number"),
            )),
        }
    }

    /// A base64 blob of 1..=`max` bytes.
    pub fn blob(&self, name: &str, max: usize) -> Result<Vec<u8>, ApiError> {
        let text = self.str(name)?;
        let bytes = B64.decode(text).map_err(|_| {
            ApiError::new(
                "SerializationException",
                format!("{name} is not valid base64"),
            )
        })?;
        if bytes.is_empty() || bytes.len() > max {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must have length between 1 and {max}",
                lower_first(name)
            )));
        }
        Ok(bytes)
    }

    pub fn context(&self, name: &str) -> Result<EncryptionContext, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(EncryptionContext::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(ApiError::new(
                        "SerializationException",
                        format!("{name} values must be strings"),
                    )),
                })
                .collect(),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("{name} must be a map of strings"),
            )),
        }
    }

    pub fn string_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(ApiError::new(
                        "SerializationException",
                        format!("{name} entries must be strings"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("{name} must be a list"),
            )),
        }
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// `Limit` (1..=1000, default 100) and `Marker` (an offset s3seal issued).
    pub fn paging(&self) -> Result<(usize, usize), ApiError> {
        let limit = self.opt_int("Limit", 1..=1000)?.unwrap_or(100) as usize;
        let start = match self.opt_str("Marker")? {
            None => 0,
            Some(m) => m.parse::<usize>().map_err(|_| {
                ApiError::new(
                    "InvalidMarkerException",
                    "the marker is not one this service issued",
                )
            })?,
        };
        Ok((limit, start))
    }
}

pub fn check_len(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must have length between 1 and {max}",
            lower_first(name)
        )));
    }
    Ok(())
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// One page of `items` plus AWS's paging fields.
pub fn page<T: Clone>(items: &[T], limit: usize, start: usize) -> (Vec<T>, Option<String>) {
    let end = (start + limit).min(items.len());
    let slice = items.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
    let next = (end < items.len()).then(|| end.to_string());
    (slice, next)
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_validate() {
        let r = KmsRequest::parse(br#"{"KeyId":"k","Limit":5000,"Plaintext":"aGk=","EncryptionContext":{"a":"b"},"Bad":"!!"}"#).unwrap();
        assert_eq!(r.str("KeyId").unwrap(), "k");
        assert_eq!(r.str("Missing").unwrap_err().kind, "ValidationException");
        assert_eq!(
            r.opt_int("Limit", 1..=1000).unwrap_err().kind,
            "ValidationException"
        );
        assert_eq!(r.blob("Plaintext", 4096).unwrap(), b"hi");
        assert_eq!(
            r.blob("Bad", 10).unwrap_err().kind,
            "SerializationException"
        );
        assert_eq!(r.context("EncryptionContext").unwrap().get("a"), Some("b"));
        assert!(KmsRequest::parse(b"[1]").is_err());
        assert!(KmsRequest::parse(b"").is_ok());
    }

    #[test]
    fn paging() {
        let items: Vec<u32> = (0..5).collect();
        assert_eq!(page(&items, 2, 0), (vec![0, 1], Some("2".into())));
        assert_eq!(page(&items, 2, 4), (vec![4], None));
        assert_eq!(page(&items, 2, 9), (vec![], None));
    }
}
