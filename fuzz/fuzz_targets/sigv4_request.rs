//! Untrusted input: a request head as a client sends it, through SigV4
//! verification (Authorization header or presigned query parameters,
//! canonicalisation, date and expiry checks).
#![no_main]
use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use s3seal::auth::{Authenticator, ClientCredential, CredentialStore, Secret};

fuzz_target!(|input: (String, String, Vec<(String, String)>)| {
    let (method, uri, headers) = input;
    let mut builder = http::Request::builder().method(method.as_str()).uri(uri.as_str());
    for (name, value) in &headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let Ok(request) = builder.body(()) else { return };
    let (parts, ()) = request.into_parts();
    let cred = ClientCredential {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        principal: "fuzz".into(),
        buckets: vec!["*".into()],
    };
    let auth = Authenticator::new(CredentialStore::new(&[cred], "000000000000").unwrap(), "us-east-1");
    let _ = auth.authenticate(&parts, "s3", SystemTime::now());
});
