//! Stored policies, parsed once: every S3 request is checked against its
//! bucket's policy and every KMS call against its key's, and parsing the
//! JSON again each time cost more than evaluating it (see
//! docs/benchmarks.md). Entries are keyed by the exact text, so a changed
//! policy is simply another entry and nothing needs invalidating; the
//! cache is bounded, so policies no longer used fall out.

use std::sync::{Arc, LazyLock};

use quick_cache::sync::Cache;

use super::{PolicyDocument, PolicyError};

/// Distinct policy texts kept parsed (a few KiB each at most).
const CAPACITY: usize = 4096;

static PARSED: LazyLock<Cache<(bool, String), Arc<PolicyDocument>>> =
    LazyLock::new(|| Cache::new(CAPACITY));

/// [`PolicyDocument::parse`] of a stored policy, parsed at most once while cached.
pub fn parse_stored(
    text: &str,
    require_principal: bool,
) -> Result<Arc<PolicyDocument>, PolicyError> {
    let key = (require_principal, text.to_string());
    if let Some(parsed) = PARSED.get(&key) {
        return Ok(parsed);
    }
    let parsed = Arc::new(PolicyDocument::parse(text, require_principal)?);
    PARSED.insert(key, parsed.clone());
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    #[test]
    fn the_same_text_is_parsed_once_and_errors_are_not_cached() {
        let first = parse_stored(POLICY, true).unwrap();
        let second = parse_stored(POLICY, true).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(*first, PolicyDocument::parse(POLICY, true).unwrap());
        assert!(parse_stored("{not json", true).is_err());
        assert!(parse_stored("{not json", true).is_err());
        let without_principal =
            r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        assert!(parse_stored(without_principal, true).is_err());
        assert!(parse_stored(without_principal, false).is_ok());
    }
}
