//! RSA keys: generation, SubjectPublicKeyInfo, RSASSA-PKCS1-v1_5 and
//! RSASSA-PSS signatures over a digest, RSAES-OAEP.

use getrandom::SysRng;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use super::{AsymmetricError, Hash, KeySpec, Result};

#[derive(Debug, Clone, Copy)]
pub(super) enum Padding {
    Pkcs1v15,
    /// MGF1 with the signature hash, salt as long as the hash output.
    Pss,
}

pub(super) fn generate(bits: usize) -> Result<Zeroizing<Vec<u8>>> {
    let key = PrivateKey::new(&mut SysRng, bits)
        .map_err(|_| AsymmetricError::crypto("RSA key generation failed"))?;
    encode_private(&key)
}

fn encode_private(key: &PrivateKey) -> Result<Zeroizing<Vec<u8>>> {
    let doc = key
        .to_pkcs8_der()
        .map_err(|_| AsymmetricError::crypto("cannot encode the RSA private key"))?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

/// Decodes PKCS#8 RSA key material of any size (wrapping keys).
pub(super) fn any_private_key(private: &[u8]) -> Result<PrivateKey> {
    PrivateKey::from_pkcs8_der(private).map_err(|_| {
        AsymmetricError::InvalidKeyMaterial(
            "the wrapping key material is not a valid RSA private key".into(),
        )
    })
}

/// Decodes PKCS#8 RSA key material that must be of `spec` (`bits` long).
pub(super) fn private_key(spec: KeySpec, bits: usize, private: &[u8]) -> Result<PrivateKey> {
    let key = PrivateKey::from_pkcs8_der(private).map_err(|_| AsymmetricError::bad_key(spec))?;
    if modulus_len(&key) * 8 != bits {
        return Err(AsymmetricError::InvalidKeyMaterial(format!(
            "the key material is a {}-bit RSA key, not {spec}",
            modulus_len(&key) * 8
        )));
    }
    Ok(key)
}

/// The length in bytes of the modulus (and of signatures and ciphertexts).
pub(super) fn modulus_len(key: &PrivateKey) -> usize {
    key.size()
}

fn spki(key: &PublicKey) -> Result<Vec<u8>> {
    key.to_public_key_der()
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|_| AsymmetricError::crypto("cannot encode the RSA public key"))
}

pub(super) fn public_key_der(spec: KeySpec, bits: usize, private: &[u8]) -> Result<Vec<u8>> {
    spki(private_key(spec, bits, private)?.as_public_key())
}

/// Signs `digest`, a `hash` output.
pub(super) fn sign(
    spec: KeySpec,
    bits: usize,
    private: &[u8],
    padding: Padding,
    hash: Hash,
    digest: &[u8],
) -> Result<Vec<u8>> {
    let key = private_key(spec, bits, private)?;
    let signed = match (padding, hash) {
        (Padding::Pkcs1v15, Hash::Sha256) => key.pkcs1v15_sign_prehash::<Sha256>(digest),
        (Padding::Pkcs1v15, Hash::Sha384) => key.pkcs1v15_sign_prehash::<Sha384>(digest),
        (Padding::Pkcs1v15, Hash::Sha512) => key.pkcs1v15_sign_prehash::<Sha512>(digest),
        (Padding::Pss, Hash::Sha256) => key.pss_sign_prehash::<Sha256>(digest),
        (Padding::Pss, Hash::Sha384) => key.pss_sign_prehash::<Sha384>(digest),
        (Padding::Pss, Hash::Sha512) => key.pss_sign_prehash::<Sha512>(digest),
        (_, other) => {
            return Err(AsymmetricError::unsupported(format!(
                "RSA signatures with {other:?} are not supported"
            )));
        }
    };
    signed.map_err(|_| AsymmetricError::crypto("RSA signing failed"))
}

/// Verifies `signature` over `digest`, a `hash` output; `false` for any
/// signature that does not verify, including malformed ones.
pub(super) fn verify(
    spec: KeySpec,
    bits: usize,
    private: &[u8],
    padding: Padding,
    hash: Hash,
    digest: &[u8],
    signature: &[u8],
) -> Result<bool> {
    let key = private_key(spec, bits, private)?;
    let public = key.as_public_key();
    let verified = match (padding, hash) {
        (Padding::Pkcs1v15, Hash::Sha256) => {
            public.pkcs1v15_verify_prehash::<Sha256>(digest, signature)
        }
        (Padding::Pkcs1v15, Hash::Sha384) => {
            public.pkcs1v15_verify_prehash::<Sha384>(digest, signature)
        }
        (Padding::Pkcs1v15, Hash::Sha512) => {
            public.pkcs1v15_verify_prehash::<Sha512>(digest, signature)
        }
        (Padding::Pss, Hash::Sha256) => public.pss_verify_prehash::<Sha256>(digest, signature),
        (Padding::Pss, Hash::Sha384) => public.pss_verify_prehash::<Sha384>(digest, signature),
        (Padding::Pss, Hash::Sha512) => public.pss_verify_prehash::<Sha512>(digest, signature),
        (_, other) => {
            return Err(AsymmetricError::unsupported(format!(
                "RSA signatures with {other:?} are not supported"
            )));
        }
    };
    Ok(verified.is_ok())
}

/// RSAES-OAEP with MGF1 over the same `hash` and an empty label. The caller
/// has checked the plaintext length.
pub(super) fn encrypt(
    spec: KeySpec,
    bits: usize,
    private: &[u8],
    hash: Hash,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let key = private_key(spec, bits, private)?;
    let public = key.as_public_key();
    let encrypted = match hash {
        Hash::Sha1 => public.oaep_encrypt::<Sha1>(plaintext),
        Hash::Sha256 => public.oaep_encrypt::<Sha256>(plaintext),
        other => {
            return Err(AsymmetricError::unsupported(format!(
                "RSAES-OAEP with {other:?} is not supported"
            )));
        }
    };
    encrypted.map_err(|_| AsymmetricError::crypto("RSA encryption failed"))
}

/// RSAES-OAEP-SHA-256 (MGF1 SHA-256, empty label) to a public key given as
/// a DER SubjectPublicKeyInfo: what a wrapping key's holder can decrypt.
pub(super) fn oaep_sha256_encrypt_to(public_der: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    use rsa::pkcs8::DecodePublicKey;
    let public = PublicKey::from_public_key_der(public_der).map_err(|_| {
        AsymmetricError::InvalidKeyMaterial("the wrapping key is not an RSA public key".into())
    })?;
    public
        .oaep_encrypt::<Sha256>(plaintext)
        .map_err(|_| AsymmetricError::crypto("RSA encryption failed"))
}

/// RSAES-OAEP decryption (MGF1 over the same `hash`, empty label).
pub(super) fn oaep_decrypt(
    key: &PrivateKey,
    hash: Hash,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if ciphertext.len() != modulus_len(key) {
        return Err(AsymmetricError::crypto(format!(
            "the ciphertext must be {} bytes long for this RSA key, not {}",
            modulus_len(key),
            ciphertext.len()
        )));
    }
    let decrypted = match hash {
        Hash::Sha1 => key.oaep_decrypt::<Sha1>(ciphertext),
        Hash::Sha256 => key.oaep_decrypt::<Sha256>(ciphertext),
        other => {
            return Err(AsymmetricError::unsupported(format!(
                "RSAES-OAEP with {other:?} is not supported"
            )));
        }
    };
    decrypted.map(Zeroizing::new).map_err(|_| {
        AsymmetricError::crypto("the ciphertext does not decrypt with this RSA key and algorithm")
    })
}
