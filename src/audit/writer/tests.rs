//! The writer over a real store and signing key: what verify sees after
//! rotation, restarts, a crash mid-write and a log cut back while stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::audit::RequestOrigin;
use crate::audit::event::{KMS_SOURCE, UserIdentity};
use crate::audit::verify::{Problem, VerifyOptions, verify_files};
use crate::kms::{KeyManager, RootKey};

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<Store>,
    kms: KeyManager,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
        let root = RootKey::from_text(&hex::encode([7u8; 32])).unwrap();
        let kms = KeyManager::new(store.clone(), root, "us-east-1", "000000000000").unwrap();
        Fixture { dir, store, kms }
    }

    fn log_dir(&self) -> PathBuf {
        self.dir.path().join("audit")
    }

    fn open(&self, config: &AuditConfig) -> AuditLog {
        let signer = AuditSigner::open(&self.kms, None).unwrap();
        AuditLog::open(
            config,
            self.log_dir(),
            self.store.clone(),
            signer,
            ("us-east-1", "0"),
        )
        .unwrap()
    }

    fn verify(&self, open_tail: bool) -> crate::audit::verify::VerifyReport {
        let signer = AuditSigner::open(&self.kms, None).unwrap();
        let public = signer.public_key_der().unwrap();
        let options = VerifyOptions {
            verifier: Some(crate::audit::signer::DigestVerifier::from_public_key(&public).unwrap()),
            signing_key_arn: Some(signer.key_arn().to_string()),
            signed_head: read_signed_head(
                &self.store,
                &AuditConfig::default().chain_head_setting(),
            )
            .unwrap(),
            open_tail,
        };
        verify_files(&files::log_files(&self.log_dir()).unwrap(), &options).unwrap()
    }

    fn files(&self) -> Vec<PathBuf> {
        files::log_files(&self.log_dir()).unwrap()
    }
}

fn event(n: usize) -> AuditEvent {
    AuditEvent::api_call(
        KMS_SOURCE,
        "Decrypt",
        "us-east-1",
        "0",
        UserIdentity::unauthenticated(None),
        &RequestOrigin {
            request_id: format!("req-{n}"),
            ..Default::default()
        },
    )
}

fn write(log: &AuditLog, count: usize) {
    for n in 0..count {
        log.record_blocking(event(n)).unwrap();
    }
}

fn small_files() -> AuditConfig {
    AuditConfig {
        max_file_bytes: 4 * 1024,
        ..AuditConfig::default()
    }
}

fn names(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| v["eventName"].as_str().unwrap_or("digest").to_string())
        .collect()
}

#[test]
fn rotation_and_restarts_keep_one_verifiable_chain() {
    let fixture = Fixture::new();
    let log = fixture.open(&small_files());
    write(&log, 30);
    log.close().unwrap();
    assert!(fixture.files().len() > 2, "{:?}", fixture.files());
    for file in fixture.files() {
        assert_eq!(
            names(&file).last().unwrap(),
            "digest",
            "{file:?} must end signed"
        );
    }
    let log = fixture.open(&small_files());
    write(&log, 3);
    log.close().unwrap();
    let report = fixture.verify(false);
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.findings.len(), 0);
    assert!(report.digests_verified >= 4);
}

#[test]
fn concurrent_records_are_batched_into_one_chain() {
    let fixture = Fixture::new();
    let log = Arc::new(fixture.open(&AuditConfig::default()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let log = log.clone();
                tokio::spawn(async move { log.record(event(n)).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    });
    log.close().unwrap();
    let report = fixture.verify(false);
    assert!(report.is_intact(), "{:?}", report.findings);
    assert_eq!(report.records, 201);
    assert!(
        log.record_blocking(event(0)).is_err(),
        "a closed log takes no more records"
    );
}

#[test]
fn a_crash_mid_write_is_cut_and_signed_at_the_next_start() {
    let fixture = Fixture::new();
    let log = fixture.open(&AuditConfig::default());
    write(&log, 5);
    // A crash: no closing digest (the writer stops without signing), and
    // half a record at the end.
    log.crash();
    let file = fixture.files().pop().unwrap();
    let mut content = std::fs::read(&file).unwrap();
    content.extend_from_slice(b"{\"eventName\":\"half");
    std::fs::write(&file, content).unwrap();

    let log = fixture.open(&AuditConfig::default());
    log.close().unwrap();
    let report = fixture.verify(false);
    assert!(report.is_intact(), "{:?}", report.findings);
    let all: Vec<String> = fixture.files().iter().flat_map(|f| names(f)).collect();
    assert!(all.contains(&"AuditLogRecovered".to_string()), "{all:?}");
    assert_eq!(
        names(&file).last().unwrap(),
        "digest",
        "the crashed file is signed at restart"
    );
}

#[test]
fn one_writer_per_directory() {
    let fixture = Fixture::new();
    let log = fixture.open(&AuditConfig::default());
    let signer = AuditSigner::open(&fixture.kms, None).unwrap();
    let second = AuditLog::open(
        &AuditConfig::default(),
        fixture.log_dir(),
        fixture.store.clone(),
        signer,
        ("us-east-1", "0"),
    );
    let Err(err) = second else {
        panic!("a second writer opened the same directory");
    };
    assert!(
        err.to_string().contains("in use by another s3seal process"),
        "{err}"
    );
    log.close().unwrap();
    drop(log);
    let again = fixture.open(&AuditConfig::default());
    again.close().unwrap();
}

/// `s3seal serve` opens the log inside the runtime's `block_on`: the
/// notices of a recovery must be recorded there too (this panicked once:
/// blocking inside the runtime).
#[test]
fn a_crashed_log_reopens_inside_the_async_runtime() {
    let fixture = Fixture::new();
    let log = fixture.open(&AuditConfig::default());
    write(&log, 3);
    log.crash();
    let file = fixture.files().pop().unwrap();
    let mut content = std::fs::read(&file).unwrap();
    content.extend_from_slice(b"{\"eventName\":\"half");
    std::fs::write(&file, content).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log = runtime.block_on(async { fixture.open(&AuditConfig::default()) });
    runtime.block_on(async {
        log.record(event(99)).await.unwrap();
    });
    log.close().unwrap();
    let all: Vec<String> = fixture.files().iter().flat_map(|f| names(f)).collect();
    assert!(all.contains(&"AuditLogRecovered".to_string()), "{all:?}");
    assert!(fixture.verify(false).is_intact());
}

#[test]
fn a_log_cut_back_while_stopped_is_noticed_at_start_and_by_verify() {
    let fixture = Fixture::new();
    let log = fixture.open(&AuditConfig::default());
    write(&log, 6);
    log.close().unwrap();
    let file = fixture.files().pop().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let kept: Vec<&str> = text.lines().take(3).collect();
    std::fs::write(&file, kept.join("\n") + "\n").unwrap();
    let report = fixture.verify(true);
    assert_eq!(
        report.findings[0].problem,
        Problem::TruncatedTail,
        "{:?}",
        report.findings
    );
    assert!(
        report.findings[0].detail.contains("4..7"),
        "{}",
        report.findings[0]
    );

    let log = fixture.open(&AuditConfig::default());
    log.close().unwrap();
    let all: Vec<String> = fixture.files().iter().flat_map(|f| names(f)).collect();
    assert!(
        all.contains(&"AuditLogTruncationDetected".to_string()),
        "{all:?}"
    );
    // The chain resumes after the signed head: the gap stays visible.
    let report = fixture.verify(false);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.problem == Problem::Deleted),
        "{:?}",
        report.findings
    );
}

#[test]
fn files_also_rotate_by_age() {
    let fixture = Fixture::new();
    let every_batch = AuditConfig {
        max_file_age_seconds: 0,
        ..AuditConfig::default()
    };
    let log = fixture.open(&every_batch);
    write(&log, 3);
    log.close().unwrap();
    // The first file holds one event and the digest that closed it, and so on.
    assert_eq!(fixture.files().len(), 3, "{:?}", fixture.files());
    for file in &fixture.files() {
        assert_eq!(names(file), ["Decrypt", "digest"], "{file:?}");
    }
    assert!(fixture.verify(false).is_intact());
}
