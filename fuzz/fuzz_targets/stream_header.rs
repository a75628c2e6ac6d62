//! Untrusted input: the first 36 bytes of every object read from the upstream,
//! and the 40 bytes of a checksum record once its tag verified (decoded only
//! after authentication, but the decoder must hold on any bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::seal::{ChecksumRecord, StreamHeader};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = StreamHeader::decode(data) {
        // Whatever decodes must re-encode to the same bytes.
        assert_eq!(&header.encode()[..], &data[..36]);
    }
    if let Ok(record) = ChecksumRecord::decode(data) {
        assert_eq!(&record.encode()[..], data);
    }
});
