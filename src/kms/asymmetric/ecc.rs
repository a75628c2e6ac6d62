//! ECDSA keys on NIST P-256, P-384, P-521 and secp256k1: generation,
//! SubjectPublicKeyInfo, DER-encoded signatures over a digest.

use zeroize::Zeroizing;

use super::{Curve, KeySpec, Result};

/// The same four operations for each curve crate, whose types differ only
/// by the curve.
macro_rules! ecdsa_curve {
    ($module:ident, $krate:ident) => {
        mod $module {
            use getrandom::SysRng;
            use zeroize::Zeroizing;
            use $krate::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
            use $krate::ecdsa::{DerSignature, Signature, SigningKey};
            use $krate::elliptic_curve::Generate;
            use $krate::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};

            use super::super::{AsymmetricError, KeySpec, Result};

            pub(super) fn generate() -> Result<Zeroizing<Vec<u8>>> {
                let key = SigningKey::try_generate_from_rng(&mut SysRng)
                    .map_err(|_| AsymmetricError::rng())?;
                let doc = key
                    .to_pkcs8_der()
                    .map_err(|_| AsymmetricError::crypto("cannot encode the EC private key"))?;
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
                    .map_err(|_| AsymmetricError::crypto("cannot encode the EC public key"))
            }

            pub(super) fn sign(spec: KeySpec, private: &[u8], digest: &[u8]) -> Result<Vec<u8>> {
                let signature: DerSignature = key(spec, private)?
                    .sign_prehash(digest)
                    .map_err(|_| AsymmetricError::crypto("ECDSA signing failed"))?;
                Ok(signature.as_bytes().to_vec())
            }

            pub(super) fn verify(
                spec: KeySpec,
                private: &[u8],
                digest: &[u8],
                signature: &[u8],
            ) -> Result<bool> {
                let key = key(spec, private)?;
                let Ok(der) = DerSignature::from_bytes(signature) else {
                    return Ok(false);
                };
                let Ok(signature) = Signature::try_from(der) else {
                    return Ok(false);
                };
                // Both (r, s) and (r, n - s) are valid ECDSA signatures. KMS
                // and OpenSSL do not normalise s; k256 only accepts the low-S
                // form, so normalise before verifying (no-op on NIST curves,
                // which accept both anyway).
                let signature = signature.normalize_s();
                Ok(key
                    .verifying_key()
                    .verify_prehash(digest, &signature)
                    .is_ok())
            }
        }
    };
}

ecdsa_curve!(nist_p256, p256);
ecdsa_curve!(nist_p384, p384);
ecdsa_curve!(nist_p521, p521);
ecdsa_curve!(secg_p256k1, k256);

pub(super) fn generate(curve: Curve) -> Result<Zeroizing<Vec<u8>>> {
    match curve {
        Curve::P256 => nist_p256::generate(),
        Curve::P384 => nist_p384::generate(),
        Curve::P521 => nist_p521::generate(),
        Curve::Secp256k1 => secg_p256k1::generate(),
    }
}

pub(super) fn public_key_der(spec: KeySpec, curve: Curve, private: &[u8]) -> Result<Vec<u8>> {
    match curve {
        Curve::P256 => nist_p256::public_key_der(spec, private),
        Curve::P384 => nist_p384::public_key_der(spec, private),
        Curve::P521 => nist_p521::public_key_der(spec, private),
        Curve::Secp256k1 => secg_p256k1::public_key_der(spec, private),
    }
}

/// Signs `digest`; the caller has checked its length against the algorithm.
pub(super) fn sign(spec: KeySpec, curve: Curve, private: &[u8], digest: &[u8]) -> Result<Vec<u8>> {
    match curve {
        Curve::P256 => nist_p256::sign(spec, private, digest),
        Curve::P384 => nist_p384::sign(spec, private, digest),
        Curve::P521 => nist_p521::sign(spec, private, digest),
        Curve::Secp256k1 => secg_p256k1::sign(spec, private, digest),
    }
}

pub(super) fn verify(
    spec: KeySpec,
    curve: Curve,
    private: &[u8],
    digest: &[u8],
    signature: &[u8],
) -> Result<bool> {
    match curve {
        Curve::P256 => nist_p256::verify(spec, private, digest, signature),
        Curve::P384 => nist_p384::verify(spec, private, digest, signature),
        Curve::P521 => nist_p521::verify(spec, private, digest, signature),
        Curve::Secp256k1 => secg_p256k1::verify(spec, private, digest, signature),
    }
}
