//! Ed25519 keys (ECC_NIST_EDWARDS25519): generation, SubjectPublicKeyInfo,
//! pure Ed25519 (ED25519_SHA_512) and Ed25519ph (ED25519_PH_SHA_512)
//! signatures, RFC 8032.

use digest::consts::U64;
use digest::{FixedOutput, HashMarker, Output, OutputSizeUser, Update};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, KeypairBytes};
use ed25519_dalek::{Signature, SigningKey, Verifier};
use zeroize::{Zeroize, Zeroizing};

use super::{AsymmetricError, KeySpec, Result, SignedData};

pub(super) fn generate() -> Result<Zeroizing<Vec<u8>>> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|_| AsymmetricError::rng())?;
    // PKCS#8 v1 (RFC 8410): the seed alone, no public key (v2 would add it).
    let mut keypair = KeypairBytes {
        secret_key: *seed,
        public_key: None,
    };
    let encoded = keypair.to_pkcs8_der();
    keypair.secret_key.zeroize();
    let doc =
        encoded.map_err(|_| AsymmetricError::crypto("cannot encode the Ed25519 private key"))?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

fn key(spec: KeySpec, private: &[u8]) -> Result<SigningKey> {
    SigningKey::from_pkcs8_der(private).map_err(|_| AsymmetricError::bad_key(spec))
}

pub(super) fn public_key_der(spec: KeySpec, private: &[u8]) -> Result<Vec<u8>> {
    key(spec, private)?
        .verifying_key()
        .to_public_key_der()
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|_| AsymmetricError::crypto("cannot encode the Ed25519 public key"))
}

pub(super) fn sign(spec: KeySpec, private: &[u8], data: &SignedData<'_>) -> Result<Vec<u8>> {
    let key = key(spec, private)?;
    let signature = match data {
        SignedData::Message(message) => ed25519_dalek::Signer::sign(&key, message),
        SignedData::Digest(digest) => key
            .sign_prehashed(Sha512Prehash::new(digest)?, None)
            .map_err(|_| AsymmetricError::crypto("Ed25519ph signing failed"))?,
        SignedData::Mu(_) => {
            return Err(AsymmetricError::invalid_message(
                "MessageType EXTERNAL_MU is only valid with ML_DSA_SHAKE_256",
            ));
        }
    };
    Ok(signature.to_bytes().to_vec())
}

pub(super) fn verify(
    spec: KeySpec,
    private: &[u8],
    data: &SignedData<'_>,
    signature: &[u8],
) -> Result<bool> {
    let key = key(spec, private)?;
    let Ok(signature) = Signature::from_slice(signature) else {
        return Ok(false);
    };
    let public = key.verifying_key();
    Ok(match data {
        SignedData::Message(message) => public.verify(message, &signature).is_ok(),
        SignedData::Digest(digest) => public
            .verify_prehashed(Sha512Prehash::new(digest)?, None, &signature)
            .is_ok(),
        SignedData::Mu(_) => {
            return Err(AsymmetricError::invalid_message(
                "MessageType EXTERNAL_MU is only valid with ML_DSA_SHAKE_256",
            ));
        }
    })
}

/// A SHA-512 digest computed elsewhere (KMS MessageType DIGEST), in the shape
/// of a hasher: ed25519-dalek's Ed25519ph API takes the hasher that hashed the
/// message and only finalizes it. Not a hash function: `update` is ignored
/// and `finalize` returns the digest it was built with.
#[derive(Default, Clone)]
struct Sha512Prehash(Output<Self>);

impl Sha512Prehash {
    fn new(digest: &[u8]) -> Result<Self> {
        let digest: &[u8; 64] = digest.try_into().map_err(|_| {
            AsymmetricError::invalid_message("an Ed25519ph digest must be a 64-byte SHA-512 digest")
        })?;
        Ok(Sha512Prehash((*digest).into()))
    }
}

impl HashMarker for Sha512Prehash {}

impl OutputSizeUser for Sha512Prehash {
    type OutputSize = U64;
}

impl Update for Sha512Prehash {
    fn update(&mut self, _data: &[u8]) {}
}

impl FixedOutput for Sha512Prehash {
    fn finalize_into(self, out: &mut Output<Self>) {
        *out = self.0;
    }
}
