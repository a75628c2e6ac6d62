//! Untrusted input: the first 36 bytes of every object read from the upstream.
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::seal::StreamHeader;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = StreamHeader::decode(data) {
        // Whatever decodes must re-encode to the same bytes.
        assert_eq!(&header.encode()[..], &data[..36]);
    }
});
