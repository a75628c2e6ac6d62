//! Tests of the asymmetric and HMAC key cryptography: round trips for every
//! key spec, KMS's validation rules, and interoperability with the OpenSSL
//! command line (which must be installed: these tests fail, never skip,
//! without it).

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use super::*;

const MESSAGE: &[u8] = b"s3seal: the message every test signs";

/// Key material per spec, generated once per test run (RSA 4096 is slow).
fn key(spec: KeySpec) -> Zeroizing<Vec<u8>> {
    static KEYS: [OnceLock<Zeroizing<Vec<u8>>>; 15] = [const { OnceLock::new() }; 15];
    let index = KeySpec::ALL.iter().position(|s| *s == spec).unwrap();
    KEYS[index]
        .get_or_init(|| generate_private_key(spec).unwrap())
        .clone()
}

/// Every signing algorithm KMS has.
const ALL_SIGNING_ALGORITHMS: &[&str] = &[
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "ECDSA_SHA_256",
    "ECDSA_SHA_384",
    "ECDSA_SHA_512",
    "ED25519_SHA_512",
    "ED25519_PH_SHA_512",
    "ML_DSA_SHAKE_256",
    "SM2DSA",
];

/// The hash a DIGEST message must come from, if the algorithm takes DIGEST.
fn digest_hash(algorithm: &str) -> Option<Hash> {
    match algorithm {
        a if a.ends_with("SHA_256") && !a.starts_with("ML_DSA") => Some(Hash::Sha256),
        a if a.ends_with("SHA_384") => Some(Hash::Sha384),
        "ED25519_SHA_512" => None,
        a if a.ends_with("SHA_512") => Some(Hash::Sha512),
        _ => None,
    }
}

fn is_unsupported<T: std::fmt::Debug>(result: Result<T>) -> bool {
    matches!(result, Err(AsymmetricError::UnsupportedAlgorithm(_)))
}

fn is_invalid_message<T: std::fmt::Debug>(result: Result<T>) -> bool {
    matches!(result, Err(AsymmetricError::InvalidMessage(_)))
}

fn is_invalid_key<T: std::fmt::Debug>(result: Result<T>) -> bool {
    matches!(result, Err(AsymmetricError::InvalidKeyMaterial(_)))
}

fn is_crypto<T: std::fmt::Debug>(result: Result<T>) -> bool {
    matches!(result, Err(AsymmetricError::Crypto(_)))
}

/// FIPS 204 µ of `message` for an empty context, computed by the ml-dsa
/// crate from the public key (as a client preparing EXTERNAL_MU would).
fn ml_dsa_mu(spec: KeySpec, public_der: &[u8], message: &[u8]) -> Vec<u8> {
    use ml_dsa::pkcs8::DecodePublicKey;
    fn mu<P: mldsa_params::Params>(public_der: &[u8], message: &[u8]) -> Vec<u8> {
        let key = ml_dsa::VerifyingKey::<P>::from_public_key_der(public_der).unwrap();
        key.compute_mu(
            |h| {
                digest::Update::update(h, message);
                Ok(())
            },
            &[],
        )
        .unwrap()
        .to_vec()
    }
    match spec {
        KeySpec::MlDsa44 => mu::<ml_dsa::MlDsa44>(public_der, message),
        KeySpec::MlDsa65 => mu::<ml_dsa::MlDsa65>(public_der, message),
        KeySpec::MlDsa87 => mu::<ml_dsa::MlDsa87>(public_der, message),
        _ => unreachable!(),
    }
}

mod mldsa_params {
    use ml_dsa::pkcs8::der::AnyRef;
    use ml_dsa::pkcs8::spki::AssociatedAlgorithmIdentifier;
    pub trait Params:
        ml_dsa::MlDsaParams + AssociatedAlgorithmIdentifier<Params = AnyRef<'static>>
    {
    }
    impl<P: ml_dsa::MlDsaParams + AssociatedAlgorithmIdentifier<Params = AnyRef<'static>>> Params
        for P
    {
    }
}

/// The (message type, message) pairs each algorithm is signed with, all
/// standing for `MESSAGE`.
fn message_forms(spec: KeySpec, public_der: &[u8], algorithm: &str) -> Vec<(MessageType, Vec<u8>)> {
    let mut forms = vec![(MessageType::Raw, MESSAGE.to_vec())];
    if let Some(hash) = digest_hash(algorithm) {
        forms.push((MessageType::Digest, hash.digest(MESSAGE)));
    }
    if algorithm == "ML_DSA_SHAKE_256" {
        forms.push((
            MessageType::ExternalMu,
            ml_dsa_mu(spec, public_der, MESSAGE),
        ));
    }
    forms
}

/// Sign/verify round trips and KMS's validation rules for one spec.
fn check_sign_verify(spec: KeySpec) {
    let private = key(spec);
    let public = public_key_der(spec, &private).unwrap();
    let other_message = b"another message".to_vec();
    for &algorithm in spec.signing_algorithms() {
        let forms = message_forms(spec, &public, algorithm);
        for (message_type, message) in &forms {
            let (message_type, message) = (*message_type, message.as_slice());
            let what = format!("{spec} {algorithm} {}", message_type.as_str());
            let signature = sign(spec, &private, algorithm, message, message_type)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                verify(spec, &private, algorithm, message, message_type, &signature).unwrap(),
                "{what}: own signature must verify"
            );
            // A signature made from one message form verifies with every other
            // form of the same message (RAW vs DIGEST vs EXTERNAL_MU).
            for (other_type, other_form) in &forms {
                assert!(
                    verify(
                        spec,
                        &private,
                        algorithm,
                        other_form,
                        *other_type,
                        &signature
                    )
                    .unwrap(),
                    "{what}: must verify as {}",
                    other_type.as_str()
                );
            }
            // Wrong message.
            let mut wrong = message.to_vec();
            wrong[0] ^= 0x01;
            assert!(
                !verify(spec, &private, algorithm, &wrong, message_type, &signature).unwrap(),
                "{what}: wrong message"
            );
            assert!(
                !verify(
                    spec,
                    &private,
                    algorithm,
                    &other_message,
                    MessageType::Raw,
                    &signature
                )
                .unwrap(),
                "{what}: other message"
            );
            // Tampered signatures (one bit, truncated, extended, empty, garbage).
            for index in [0, signature.len() / 2, signature.len() - 1] {
                let mut tampered = signature.clone();
                tampered[index] ^= 0x01;
                assert!(
                    !verify(spec, &private, algorithm, message, message_type, &tampered).unwrap(),
                    "{what}: tampered byte {index}"
                );
            }
            let mut extended = signature.clone();
            extended.push(0);
            for bad in [
                &signature[..signature.len() - 1],
                &extended[..],
                &[][..],
                &[0x30, 0x02, 0x01][..],
            ] {
                assert!(
                    !verify(spec, &private, algorithm, message, message_type, bad).unwrap(),
                    "{what}: malformed signature of {} bytes",
                    bad.len()
                );
            }
        }

        // DIGEST messages must be exactly the hash length; algorithms that
        // sign the message itself refuse DIGEST.
        match digest_hash(algorithm) {
            Some(hash) => {
                let len = hash.output_len();
                for bad_len in [0, len - 1, len + 1, 20] {
                    let digest = vec![7u8; bad_len];
                    assert!(
                        is_invalid_message(sign(
                            spec,
                            &private,
                            algorithm,
                            &digest,
                            MessageType::Digest
                        )),
                        "{spec} {algorithm}: DIGEST of {bad_len} bytes"
                    );
                    assert!(is_invalid_message(verify(
                        spec,
                        &private,
                        algorithm,
                        &digest,
                        MessageType::Digest,
                        &[1, 2, 3]
                    )));
                }
            }
            None => {
                for len in [32, 48, 64] {
                    assert!(
                        is_invalid_message(sign(
                            spec,
                            &private,
                            algorithm,
                            &vec![7u8; len],
                            MessageType::Digest
                        )),
                        "{spec} {algorithm} must refuse DIGEST"
                    );
                }
            }
        }
        // EXTERNAL_MU is for ML-DSA only, and is exactly 64 bytes.
        if algorithm == "ML_DSA_SHAKE_256" {
            for len in [0, 32, 63, 65] {
                assert!(is_invalid_message(sign(
                    spec,
                    &private,
                    algorithm,
                    &vec![1u8; len],
                    MessageType::ExternalMu
                )));
            }
        } else {
            assert!(
                is_invalid_message(sign(
                    spec,
                    &private,
                    algorithm,
                    &[1u8; 64],
                    MessageType::ExternalMu
                )),
                "{spec} {algorithm} must refuse EXTERNAL_MU"
            );
        }
        // RAW messages are 1 to 4096 bytes.
        assert!(
            sign(
                spec,
                &private,
                algorithm,
                &[9u8; MAX_MESSAGE_LEN],
                MessageType::Raw
            )
            .is_ok()
        );
        for bad in [&[][..], &[9u8; MAX_MESSAGE_LEN + 1][..]] {
            assert!(is_invalid_message(sign(
                spec,
                &private,
                algorithm,
                bad,
                MessageType::Raw
            )));
            assert!(is_invalid_message(verify(
                spec,
                &private,
                algorithm,
                bad,
                MessageType::Raw,
                &[1]
            )));
        }
    }

    // Algorithms of other specs, and names that are no signing algorithm.
    for algorithm in ALL_SIGNING_ALGORITHMS.iter().chain(&[
        "RSAES_OAEP_SHA_256",
        "HMAC_SHA_256",
        "",
        "ecdsa_sha_256",
    ]) {
        if spec.signing_algorithms().contains(algorithm) {
            continue;
        }
        assert!(
            is_unsupported(sign(spec, &private, algorithm, MESSAGE, MessageType::Raw)),
            "{spec} must refuse {algorithm}"
        );
        assert!(is_unsupported(verify(
            spec,
            &private,
            algorithm,
            MESSAGE,
            MessageType::Raw,
            &[0; 64]
        )));
    }

    // Key material that is not a key of this spec.
    let algorithm = spec.signing_algorithms()[0];
    for other in [KeySpec::EccNistP256, KeySpec::EccNistP384, KeySpec::Rsa2048] {
        if other == spec {
            continue;
        }
        let other_key = key(other);
        assert!(
            is_invalid_key(sign(spec, &other_key, algorithm, MESSAGE, MessageType::Raw)),
            "{spec} must refuse {other} key material"
        );
    }
    assert!(is_invalid_key(sign(
        spec,
        &[0xAB; 48],
        algorithm,
        MESSAGE,
        MessageType::Raw
    )));
    assert!(is_invalid_key(public_key_der(spec, &[0xAB; 48])));
}

#[test]
fn sign_verify_rsa_2048() {
    check_sign_verify(KeySpec::Rsa2048);
}

#[test]
fn sign_verify_rsa_3072() {
    check_sign_verify(KeySpec::Rsa3072);
}

#[test]
fn sign_verify_rsa_4096() {
    check_sign_verify(KeySpec::Rsa4096);
}

#[test]
fn sign_verify_ecc_nist_p256() {
    check_sign_verify(KeySpec::EccNistP256);
}

#[test]
fn sign_verify_ecc_nist_p384() {
    check_sign_verify(KeySpec::EccNistP384);
}

#[test]
fn sign_verify_ecc_nist_p521() {
    check_sign_verify(KeySpec::EccNistP521);
}

#[test]
fn sign_verify_ecc_secg_p256k1() {
    check_sign_verify(KeySpec::EccSecgP256k1);
}

#[test]
fn sign_verify_ed25519() {
    check_sign_verify(KeySpec::EccNistEdwards25519);
}

#[test]
fn sign_verify_ml_dsa_44() {
    check_sign_verify(KeySpec::MlDsa44);
}

#[test]
fn sign_verify_ml_dsa_65() {
    check_sign_verify(KeySpec::MlDsa65);
}

#[test]
fn sign_verify_ml_dsa_87() {
    check_sign_verify(KeySpec::MlDsa87);
}

#[test]
fn hmac_keys_do_not_sign() {
    let private = key(KeySpec::Hmac256);
    assert!(is_unsupported(sign(
        KeySpec::Hmac256,
        &private,
        "HMAC_SHA_256",
        MESSAGE,
        MessageType::Raw
    )));
    assert!(is_unsupported(verify(
        KeySpec::Hmac256,
        &private,
        "ECDSA_SHA_256",
        MESSAGE,
        MessageType::Raw,
        &[1]
    )));
    assert!(is_unsupported(public_key_der(KeySpec::Hmac256, &private)));
}

#[test]
fn signature_sizes_are_kms_sizes() {
    let cases = [
        (KeySpec::Rsa2048, 256),
        (KeySpec::Rsa3072, 384),
        (KeySpec::Rsa4096, 512),
        (KeySpec::EccNistEdwards25519, 64),
        (KeySpec::MlDsa44, 2420),
        (KeySpec::MlDsa65, 3309),
        (KeySpec::MlDsa87, 4627),
    ];
    for (spec, len) in cases {
        let signature = sign(
            spec,
            &key(spec),
            spec.signing_algorithms()[0],
            MESSAGE,
            MessageType::Raw,
        )
        .unwrap();
        assert_eq!(signature.len(), len, "{spec}");
    }
    // ECDSA: DER SEQUENCE of two INTEGERs, not the fixed-size r || s.
    for spec in [
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
    ] {
        let signature = sign(
            spec,
            &key(spec),
            spec.signing_algorithms()[0],
            MESSAGE,
            MessageType::Raw,
        )
        .unwrap();
        assert_eq!(signature[0], 0x30, "{spec}: DER SEQUENCE");
        assert!(signature.contains(&0x02), "{spec}: INTEGERs");
    }
}

/// KMS and OpenSSL do not normalise ECDSA `s`; Verify takes both forms.
#[test]
fn ecdsa_verify_accepts_high_and_low_s() {
    use ecdsa_flip::Curve;
    for spec in [KeySpec::EccSecgP256k1, KeySpec::EccNistP256] {
        let flipped = match spec {
            KeySpec::EccSecgP256k1 => k256::Secp256k1::flip,
            _ => p256::NistP256::flip,
        };
        let private = key(spec);
        let digest = Hash::Sha256.digest(MESSAGE);
        let signature = sign(
            spec,
            &private,
            "ECDSA_SHA_256",
            &digest,
            MessageType::Digest,
        )
        .unwrap();
        let other = flipped(&signature);
        assert_ne!(other, signature);
        for sig in [&signature, &other] {
            assert!(
                verify(
                    spec,
                    &private,
                    "ECDSA_SHA_256",
                    &digest,
                    MessageType::Digest,
                    sig
                )
                .unwrap(),
                "{spec}"
            );
        }
    }
}

/// RFC 8032 §7.1 TEST 2 (Ed25519) and §7.3 TEST abc (Ed25519ph): the
/// signatures are deterministic, so s3seal must reproduce them exactly.
#[test]
fn ed25519_rfc_8032_vectors() {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
    fn pkcs8(seed: &str) -> Vec<u8> {
        let keypair = KeypairBytes {
            secret_key: hex::decode(seed).unwrap().try_into().unwrap(),
            public_key: None,
        };
        keypair.to_pkcs8_der().unwrap().as_bytes().to_vec()
    }
    let spec = KeySpec::EccNistEdwards25519;
    let cases = [
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "ED25519_SHA_512",
            &b"\x72"[..],
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
             085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ED25519_PH_SHA_512",
            &b"abc"[..],
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
             31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
        ),
    ];
    for (seed, public, algorithm, message, expected) in cases {
        let private = pkcs8(seed);
        let spki = public_key_der(spec, &private).unwrap();
        assert_eq!(hex::encode(&spki[spki.len() - 32..]), public);
        let mut forms = vec![(MessageType::Raw, message.to_vec())];
        if algorithm == "ED25519_PH_SHA_512" {
            forms.push((MessageType::Digest, Hash::Sha512.digest(message)));
        }
        for (message_type, form) in forms {
            let signature = sign(spec, &private, algorithm, &form, message_type).unwrap();
            assert_eq!(hex::encode(&signature), expected, "{algorithm}");
            assert!(verify(spec, &private, algorithm, &form, message_type, &signature).unwrap());
        }
    }
}

mod ecdsa_flip {
    /// (r, s) -> (r, n - s), DER in and out.
    pub trait Curve {
        fn flip(der: &[u8]) -> Vec<u8>;
    }

    macro_rules! flip {
        ($curve:ty, $krate:ident) => {
            impl Curve for $curve {
                fn flip(der: &[u8]) -> Vec<u8> {
                    let signature = $krate::ecdsa::Signature::from_der(der).unwrap();
                    let (r, s) = signature.split_scalars();
                    $krate::ecdsa::Signature::from_scalars(r, -s)
                        .unwrap()
                        .to_der()
                        .as_bytes()
                        .to_vec()
                }
            }
        };
    }
    flip!(k256::Secp256k1, k256);
    flip!(p256::NistP256, p256);
}

#[test]
fn key_spec_names_and_algorithms() {
    for spec in KeySpec::ALL {
        assert_eq!(KeySpec::parse(spec.as_str()), Some(spec));
        assert_eq!(spec.to_string(), spec.as_str());
        assert!(!spec.allowed_usages().is_empty());
    }
    for name in [
        "SYMMETRIC_DEFAULT",
        "RSA_1024",
        "rsa_2048",
        "",
        "SM2",
        "ML_DSA_33",
    ] {
        assert_eq!(KeySpec::parse(name), None, "{name}");
    }
    assert_eq!(
        KeySpec::Rsa3072.allowed_usages(),
        ["ENCRYPT_DECRYPT", "SIGN_VERIFY"]
    );
    assert_eq!(KeySpec::EccSecgP256k1.allowed_usages(), ["SIGN_VERIFY"]);
    assert_eq!(
        KeySpec::EccNistEdwards25519.allowed_usages(),
        ["SIGN_VERIFY"]
    );
    assert_eq!(KeySpec::MlDsa65.allowed_usages(), ["SIGN_VERIFY"]);
    assert_eq!(KeySpec::Hmac384.allowed_usages(), ["GENERATE_VERIFY_MAC"]);
    assert_eq!(KeySpec::Rsa4096.signing_algorithms().len(), 6);
    assert_eq!(KeySpec::EccNistP256.signing_algorithms(), ["ECDSA_SHA_256"]);
    assert_eq!(
        KeySpec::EccSecgP256k1.signing_algorithms(),
        ["ECDSA_SHA_256"]
    );
    assert_eq!(KeySpec::EccNistP384.signing_algorithms(), ["ECDSA_SHA_384"]);
    assert_eq!(KeySpec::EccNistP521.signing_algorithms(), ["ECDSA_SHA_512"]);
    assert_eq!(
        KeySpec::EccNistEdwards25519.signing_algorithms(),
        ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    );
    assert_eq!(KeySpec::MlDsa44.signing_algorithms(), ["ML_DSA_SHAKE_256"]);
    assert_eq!(
        KeySpec::Rsa2048.encryption_algorithms(),
        ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    );
    assert!(KeySpec::EccNistP256.encryption_algorithms().is_empty());
    assert_eq!(KeySpec::Hmac224.mac_algorithms(), ["HMAC_SHA_224"]);
    assert_eq!(KeySpec::Hmac512.mac_algorithms(), ["HMAC_SHA_512"]);
    assert!(KeySpec::Rsa2048.mac_algorithms().is_empty());
    assert!(KeySpec::Hmac256.signing_algorithms().is_empty());
    let hmac: Vec<_> = KeySpec::ALL.into_iter().filter(|s| s.is_hmac()).collect();
    assert_eq!(
        hmac,
        [
            KeySpec::Hmac224,
            KeySpec::Hmac256,
            KeySpec::Hmac384,
            KeySpec::Hmac512
        ]
    );
    for (name, message_type) in [
        ("RAW", MessageType::Raw),
        ("DIGEST", MessageType::Digest),
        ("EXTERNAL_MU", MessageType::ExternalMu),
    ] {
        assert_eq!(MessageType::parse(name), Some(message_type));
        assert_eq!(message_type.as_str(), name);
    }
    assert_eq!(MessageType::parse("raw"), None);
}

#[test]
fn generated_keys_are_pkcs8_v1_and_hmac_keys_have_kms_lengths() {
    use rsa::pkcs8::der::Decode;
    use rsa::pkcs8::{PrivateKeyInfoRef, Version};
    for spec in KeySpec::ALL {
        let private = key(spec);
        if spec.is_hmac() {
            let expected = match spec {
                KeySpec::Hmac224 => 28,
                KeySpec::Hmac256 => 32,
                KeySpec::Hmac384 => 48,
                _ => 64,
            };
            assert_eq!(private.len(), expected, "{spec}");
            continue;
        }
        let info = PrivateKeyInfoRef::from_der(&private)
            .unwrap_or_else(|e| panic!("{spec}: not PKCS#8: {e}"));
        assert_eq!(info.version(), Version::V1, "{spec}");
    }
    // Fresh material each time.
    assert_ne!(
        *generate_private_key(KeySpec::Hmac256).unwrap(),
        *generate_private_key(KeySpec::Hmac256).unwrap()
    );
    assert_ne!(
        *generate_private_key(KeySpec::EccNistP256).unwrap(),
        *generate_private_key(KeySpec::EccNistP256).unwrap()
    );
}

#[test]
fn ml_dsa_public_keys_decode() {
    use ml_dsa::pkcs8::DecodePublicKey;
    let cases = [
        (KeySpec::MlDsa44, 1312),
        (KeySpec::MlDsa65, 1952),
        (KeySpec::MlDsa87, 2592),
    ];
    for (spec, raw_len) in cases {
        let public = public_key_der(spec, &key(spec)).unwrap();
        // SPKI = SEQUENCE { AlgorithmIdentifier (13 bytes), BIT STRING }.
        assert!(
            public.len() > raw_len && public.len() < raw_len + 30,
            "{spec}"
        );
        match spec {
            KeySpec::MlDsa44 => {
                ml_dsa::VerifyingKey::<ml_dsa::MlDsa44>::from_public_key_der(&public).unwrap();
            }
            KeySpec::MlDsa65 => {
                ml_dsa::VerifyingKey::<ml_dsa::MlDsa65>::from_public_key_der(&public).unwrap();
            }
            _ => {
                ml_dsa::VerifyingKey::<ml_dsa::MlDsa87>::from_public_key_der(&public).unwrap();
            }
        }
    }
    // A key of one parameter set is not a key of another.
    assert!(is_invalid_key(public_key_der(
        KeySpec::MlDsa65,
        &key(KeySpec::MlDsa44)
    )));
}

#[test]
fn data_key_pairs() {
    for spec in KeySpec::ALL {
        let pair = generate_data_key_pair(spec);
        if spec.is_data_key_pair_spec() {
            let (private, public) = pair.unwrap();
            assert_eq!(public, public_key_der(spec, &private).unwrap(), "{spec}");
        } else {
            assert!(is_unsupported(pair), "{spec}");
        }
    }
    assert!(!KeySpec::MlDsa44.is_data_key_pair_spec());
    assert!(KeySpec::EccNistEdwards25519.is_data_key_pair_spec());
}

#[test]
fn errors_never_show_key_material() {
    let secret = [0xA7u8; 48];
    let marker = hex::encode(&secret[..4]);
    let results = [
        sign(
            KeySpec::EccNistP256,
            &secret,
            "ECDSA_SHA_256",
            MESSAGE,
            MessageType::Raw,
        )
        .err(),
        public_key_der(KeySpec::Rsa2048, &secret).err(),
        rsa_decrypt(KeySpec::Rsa2048, &secret, "RSAES_OAEP_SHA_256", &[0; 256]).err(),
        unwrap_import(&secret, "RSAES_OAEP_SHA_256", &[0; 256]).err(),
        public_key_der(KeySpec::EccNistEdwards25519, &secret).err(),
        public_key_der(KeySpec::MlDsa87, &secret).err(),
    ];
    for error in results {
        let error = error.expect("garbage key material must be refused");
        for shown in [format!("{error}"), format!("{error:?}")] {
            assert!(!shown.contains(&marker), "{shown}");
            assert!(!shown.contains("167"), "{shown}");
        }
    }
}

// ---------------------------------------------------------------- RSA OAEP

#[test]
fn rsa_oaep_round_trip_and_kms_plaintext_limits() {
    let limits = [
        (KeySpec::Rsa2048, 214, 190),
        (KeySpec::Rsa3072, 342, 318),
        (KeySpec::Rsa4096, 470, 446),
    ];
    for (spec, sha1_limit, sha256_limit) in limits {
        let private = key(spec);
        for (algorithm, limit) in [
            ("RSAES_OAEP_SHA_1", sha1_limit),
            ("RSAES_OAEP_SHA_256", sha256_limit),
        ] {
            for len in [1, 32, limit] {
                let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let ciphertext = rsa_encrypt(spec, &private, algorithm, &plaintext).unwrap();
                assert_eq!(ciphertext.len() * 8, spec_bits(spec));
                let decrypted = rsa_decrypt(spec, &private, algorithm, &ciphertext).unwrap();
                assert_eq!(*decrypted, plaintext, "{spec} {algorithm} {len}");
            }
            assert!(
                is_invalid_message(rsa_encrypt(spec, &private, algorithm, &vec![1; limit + 1])),
                "{spec} {algorithm}: one byte over the limit"
            );
            assert!(is_invalid_message(rsa_encrypt(
                spec,
                &private,
                algorithm,
                &[]
            )));
        }
        // Decrypting with the other OAEP hash, a tampered or a short
        // ciphertext fails as an invalid ciphertext.
        let ciphertext = rsa_encrypt(spec, &private, "RSAES_OAEP_SHA_256", b"secret").unwrap();
        assert!(is_crypto(rsa_decrypt(
            spec,
            &private,
            "RSAES_OAEP_SHA_1",
            &ciphertext
        )));
        let mut tampered = ciphertext.clone();
        tampered[10] ^= 0x40;
        assert!(is_crypto(rsa_decrypt(
            spec,
            &private,
            "RSAES_OAEP_SHA_256",
            &tampered
        )));
        assert!(is_crypto(rsa_decrypt(
            spec,
            &private,
            "RSAES_OAEP_SHA_256",
            &ciphertext[1..]
        )));
        assert!(is_crypto(rsa_decrypt(
            spec,
            &private,
            "RSAES_OAEP_SHA_256",
            &[]
        )));
        for algorithm in [
            "RSAES_PKCS1_V1_5",
            "SYMMETRIC_DEFAULT",
            "RSAES_OAEP_SHA_384",
        ] {
            assert!(is_unsupported(rsa_encrypt(spec, &private, algorithm, b"x")));
            assert!(is_unsupported(rsa_decrypt(
                spec,
                &private,
                algorithm,
                &ciphertext
            )));
        }
    }
    let ecc = key(KeySpec::EccNistP256);
    assert!(is_unsupported(rsa_encrypt(
        KeySpec::EccNistP256,
        &ecc,
        "RSAES_OAEP_SHA_256",
        b"x"
    )));
    // RSA_2048 material is not an RSA_3072 key.
    assert!(is_invalid_key(rsa_encrypt(
        KeySpec::Rsa3072,
        &key(KeySpec::Rsa2048),
        "RSAES_OAEP_SHA_256",
        b"x"
    )));
}

fn spec_bits(spec: KeySpec) -> usize {
    match spec.family() {
        Family::Rsa(bits) => bits,
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------- HMAC

#[test]
fn hmac_rfc_4231_test_case_2() {
    let key = b"Jefe";
    let data = b"what do ya want for nothing?";
    let cases = [
        (
            KeySpec::Hmac224,
            "HMAC_SHA_224",
            "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
        ),
        (
            KeySpec::Hmac256,
            "HMAC_SHA_256",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            KeySpec::Hmac384,
            "HMAC_SHA_384",
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e\
             8e2240ca5e69e2c78b3239ecfab21649",
        ),
        (
            KeySpec::Hmac512,
            "HMAC_SHA_512",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
             9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
    ];
    for (spec, algorithm, expected) in cases {
        let mac = generate_mac(spec, key, algorithm, data).unwrap();
        assert_eq!(hex::encode(&mac), expected, "{spec}");
        assert!(verify_mac(spec, key, algorithm, data, &mac).unwrap());
        let mut wrong = mac.clone();
        wrong[3] ^= 0x01;
        assert!(!verify_mac(spec, key, algorithm, data, &wrong).unwrap());
        assert!(!verify_mac(spec, key, algorithm, data, &mac[..mac.len() - 1]).unwrap());
        assert!(!verify_mac(spec, key, algorithm, data, &[]).unwrap());
        assert!(
            !verify_mac(
                spec,
                key,
                algorithm,
                b"what do ya want for something?",
                &mac
            )
            .unwrap()
        );
        assert!(!verify_mac(spec, b"jefe", algorithm, data, &mac).unwrap());
        // The algorithm must be the spec's.
        for other in [
            "HMAC_SHA_224",
            "HMAC_SHA_256",
            "HMAC_SHA_384",
            "HMAC_SHA_512",
            "HMAC_SHA_1",
        ] {
            if other != algorithm {
                assert!(is_unsupported(generate_mac(spec, key, other, data)));
                assert!(is_unsupported(verify_mac(spec, key, other, data, &mac)));
            }
        }
        // Messages are 1 to 4096 bytes.
        assert!(generate_mac(spec, key, algorithm, &[0; MAX_MESSAGE_LEN]).is_ok());
        assert!(is_invalid_message(generate_mac(spec, key, algorithm, &[])));
        assert!(is_invalid_message(generate_mac(
            spec,
            key,
            algorithm,
            &[0; MAX_MESSAGE_LEN + 1]
        )));
        assert!(is_invalid_key(generate_mac(spec, &[], algorithm, data)));
    }
    // Generated HMAC keys work too.
    let generated = self::key(KeySpec::Hmac512);
    let mac = generate_mac(KeySpec::Hmac512, &generated, "HMAC_SHA_512", data).unwrap();
    assert_eq!(mac.len(), 64);
    assert!(verify_mac(KeySpec::Hmac512, &generated, "HMAC_SHA_512", data, &mac).unwrap());
    // Only HMAC keys make MACs.
    assert!(is_unsupported(generate_mac(
        KeySpec::Rsa2048,
        key,
        "HMAC_SHA_256",
        data
    )));
}

// ---------------------------------------------------------------- OpenSSL

/// Runs the OpenSSL CLI in `dir`; panics (fails the test) if it is missing.
fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the `openssl` command line tool ({e}): the asymmetric-key interoperability \
                 tests need OpenSSL 3 on PATH (Debian: apt-get install openssl)"
            )
        })
}

fn openssl_ok(dir: &Path, args: &[&str]) -> Output {
    let out = openssl(dir, args);
    assert!(
        out.status.success(),
        "openssl {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A temporary directory with the key's `priv.der`, `pub.der` and `pub.pem`.
fn key_dir(spec: KeySpec) -> (tempfile::TempDir, Zeroizing<Vec<u8>>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let private = key(spec);
    let public = public_key_der(spec, &private).unwrap();
    std::fs::write(dir.path().join("priv.der"), &*private).unwrap();
    std::fs::write(dir.path().join("pub.der"), &public).unwrap();
    openssl_ok(
        dir.path(),
        &[
            "pkey", "-pubin", "-inform", "DER", "-in", "pub.der", "-out", "pub.pem",
        ],
    );
    (dir, private, public)
}

fn openssl_digest_name(algorithm: &str) -> &'static str {
    if algorithm.ends_with("SHA_256") {
        "-sha256"
    } else if algorithm.ends_with("SHA_384") {
        "-sha384"
    } else {
        "-sha512"
    }
}

#[test]
fn openssl_reads_the_keys() {
    for spec in KeySpec::ALL {
        if spec.is_hmac() || matches!(spec.family(), Family::MlDsa) {
            continue; // OpenSSL 3.0 has no ML-DSA.
        }
        let (dir, _private, public) = key_dir(spec);
        // OpenSSL derives the same SubjectPublicKeyInfo from the PKCS#8 key.
        openssl_ok(
            dir.path(),
            &[
                "pkey", "-inform", "DER", "-in", "priv.der", "-pubout", "-outform", "DER", "-out",
                "pub2.der",
            ],
        );
        let from_openssl = std::fs::read(dir.path().join("pub2.der")).unwrap();
        assert_eq!(from_openssl, public, "{spec}: SubjectPublicKeyInfo");
        openssl_ok(
            dir.path(),
            &[
                "pkey", "-inform", "DER", "-in", "priv.der", "-check", "-noout",
            ],
        );
    }
}

#[test]
fn openssl_verifies_rsa_signatures() {
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        let (dir, private, _) = key_dir(spec);
        std::fs::write(dir.path().join("msg.bin"), MESSAGE).unwrap();
        for &algorithm in spec.signing_algorithms() {
            let hash = digest_hash(algorithm).unwrap();
            for (message_type, message) in [
                (MessageType::Raw, MESSAGE.to_vec()),
                (MessageType::Digest, hash.digest(MESSAGE)),
            ] {
                let signature = sign(spec, &private, algorithm, &message, message_type).unwrap();
                std::fs::write(dir.path().join("sig.bin"), &signature).unwrap();
                let mut args = vec![
                    "dgst",
                    openssl_digest_name(algorithm),
                    "-verify",
                    "pub.pem",
                    "-signature",
                    "sig.bin",
                ];
                if algorithm.starts_with("RSASSA_PSS") {
                    args.extend([
                        "-sigopt",
                        "rsa_padding_mode:pss",
                        "-sigopt",
                        "rsa_pss_saltlen:digest",
                    ]);
                }
                args.push("msg.bin");
                let out = openssl_ok(dir.path(), &args);
                assert!(
                    String::from_utf8_lossy(&out.stdout).contains("Verified OK"),
                    "{spec} {algorithm}"
                );
            }
        }
    }
}

#[test]
fn openssl_verifies_ecdsa_signatures() {
    for spec in [
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
    ] {
        let (dir, private, _) = key_dir(spec);
        std::fs::write(dir.path().join("msg.bin"), MESSAGE).unwrap();
        let algorithm = spec.signing_algorithms()[0];
        let hash = digest_hash(algorithm).unwrap();
        for (message_type, message) in [
            (MessageType::Raw, MESSAGE.to_vec()),
            (MessageType::Digest, hash.digest(MESSAGE)),
        ] {
            let signature = sign(spec, &private, algorithm, &message, message_type).unwrap();
            std::fs::write(dir.path().join("sig.bin"), &signature).unwrap();
            let out = openssl_ok(
                dir.path(),
                &[
                    "dgst",
                    openssl_digest_name(algorithm),
                    "-verify",
                    "pub.pem",
                    "-signature",
                    "sig.bin",
                    "msg.bin",
                ],
            );
            assert!(
                String::from_utf8_lossy(&out.stdout).contains("Verified OK"),
                "{spec}"
            );
        }
        // And a wrong message fails in OpenSSL too.
        std::fs::write(dir.path().join("other.bin"), b"other").unwrap();
        let out = openssl(
            dir.path(),
            &[
                "dgst",
                openssl_digest_name(algorithm),
                "-verify",
                "pub.pem",
                "-signature",
                "sig.bin",
                "other.bin",
            ],
        );
        assert!(!out.status.success(), "{spec}");
    }
}

#[test]
fn openssl_verifies_ed25519_signatures() {
    let spec = KeySpec::EccNistEdwards25519;
    let (dir, private, _) = key_dir(spec);
    std::fs::write(dir.path().join("msg.bin"), MESSAGE).unwrap();
    let signature = sign(spec, &private, "ED25519_SHA_512", MESSAGE, MessageType::Raw).unwrap();
    std::fs::write(dir.path().join("sig.bin"), &signature).unwrap();
    let out = openssl_ok(
        dir.path(),
        &[
            "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg.bin",
            "-sigfile", "sig.bin",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Signature Verified Successfully"));
}

/// Signatures OpenSSL makes with the same key verify in s3seal (ECDSA
/// signatures from OpenSSL are high-S half of the time).
#[test]
fn openssl_signatures_verify_in_s3seal() {
    let cases = [
        (KeySpec::Rsa2048, "RSASSA_PKCS1_V1_5_SHA_384", 1),
        (KeySpec::Rsa2048, "RSASSA_PSS_SHA_256", 1),
        (KeySpec::EccNistP256, "ECDSA_SHA_256", 4),
        (KeySpec::EccNistP384, "ECDSA_SHA_384", 2),
        (KeySpec::EccNistP521, "ECDSA_SHA_512", 2),
        (KeySpec::EccSecgP256k1, "ECDSA_SHA_256", 12),
    ];
    for (spec, algorithm, rounds) in cases {
        let (dir, private, _) = key_dir(spec);
        std::fs::write(dir.path().join("msg.bin"), MESSAGE).unwrap();
        for _ in 0..rounds {
            let mut args = vec![
                "dgst",
                openssl_digest_name(algorithm),
                "-sign",
                "priv.der",
                "-keyform",
                "DER",
                "-out",
                "sig.bin",
            ];
            if algorithm.starts_with("RSASSA_PSS") {
                args.extend([
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                ]);
            }
            args.push("msg.bin");
            openssl_ok(dir.path(), &args);
            let signature = std::fs::read(dir.path().join("sig.bin")).unwrap();
            assert!(
                verify(
                    spec,
                    &private,
                    algorithm,
                    MESSAGE,
                    MessageType::Raw,
                    &signature
                )
                .unwrap(),
                "{spec} {algorithm}: OpenSSL's signature"
            );
        }
    }
    let spec = KeySpec::EccNistEdwards25519;
    let (dir, private, _) = key_dir(spec);
    std::fs::write(dir.path().join("msg.bin"), MESSAGE).unwrap();
    openssl_ok(
        dir.path(),
        &[
            "pkeyutl", "-sign", "-inkey", "priv.der", "-keyform", "DER", "-rawin", "-in",
            "msg.bin", "-out", "sig.bin",
        ],
    );
    let signature = std::fs::read(dir.path().join("sig.bin")).unwrap();
    assert!(
        verify(
            spec,
            &private,
            "ED25519_SHA_512",
            MESSAGE,
            MessageType::Raw,
            &signature
        )
        .unwrap()
    );
}

#[test]
fn openssl_rsa_oaep_interop() {
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa4096] {
        let (dir, private, _) = key_dir(spec);
        std::fs::write(dir.path().join("plain.bin"), b"a secret for RSA-OAEP").unwrap();
        for (algorithm, md) in [
            ("RSAES_OAEP_SHA_256", "sha256"),
            ("RSAES_OAEP_SHA_1", "sha1"),
        ] {
            let oaep_md = format!("rsa_oaep_md:{md}");
            let mgf1_md = format!("rsa_mgf1_md:{md}");
            // OpenSSL encrypts, s3seal decrypts.
            openssl_ok(
                dir.path(),
                &[
                    "pkeyutl",
                    "-encrypt",
                    "-pubin",
                    "-inkey",
                    "pub.pem",
                    "-in",
                    "plain.bin",
                    "-out",
                    "enc.bin",
                    "-pkeyopt",
                    "rsa_padding_mode:oaep",
                    "-pkeyopt",
                    &oaep_md,
                    "-pkeyopt",
                    &mgf1_md,
                ],
            );
            let ciphertext = std::fs::read(dir.path().join("enc.bin")).unwrap();
            let plaintext = rsa_decrypt(spec, &private, algorithm, &ciphertext).unwrap();
            assert_eq!(
                &plaintext[..],
                b"a secret for RSA-OAEP",
                "{spec} {algorithm}"
            );

            // s3seal encrypts, OpenSSL decrypts.
            let ciphertext = rsa_encrypt(spec, &private, algorithm, b"from s3seal").unwrap();
            std::fs::write(dir.path().join("enc2.bin"), &ciphertext).unwrap();
            openssl_ok(
                dir.path(),
                &[
                    "pkeyutl",
                    "-decrypt",
                    "-inkey",
                    "priv.der",
                    "-keyform",
                    "DER",
                    "-in",
                    "enc2.bin",
                    "-out",
                    "dec.bin",
                    "-pkeyopt",
                    "rsa_padding_mode:oaep",
                    "-pkeyopt",
                    &oaep_md,
                    "-pkeyopt",
                    &mgf1_md,
                ],
            );
            assert_eq!(
                std::fs::read(dir.path().join("dec.bin")).unwrap(),
                b"from s3seal"
            );
        }
    }
}

// ---------------------------------------------------------------- BYOK

/// A wrapping key pair in a temporary directory, as GetParametersForImport
/// would hand out its public key.
fn wrapping_key_dir(spec: KeySpec) -> (tempfile::TempDir, Zeroizing<Vec<u8>>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let private = generate_wrapping_key(spec).unwrap();
    let public = public_key_der(spec, &private).unwrap();
    std::fs::write(dir.path().join("WrappingPublicKey.bin"), &public).unwrap();
    openssl_ok(
        dir.path(),
        &[
            "pkey",
            "-pubin",
            "-inform",
            "DER",
            "-in",
            "WrappingPublicKey.bin",
            "-out",
            "pub.pem",
        ],
    );
    (dir, private, public)
}

/// AWS's documented OpenSSL procedure for RSAES_OAEP_SHA_256 (symmetric key
/// material).
#[test]
fn byok_rsaes_oaep_sha_256_with_openssl() {
    let (dir, wrapping, _) = wrapping_key_dir(KeySpec::Rsa2048);
    openssl_ok(
        dir.path(),
        &["rand", "-out", "PlaintextKeyMaterial.bin", "32"],
    );
    openssl_ok(
        dir.path(),
        &[
            "pkeyutl",
            "-encrypt",
            "-in",
            "PlaintextKeyMaterial.bin",
            "-out",
            "EncryptedKeyMaterial.bin",
            "-inkey",
            "pub.pem",
            "-pubin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    );
    let material = std::fs::read(dir.path().join("PlaintextKeyMaterial.bin")).unwrap();
    let wrapped = std::fs::read(dir.path().join("EncryptedKeyMaterial.bin")).unwrap();
    let unwrapped = unwrap_import(&wrapping, "RSAES_OAEP_SHA_256", &wrapped).unwrap();
    assert_eq!(*unwrapped, material);
    // The other OAEP hash, the AES key wrap scheme and a tampered blob fail.
    assert!(is_crypto(unwrap_import(
        &wrapping,
        "RSAES_OAEP_SHA_1",
        &wrapped
    )));
    assert!(is_crypto(unwrap_import(
        &wrapping,
        "RSA_AES_KEY_WRAP_SHA_256",
        &wrapped
    )));
    let mut tampered = wrapped.clone();
    tampered[100] ^= 0x01;
    assert!(is_crypto(unwrap_import(
        &wrapping,
        "RSAES_OAEP_SHA_256",
        &tampered
    )));
    for algorithm in ["RSAES_PKCS1_V1_5", "SM2PKE", "", "rsaes_oaep_sha_256"] {
        assert!(is_unsupported(unwrap_import(
            &wrapping, algorithm, &wrapped
        )));
    }
    assert!(is_invalid_key(unwrap_import(
        &key(KeySpec::EccNistP256),
        "RSAES_OAEP_SHA_256",
        &wrapped
    )));
}

/// AWS's documented OpenSSL 3 procedure for RSA_AES_KEY_WRAP_SHA_256, with
/// an RSA private key as the imported material.
#[test]
fn byok_rsa_aes_key_wrap_sha_256_with_openssl() {
    let (dir, wrapping, _) = wrapping_key_dir(KeySpec::Rsa3072);
    let material = key(KeySpec::Rsa2048);
    std::fs::write(dir.path().join("PrivateKey.der"), &*material).unwrap();
    openssl_ok(dir.path(), &["rand", "-out", "aes-key.bin", "32"]);
    let aes_key = std::fs::read(dir.path().join("aes-key.bin")).unwrap();
    let aes_key_hex = hex::encode(&aes_key);
    openssl_ok(
        dir.path(),
        &[
            "enc",
            "-id-aes256-wrap-pad",
            "-K",
            &aes_key_hex,
            "-iv",
            "A65959A6",
            "-in",
            "PrivateKey.der",
            "-out",
            "key-material-wrapped.bin",
        ],
    );
    openssl_ok(
        dir.path(),
        &[
            "pkeyutl",
            "-encrypt",
            "-in",
            "aes-key.bin",
            "-out",
            "aes-key-wrapped.bin",
            "-inkey",
            "pub.pem",
            "-pubin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    );
    let mut wrapped = std::fs::read(dir.path().join("aes-key-wrapped.bin")).unwrap();
    assert_eq!(wrapped.len(), 384);
    wrapped.extend(std::fs::read(dir.path().join("key-material-wrapped.bin")).unwrap());
    let unwrapped = unwrap_import(&wrapping, "RSA_AES_KEY_WRAP_SHA_256", &wrapped).unwrap();
    assert_eq!(*unwrapped, *material);
    // The recovered key is usable as an RSA_2048 key.
    assert!(public_key_der(KeySpec::Rsa2048, &unwrapped).is_ok());

    assert!(is_crypto(unwrap_import(
        &wrapping,
        "RSA_AES_KEY_WRAP_SHA_1",
        &wrapped
    )));
    let mut tampered = wrapped.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert!(is_crypto(unwrap_import(
        &wrapping,
        "RSA_AES_KEY_WRAP_SHA_256",
        &tampered
    )));
    for short in [&wrapped[..384], &wrapped[..390], &wrapped[..100]] {
        assert!(is_crypto(unwrap_import(
            &wrapping,
            "RSA_AES_KEY_WRAP_SHA_256",
            short
        )));
    }
}

/// RSA_AES_KEY_WRAP_SHA_1, the blob built with the rsa and aes-kw crates.
#[test]
fn byok_rsa_aes_key_wrap_sha_1_in_rust() {
    use aes_kw::KeyInit;
    use rsa::pkcs8::DecodePublicKey;

    let wrapping = generate_wrapping_key(KeySpec::Rsa2048).unwrap();
    let public = public_key_der(KeySpec::Rsa2048, &wrapping).unwrap();
    let public = rsa::PublicKey::from_public_key_der(&public).unwrap();
    for material in [
        key(KeySpec::EccNistP384).to_vec(),
        key(KeySpec::Rsa2048).to_vec(),
        vec![0x5A; 32],
        vec![1, 2, 3],
    ] {
        let mut aes_key = [0u8; 32];
        getrandom::fill(&mut aes_key).unwrap();
        let mut wrapped = public.oaep_encrypt::<sha1::Sha1>(&aes_key).unwrap();
        let mut buf = vec![0u8; material.len().div_ceil(8) * 8 + 8];
        let kwp = aes_kw::KwpAes256::new_from_slice(&aes_key).unwrap();
        wrapped.extend_from_slice(kwp.wrap_key(&material, &mut buf).unwrap());
        let unwrapped = unwrap_import(&wrapping, "RSA_AES_KEY_WRAP_SHA_1", &wrapped).unwrap();
        assert_eq!(*unwrapped, material);
    }
    // An RSA-encrypted AES key of the wrong length is refused.
    let mut wrapped = public.oaep_encrypt::<sha1::Sha1>(&[7u8; 16]).unwrap();
    wrapped.extend_from_slice(&[0u8; 24]);
    assert!(is_crypto(unwrap_import(
        &wrapping,
        "RSA_AES_KEY_WRAP_SHA_1",
        &wrapped
    )));
}

#[test]
fn wrapping_keys_are_rsa() {
    assert!(is_unsupported(generate_wrapping_key(KeySpec::EccNistP256)));
    assert!(is_unsupported(generate_wrapping_key(KeySpec::Hmac256)));
    let wrapping = generate_wrapping_key(KeySpec::Rsa2048).unwrap();
    assert!(public_key_der(KeySpec::Rsa2048, &wrapping).is_ok());
}

#[test]
fn wrap_for_import_round_trips_through_unwrap_import() {
    let wrapping = generate_wrapping_key(KeySpec::Rsa2048).unwrap();
    let public = public_key_der(KeySpec::Rsa2048, &wrapping).unwrap();
    let ecc = generate_private_key(KeySpec::EccNistP256).unwrap();
    for material in [vec![7u8; 32], ecc.to_vec(), vec![1u8; 3]] {
        let wrapped = wrap_for_import(&public, &material).unwrap();
        let unwrapped = unwrap_import(&wrapping, "RSA_AES_KEY_WRAP_SHA_256", &wrapped).unwrap();
        assert_eq!(*unwrapped, material);
        // Another wrapping key cannot unwrap it.
        let other = generate_wrapping_key(KeySpec::Rsa2048).unwrap();
        assert!(is_crypto(unwrap_import(
            &other,
            "RSA_AES_KEY_WRAP_SHA_256",
            &wrapped
        )));
        // A changed byte of the AES-wrapped part is detected.
        let mut tampered = wrapped.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(is_crypto(unwrap_import(
            &wrapping,
            "RSA_AES_KEY_WRAP_SHA_256",
            &tampered
        )));
    }
    assert!(wrap_for_import(b"not a key", &[1; 32]).is_err());
}
