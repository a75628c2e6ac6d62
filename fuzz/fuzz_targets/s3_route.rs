//! Untrusted input: request method, path and query, routed to an S3 operation.
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::s3::route;

fuzz_target!(|input: (u8, String, bool)| {
    let (m, uri, copy) = input;
    let method = [http::Method::GET, http::Method::PUT, http::Method::POST, http::Method::DELETE, http::Method::HEAD]
        [usize::from(m) % 5]
        .clone();
    let Ok(uri) = uri.parse::<http::Uri>() else { return };
    if let Ok(request) = route::resolve(&method, &uri, copy) {
        let _ = request.operation.name();
        let _ = request.resource();
    }
});
