//! Bucket policy parsing and evaluation per request.
//!
//! Every request on a bucket with a policy is checked against it before it
//! reaches the upstream ([`s3seal::s3::access`]), so evaluation is a fixed
//! per-request cost like SigV4 verification. The policy is the kind
//! operators write: deny uploads without SSE-KMS (`StringNotEquals` and
//! `Null` on the SSE header), deny plain HTTP (`Bool`), allow named
//! principals from office networks (`IpAddress`) on a wildcard resource,
//! and allow the account to read a public prefix.
//!
//! - `parse`: [`PolicyDocument::parse`] of the policy JSON (s3seal reads the
//!   stored policy and parses it on each request that needs it);
//! - `evaluate_allow`: an SSE-KMS PutObject by an allowed principal: no deny
//!   matches, so every statement is evaluated;
//! - `evaluate_deny`: the same upload without the SSE header: the first
//!   statement denies.
//!
//! The request facts are built as `s3::access` builds them (the keys it sets
//! for a header-signed PutObject), outside the timed loop.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use s3seal::policy::{Decision, PolicyDocument, RequestFacts};

const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Id": "bench-bucket-policy",
  "Statement": [
    {
      "Sid": "DenyUploadsNotKms",
      "Effect": "Deny",
      "Principal": "*",
      "Action": "s3:PutObject",
      "Resource": "arn:aws:s3:::bench-bucket/*",
      "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}
    },
    {
      "Sid": "DenyUploadsWithoutSseHeader",
      "Effect": "Deny",
      "Principal": "*",
      "Action": "s3:PutObject",
      "Resource": "arn:aws:s3:::bench-bucket/*",
      "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}
    },
    {
      "Sid": "DenyPlainHttp",
      "Effect": "Deny",
      "Principal": "*",
      "Action": "s3:*",
      "Resource": ["arn:aws:s3:::bench-bucket", "arn:aws:s3:::bench-bucket/*"],
      "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    },
    {
      "Sid": "AllowPipelinesFromOffice",
      "Effect": "Allow",
      "Principal": {"AWS": ["arn:aws:iam::000000000000:user/app", "arn:aws:iam::000000000000:user/etl"]},
      "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
      "Resource": ["arn:aws:s3:::bench-bucket", "arn:aws:s3:::bench-bucket/data/*"],
      "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]}}
    },
    {
      "Sid": "AllowAccountReadsOfPublic",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
      "Action": "s3:Get*",
      "Resource": "arn:aws:s3:::bench-bucket/public/*"
    }
  ]
}"#;

/// The facts of a header-signed PutObject by `app` over TLS from the office.
fn put_object(sse: Option<&str>) -> RequestFacts {
    let arn = "arn:aws:iam::000000000000:user/app";
    let mut facts = RequestFacts {
        principal_arn: Some(arn.into()),
        principal_account: Some("000000000000".into()),
        action: "s3:PutObject".into(),
        resource: "arn:aws:s3:::bench-bucket/data/2026/01/15/object-000123.json.gz".into(),
        ..RequestFacts::default()
    };
    facts.set_one("aws:PrincipalArn", arn);
    facts.set_one("aws:PrincipalAccount", "000000000000");
    facts.set_one("aws:username", "app");
    facts.set_one("aws:userid", "app");
    facts.set_one("aws:SecureTransport", "true");
    facts.set_one("aws:SourceIp", "10.20.30.40");
    facts.set_one("aws:CurrentTime", "2026-01-15T10:20:30Z");
    facts.set_one("aws:EpochTime", "1768472430");
    facts.set_one("s3:signatureversion", "AWS4-HMAC-SHA256");
    facts.set_one("s3:authType", "REST-HEADER");
    facts.set_one("s3:x-amz-storage-class", "STANDARD");
    if let Some(sse) = sse {
        facts.set_one("s3:x-amz-server-side-encryption", sse);
        facts.set_one(
            "s3:x-amz-server-side-encryption-aws-kms-key-id",
            "arn:aws:kms:us-east-1:000000000000:key/6f1c1b2e-7c1a-4a57-9d3e-2b7f0e5d9a11",
        );
    }
    facts
}

fn policy(c: &mut Criterion) {
    let document = PolicyDocument::parse(POLICY, true).unwrap();
    let allowed = put_object(Some("aws:kms"));
    let denied = put_object(None);
    assert_eq!(document.evaluate(&allowed), Decision::Allow);
    assert_eq!(document.evaluate(&denied), Decision::Deny);

    let mut group = c.benchmark_group("policy");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| PolicyDocument::parse(black_box(POLICY), true).unwrap())
    });
    group.bench_function("evaluate_allow", |b| {
        b.iter(|| document.evaluate_explained(black_box(&allowed)))
    });
    group.bench_function("evaluate_deny", |b| {
        b.iter(|| document.evaluate_explained(black_box(&denied)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = policy
}
criterion_main!(benches);
