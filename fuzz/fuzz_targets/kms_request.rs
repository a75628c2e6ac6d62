//! Untrusted input: KMS JSON request bodies, through the typed accessors
//! every handler uses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use s3seal::kms::api::request::KmsRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = KmsRequest::parse(data) {
        let _ = req.bounded_str("KeyId", 2048);
        let _ = req.blob("Plaintext", 4096);
        let _ = req.context("EncryptionContext");
        let _ = req.opt_int("NumberOfBytes", 1..=1024);
        let _ = req.string_list("Operations");
        let _ = req.paging();
        let _ = req.opt_bool("DryRun");
    }
});
