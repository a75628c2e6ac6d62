//! `s3seal bench`: a load generator for any S3 endpoint and for the KMS API,
//! so users can measure what s3seal costs them next to the store alone.
//!
//! It signs with SigV4 under its own credentials (the tools' client,
//! [`crate::tools::client`]), drives one operation at a fixed concurrency,
//! checks every byte it reads back, and reports throughput, latency
//! percentiles and errors. `scripts/bench-compare` runs it side by side
//! against Garage alone, nginx in front of Garage, and s3seal.
//!
//! - [`plan`]: the operations and which object/part/range each work item is;
//! - [`content`]: deterministic object bytes, zero-copy bodies, the read check;
//! - [`driver`]: workers, stop conditions, the tally (HDR latency histogram);
//! - [`s3_ops`] / [`kms_ops`]: the requests;
//! - [`report`]: the result as text and JSON; [`cli`]: the command line;
//! - [`soak`]: `s3seal bench soak`, a mixed workload for a set time with
//!   every answer checked and the server's RSS and open fds watched.

pub mod cli;
pub mod content;
pub mod driver;
pub mod kms_ops;
pub mod plan;
pub mod report;
pub mod s3_ops;
pub mod soak;
