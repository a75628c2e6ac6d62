//! POST Object: browser uploads from an HTML form, sealed like any upload.
//!
//! A browser POST carries no `Authorization` header: its `multipart/form-data`
//! body says who signed it (a policy and its signature), what the upload is
//! (key, content headers, user metadata, SSE) and, last, the file. So this
//! handler does, in order, what the server and PutObject do for other uploads:
//!
//! 1. read the fields before the file ([`form`]; at most 20 KiB of values);
//! 2. check the form's signature over its policy ([`crate::auth::post_form`]);
//! 3. check the policy: expiry, every condition, no field it does not name
//!    ([`policy`]);
//! 4. authorise `s3:PutObject` on the key under the bucket's policy, with the
//!    form's SSE fields as the condition keys
//!    ([`super::access::authorize_object_action`]);
//! 5. choose the encryption (SSE fields, else the bucket's default) exactly
//!    as PutObject does, and seal and store the file as it streams
//!    ([`upload`], [`split`]);
//! 6. answer as S3 does: `204` (default), `200`, `201` with a `PostResponse`
//!    document, or a `303` to `success_action_redirect` ([`response`]).
//!
//! Nothing reaches the upstream before step 5, and nothing is stored unless
//! the whole file arrived and met the policy and the declared digests.

pub mod form;
pub mod policy;
pub mod response;
pub mod split;
pub mod upload;

use std::time::SystemTime;

use crate::body::ClientBody;
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use http_body_util::BodyExt;

use self::form::FormFields;
use self::policy::PostPolicy;
use self::upload::{ObjectWrite, Outcome};
use super::RequestContext;
use super::headers::{Forward, forward_request_headers};
use super::object_put::{self, MAX_PUT_SIZE};
use super::route::S3Request;
use crate::auth::PayloadHash;
use crate::body::{BoxError, FailureSlot, ProxyBody};
use crate::error::{S3Error, S3ErrorCode};
use crate::integrity::DeclaredDigests;
use crate::state::AppState;

/// Form fields that set a header of the stored object under the same name.
const HEADER_FIELDS: [&str; 7] = [
    "cache-control",
    "content-type",
    "content-disposition",
    "content-encoding",
    "expires",
    "content-md5",
    "x-amz-storage-class",
];
/// Prefixes of form fields that are headers of the upload too.
const HEADER_FIELD_PREFIXES: [&str; 4] = [
    "x-amz-meta-",
    "x-amz-server-side-encryption",
    "x-amz-checksum-",
    "x-amz-website-redirect-location",
];

/// Serves a POST to a bucket. `request_id` and `source_ip` are what the server
/// knows of the request before anyone is authenticated.
/// Who sent the POST, as the connection tells (the form tells the rest).
pub struct Client<'a> {
    pub request_id: &'a str,
    pub source_ip: Option<String>,
    pub secure_transport: bool,
    pub user_agent: Option<String>,
}

pub async fn serve(
    state: &AppState,
    client: Client<'_>,
    s3: S3Request,
    parts: http::request::Parts,
    body: ClientBody,
) -> Result<Response<ProxyBody>, S3Error> {
    let boundary = form::boundary(parts.headers.get(http::header::CONTENT_TYPE))?;
    let content_length = request_length(&parts.headers)?;
    let failure = FailureSlot::default();
    let mut head = form::read_head(request_stream(body), boundary, failure.clone()).await?;
    head.fields.expand_filename(head.filename.as_deref());
    let (ctx, policy) = admit(state, client, s3, &head.fields)?;
    let write = object_write(state, &ctx, &head.fields, &policy)?;
    let outcome = upload::store(state, &ctx, write, head.file, failure, content_length).await?;
    // The file has ended: read what follows it, then answer.
    head.rest.drain().await;
    match outcome {
        Outcome::Stored(stored) => Ok(response::success(
            state,
            &parts,
            &ctx,
            &head.fields,
            &stored,
        )),
        Outcome::Refused(upstream_error) => Ok(upstream_error),
    }
}

/// Who signed the form, and whether its policy lets it through: the
/// request's context (with the form's key) and the checked policy.
fn admit(
    state: &AppState,
    client: Client<'_>,
    mut s3: S3Request,
    fields: &FormFields,
) -> Result<(RequestContext, PostPolicy), S3Error> {
    let bucket = s3
        .bucket
        .as_deref()
        .ok_or_else(|| S3Error::internal("a POST upload without a bucket"))?;
    let auth = state.auth.authenticate_form(|name| fields.get(name))?;
    state.rate_limits.check(&auth.principal.name)?;
    let policy = checked_policy(fields, bucket)?;
    s3.key = Some(object_key(fields)?);
    let ctx = RequestContext {
        request_id: client.request_id.to_string(),
        principal: auth.principal,
        auth_method: auth.method,
        payload: PayloadHash::Unsigned,
        s3,
        source_ip: client.source_ip,
        user_agent: client.user_agent,
        secure_transport: client.secure_transport,
        chunk_signing: None,
    };
    Ok((ctx, policy))
}

/// The upload the form describes, once the bucket's policy allows it: the
/// fields as the headers a PutObject would have sent, and the encryption
/// and digests those headers ask for.
fn object_write(
    state: &AppState,
    ctx: &RequestContext,
    fields: &FormFields,
    policy: &PostPolicy,
) -> Result<ObjectWrite, S3Error> {
    let (bucket, key) = ctx.bucket_and_key()?;
    let headers = object_headers(fields)?;
    super::access::authorize_object_action(state, ctx, &headers, "s3:PutObject", key)?;
    Ok(ObjectWrite {
        sse: object_put::upload_encryption(state, bucket, &headers)?,
        declared: DeclaredDigests::from_request(&headers, &PayloadHash::Unsigned)?,
        headers: forward_request_headers(&headers, Forward::SealedWrite),
        size_range: size_range(policy),
    })
}

/// The request's `Content-Length`: the upload plan needs it (a browser always
/// sends one), and it bounds the file.
fn request_length(headers: &HeaderMap) -> Result<u64, S3Error> {
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .ok_or_else(|| {
            S3Error::new(
                S3ErrorCode::MissingContentLength,
                "You must provide the Content-Length HTTP header.",
            )
        })?
        .to_str()
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| S3Error::invalid_argument("Content-Length is not a number"))?;
    if length > MAX_PUT_SIZE + form::NON_FILE_ALLOWANCE {
        return Err(S3Error::new(
            S3ErrorCode::EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed size",
        )
        .with_detail("MaxSizeAllowed", MAX_PUT_SIZE.to_string()));
    }
    Ok(length)
}

/// The form's policy, once it is shown to be current and to allow every field.
fn checked_policy(fields: &FormFields, bucket: &str) -> Result<PostPolicy, S3Error> {
    // The signature check required the field; this is belt and braces.
    let text = fields
        .get("policy")
        .ok_or_else(|| S3Error::new(S3ErrorCode::AccessDenied, "the form has no policy"))?;
    let policy = PostPolicy::from_base64(text)?;
    policy.check_expiration(time::OffsetDateTime::from(SystemTime::now()))?;
    policy.check_fields(bucket, fields.as_map())?;
    Ok(policy)
}

/// The key to store under (`${filename}` already expanded).
fn object_key(fields: &FormFields) -> Result<String, S3Error> {
    match fields.get("key") {
        Some(key) if !key.is_empty() => crate::s3::route::check_key(key.to_string()),
        _ => Err(S3Error::invalid_argument(
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
        )
        .with_detail("ArgumentName", "key")),
    }
}

/// The sizes the policy allows, within S3's limit for one upload.
fn size_range(policy: &PostPolicy) -> (u64, u64) {
    let (min, max) = policy.content_length_range().unwrap_or((0, MAX_PUT_SIZE));
    (min, max.min(MAX_PUT_SIZE))
}

/// The request headers PutObject would have received for this upload: the
/// form's content headers, user metadata, SSE and checksum fields, and
/// `acl` and `tagging` in their header forms. They drive authorisation (the
/// SSE condition keys), the encryption and the upstream write, exactly as a
/// PutObject's headers do.
pub fn object_headers(fields: &FormFields) -> Result<HeaderMap, S3Error> {
    let mut headers = HeaderMap::new();
    for (name, value) in fields.iter() {
        let header_name = match name {
            "acl" => "x-amz-acl".to_string(),
            "tagging" => "x-amz-tagging".to_string(),
            n if HEADER_FIELDS.contains(&n)
                || HEADER_FIELD_PREFIXES.iter().any(|p| n.starts_with(p)) =>
            {
                n.to_string()
            }
            _ => continue,
        };
        let value = match name {
            "tagging" => tagging_header(value)?,
            _ => value.to_string(),
        };
        let invalid = || {
            S3Error::invalid_argument(format!(
                "the form field '{name}' must be printable ASCII to be stored as a header"
            ))
        };
        // Header values are signed again for the upstream, which needs text.
        if !value.is_ascii() {
            return Err(invalid());
        }
        headers.insert(
            HeaderName::try_from(header_name).map_err(|_| invalid())?,
            HeaderValue::try_from(value).map_err(|_| invalid())?,
        );
    }
    Ok(headers)
}

/// The `tagging` field is a `<Tagging>` document; PutObject takes the same
/// tags as `x-amz-tagging: k1=v1&k2=v2`.
fn tagging_header(document: &str) -> Result<String, S3Error> {
    let tags = super::tags::parse_tagging(document.as_bytes()).map_err(|e| {
        S3Error::new(
            S3ErrorCode::MalformedXML,
            format!("The tagging field is not a valid Tagging document: {e}"),
        )
    })?;
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    Ok(tags
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&"))
}

/// The request body as the form reader takes it.
fn request_stream(
    body: ClientBody,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, BoxError>> + Send + Unpin + 'static {
    futures_util::TryStreamExt::map_err(body.into_data_stream(), |err| -> BoxError {
        Box::new(err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> FormFields {
        let mut f = FormFields::default();
        for (k, v) in pairs {
            f.push(k.to_string(), v.to_string());
        }
        f
    }

    #[test]
    fn form_fields_become_putobject_headers() {
        let h = object_headers(&fields(&[
            ("key", "k"),
            ("policy", "p"),
            ("content-type", "image/png"),
            ("acl", "private"),
            ("x-amz-meta-color", "blue"),
            ("x-amz-server-side-encryption", "aws:kms"),
            ("x-amz-server-side-encryption-aws-kms-key-id", "alias/k"),
            ("x-amz-checksum-crc32", "AAAAAA=="),
            ("success_action_status", "201"),
            ("x-amz-credential", "c"),
            ("tagging", "<Tagging><TagSet><Tag><Key>team</Key><Value>pay ments</Value></Tag><Tag><Key>a&amp;b</Key><Value>1</Value></Tag></TagSet></Tagging>"),
        ]))
        .unwrap();
        let mut names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "content-type",
                "x-amz-acl",
                "x-amz-checksum-crc32",
                "x-amz-meta-color",
                "x-amz-server-side-encryption",
                "x-amz-server-side-encryption-aws-kms-key-id",
                "x-amz-tagging",
            ]
        );
        assert_eq!(h["x-amz-tagging"], "team=pay%20ments&a%26b=1");
        assert!(object_headers(&fields(&[("x-amz-meta-x", "a\r\nb")])).is_err());
        assert!(object_headers(&fields(&[("x-amz-meta-x", "café")])).is_err());
        // Fields that are not headers may hold any text.
        assert!(object_headers(&fields(&[("key", "café")])).is_ok());
        assert!(object_headers(&fields(&[("tagging", "<nope")])).is_err());
    }

    #[test]
    fn keys_are_required() {
        assert_eq!(object_key(&fields(&[("key", "a/b")])).unwrap(), "a/b");
        assert_eq!(
            object_key(&fields(&[("key", "")])).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        assert!(object_key(&fields(&[])).is_err());
    }

    #[test]
    fn request_lengths() {
        let mut h = HeaderMap::new();
        assert_eq!(
            request_length(&h).unwrap_err().code,
            S3ErrorCode::MissingContentLength
        );
        h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(10u64));
        assert_eq!(request_length(&h).unwrap(), 10);
        h.insert(
            http::header::CONTENT_LENGTH,
            HeaderValue::from(MAX_PUT_SIZE + form::NON_FILE_ALLOWANCE + 1),
        );
        assert_eq!(
            request_length(&h).unwrap_err().code,
            S3ErrorCode::EntityTooLarge
        );
    }
}
