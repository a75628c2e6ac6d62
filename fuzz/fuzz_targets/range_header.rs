//! Untrusted input: the Range header, applied to any object size.
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::s3::range::ByteRange;
use s3seal::seal::StreamLayout;

fuzz_target!(|input: (String, u64)| {
    let (value, size) = input;
    let size = size % (5 << 30);
    if let Some(range) = ByteRange::parse(&value)
        && let Some(satisfied) = range.satisfy(size)
    {
        assert!(satisfied.first <= satisfied.last && satisfied.last < size);
        let span = StreamLayout::default_layout().segments_for(size, satisfied.first, satisfied.last);
        assert!(span.sealed_last < StreamLayout::default_layout().sealed_len(size).unwrap());
    }
});
