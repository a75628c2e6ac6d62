//! The cryptography of asymmetric and HMAC KMS keys: key generation, public
//! keys, Sign/Verify, RSA Encrypt/Decrypt, GenerateMac/VerifyMac, data key
//! pairs and the unwrapping of imported (BYOK) key material.
//!
//! This module owns only pure functions over key material held as bytes: no
//! I/O, no state, no key records. The key manager stores what
//! [`generate_private_key`] returns (encrypted under the root key like any
//! other key material) and hands it back to the functions here. All the
//! cryptography comes from RustCrypto crates (`rsa`, `p256`, `p384`, `p521`,
//! `k256`, `ed25519-dalek`, `ml-dsa`, `hmac`, `aes-kw`); this module is glue
//! that reproduces the formats and rules of AWS KMS, so that AWS SDKs, the
//! AWS CLI and OpenSSL interoperate with s3seal's keys exactly as with AWS's.
//!
//! # Key material
//!
//! - RSA, ECC (NIST P-256/384/521, secp256k1), Ed25519 and ML-DSA private keys
//!   are PKCS#8 v1 DER (`PrivateKeyInfo`, RFC 5208): the format KMS returns
//!   for data key pairs and accepts for imported asymmetric keys. ECC keys
//!   hold a SEC1 `ECPrivateKey`; Ed25519 keys the 32-byte seed (RFC 8410);
//!   ML-DSA keys the 32-byte seed, in the seed-only form of the IETF LAMPS
//!   ML-DSA key format (`[0] IMPLICIT OCTET STRING`), as the `ml-dsa` crate
//!   writes it.
//! - HMAC keys are raw random bytes as long as the hash output (HMAC_224: 28
//!   bytes, 256: 32, 384: 48, 512: 64), as AWS generates them.
//! - Public keys are DER `SubjectPublicKeyInfo` (RFC 5280), what KMS
//!   GetPublicKey returns; EC points are uncompressed.
//!
//! # Signatures (Sign / Verify)
//!
//! - `MessageType` RAW: the message (1 to 4096 bytes, KMS's limit) is hashed
//!   with the algorithm's hash, except for ED25519_SHA_512 and
//!   ML_DSA_SHAKE_256, which sign the message itself (pure Ed25519, pure
//!   ML-DSA with an empty context string).
//! - DIGEST: the message is the digest, and must be exactly as long as the
//!   algorithm's hash output (32, 48 or 64 bytes). ED25519_PH_SHA_512 takes a
//!   64-byte SHA-512 digest and signs it with Ed25519ph (RFC 8032 §5.1, empty
//!   context). ED25519_SHA_512 and ML_DSA_SHAKE_256 refuse DIGEST, as KMS does.
//! - EXTERNAL_MU (ML_DSA_SHAKE_256 only): the message is the 64-byte µ of
//!   FIPS 204 (`SHAKE256(SHAKE256(pk, 64) || 0 || 0 || M, 64)` for an empty
//!   context), signed with ML-DSA's external-µ variant.
//! - RSASSA_PKCS1_V1_5_SHA_*: EMSA-PKCS1-v1_5 with the DigestInfo prefix of
//!   the hash (RFC 8017 §9.2).
//! - RSASSA_PSS_SHA_*: MGF1 with the same hash and a salt as long as the hash
//!   output, which is what KMS uses (and what OpenSSL verifies with
//!   `rsa_pss_saltlen:digest`). Verification requires that salt length.
//! - ECDSA_SHA_*: the signature is the DER `SEQUENCE { r INTEGER, s INTEGER }`
//!   (RFC 3279 `Ecdsa-Sig-Value`), as KMS returns it, not the fixed-size
//!   `r || s` form. Nonces are RFC 6979 deterministic. s3seal does not
//!   normalise `s` when signing, and Verify accepts both `s` and `n - s`
//!   (KMS's secp256k1 signatures are not low-S either), so signatures made
//!   by OpenSSL or by AWS with the same key verify.
//! - ED25519_*: the 64-byte `R || S` signature of RFC 8032.
//! - ML_DSA_SHAKE_256: the FIPS 204 encoded signature, hedged (randomised)
//!   signing, empty context string.
//!
//! Verify answers `Ok(false)` for a wrong or malformed signature; errors are
//! kept for requests KMS itself refuses (wrong algorithm for the key spec,
//! bad message type or length, unusable key material).
//!
//! # Encryption (RSA keys with ENCRYPT_DECRYPT)
//!
//! RSAES_OAEP_SHA_1 and RSAES_OAEP_SHA_256 are RSAES-OAEP (RFC 8017 §7.1)
//! with MGF1 over the same hash and an empty label. The plaintext limits are
//! KMS's: `k - 2·hLen - 2` bytes for a `k`-byte modulus (RSA_2048: 214 / 190,
//! RSA_3072: 342 / 318, RSA_4096: 470 / 446 for SHA-1 / SHA-256).
//!
//! # Importing key material (BYOK)
//!
//! KMS GetParametersForImport hands out an RSA wrapping public key; the
//! importer wraps the material with one of:
//! - RSAES_OAEP_SHA_1 / RSAES_OAEP_SHA_256: RSA-OAEP (MGF1 same hash, empty
//!   label) of the material itself (fits only symmetric and HMAC keys);
//! - RSA_AES_KEY_WRAP_SHA_1 / RSA_AES_KEY_WRAP_SHA_256 (PKCS#11
//!   `CKM_RSA_AES_KEY_WRAP`): an ephemeral 256-bit AES key, RSA-OAEP-encrypted
//!   (MGF1 same hash, empty label; as long as the modulus), followed by the
//!   material wrapped under that AES key with AES Key Wrap with Padding (RFC
//!   5649, default IV `A65959A6`). This is what `openssl pkeyutl -encrypt`
//!   followed by `openssl enc -id-aes256-wrap-pad` produces, and the only way
//!   to import asymmetric private keys.
//!
//! [`unwrap_import`] undoes both with the wrapping private key.
//!
//! # HMAC (GenerateMac / VerifyMac)
//!
//! HMAC (RFC 2104) with SHA-224/256/384/512; the algorithm must be the one of
//! the key spec; messages are 1 to 4096 bytes; VerifyMac compares in
//! constant time.
//!
//! # Secrets
//!
//! Private key material is returned in [`Zeroizing`] buffers and the crates'
//! key types zeroize themselves on drop. No error message or `Debug` output
//! contains key material: errors carry fixed texts, key spec names and
//! lengths only.

mod ecc;
mod eddsa;
mod mldsa;
mod rsa_ops;
mod symmetric;

#[cfg(test)]
mod tests;

use sha2::Digest as _;
use zeroize::Zeroizing;

/// The longest message Sign, Verify and GenerateMac take (KMS's limit).
pub const MAX_MESSAGE_LEN: usize = 4096;

/// AWS KMS key specs s3seal supports besides SYMMETRIC_DEFAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EccNistP256,
    EccNistP384,
    EccNistP521,
    EccSecgP256k1,
    EccNistEdwards25519,
    MlDsa44,
    MlDsa65,
    MlDsa87,
    Hmac224,
    Hmac256,
    Hmac384,
    Hmac512,
}

const RSA_USAGES: &[&str] = &["ENCRYPT_DECRYPT", "SIGN_VERIFY"];
const SIGN_USAGES: &[&str] = &["SIGN_VERIFY"];
const MAC_USAGES: &[&str] = &["GENERATE_VERIFY_MAC"];

const RSA_SIGNING: &[&str] = &[
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
];
const RSA_ENCRYPTION: &[&str] = &["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"];

impl KeySpec {
    /// Every spec, in the order of [`KeySpec`]'s variants.
    pub const ALL: [KeySpec; 15] = [
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
        KeySpec::EccNistEdwards25519,
        KeySpec::MlDsa44,
        KeySpec::MlDsa65,
        KeySpec::MlDsa87,
        KeySpec::Hmac224,
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
    ];

    /// The spec named by its AWS name (`"RSA_2048"`, `"ECC_NIST_P256"`,
    /// `"ML_DSA_65"`, `"HMAC_256"`, ...).
    pub fn parse(s: &str) -> Option<Self> {
        KeySpec::ALL.into_iter().find(|spec| spec.as_str() == s)
    }

    /// The AWS name of the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySpec::Rsa2048 => "RSA_2048",
            KeySpec::Rsa3072 => "RSA_3072",
            KeySpec::Rsa4096 => "RSA_4096",
            KeySpec::EccNistP256 => "ECC_NIST_P256",
            KeySpec::EccNistP384 => "ECC_NIST_P384",
            KeySpec::EccNistP521 => "ECC_NIST_P521",
            KeySpec::EccSecgP256k1 => "ECC_SECG_P256K1",
            KeySpec::EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
            KeySpec::MlDsa44 => "ML_DSA_44",
            KeySpec::MlDsa65 => "ML_DSA_65",
            KeySpec::MlDsa87 => "ML_DSA_87",
            KeySpec::Hmac224 => "HMAC_224",
            KeySpec::Hmac256 => "HMAC_256",
            KeySpec::Hmac384 => "HMAC_384",
            KeySpec::Hmac512 => "HMAC_512",
        }
    }

    /// The key usages a key of this spec may be created with. (AWS also
    /// allows KEY_AGREEMENT for NIST and SECG curves; s3seal does not offer it.)
    pub fn allowed_usages(self) -> &'static [&'static str] {
        match self.family() {
            Family::Rsa(_) => RSA_USAGES,
            Family::Ecdsa(_) | Family::Ed25519 | Family::MlDsa => SIGN_USAGES,
            Family::Hmac(_) => MAC_USAGES,
        }
    }

    /// The signing algorithms of the spec, as DescribeKey lists them for a
    /// SIGN_VERIFY key (empty for HMAC keys).
    pub fn signing_algorithms(self) -> &'static [&'static str] {
        match self {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => RSA_SIGNING,
            KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &["ECDSA_SHA_256"],
            KeySpec::EccNistP384 => &["ECDSA_SHA_384"],
            KeySpec::EccNistP521 => &["ECDSA_SHA_512"],
            KeySpec::EccNistEdwards25519 => &["ED25519_SHA_512", "ED25519_PH_SHA_512"],
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &["ML_DSA_SHAKE_256"],
            KeySpec::Hmac224 | KeySpec::Hmac256 | KeySpec::Hmac384 | KeySpec::Hmac512 => &[],
        }
    }

    /// The encryption algorithms of the spec, as DescribeKey lists them for
    /// an ENCRYPT_DECRYPT key (RSA only).
    pub fn encryption_algorithms(self) -> &'static [&'static str] {
        match self.family() {
            Family::Rsa(_) => RSA_ENCRYPTION,
            _ => &[],
        }
    }

    /// The MAC algorithm of an HMAC spec (empty for other specs).
    pub fn mac_algorithms(self) -> &'static [&'static str] {
        match self {
            KeySpec::Hmac224 => &["HMAC_SHA_224"],
            KeySpec::Hmac256 => &["HMAC_SHA_256"],
            KeySpec::Hmac384 => &["HMAC_SHA_384"],
            KeySpec::Hmac512 => &["HMAC_SHA_512"],
            _ => &[],
        }
    }

    pub fn is_hmac(self) -> bool {
        matches!(self.family(), Family::Hmac(_))
    }

    /// Whether GenerateDataKeyPair offers this spec (RSA, ECC and Ed25519).
    pub fn is_data_key_pair_spec(self) -> bool {
        matches!(
            self.family(),
            Family::Rsa(_) | Family::Ecdsa(_) | Family::Ed25519
        )
    }

    fn family(self) -> Family {
        match self {
            KeySpec::Rsa2048 => Family::Rsa(2048),
            KeySpec::Rsa3072 => Family::Rsa(3072),
            KeySpec::Rsa4096 => Family::Rsa(4096),
            KeySpec::EccNistP256 => Family::Ecdsa(Curve::P256),
            KeySpec::EccNistP384 => Family::Ecdsa(Curve::P384),
            KeySpec::EccNistP521 => Family::Ecdsa(Curve::P521),
            KeySpec::EccSecgP256k1 => Family::Ecdsa(Curve::Secp256k1),
            KeySpec::EccNistEdwards25519 => Family::Ed25519,
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => Family::MlDsa,
            KeySpec::Hmac224 => Family::Hmac(Hash::Sha224),
            KeySpec::Hmac256 => Family::Hmac(Hash::Sha256),
            KeySpec::Hmac384 => Family::Hmac(Hash::Sha384),
            KeySpec::Hmac512 => Family::Hmac(Hash::Sha512),
        }
    }
}

impl std::fmt::Display for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the `Message` of Sign and Verify is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// The message itself.
    Raw,
    /// A digest of the message made with the signing algorithm's hash.
    Digest,
    /// The 64-byte µ of FIPS 204 (ML-DSA only).
    ExternalMu,
}

impl MessageType {
    /// `"RAW"`, `"DIGEST"` or `"EXTERNAL_MU"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RAW" => Some(MessageType::Raw),
            "DIGEST" => Some(MessageType::Digest),
            "EXTERNAL_MU" => Some(MessageType::ExternalMu),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Raw => "RAW",
            MessageType::Digest => "DIGEST",
            MessageType::ExternalMu => "EXTERNAL_MU",
        }
    }
}

/// Why an asymmetric or HMAC key operation was refused. Messages never
/// contain key material.
#[derive(Debug, thiserror::Error)]
pub enum AsymmetricError {
    /// The algorithm is not one of the key spec's (or the operation does not
    /// exist for the spec, like signing with an HMAC key).
    #[error("{0}")]
    UnsupportedAlgorithm(String),
    /// The message, digest or plaintext does not fit the algorithm (length,
    /// message type).
    #[error("{0}")]
    InvalidMessage(String),
    /// The stored or supplied key material cannot be decoded as a key of the
    /// spec.
    #[error("{0}")]
    InvalidKeyMaterial(String),
    /// The cryptographic operation failed: for [`rsa_decrypt`] and
    /// [`unwrap_import`] this means the ciphertext does not decrypt with the
    /// key (KMS's InvalidCiphertextException); otherwise an internal failure
    /// (random number generator, encoder).
    #[error("{0}")]
    Crypto(String),
}

impl AsymmetricError {
    fn unsupported(msg: impl Into<String>) -> Self {
        AsymmetricError::UnsupportedAlgorithm(msg.into())
    }

    fn invalid_message(msg: impl Into<String>) -> Self {
        AsymmetricError::InvalidMessage(msg.into())
    }

    /// The key material does not decode as a key of `spec`.
    fn bad_key(spec: KeySpec) -> Self {
        AsymmetricError::InvalidKeyMaterial(format!(
            "the key material is not a valid {spec} private key"
        ))
    }

    fn crypto(msg: impl Into<String>) -> Self {
        AsymmetricError::Crypto(msg.into())
    }

    fn rng() -> Self {
        AsymmetricError::Crypto("the system random number generator failed".into())
    }
}

type Result<T> = std::result::Result<T, AsymmetricError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Modulus size in bits.
    Rsa(usize),
    Ecdsa(Curve),
    Ed25519,
    MlDsa,
    Hmac(Hash),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
    Secp256k1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// A signing algorithm, checked against the key spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigningAlgorithm {
    RsaPkcs1(Hash),
    RsaPss(Hash),
    Ecdsa(Hash),
    Ed25519,
    Ed25519Ph,
    MlDsa,
}

impl SigningAlgorithm {
    /// The algorithm named `name`, if it is one of `spec`'s.
    fn for_spec(spec: KeySpec, name: &str) -> Result<Self> {
        if spec.is_hmac() {
            return Err(AsymmetricError::unsupported(format!(
                "{spec} keys do not sign or verify; use GenerateMac and VerifyMac"
            )));
        }
        if !spec.signing_algorithms().contains(&name) {
            return Err(AsymmetricError::unsupported(format!(
                "the signing algorithm '{name}' is not valid for {spec} keys; use one of {}",
                spec.signing_algorithms().join(", ")
            )));
        }
        Ok(match name {
            "RSASSA_PKCS1_V1_5_SHA_256" => SigningAlgorithm::RsaPkcs1(Hash::Sha256),
            "RSASSA_PKCS1_V1_5_SHA_384" => SigningAlgorithm::RsaPkcs1(Hash::Sha384),
            "RSASSA_PKCS1_V1_5_SHA_512" => SigningAlgorithm::RsaPkcs1(Hash::Sha512),
            "RSASSA_PSS_SHA_256" => SigningAlgorithm::RsaPss(Hash::Sha256),
            "RSASSA_PSS_SHA_384" => SigningAlgorithm::RsaPss(Hash::Sha384),
            "RSASSA_PSS_SHA_512" => SigningAlgorithm::RsaPss(Hash::Sha512),
            "ECDSA_SHA_256" => SigningAlgorithm::Ecdsa(Hash::Sha256),
            "ECDSA_SHA_384" => SigningAlgorithm::Ecdsa(Hash::Sha384),
            "ECDSA_SHA_512" => SigningAlgorithm::Ecdsa(Hash::Sha512),
            "ED25519_SHA_512" => SigningAlgorithm::Ed25519,
            "ED25519_PH_SHA_512" => SigningAlgorithm::Ed25519Ph,
            "ML_DSA_SHAKE_256" => SigningAlgorithm::MlDsa,
            other => {
                // Only reachable if the spec tables above and this match disagree.
                return Err(AsymmetricError::unsupported(format!(
                    "the signing algorithm '{other}' is not supported"
                )));
            }
        })
    }

    /// The hash whose output is signed, for algorithms that sign a digest.
    fn prehash(self) -> Option<Hash> {
        match self {
            SigningAlgorithm::RsaPkcs1(h) | SigningAlgorithm::RsaPss(h) => Some(h),
            SigningAlgorithm::Ecdsa(h) => Some(h),
            SigningAlgorithm::Ed25519Ph => Some(Hash::Sha512),
            SigningAlgorithm::Ed25519 | SigningAlgorithm::MlDsa => None,
        }
    }
}

/// What the signature is computed over, after applying the message type.
enum SignedData<'a> {
    /// A digest of the algorithm's hash (RSA, ECDSA, Ed25519ph).
    Digest(Vec<u8>),
    /// The message itself (pure Ed25519, pure ML-DSA).
    Message(&'a [u8]),
    /// FIPS 204 µ (ML-DSA external µ).
    Mu(&'a [u8; 64]),
}

fn algorithm_name(alg: SigningAlgorithm) -> &'static str {
    match alg {
        SigningAlgorithm::Ed25519 => "ED25519_SHA_512",
        SigningAlgorithm::Ed25519Ph => "ED25519_PH_SHA_512",
        SigningAlgorithm::MlDsa => "ML_DSA_SHAKE_256",
        _ => "this signing algorithm",
    }
}

/// Applies KMS's rules for `message_type` and the message length.
fn signed_data(
    alg: SigningAlgorithm,
    message: &[u8],
    message_type: MessageType,
) -> Result<SignedData<'_>> {
    match message_type {
        MessageType::Raw => {
            check_message_len(message)?;
            Ok(match alg.prehash() {
                Some(hash) => SignedData::Digest(hash.digest(message)),
                None => SignedData::Message(message),
            })
        }
        MessageType::Digest => {
            let Some(hash) = alg.prehash() else {
                let hint = if alg == SigningAlgorithm::MlDsa {
                    "; use RAW or EXTERNAL_MU"
                } else {
                    "; use RAW, or ED25519_PH_SHA_512 to sign a digest"
                };
                return Err(AsymmetricError::invalid_message(format!(
                    "{} does not accept MessageType DIGEST{hint}",
                    algorithm_name(alg)
                )));
            };
            if message.len() != hash.output_len() {
                return Err(AsymmetricError::invalid_message(format!(
                    "a DIGEST message for this signing algorithm must be {} bytes, not {}",
                    hash.output_len(),
                    message.len()
                )));
            }
            Ok(SignedData::Digest(message.to_vec()))
        }
        MessageType::ExternalMu => {
            if alg != SigningAlgorithm::MlDsa {
                return Err(AsymmetricError::invalid_message(
                    "MessageType EXTERNAL_MU is only valid with ML_DSA_SHAKE_256",
                ));
            }
            let mu: &[u8; 64] = message.try_into().map_err(|_| {
                AsymmetricError::invalid_message(format!(
                    "an EXTERNAL_MU message must be the 64-byte mu, not {} bytes",
                    message.len()
                ))
            })?;
            Ok(SignedData::Mu(mu))
        }
    }
}

fn check_message_len(message: &[u8]) -> Result<()> {
    if message.is_empty() || message.len() > MAX_MESSAGE_LEN {
        return Err(AsymmetricError::invalid_message(format!(
            "the message must be 1 to {MAX_MESSAGE_LEN} bytes, not {}",
            message.len()
        )));
    }
    Ok(())
}

/// Fresh private key material for a key of `spec`: PKCS#8 v1 DER for
/// asymmetric specs, raw random bytes for HMAC specs.
pub fn generate_private_key(spec: KeySpec) -> Result<Zeroizing<Vec<u8>>> {
    match spec.family() {
        Family::Rsa(bits) => rsa_ops::generate(bits),
        Family::Ecdsa(curve) => ecc::generate(curve),
        Family::Ed25519 => eddsa::generate(),
        Family::MlDsa => mldsa::generate(spec),
        Family::Hmac(hash) => {
            let mut key = Zeroizing::new(vec![0u8; hash.output_len()]);
            getrandom::fill(&mut key).map_err(|_| AsymmetricError::rng())?;
            Ok(key)
        }
    }
}

/// DER SubjectPublicKeyInfo of the key (what KMS GetPublicKey returns).
pub fn public_key_der(spec: KeySpec, private: &[u8]) -> Result<Vec<u8>> {
    match spec.family() {
        Family::Rsa(bits) => rsa_ops::public_key_der(spec, bits, private),
        Family::Ecdsa(curve) => ecc::public_key_der(spec, curve, private),
        Family::Ed25519 => eddsa::public_key_der(spec, private),
        Family::MlDsa => mldsa::public_key_der(spec, private),
        Family::Hmac(_) => Err(AsymmetricError::unsupported(format!(
            "{spec} keys are symmetric and have no public key"
        ))),
    }
}

/// Signs as KMS Sign does (see the module documentation for the formats).
pub fn sign(
    spec: KeySpec,
    private: &[u8],
    algorithm: &str,
    message: &[u8],
    message_type: MessageType,
) -> Result<Vec<u8>> {
    let alg = SigningAlgorithm::for_spec(spec, algorithm)?;
    let data = signed_data(alg, message, message_type)?;
    match (spec.family(), alg, data) {
        (Family::Rsa(bits), SigningAlgorithm::RsaPkcs1(h), SignedData::Digest(d)) => {
            rsa_ops::sign(spec, bits, private, rsa_ops::Padding::Pkcs1v15, h, &d)
        }
        (Family::Rsa(bits), SigningAlgorithm::RsaPss(h), SignedData::Digest(d)) => {
            rsa_ops::sign(spec, bits, private, rsa_ops::Padding::Pss, h, &d)
        }
        (Family::Ecdsa(curve), SigningAlgorithm::Ecdsa(_), SignedData::Digest(d)) => {
            ecc::sign(spec, curve, private, &d)
        }
        (Family::Ed25519, _, data) => eddsa::sign(spec, private, &data),
        (Family::MlDsa, _, data) => mldsa::sign(spec, private, &data),
        _ => Err(AsymmetricError::unsupported(format!(
            "{algorithm} cannot be used with {spec} keys"
        ))),
    }
}

/// Verifies as KMS Verify does: `Ok(false)` for a wrong or malformed
/// signature, errors for requests KMS refuses.
pub fn verify(
    spec: KeySpec,
    private: &[u8],
    algorithm: &str,
    message: &[u8],
    message_type: MessageType,
    signature: &[u8],
) -> Result<bool> {
    let alg = SigningAlgorithm::for_spec(spec, algorithm)?;
    let data = signed_data(alg, message, message_type)?;
    match (spec.family(), alg, data) {
        (Family::Rsa(bits), SigningAlgorithm::RsaPkcs1(h), SignedData::Digest(d)) => {
            rsa_ops::verify(
                spec,
                bits,
                private,
                rsa_ops::Padding::Pkcs1v15,
                h,
                &d,
                signature,
            )
        }
        (Family::Rsa(bits), SigningAlgorithm::RsaPss(h), SignedData::Digest(d)) => {
            rsa_ops::verify(spec, bits, private, rsa_ops::Padding::Pss, h, &d, signature)
        }
        (Family::Ecdsa(curve), SigningAlgorithm::Ecdsa(_), SignedData::Digest(d)) => {
            ecc::verify(spec, curve, private, &d, signature)
        }
        (Family::Ed25519, _, data) => eddsa::verify(spec, private, &data, signature),
        (Family::MlDsa, _, data) => mldsa::verify(spec, private, &data, signature),
        _ => Err(AsymmetricError::unsupported(format!(
            "{algorithm} cannot be used with {spec} keys"
        ))),
    }
}

/// The OAEP hash of an RSAES_OAEP_* algorithm valid for `spec`.
fn oaep_hash(spec: KeySpec, algorithm: &str) -> Result<(usize, Hash)> {
    let Family::Rsa(bits) = spec.family() else {
        return Err(AsymmetricError::unsupported(format!(
            "{spec} keys cannot encrypt or decrypt; only RSA keys with key usage ENCRYPT_DECRYPT can"
        )));
    };
    let hash = match algorithm {
        "RSAES_OAEP_SHA_1" => Hash::Sha1,
        "RSAES_OAEP_SHA_256" => Hash::Sha256,
        other => {
            return Err(AsymmetricError::unsupported(format!(
                "the encryption algorithm '{other}' is not valid for {spec} keys; use one of {}",
                RSA_ENCRYPTION.join(", ")
            )));
        }
    };
    Ok((bits, hash))
}

/// The longest plaintext KMS encrypts with an RSA key of `bits` and OAEP
/// over `hash`: `k - 2·hLen - 2`.
fn oaep_max_plaintext(bits: usize, hash: Hash) -> usize {
    bits / 8 - 2 * hash.output_len() - 2
}

/// RSA encryption as KMS Encrypt does (RSAES-OAEP, MGF1 same hash, empty label).
pub fn rsa_encrypt(
    spec: KeySpec,
    private: &[u8],
    algorithm: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let (bits, hash) = oaep_hash(spec, algorithm)?;
    let max = oaep_max_plaintext(bits, hash);
    if plaintext.is_empty() || plaintext.len() > max {
        return Err(AsymmetricError::invalid_message(format!(
            "the plaintext for {algorithm} with a {spec} key must be 1 to {max} bytes, not {}",
            plaintext.len()
        )));
    }
    rsa_ops::encrypt(spec, bits, private, hash, plaintext)
}

/// RSA decryption as KMS Decrypt does. [`AsymmetricError::Crypto`] means the
/// ciphertext does not decrypt with this key and algorithm.
pub fn rsa_decrypt(
    spec: KeySpec,
    private: &[u8],
    algorithm: &str,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let (bits, hash) = oaep_hash(spec, algorithm)?;
    let key = rsa_ops::private_key(spec, bits, private)?;
    rsa_ops::oaep_decrypt(&key, hash, ciphertext)
}

/// The wrapping algorithms of KMS GetParametersForImport that s3seal accepts.
pub const WRAPPING_ALGORITHMS: &[&str] = &[
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
];

/// A fresh RSA wrapping key pair for GetParametersForImport (PKCS#8 DER);
/// `spec` is RSA_2048, RSA_3072 or RSA_4096.
pub fn generate_wrapping_key(spec: KeySpec) -> Result<Zeroizing<Vec<u8>>> {
    match spec.family() {
        Family::Rsa(bits) => rsa_ops::generate(bits),
        _ => Err(AsymmetricError::unsupported(format!(
            "{spec} is not a wrapping key spec; use RSA_2048, RSA_3072 or RSA_4096"
        ))),
    }
}

/// Recovers imported key material wrapped for ImportKeyMaterial with the RSA
/// wrapping key `wrapping_private` (PKCS#8 DER of any RSA size) and
/// `wrapping_algorithm` (one of [`WRAPPING_ALGORITHMS`]).
/// [`AsymmetricError::Crypto`] means the blob does not unwrap with this key.
pub fn unwrap_import(
    wrapping_private: &[u8],
    wrapping_algorithm: &str,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let (hash, aes_key_wrap) = match wrapping_algorithm {
        "RSAES_OAEP_SHA_1" => (Hash::Sha1, false),
        "RSAES_OAEP_SHA_256" => (Hash::Sha256, false),
        "RSA_AES_KEY_WRAP_SHA_1" => (Hash::Sha1, true),
        "RSA_AES_KEY_WRAP_SHA_256" => (Hash::Sha256, true),
        other => {
            return Err(AsymmetricError::unsupported(format!(
                "the wrapping algorithm '{other}' is not supported; use one of {}",
                WRAPPING_ALGORITHMS.join(", ")
            )));
        }
    };
    let key = rsa_ops::any_private_key(wrapping_private)?;
    if !aes_key_wrap {
        return rsa_ops::oaep_decrypt(&key, hash, wrapped);
    }
    let modulus_len = rsa_ops::modulus_len(&key);
    if wrapped.len() <= modulus_len {
        return Err(AsymmetricError::crypto(format!(
            "{wrapping_algorithm} key material must be the {modulus_len}-byte RSA-encrypted AES key followed by the wrapped key"
        )));
    }
    let (encrypted_aes_key, wrapped_material) = wrapped.split_at(modulus_len);
    let aes_key = rsa_ops::oaep_decrypt(&key, hash, encrypted_aes_key)?;
    symmetric::aes_kwp_unwrap(&aes_key, wrapped_material)
}

/// Wraps `material` for the holder of an RSA wrapping key (its public key
/// as DER SubjectPublicKeyInfo) with `RSA_AES_KEY_WRAP_SHA_256`: a fresh
/// AES-256 key, RSA-OAEP-SHA-256-encrypted, followed by the RFC 5649 wrap
/// of the material under it. [`unwrap_import`] reverses it; multi-Region
/// replication sends key material to another deployment this way.
pub fn wrap_for_import(wrapping_public_der: &[u8], material: &[u8]) -> Result<Vec<u8>> {
    let mut aes_key = Zeroizing::new([0u8; 32]);
    getrandom::fill(aes_key.as_mut_slice())
        .map_err(|_| AsymmetricError::crypto("no randomness for the AES wrapping key"))?;
    let mut wrapped = rsa_ops::oaep_sha256_encrypt_to(wrapping_public_der, aes_key.as_slice())?;
    wrapped.extend(symmetric::aes_kwp_wrap(aes_key.as_slice(), material)?);
    Ok(wrapped)
}

/// HMAC as KMS GenerateMac does.
pub fn generate_mac(spec: KeySpec, key: &[u8], algorithm: &str, message: &[u8]) -> Result<Vec<u8>> {
    let hash = symmetric::mac_hash(spec, algorithm)?;
    check_message_len(message)?;
    Ok(symmetric::Hmac::new(hash, key)?.chain(message).finalize())
}

/// HMAC verification as KMS VerifyMac does, in constant time: `Ok(false)`
/// for a wrong MAC (of any length).
pub fn verify_mac(
    spec: KeySpec,
    key: &[u8],
    algorithm: &str,
    message: &[u8],
    tag: &[u8],
) -> Result<bool> {
    let hash = symmetric::mac_hash(spec, algorithm)?;
    check_message_len(message)?;
    Ok(symmetric::Hmac::new(hash, key)?.chain(message).verify(tag))
}

/// A data key pair for GenerateDataKeyPair: (PKCS#8 DER private key, DER
/// SubjectPublicKeyInfo). RSA, ECC and Ed25519 specs only.
pub fn generate_data_key_pair(spec: KeySpec) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)> {
    if !spec.is_data_key_pair_spec() {
        return Err(AsymmetricError::unsupported(format!(
            "{spec} is not a data key pair spec"
        )));
    }
    let private = generate_private_key(spec)?;
    let public = public_key_der(spec, &private)?;
    Ok((private, public))
}
