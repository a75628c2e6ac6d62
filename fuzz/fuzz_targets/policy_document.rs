//! Untrusted input: policy documents (PutKeyPolicy, CreateKey, and later
//! PutBucketPolicy), parsed and evaluated against a fixed request.
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::policy::{PolicyDocument, RequestFacts};

fuzz_target!(|data: &str| {
    for require_principal in [true, false] {
        if let Ok(policy) = PolicyDocument::parse(data, require_principal) {
            let mut facts = RequestFacts {
                principal_arn: Some("arn:aws:iam::000000000000:user/fuzz".into()),
                principal_account: Some("000000000000".into()),
                action: "kms:Decrypt".into(),
                resource: "arn:aws:kms:us-east-1:000000000000:key/k".into(),
                ..RequestFacts::default()
            };
            facts.set_one("aws:SourceIp", "10.0.0.1");
            facts.set_one("aws:CurrentTime", "2026-11-23T00:00:00Z");
            facts.set("kms:EncryptionContextKeys", vec!["a".into(), "b".into()]);
            let _ = policy.evaluate(&facts);
        }
    }
});
