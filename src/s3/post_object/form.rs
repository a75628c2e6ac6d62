//! Reading a POST's `multipart/form-data` body as a stream.
//!
//! The fields before `file` are small and read whole (at most
//! [`FIELDS_LIMIT`] bytes of values, as on S3); `file` is handed on as a
//! streaming body ([`FileBody`]) without being buffered; fields after it are
//! read and ignored, as S3 ignores them ([`FormRest::drain`]).
//!
//! The parser is `multer`, which pulls from its input on every poll until
//! the input is pending, into one buffer. [`Feed`] keeps that buffer bounded
//! whatever the client sends: it hands the request on one piece per poll
//! (small pieces outside the file, where multer polls once or twice per
//! field, [`FILE_PIECE`] bytes inside it, where multer hands on all it holds
//! at each poll), and stops after [`NON_FILE_FEED_LIMIT`] bytes outside the
//! file (a part header with no end would otherwise grow the buffer until the
//! request ends).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Body, Frame};

use crate::body::{BoxError, FailureSlot};

/// S3's limit on the values of the fields before the file.
pub const FIELDS_LIMIT: usize = 20 * 1024;
/// How many bytes of a request s3seal accepts besides the file's content
/// (field values, part headers, boundaries, fields after the file). S3 allows
/// 20 KB of "form data and boundaries"; this is that with room for headers.
/// The upload planner relies on it to bound the file's length from below.
pub const NON_FILE_ALLOWANCE: u64 = 64 * 1024;
/// The largest piece of the request handed to the parser at once outside the
/// file, and inside it.
const FIELD_PIECE: usize = 1024;
const FILE_PIECE: usize = 64 * 1024;
/// Bytes the parser may read outside the file. Each poll outside the file
/// feeds a piece whether the parser needs it or not, so this is the
/// allowance with room for a hundred or so fields' worth of polls.
const NON_FILE_FEED_LIMIT: u64 = 4 * NON_FILE_ALLOWANCE;

/// Where the parser is in the form (shared between [`Feed`] and the readers).
const BEFORE_FILE: u8 = 0;
const IN_FILE: u8 = 1;
const AFTER_FILE: u8 = 2;

/// What is wrong with a form; `crate::error` maps each to S3's code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The request is not `multipart/form-data` (400 RequestIsNotMultiPartContent).
    #[error("Bucket POST must be of the enclosure-type multipart/form-data")]
    NotMultipart,
    /// Not well-formed multipart/form-data (400 MalformedPOSTRequest).
    #[error("The body of your POST request is not well-formed multipart/form-data: {0}")]
    Malformed(String),
    /// Too much form data before the file (400 MaxPostPreDataLengthExceeded).
    #[error(
        "Your POST request fields preceding the upload file were too large (at most {FIELDS_LIMIT} bytes)."
    )]
    FieldsTooLarge,
    /// Too much form data besides the file (400 MalformedPOSTRequest).
    #[error(
        "The form data and boundaries of your POST request, excluding the file, exceed {NON_FILE_ALLOWANCE} bytes"
    )]
    TooMuchFormData,
    /// No `file` field (400 IncorrectNumberOfFilesInPostRequest).
    #[error("POST requires exactly one file upload per request.")]
    NoFile,
    /// The request body could not be read (400 IncompleteBody).
    #[error("reading the request body failed: {0}")]
    BodyRead(String),
}

impl FormError {
    fn from_multer(err: multer::Error) -> FormError {
        match err {
            multer::Error::StreamReadFailed(inner) => match inner.downcast_ref::<FormError>() {
                Some(form_error) => form_error.clone(),
                None => FormError::BodyRead(inner.to_string()),
            },
            other => FormError::Malformed(other.to_string()),
        }
    }
}

/// The form's boundary, from the request's `Content-Type`.
pub fn boundary(content_type: Option<&http::HeaderValue>) -> Result<String, FormError> {
    let content_type = content_type
        .and_then(|v| v.to_str().ok())
        .ok_or(FormError::NotMultipart)?;
    multer::parse_boundary(content_type).map_err(|err| match err {
        multer::Error::NoBoundary => {
            FormError::Malformed("the Content-Type has no boundary".into())
        }
        _ => FormError::NotMultipart,
    })
}

/// The fields before the file: lower-case name → value (a repeated field's
/// values joined with commas, as S3 matches them against the policy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormFields {
    values: BTreeMap<String, String>,
}

impl FormFields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    pub(super) fn push(&mut self, name: String, value: String) {
        self.values
            .entry(name)
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&value);
            })
            .or_insert(value);
    }

    /// Replaces `${filename}` in every value by the uploaded file's name
    /// (without any directory part, as S3 does; empty if there is none).
    pub fn expand_filename(&mut self, filename: Option<&str>) {
        let name = filename
            .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f))
            .unwrap_or("");
        for value in self.values.values_mut() {
            if value.contains("${filename}") {
                *value = value.replace("${filename}", name);
            }
        }
    }
}

/// A form read up to the start of its file.
pub struct FormHead {
    pub fields: FormFields,
    /// The file's name as the client gave it (`filename=` of the part), if any.
    pub filename: Option<String>,
    pub file: FileBody,
    pub rest: FormRest,
}

/// Reads the fields that precede `file`, and returns at the start of the file.
/// Body errors are also recorded in `failure`, with their S3 meaning, for
/// the upload that streams the file.
pub async fn read_head<S>(
    request: S,
    boundary: String,
    failure: FailureSlot,
) -> Result<FormHead, FormError>
where
    S: Stream<Item = Result<Bytes, BoxError>> + Send + Unpin + 'static,
{
    let phase = Arc::new(AtomicU8::new(BEFORE_FILE));
    let mut multipart = multer::Multipart::new(Feed::new(request, phase.clone()), boundary);
    let mut fields = FormFields::default();
    let mut budget = FIELDS_LIMIT;
    loop {
        let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(FormError::from_multer)?
        else {
            return Err(FormError::NoFile);
        };
        let name = field
            .name()
            .ok_or_else(|| FormError::Malformed("a form field has no name".into()))?
            .to_ascii_lowercase();
        if name == "file" {
            phase.store(IN_FILE, Ordering::Relaxed);
            let filename = field.file_name().map(str::to_string);
            return Ok(FormHead {
                fields,
                filename,
                file: FileBody {
                    field: Some(field),
                    phase: phase.clone(),
                    failure,
                },
                rest: FormRest { multipart },
            });
        }
        let value = read_value(&mut field, &name, &mut budget).await?;
        fields.push(name, value);
    }
}

/// A field's whole value, counted against what the fields may take together.
async fn read_value(
    field: &mut multer::Field<'static>,
    name: &str,
    budget: &mut usize,
) -> Result<String, FormError> {
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(FormError::from_multer)? {
        *budget = budget
            .checked_sub(chunk.len())
            .ok_or(FormError::FieldsTooLarge)?;
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value)
        .map_err(|_| FormError::Malformed(format!("the value of field '{name}' is not UTF-8")))
}

/// The content of the `file` field, as a streaming body.
pub struct FileBody {
    /// `None` once the file has ended (which releases the parser for [`FormRest`]).
    field: Option<multer::Field<'static>>,
    phase: Arc<AtomicU8>,
    failure: FailureSlot,
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(field) = this.field.as_mut() else {
            return Poll::Ready(None);
        };
        match ready!(Pin::new(field).poll_next(cx)) {
            Some(Ok(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Some(Err(err)) => {
                // A failed field would fail again on every poll: end here.
                this.field = None;
                let err = FormError::from_multer(err);
                let message = err.to_string();
                this.failure.record(err.into());
                Poll::Ready(Some(Err(message.into())))
            }
            None => {
                this.field = None;
                this.phase.store(AFTER_FILE, Ordering::Relaxed);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.field.is_none()
    }
}

/// The form after the file.
pub struct FormRest {
    multipart: multer::Multipart<'static>,
}

impl FormRest {
    /// Reads the fields after the file and ignores them, so that the client
    /// sees its whole request read (and its connection stays usable). Call it
    /// once the [`FileBody`] has ended or been dropped. Stops quietly at the
    /// first problem: the upload is already decided.
    pub async fn drain(mut self) {
        while let Ok(Some(mut field)) = self.multipart.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    }
}

/// The request body as the parser sees it: one piece per poll, and no more
/// than [`NON_FILE_FEED_LIMIT`] bytes outside the file.
struct Feed<S> {
    inner: S,
    /// The rest of the request's last frame, not yet handed on.
    held: Bytes,
    /// A piece was just handed on: the next poll yields to the executor.
    just_fed: bool,
    phase: Arc<AtomicU8>,
    outside_file: u64,
}

impl<S> Feed<S> {
    fn new(inner: S, phase: Arc<AtomicU8>) -> Self {
        Feed {
            inner,
            held: Bytes::new(),
            just_fed: false,
            phase,
            outside_file: 0,
        }
    }
}

impl<S> Stream for Feed<S>
where
    S: Stream<Item = Result<Bytes, BoxError>> + Unpin,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.just_fed {
            // multer reads until its stream is pending: say so after every
            // piece (and ask to be polled again), so it holds one at a time.
            this.just_fed = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        while this.held.is_empty() {
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(frame)) => this.held = frame,
                other => return Poll::Ready(other),
            }
        }
        let phase = this.phase.load(Ordering::Relaxed);
        let piece_size = if phase == IN_FILE {
            FILE_PIECE
        } else {
            FIELD_PIECE
        };
        let piece = this.held.split_to(this.held.len().min(piece_size));
        if phase != IN_FILE {
            this.outside_file += piece.len() as u64;
            if this.outside_file > NON_FILE_FEED_LIMIT {
                let err = if phase == BEFORE_FILE {
                    FormError::FieldsTooLarge
                } else {
                    FormError::TooMuchFormData
                };
                return Poll::Ready(Some(Err(Box::new(err))));
            }
        }
        this.just_fed = true;
        Poll::Ready(Some(Ok(piece)))
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use http_body_util::BodyExt;

    use super::*;

    const BOUNDARY: &str = "XyZ";

    /// A form body sent in `chunk`-byte frames.
    fn request(
        body: Vec<u8>,
        chunk: usize,
    ) -> impl Stream<Item = Result<Bytes, BoxError>> + Send + Unpin + 'static {
        let frames: Vec<Result<Bytes, BoxError>> = body
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(frames)
    }

    fn form(parts: &[(&str, Option<&str>, &[u8])], epilogue: &str) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, filename, value) in parts {
            body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match filename {
                Some(f) => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(value);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--{epilogue}").as_bytes());
        body
    }

    async fn read(body: Vec<u8>, chunk: usize) -> Result<(FormHead, Vec<u8>), FormError> {
        let mut head = read_head(
            request(body, chunk),
            BOUNDARY.into(),
            FailureSlot::default(),
        )
        .await?;
        let mut file = Vec::new();
        while let Some(frame) = head.file.frame().await {
            let frame = frame.map_err(|e| FormError::BodyRead(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                // At most a piece, plus what the parser read ahead before the file.
                assert!(
                    data.len() as u64 <= FILE_PIECE as u64 + NON_FILE_FEED_LIMIT,
                    "the parser held {} bytes",
                    data.len()
                );
                file.extend_from_slice(&data);
            }
        }
        Ok((head, file))
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn fields_then_a_streamed_file_then_ignored_fields() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let body = form(
            &[
                ("key", None, b"user/${filename}"),
                ("X-Amz-Meta-Tag", None, b"a"),
                ("x-amz-meta-tag", None, b"b"),
                ("Policy", None, b"cG9saWN5"),
                ("file", Some("C:\\Users\\eric\\photo.jpg"), &data),
                ("submit", None, b"Upload"),
            ],
            "\r\n",
        );
        for chunk in [1, 7, 4096, 1 << 20] {
            let (mut head, file) = run(read(body.clone(), chunk)).unwrap();
            assert_eq!(file, data, "chunk {chunk}");
            assert_eq!(head.fields.get("x-amz-meta-tag"), Some("a,b"));
            assert_eq!(head.fields.get("policy"), Some("cG9saWN5"));
            assert_eq!(head.fields.get("submit"), None);
            assert_eq!(head.filename.as_deref(), Some("C:\\Users\\eric\\photo.jpg"));
            head.fields.expand_filename(head.filename.as_deref());
            assert_eq!(head.fields.get("key"), Some("user/photo.jpg"));
            run(head.rest.drain());
        }
    }

    #[test]
    fn a_file_without_a_name_expands_to_nothing() {
        let mut fields = FormFields::default();
        fields.push("key".into(), "a/${filename}".into());
        fields.expand_filename(None);
        assert_eq!(fields.get("key"), Some("a/"));
        fields.push("k2".into(), "${filename}".into());
        fields.expand_filename(Some("dir/x.txt"));
        assert_eq!(fields.get("k2"), Some("x.txt"));
    }

    #[test]
    fn malformed_forms_are_refused_with_their_reason() {
        let no_file = form(&[("key", None, b"k")], "\r\n");
        assert_eq!(run(read(no_file, 5)).err(), Some(FormError::NoFile));

        let big = vec![b'a'; FIELDS_LIMIT + 1];
        let too_large = form(&[("key", None, &big), ("file", None, b"x")], "");
        assert_eq!(
            run(read(too_large, 1000)).err(),
            Some(FormError::FieldsTooLarge)
        );

        // A part header that never ends stops at the feed limit, not at the end of the request.
        let mut endless =
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"key\"").into_bytes();
        endless.extend(std::iter::repeat_n(b'x', 10 << 20));
        assert_eq!(
            run(read(endless, 1 << 16)).err(),
            Some(FormError::FieldsTooLarge)
        );

        let truncated = form(&[("key", None, b"k"), ("file", None, b"abc")], "")[..60].to_vec();
        assert!(matches!(
            run(read(truncated, 7)).err(),
            Some(FormError::Malformed(_))
        ));

        let garbage = b"not a form at all".to_vec();
        assert!(matches!(
            run(read(garbage, 4)).err(),
            Some(FormError::Malformed(_))
        ));

        let unnamed =
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nv\r\n--{BOUNDARY}--")
                .into_bytes();
        assert!(matches!(
            run(read(unnamed, 4)).err(),
            Some(FormError::Malformed(_))
        ));
    }

    #[test]
    fn the_file_body_reports_a_truncated_request() {
        let body = form(&[("key", None, b"k"), ("file", None, &[7u8; 5000])], "");
        let cut = body[..body.len() - 20].to_vec();
        let failure = FailureSlot::default();
        let outcome = run(async {
            let mut head = read_head(request(cut, 100), BOUNDARY.into(), failure.clone()).await?;
            let mut frames = Vec::new();
            while let Some(frame) = head.file.frame().await {
                frames.push(frame.is_ok());
            }
            Ok::<_, FormError>(frames)
        })
        .unwrap();
        assert_eq!(outcome.last(), Some(&false));
        assert_eq!(
            failure.take().map(|e| e.code),
            Some(crate::error::S3ErrorCode::MalformedPOSTRequest)
        );
    }

    #[test]
    fn content_types() {
        let v = |s: &'static str| http::HeaderValue::from_static(s);
        assert_eq!(
            boundary(Some(&v("multipart/form-data; boundary=abc"))),
            Ok("abc".into())
        );
        assert_eq!(
            boundary(Some(&v("application/json"))),
            Err(FormError::NotMultipart)
        );
        assert_eq!(boundary(None), Err(FormError::NotMultipart));
        assert!(matches!(
            boundary(Some(&v("multipart/form-data"))),
            Err(FormError::Malformed(_))
        ));
    }

    #[test]
    fn the_feed_hands_on_pieces() {
        let phase = Arc::new(AtomicU8::new(IN_FILE));
        let feed = Feed::new(request(vec![1u8; 200_000], 200_000), phase);
        let pieces: Vec<usize> = run(feed.map(|p| p.unwrap().len()).collect());
        assert_eq!(
            pieces,
            vec![FILE_PIECE, FILE_PIECE, FILE_PIECE, 200_000 - 3 * FILE_PIECE]
        );
    }
}
