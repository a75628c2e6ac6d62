//! s3seal: a transparent-encryption reverse proxy for S3.
//!
//! Clients talk S3 to s3seal with s3seal's credentials; s3seal encrypts object
//! bodies with a fresh data key per object (AES-256-GCM, streaming), keeps the
//! wrapped key in the object's metadata, and forwards everything to any
//! S3-compatible store re-signed with its own upstream credentials.
//!
//! A request flows one way through these modules:
//!
//! | step | module |
//! |---|---|
//! | accept, terminate TLS, request id, graceful shutdown | [`server`] |
//! | limits against abuse: connections, header size, timeouts, request rates | [`limits`] |
//! | verify the SigV4 signature | [`auth`] |
//! | resolve the S3 operation, dispatch to its handler family | [`s3::route`], [`s3`] |
//! | verify body digests as it streams | [`integrity`] |
//! | seal / unseal the body | [`seal`] (keys from [`kms`], or bucket keys of an external KMS: [`kms::external`]) |
//! | re-sign and send upstream | [`upstream`] |
//! | map errors to S3 XML | [`error`] |
//!
//! State (KMS keys, aliases, settings, the object index, multipart uploads and
//! layouts) lives in [`store`]; configuration in [`config`]; counters for
//! Prometheus in [`metrics`]. Every key use and security decision is
//! recorded, durably and tamper-evidently, in [`audit`]. The operator's bucket tools (`s3seal migrate`,
//! `rewrap`, `verify`) are S3 clients of a running s3seal, in [`tools`]; the load
//! generator (`s3seal bench`) is in [`bench`].

pub mod audit;
pub mod auth;
pub mod bench;
pub mod body;
pub mod config;
pub mod error;
pub mod integrity;
pub mod kms;
pub mod limits;
pub mod metrics;
pub mod policy;
pub mod s3;
pub mod seal;
pub mod server;
pub mod state;
pub mod store;
pub mod tls;
pub mod tools;
pub mod upstream;
