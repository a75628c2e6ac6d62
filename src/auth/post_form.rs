//! Authentication of browser POST uploads: a form signs its policy document.
//!
//! An HTML form cannot compute a signature per request, so whoever grants the
//! upload signs a *policy* (base64 JSON saying what the upload may be) ahead
//! of time, and the form carries the policy and that signature as fields.
//! The policy, exactly as sent, is the string to sign:
//!
//! - SigV4: `x-amz-algorithm` (`AWS4-HMAC-SHA256`), `x-amz-credential`
//!   (`<key>/<date>/<region>/s3/aws4_request`), `x-amz-date`, and
//!   `x-amz-signature` = hex HMAC-SHA256 of the policy under the SigV4 signing
//!   key of the credential's scope;
//! - SigV2: `AWSAccessKeyId` and `signature` = base64 HMAC-SHA1 of the policy
//!   under the secret key.
//!
//! A form with neither is anonymous, which s3seal never allows. What the policy
//! itself permits (expiry, conditions) is checked by the POST handler
//! (`s3::post_object::policy`), once this module has shown who signed it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use time::macros::format_description;

use super::sigv4::{self, Credential};
use super::{AuthMethod, Authenticator, Principal, Secret};
use crate::error::{S3Error, S3ErrorCode};

/// Who signed a POST form, and how.
#[derive(Debug, Clone)]
pub struct FormAuth {
    pub principal: Principal,
    pub method: AuthMethod,
}

impl Authenticator {
    /// Verifies the signature of a POST form. `field` looks a form field up
    /// by its lower-case name.
    pub fn authenticate_form<'f>(
        &self,
        field: impl Fn(&str) -> Option<&'f str>,
    ) -> Result<FormAuth, S3Error> {
        let sigv4 = ["x-amz-signature", "x-amz-credential", "x-amz-algorithm"]
            .iter()
            .any(|name| field(name).is_some());
        let sigv2 = ["signature", "awsaccesskeyid"]
            .iter()
            .any(|name| field(name).is_some());
        let required = |name: &'static str| field(name).ok_or_else(|| missing_field(name));
        let policy = field("policy");
        match (sigv4, sigv2, policy) {
            (true, _, _) => self.verify_sigv4_form(required("policy")?, &required),
            (false, true, _) => self.verify_sigv2_form(required("policy")?, &required),
            // A policy without a signature authenticates nobody.
            (false, false, Some(_)) => Err(missing_field("AWSAccessKeyId")),
            (false, false, None) => Err(S3Error::new(
                S3ErrorCode::AccessDenied,
                "Anonymous access is not allowed; a POST form must carry a policy signed with s3seal credentials (policy and x-amz-signature, or signature)",
            )),
        }
    }

    fn verify_sigv4_form<'f>(
        &self,
        policy: &str,
        required: &dyn Fn(&'static str) -> Result<&'f str, S3Error>,
    ) -> Result<FormAuth, S3Error> {
        if required("x-amz-algorithm")? != sigv4::ALGORITHM {
            return Err(S3Error::invalid_argument(
                "x-amz-algorithm only supports \"AWS4-HMAC-SHA256\"",
            ));
        }
        let credential = Credential::parse(required("x-amz-credential")?).map_err(|reason| {
            S3Error::invalid_argument(format!("x-amz-credential is malformed: {reason}"))
        })?;
        self.check_form_scope(&credential, required("x-amz-date")?)?;
        let signature = required("x-amz-signature")?;
        let (secret, principal) = self.credential(credential.access_key_id)?;
        let key = sigv4::signing_key(
            secret.expose(),
            credential.date,
            credential.region,
            credential.service,
        );
        let expected = sigv4::signature(&key, policy);
        if !sigv4::signatures_match(signature, &expected) {
            return Err(signature_mismatch(credential.access_key_id));
        }
        Ok(FormAuth {
            principal,
            method: AuthMethod::PostForm { sigv2: false },
        })
    }

    fn verify_sigv2_form<'f>(
        &self,
        policy: &str,
        required: &dyn Fn(&'static str) -> Result<&'f str, S3Error>,
    ) -> Result<FormAuth, S3Error> {
        let access_key_id = required("awsaccesskeyid")?;
        let signature = required("signature")?;
        let (secret, principal) = self.credential(access_key_id)?;
        let expected = sigv2_signature(secret, policy);
        if !sigv4::signatures_match(signature, &expected) {
            return Err(signature_mismatch(access_key_id));
        }
        Ok(FormAuth {
            principal,
            method: AuthMethod::PostForm { sigv2: true },
        })
    }

    /// The credential must be for s3seal's region and S3, and dated the day
    /// of `x-amz-date`. The date is not checked against the clock: the
    /// policy's expiration says how long the form is valid.
    fn check_form_scope(&self, credential: &Credential<'_>, amz_date: &str) -> Result<(), S3Error> {
        let format = format_description!("[year][month][day]T[hour][minute][second]Z");
        if time::PrimitiveDateTime::parse(amz_date, format).is_err() {
            return Err(S3Error::invalid_argument(
                "x-amz-date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
            ));
        }
        if !amz_date.starts_with(credential.date) {
            return Err(S3Error::invalid_argument(
                "the date of x-amz-credential is not the date of x-amz-date",
            ));
        }
        if credential.region != self.region {
            return Err(S3Error::invalid_argument(format!(
                "x-amz-credential is for region '{}'; expecting '{}'",
                credential.region, self.region
            ))
            .with_detail("Region", self.region.clone()));
        }
        if credential.service != "s3" || credential.terminator != "aws4_request" {
            return Err(S3Error::invalid_argument(
                "x-amz-credential must end in /s3/aws4_request",
            ));
        }
        Ok(())
    }
}

/// SigV2: base64 of HMAC-SHA1(secret key, policy).
fn sigv2_signature(secret: &Secret, policy: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(policy.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn missing_field(name: &str) -> S3Error {
    S3Error::invalid_argument(format!(
        "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
    ))
    .with_detail("ArgumentName", name.to_string())
}

fn signature_mismatch(access_key_id: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::SignatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
    .with_detail("AWSAccessKeyId", access_key_id.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::auth::{ClientCredential, CredentialStore};

    const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    /// The policy of AWS's "Example: Browser-Based Upload using HTTP POST
    /// (Using AWS Signature Version 4)", base64 as published there.
    const AWS_EXAMPLE_POLICY: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    /// The signature AWS publishes for it.
    const AWS_EXAMPLE_SIGNATURE: &str =
        "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";

    fn authenticator() -> Authenticator {
        let cred = ClientCredential {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: Secret::new(SECRET),
            principal: "alice".into(),
            buckets: vec!["*".into()],
        };
        Authenticator::new(
            CredentialStore::new(&[cred], "000000000000").unwrap(),
            "us-east-1",
        )
    }

    fn sigv4_form() -> HashMap<&'static str, String> {
        HashMap::from([
            ("policy", AWS_EXAMPLE_POLICY.to_string()),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_string()),
            (
                "x-amz-credential",
                "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request".to_string(),
            ),
            ("x-amz-date", "20151229T000000Z".to_string()),
            ("x-amz-signature", AWS_EXAMPLE_SIGNATURE.to_string()),
        ])
    }

    fn authenticate(form: &HashMap<&'static str, String>) -> Result<FormAuth, S3Error> {
        authenticator().authenticate_form(|name| form.get(name).map(String::as_str))
    }

    #[test]
    fn accepts_aws_published_sigv4_example() {
        let auth = authenticate(&sigv4_form()).unwrap();
        assert_eq!(auth.principal.name, "alice");
        assert_eq!(auth.method, AuthMethod::PostForm { sigv2: false });
        assert_eq!(auth.method.auth_type(), "POST");
        assert_eq!(auth.method.signature_version(), "AWS4-HMAC-SHA256");
    }

    #[test]
    fn sigv4_variations_are_rejected_with_aws_codes() {
        use S3ErrorCode::*;
        let cases: Vec<(&str, Option<&str>, S3ErrorCode)> = vec![
            (
                "x-amz-signature",
                Some("8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699f"),
                SignatureDoesNotMatch,
            ),
            (
                "policy",
                Some(&AWS_EXAMPLE_POLICY[..AWS_EXAMPLE_POLICY.len() - 4]),
                SignatureDoesNotMatch,
            ),
            (
                "x-amz-credential",
                Some("AKIAUNKNOWN000000000/20151229/us-east-1/s3/aws4_request"),
                InvalidAccessKeyId,
            ),
            (
                "x-amz-credential",
                Some("AKIAIOSFODNN7EXAMPLE/20151229/eu-west-1/s3/aws4_request"),
                InvalidArgument,
            ),
            (
                "x-amz-credential",
                Some("AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/kms/aws4_request"),
                InvalidArgument,
            ),
            (
                "x-amz-credential",
                Some("AKIAIOSFODNN7EXAMPLE"),
                InvalidArgument,
            ),
            ("x-amz-date", Some("20151230T000000Z"), InvalidArgument),
            ("x-amz-date", Some("2015-12-29"), InvalidArgument),
            (
                "x-amz-algorithm",
                Some("AWS4-ECDSA-P256-SHA256"),
                InvalidArgument,
            ),
            ("x-amz-date", None, InvalidArgument),
            ("policy", None, InvalidArgument),
        ];
        for (name, value, code) in cases {
            let mut form = sigv4_form();
            match value {
                Some(v) => form.insert(name, v.to_string()),
                None => form.remove(name),
            };
            let err = authenticate(&form).unwrap_err();
            assert_eq!(err.code, code, "{name} = {value:?}: {}", err.message);
        }
    }

    /// SigV2: base64(HMAC-SHA1(secret, policy)), here of AWS's SigV2 example
    /// policy; the expected value was computed independently with
    /// `printf %s "$policy" | openssl dgst -sha1 -hmac "$secret" -binary | base64`.
    #[test]
    fn sigv2_forms() {
        let policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDA3LTEyLTAxVDEyOjAwOjAwLjAwMFoiLAogICJjb25kaXRpb25zIjogWwogICAgeyJidWNrZXQiOiAiam9obnNtaXRoIn0sCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci9lcmljLyJdLAogICAgeyJhY2wiOiAicHVibGljLXJlYWQifSwKICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL2pvaG5zbWl0aC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwKICAgIFsic3RhcnRzLXdpdGgiLCAiJENvbnRlbnQtVHlwZSIsICJpbWFnZS8iXSwKICAgIHsieC1hbXotbWV0YS11dWlkIjogIjE0MzY1MTIzNjUxMjc0In0sCiAgICBbInN0YXJ0cy13aXRoIiwgIiR4LWFtei1tZXRhLXRhZyIsICIiXQogIF0KfQo=";
        let signature = "gp42sMsv4L5xLO0OjT+56V64o+A=";
        let mut form = HashMap::from([
            ("policy", policy.to_string()),
            ("awsaccesskeyid", ACCESS_KEY.to_string()),
            ("signature", signature.to_string()),
        ]);
        let auth = authenticate(&form).unwrap();
        assert_eq!(auth.method, AuthMethod::PostForm { sigv2: true });
        assert_eq!(auth.method.signature_version(), "AWS");

        form.insert("signature", "0RavWzkygo6QX9caELEqKi9kDbU=".to_string());
        assert_eq!(
            authenticate(&form).unwrap_err().code,
            S3ErrorCode::SignatureDoesNotMatch
        );
        form.insert("awsaccesskeyid", "AKIAUNKNOWN000000000".to_string());
        assert_eq!(
            authenticate(&form).unwrap_err().code,
            S3ErrorCode::InvalidAccessKeyId
        );
        form.remove("signature");
        assert_eq!(
            authenticate(&form).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn anonymous_forms_are_refused() {
        let empty: HashMap<&'static str, String> = HashMap::new();
        assert_eq!(
            authenticate(&empty).unwrap_err().code,
            S3ErrorCode::AccessDenied
        );
        let policy_only = HashMap::from([("policy", AWS_EXAMPLE_POLICY.to_string())]);
        assert_eq!(
            authenticate(&policy_only).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
    }
}
