//! Operator tools that work on a bucket through a running s3seal: `migrate`
//! (seal plaintext objects in place), `rewrap` (re-wrap data keys under a
//! key's current version or another key) and `verify` (read everything back).
//!
//! They are S3 clients of s3seal with s3seal client credentials, never of the
//! upstream, so every key use is authenticated, authorised and audited by the
//! server, and they run while s3seal serves traffic. This module owns:
//!
//! - [`target`]: the `s3://bucket/prefix` argument;
//! - [`client`]: [`client::S3Client`], a thin S3 client over [`crate::upstream::UpstreamClient`];
//! - [`scan`]: listing page by page into a bounded-concurrency work queue;
//! - [`checkpoint`]: the resume point, advanced only past finished keys;
//! - [`progress`]: a progress bar on a terminal, periodic lines elsewhere;
//! - [`report`]: the outcome of each object and the final report;
//! - [`run`]: one tool run end to end, and [`cli`] its command line;
//! - [`migrate`] (with [`multipart_copy`]), [`rewrap`], [`verify`]: the tools.

pub mod checkpoint;
pub mod cli;
pub mod client;
pub mod migrate;
pub mod multipart_copy;
pub mod progress;
pub mod report;
pub mod rewrap;
pub mod run;
pub mod scan;
pub mod target;
pub mod verify;

use crate::upstream::UpstreamError;

/// What can go wrong in a tool, for one object or for the whole run.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
    #[error("{operation} answered {status}{}", code_and_message(.code, .message))]
    Status {
        operation: &'static str,
        status: u16,
        code: Option<String>,
        message: Option<String>,
    },
    /// The object is not the version that was read (`If-Match` failed).
    #[error("the object changed")]
    Changed,
    #[error("{0}")]
    Body(String),
    #[error("malformed {what} from s3seal: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("the test hook failed: {0}")]
    Hook(String),
}

fn code_and_message(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(" {code}: {message}"),
        (Some(code), None) => format!(" {code}"),
        _ => String::new(),
    }
}

/// How the tools reach s3seal.
#[derive(Debug, Clone)]
pub struct Connection {
    pub endpoint_url: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
}

impl Connection {
    /// The settings of a SigV4 client for this endpoint (path-style).
    pub fn client_config(&self) -> crate::config::UpstreamConfig {
        crate::config::UpstreamConfig {
            url: self.endpoint_url.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: crate::auth::Secret::new(self.secret_access_key.clone()),
            path_style: true,
            connect_timeout_seconds: 10,
            idle_timeout_seconds: 120,
            ca_bundle: None,
        }
    }
}
