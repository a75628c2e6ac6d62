//! `s3seal audit verify` and `s3seal audit query`: the auditor's commands.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::chain::ChainHead;
use super::query::{EventFilter, parse_time, query};
use super::signer::DigestVerifier;
use super::verify::{VerifyOptions, verify_files};
use super::{files, writer};
use crate::config::Config;
use crate::kms::manager::AUDIT_KEY_ALIAS;
use crate::state::AppState;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check log files for edited, deleted, inserted, reordered or cut-off
    /// records and bad signatures; names the first bad record. Exit status 1
    /// if anything is wrong.
    Verify(VerifyArgs),
    /// Print the events (JSON lines) matching every filter given.
    Query(QueryArgs),
}

#[derive(Args)]
pub struct VerifyArgs {
    /// Log files or directories (default: audit.dir of the configuration).
    files: Vec<PathBuf>,
    /// The audit key's public key (DER, PEM or base64, e.g. from `aws kms
    /// get-public-key --key-id alias/s3seal-audit`).
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// Read the public key and the last signed chain head from s3seal's store
    /// (s3seal must be stopped: the store is opened directly).
    #[arg(long)]
    use_store: bool,
    /// Accept unsigned records at the end (a log s3seal is still writing).
    #[arg(long)]
    open_tail: bool,
}

#[derive(Args)]
pub struct QueryArgs {
    /// Log files or directories (default: audit.dir of the configuration).
    files: Vec<PathBuf>,
    /// Key id, key ARN or alias.
    #[arg(long)]
    key: Option<String>,
    /// Principal ARN, user name or access key id.
    #[arg(long)]
    principal: Option<String>,
    #[arg(long)]
    bucket: Option<String>,
    /// Event name (repeatable), e.g. Decrypt, GenerateDataKey, PutBucketPolicy.
    #[arg(long = "event")]
    events: Vec<String>,
    /// RFC 3339 time, inclusive.
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    /// Also print the signed digest records.
    #[arg(long)]
    include_digests: bool,
}

pub fn run(config: Option<&std::path::Path>, command: AuditCommand) -> Result<bool, String> {
    match command {
        AuditCommand::Verify(args) => verify(config, args),
        AuditCommand::Query(args) => run_query(config, args).map(|()| true),
    }
}

fn log_paths(
    config: Option<&std::path::Path>,
    given: Vec<PathBuf>,
) -> Result<Vec<PathBuf>, String> {
    let paths = match given.is_empty() {
        true => vec![Config::load(config).map_err(|e| e.to_string())?.audit_dir()],
        false => given,
    };
    files::expand(&paths).map_err(|e| e.to_string())
}

/// Returns whether the log is intact.
fn verify(config_path: Option<&std::path::Path>, args: VerifyArgs) -> Result<bool, String> {
    let paths = log_paths(config_path, args.files)?;
    if paths.is_empty() {
        return Err("no audit log files found".into());
    }
    let mut options = VerifyOptions {
        open_tail: args.open_tail,
        ..Default::default()
    };
    if let Some(path) = &args.public_key {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        options.verifier =
            Some(DigestVerifier::from_public_key(&bytes).map_err(|e| e.to_string())?);
    }
    if args.use_store {
        let config = Config::load(config_path).map_err(|e| e.to_string())?;
        let (verifier, key_arn, head) = from_store(&config)?;
        options.verifier.get_or_insert(verifier);
        options.signing_key_arn = Some(key_arn);
        options.signed_head = head;
    }
    if options.verifier.is_none() {
        return Err(
            "give --public-key FILE or --use-store: digest signatures must be checked".into(),
        );
    }
    let report = verify_files(&paths, &options).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    for finding in &report.findings {
        let _ = writeln!(out, "FAIL {finding}");
    }
    for note in &report.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(
        out,
        "{}: {} files, {} records, {} signed digests verified, {} problems",
        if report.is_intact() { "OK" } else { "TAMPERED" },
        report.files,
        report.records,
        report.digests_verified,
        report.findings.len()
    );
    Ok(report.is_intact())
}

/// The audit key's public key and ARN, and the last signed chain head.
fn from_store(config: &Config) -> Result<(DigestVerifier, String, Option<ChainHead>), String> {
    let kms = AppState::open_key_manager(config).map_err(|e| {
        format!(
            "{e} (is s3seal running? then pass --public-key and --open-tail instead of --use-store)"
        )
    })?;
    let key_ref = config
        .audit
        .signing_key_id
        .as_deref()
        .unwrap_or(AUDIT_KEY_ALIAS);
    let (record, private) = kms
        .key_for_use(&kms.operator(), "kms:GetPublicKey", key_ref, None)
        .map_err(|e| format!("the audit signing key {key_ref}: {e}"))?;
    let spec = crate::kms::asymmetric::KeySpec::parse(&record.key_spec)
        .ok_or_else(|| format!("{key_ref} is not an asymmetric key"))?;
    let public =
        crate::kms::asymmetric::public_key_der(spec, &private).map_err(|e| e.to_string())?;
    let verifier = DigestVerifier::from_public_key(&public).map_err(|e| e.to_string())?;
    let head = writer::read_signed_head(kms.store(), &config.audit.chain_head_setting())
        .map_err(|e| e.to_string())?;
    Ok((verifier, kms.key_arn(&record.key_id), head))
}

fn run_query(config: Option<&std::path::Path>, args: QueryArgs) -> Result<(), String> {
    let paths = log_paths(config, args.files)?;
    let filter = EventFilter {
        key: args.key,
        principal: args.principal,
        bucket: args.bucket,
        event_names: args.events,
        since: args.since.as_deref().map(parse_time).transpose()?,
        until: args.until.as_deref().map(parse_time).transpose()?,
        include_digests: args.include_digests,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let summary = query(&paths, &filter, |line| {
        let _ = out.write_all(line);
        let _ = out.write_all(b"\n");
    })
    .map_err(|e| e.to_string())?;
    let _ = out.flush();
    eprintln!(
        "{} of {} records matched{}",
        summary.matched,
        summary.scanned,
        match summary.unreadable {
            0 => String::new(),
            n => format!(" ({n} unreadable lines skipped; run `s3seal audit verify`)"),
        }
    );
    Ok(())
}
