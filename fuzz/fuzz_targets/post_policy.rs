//! Untrusted input: the `policy` field of a browser POST form (base64 JSON),
//! parsed and checked against a form. Nothing may panic, and a field no
//! condition names must always make an allowed form disallowed (while an
//! `x-ignore-` field never matters).
#![no_main]
use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use s3seal::s3::post_object::policy::{PostPolicy, PostPolicyError};

fuzz_target!(|input: (&[u8], Vec<(String, String)>)| {
    let (document, form) = input;
    if let Ok(text) = std::str::from_utf8(document) {
        let _ = PostPolicy::from_base64(text);
    }
    let Ok(policy) = PostPolicy::parse(document) else {
        return;
    };
    let _ = policy.check_expiration(time::OffsetDateTime::UNIX_EPOCH);
    let _ = policy.content_length_range();
    let fields: BTreeMap<String, String> = form
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let allowed = policy.check_fields("bucket", &fields).is_ok();
    let named = |name: &str| policy.conditions.iter().any(|c| c.field() == Some(name));
    let mut ignored = fields.clone();
    ignored.insert("x-ignore-fuzz".into(), "1".into());
    assert_eq!(policy.check_fields("bucket", &ignored).is_ok(), allowed);
    if allowed && !named("x-amz-meta-fuzz-extra") && !fields.contains_key("x-amz-meta-fuzz-extra") {
        let mut extra = fields;
        extra.insert("x-amz-meta-fuzz-extra".into(), String::new());
        assert!(matches!(
            policy.check_fields("bucket", &extra),
            Err(PostPolicyError::ExtraFields(_))
        ));
    }
});
