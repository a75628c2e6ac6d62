//! A PKCS#11 HSM as the root of trust: the root key is an AES-256 key that
//! never leaves the token; s3seal asks the token to seal and unseal KMS key
//! material with it (CKM_AES_GCM), so the root key never exists in s3seal's
//! memory.
//!
//! Tested with SoftHSM2 (`/usr/lib/softhsm/libsofthsm2.so`); any PKCS#11 v2.40
//! module with CKM_AES_GCM works. `s3seal hsm-create-root-key` creates the key
//! on the token (sensitive, not extractable).

use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use super::root::RootKeyError;

const NONCE_LEN: usize = 12;

/// Where the root key lives on the token.
#[derive(Debug, Clone)]
pub struct HsmLocation {
    /// Path of the PKCS#11 module (`.so`).
    pub module: std::path::PathBuf,
    pub token_label: String,
    pub key_label: String,
}

pub struct HsmRoot {
    // The session must be dropped before the context: fields drop in order.
    session: Mutex<Session>,
    key: ObjectHandle,
    _context: Pkcs11,
}

fn hsm_error(what: &str, err: impl std::fmt::Display) -> RootKeyError {
    RootKeyError::Hsm(format!("{what}: {err}"))
}

impl HsmRoot {
    /// Opens a user session on the token and finds the root key.
    pub fn open(location: &HsmLocation, pin: &str) -> Result<Self, RootKeyError> {
        let (context, session) = Self::login(location, pin)?;
        let keys = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(location.key_label.as_bytes().to_vec()),
            ])
            .map_err(|e| hsm_error("searching the token for the root key", e))?;
        let key = match keys.as_slice() {
            [key] => *key,
            [] => {
                return Err(RootKeyError::Hsm(format!(
                    "the token '{}' has no secret key labelled '{}'; create it with `s3seal hsm-create-root-key`",
                    location.token_label, location.key_label
                )));
            }
            _ => {
                return Err(RootKeyError::Hsm(format!(
                    "the token '{}' has several keys labelled '{}'",
                    location.token_label, location.key_label
                )));
            }
        };
        Ok(HsmRoot {
            session: Mutex::new(session),
            key,
            _context: context,
        })
    }

    /// Creates the root key on the token: AES-256, sensitive, never extractable.
    pub fn create_key(location: &HsmLocation, pin: &str) -> Result<(), RootKeyError> {
        let (_context, session) = Self::login(location, pin)?;
        let existing = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(location.key_label.as_bytes().to_vec()),
            ])
            .map_err(|e| hsm_error("searching the token", e))?;
        if !existing.is_empty() {
            return Err(RootKeyError::Hsm(format!(
                "the token already holds a key labelled '{}'",
                location.key_label
            )));
        }
        session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                    Attribute::Label(location.key_label.as_bytes().to_vec()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                ],
            )
            .map_err(|e| hsm_error("generating the root key on the token", e))?;
        Ok(())
    }

    fn login(location: &HsmLocation, pin: &str) -> Result<(Pkcs11, Session), RootKeyError> {
        let context = Pkcs11::new(&location.module).map_err(|e| {
            hsm_error(
                &format!("loading the PKCS#11 module {}", location.module.display()),
                e,
            )
        })?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| hsm_error("initialising the PKCS#11 module", e))?;
        let slots = context
            .get_slots_with_token()
            .map_err(|e| hsm_error("listing the HSM's slots", e))?;
        let slot = slots
            .into_iter()
            .find(|slot| {
                context
                    .get_token_info(*slot)
                    .is_ok_and(|info| info.label().trim_end() == location.token_label)
            })
            .ok_or_else(|| {
                RootKeyError::Hsm(format!("no token labelled '{}'", location.token_label))
            })?;
        let session = context
            .open_rw_session(slot)
            .map_err(|e| hsm_error("opening a session on the token", e))?;
        session
            .login(UserType::User, Some(&AuthPin::from(pin.to_string())))
            .map_err(|e| hsm_error("logging in to the token (is kms.pkcs11_pin right?)", e))?;
        Ok((context, session))
    }

    /// `nonce || ciphertext || tag`, sealed by the token.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, RootKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| hsm_error("no randomness", e))?;
        let mut iv = nonce;
        let params =
            GcmParams::new(&mut iv, aad, 128.into()).map_err(|e| hsm_error("GCM parameters", e))?;
        let session = self
            .session
            .lock()
            .map_err(|_| RootKeyError::Hsm("HSM session lock poisoned".into()))?;
        let sealed = session
            .encrypt(&Mechanism::AesGcm(params), self.key, plaintext)
            .map_err(|e| hsm_error("sealing with the HSM", e))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Opens what [`Self::seal`] made; fails on any tampering or another key.
    pub fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, RootKeyError> {
        let (nonce, ct) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or_else(|| RootKeyError::Hsm("sealed value is truncated".into()))?;
        let mut iv = [0u8; NONCE_LEN];
        iv.copy_from_slice(nonce);
        let params =
            GcmParams::new(&mut iv, aad, 128.into()).map_err(|e| hsm_error("GCM parameters", e))?;
        let session = self
            .session
            .lock()
            .map_err(|_| RootKeyError::Hsm("HSM session lock poisoned".into()))?;
        session
            .decrypt(&Mechanism::AesGcm(params), self.key, ct)
            .map(Zeroizing::new)
            .map_err(|e| hsm_error("unsealing with the HSM", e))
    }
}
