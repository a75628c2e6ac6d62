//! ML-DSA keys (FIPS 204; ML_DSA_44, ML_DSA_65, ML_DSA_87): generation,
//! SubjectPublicKeyInfo, ML_DSA_SHAKE_256 signatures over the message (pure
//! ML-DSA, empty context) or over an external µ.

use getrandom::SysRng;
use ml_dsa::common::array::Array;
use ml_dsa::pkcs8::der::AnyRef;
use ml_dsa::pkcs8::spki::AssociatedAlgorithmIdentifier;
use ml_dsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ml_dsa::{
    ExpandedSigningKey, Keypair, MlDsa44, MlDsa65, MlDsa87, MlDsaParams, Signature, SigningKey,
};
use zeroize::Zeroizing;

use super::{AsymmetricError, KeySpec, Result, SignedData};

/// The bounds the `ml-dsa` crate puts on a parameter set for PKCS#8.
trait Params: MlDsaParams + AssociatedAlgorithmIdentifier<Params = AnyRef<'static>> {}
impl<P: MlDsaParams + AssociatedAlgorithmIdentifier<Params = AnyRef<'static>>> Params for P {}

pub(super) fn generate(spec: KeySpec) -> Result<Zeroizing<Vec<u8>>> {
    match spec {
        KeySpec::MlDsa44 => generate_with::<MlDsa44>(),
        KeySpec::MlDsa65 => generate_with::<MlDsa65>(),
        KeySpec::MlDsa87 => generate_with::<MlDsa87>(),
        _ => Err(not_ml_dsa(spec)),
    }
}

pub(super) fn public_key_der(spec: KeySpec, private: &[u8]) -> Result<Vec<u8>> {
    match spec {
        KeySpec::MlDsa44 => public_key_der_with::<MlDsa44>(spec, private),
        KeySpec::MlDsa65 => public_key_der_with::<MlDsa65>(spec, private),
        KeySpec::MlDsa87 => public_key_der_with::<MlDsa87>(spec, private),
        _ => Err(not_ml_dsa(spec)),
    }
}

pub(super) fn sign(spec: KeySpec, private: &[u8], data: &SignedData<'_>) -> Result<Vec<u8>> {
    match spec {
        KeySpec::MlDsa44 => sign_with::<MlDsa44>(spec, private, data),
        KeySpec::MlDsa65 => sign_with::<MlDsa65>(spec, private, data),
        KeySpec::MlDsa87 => sign_with::<MlDsa87>(spec, private, data),
        _ => Err(not_ml_dsa(spec)),
    }
}

pub(super) fn verify(
    spec: KeySpec,
    private: &[u8],
    data: &SignedData<'_>,
    signature: &[u8],
) -> Result<bool> {
    match spec {
        KeySpec::MlDsa44 => verify_with::<MlDsa44>(spec, private, data, signature),
        KeySpec::MlDsa65 => verify_with::<MlDsa65>(spec, private, data, signature),
        KeySpec::MlDsa87 => verify_with::<MlDsa87>(spec, private, data, signature),
        _ => Err(not_ml_dsa(spec)),
    }
}

fn not_ml_dsa(spec: KeySpec) -> AsymmetricError {
    AsymmetricError::unsupported(format!("{spec} is not an ML-DSA key spec"))
}

fn generate_with<P: Params>() -> Result<Zeroizing<Vec<u8>>> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|_| AsymmetricError::rng())?;
    let key = SigningKey::<P>::from_seed(&(*seed).into());
    let doc = key
        .to_pkcs8_der()
        .map_err(|_| AsymmetricError::crypto("cannot encode the ML-DSA private key"))?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

fn public_key_der_with<P: Params>(spec: KeySpec, private: &[u8]) -> Result<Vec<u8>> {
    let key =
        SigningKey::<P>::from_pkcs8_der(private).map_err(|_| AsymmetricError::bad_key(spec))?;
    key.verifying_key()
        .to_public_key_der()
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|_| AsymmetricError::crypto("cannot encode the ML-DSA public key"))
}

fn sign_with<P: Params>(spec: KeySpec, private: &[u8], data: &SignedData<'_>) -> Result<Vec<u8>> {
    let key = ExpandedSigningKey::<P>::from_pkcs8_der(private)
        .map_err(|_| AsymmetricError::bad_key(spec))?;
    // Hedged signing (FIPS 204's default): fresh randomness for each signature.
    let signature = match data {
        SignedData::Message(message) => key.sign_randomized(message, &[], &mut SysRng),
        SignedData::Mu(mu) => key.sign_mu_randomized(&Array::from(**mu), &mut SysRng),
        SignedData::Digest(_) => {
            return Err(AsymmetricError::invalid_message(
                "ML_DSA_SHAKE_256 does not accept MessageType DIGEST; use RAW or EXTERNAL_MU",
            ));
        }
    }
    .map_err(|_| AsymmetricError::crypto("ML-DSA signing failed"))?;
    Ok(signature.encode().to_vec())
}

fn verify_with<P: Params>(
    spec: KeySpec,
    private: &[u8],
    data: &SignedData<'_>,
    signature: &[u8],
) -> Result<bool> {
    let key =
        SigningKey::<P>::from_pkcs8_der(private).map_err(|_| AsymmetricError::bad_key(spec))?;
    let public = key.verifying_key();
    let Ok(signature) = Signature::<P>::try_from(signature) else {
        return Ok(false);
    };
    Ok(match data {
        SignedData::Message(message) => public.verify_with_context(message, &[], &signature),
        SignedData::Mu(mu) => public.verify_mu(&Array::from(**mu), &signature),
        SignedData::Digest(_) => {
            return Err(AsymmetricError::invalid_message(
                "ML_DSA_SHAKE_256 does not accept MessageType DIGEST; use RAW or EXTERNAL_MU",
            ));
        }
    })
}
