//! The AWS policy language: parsing and evaluation, shared by KMS key
//! policies and S3 bucket policies.
//!
//! - [`document`]: policy JSON → [`PolicyDocument`], rejecting what AWS rejects with a reason;
//! - [`condition`]: condition operators and their (AWS-documented) semantics;
//! - [`eval`]: one policy against one request's [`RequestFacts`] → [`Decision`];
//! - [`wildcard`]: `*`/`?` matching;
//! - [`parsed`]: stored policies parsed once, for the per-request checks.

pub mod condition;
pub mod document;
pub mod eval;
pub mod parsed;
pub mod wildcard;

pub use document::{PolicyDocument, PolicyError};
pub use eval::{Decision, RequestFacts};
