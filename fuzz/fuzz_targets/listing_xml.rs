//! Untrusted input: an upstream listing document, rewritten with new sizes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::s3::listing::rewrite_sizes;

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let _ = rt.block_on(rewrite_sizes(data, &[b"Contents", b"Version", b"Part"], |entry| async move { Ok(entry.size) }));
});
