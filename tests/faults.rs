//! How s3seal fails: with real processes and a relay that breaks the link to
//! a real Garage on command. The upstream going away gives S3 errors and
//! s3seal recovers; an upstream that hangs is given up on, and a client that
//! is merely slow is not; a transfer cut on either side never reports success for
//! data that was not stored nor passes truncated data off as complete; a
//! client that disconnects leaves nothing behind; `kill -9` loses nothing
//! that was acknowledged; a full or read-only disk gives clear errors and no
//! corruption.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::fault_relay::FaultRelay;
use common::*;
use serde_json::Value;

/// s3seal in front of Garage through a [`FaultRelay`].
fn behind_relay() -> (S3seal, FaultRelay) {
    behind_relay_with(Vec::new())
}

/// [`behind_relay`], with `S3SEAL_*` settings.
fn behind_relay_with(env: Vec<(String, String)>) -> (S3seal, FaultRelay) {
    let relay = FaultRelay::start(SocketAddr::from(([127, 0, 0, 1], garage().s3_port)));
    let s3seal = S3seal::start_with(S3sealOptions {
        upstream_url: Some(relay.url()),
        env,
        ..Default::default()
    });
    (s3seal, relay)
}

/// The upstream idle timeout of [`behind_hanging_relay`].
const IDLE_TIMEOUT_SECONDS: f64 = 2.0;

/// s3seal giving up on a silent upstream after [`IDLE_TIMEOUT_SECONDS`], and
/// on a silent client only after 30 s.
fn behind_hanging_relay() -> (S3seal, FaultRelay) {
    behind_relay_with(vec![
        (
            "S3SEAL_UPSTREAM_IDLE_TIMEOUT_SECONDS".into(),
            IDLE_TIMEOUT_SECONDS.to_string(),
        ),
        (
            "S3SEAL_LIMITS_BODY_IDLE_TIMEOUT_SECONDS".into(),
            "30".into(),
        ),
    ])
}

fn scenario(s3seal: &S3seal, args: &[&str]) -> Value {
    serde_json::from_str(&ok(&s3seal.python("faults.py", args))).expect("the scenario prints JSON")
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}

#[test]
fn upstream_down_gives_503_and_s3seal_recovers() {
    let (s3seal, relay) = behind_relay();
    let bucket = make_bucket(&s3seal, "fault-down");
    let dir = tempfile::tempdir().unwrap();
    let before = temp_file(dir.path(), "before", &test_data(200_000, 1));
    ok(&s3seal.put_file(&bucket, "before", &before, &[]));

    relay.set_down(true);
    let during = temp_file(dir.path(), "during", &test_data(100_000, 2));
    let put = s3seal.put_file(&bucket, "during", &during, &[]);
    fails_with(&put, "ServiceUnavailable");
    let get = s3seal.get_file(&bucket, "before", &dir.path().join("got"));
    fails_with(&get, "ServiceUnavailable");
    fails_with(
        &s3seal.aws(&["s3api", "list-objects-v2", "--bucket", &bucket]),
        "ServiceUnavailable",
    );

    relay.set_down(false);
    ok(&s3seal.put_file(&bucket, "during", &during, &[]));
    ok(&s3seal.get_file(&bucket, "before", &dir.path().join("got")));
    assert_eq!(read(&dir.path().join("got")), read(&before));
    assert!(s3seal.log().contains("the upstream store is unavailable"));
}

#[test]
fn upstream_dying_mid_put_stores_nothing_new() {
    let (s3seal, relay) = behind_relay();
    let bucket = make_bucket(&s3seal, "fault-put");
    let dir = tempfile::tempdir().unwrap();
    let v1 = temp_file(dir.path(), "v1", &test_data(100_000, 3));
    ok(&s3seal.put_file(&bucket, "obj", &v1, &[]));

    relay.cut_after_sent(Some(1024 * 1024));
    let v2 = temp_file(dir.path(), "v2", &test_data(8 * 1024 * 1024, 4));
    let out = s3seal.put_file(&bucket, "obj", &v2, &[]);
    assert!(!out.status.success(), "a cut upload must not succeed");
    let out = s3seal.put_file(&bucket, "new", &v2, &[]);
    assert!(!out.status.success(), "a cut upload must not succeed");
    relay.cut_after_sent(None);

    ok(&s3seal.get_file(&bucket, "obj", &dir.path().join("got")));
    assert_eq!(
        read(&dir.path().join("got")),
        read(&v1),
        "the previous version is intact"
    );
    fails_with(&s3seal.head(&bucket, "new"), "404");
    fails_with(&upstream_head(&bucket, "new"), "404");
}

#[test]
fn upstream_dying_mid_get_is_never_a_complete_answer() {
    let (s3seal, relay) = behind_relay();
    let bucket = make_bucket(&s3seal, "fault-get");
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(8 * 1024 * 1024, 5);
    let f = temp_file(dir.path(), "f", &data);
    ok(&s3seal.put_file(&bucket, "obj", &f, &[]));

    relay.cut_all();
    relay.cut_after_received(Some(2 * 1024 * 1024));
    let cut = scenario(&s3seal, &["get", &bucket, "obj"]);
    assert!(cut.get("error").is_some(), "a cut GET must fail: {cut}");
    assert_ne!(
        cut["sha256"].as_str(),
        Some(sha256_hex(&data).as_str()),
        "{cut}"
    );
    // The CLI (which retries cut downloads) fails too, rather than writing a short file.
    let out = s3seal.get_file(&bucket, "obj", &dir.path().join("cli"));
    assert!(!out.status.success(), "a cut download must not succeed");

    relay.cut_after_received(None);
    let whole = scenario(&s3seal, &["get", &bucket, "obj"]);
    assert_eq!(
        whole["sha256"].as_str(),
        Some(sha256_hex(&data).as_str()),
        "{whole}"
    );
}

/// The time an answer took, from a scenario's `elapsed`.
fn elapsed(answer: &Value) -> f64 {
    answer["elapsed"]
        .as_f64()
        .expect("the scenario reports elapsed")
}

#[test]
fn an_upstream_that_stops_answering_is_given_up_on() {
    let (s3seal, relay) = behind_hanging_relay();
    let bucket = make_bucket(&s3seal, "fault-hang");
    let data = test_data(8 * 1024 * 1024, 6);
    let dir = tempfile::tempdir().unwrap();
    let f = temp_file(dir.path(), "f", &data);
    ok(&s3seal.put_file(&bucket, "obj", &f, &[]));
    relay.cut_all();

    // No answer at all: 503 once the idle timeout has passed.
    relay.stall_after_received(Some(0));
    let head = scenario(&s3seal, &["head", &bucket, "obj"]);
    assert!(head["error"].as_str().unwrap().contains("503"), "{head}");
    let waited = elapsed(&head);
    assert!(
        (IDLE_TIMEOUT_SECONDS..IDLE_TIMEOUT_SECONDS * 2.0 + 5.0).contains(&waited),
        "{head}"
    );
    relay.cut_all();
    relay.stall_after_received(None);

    // The store stops taking a PUT's body: 503 and nothing stored. (The
    // rest of the body fits the sockets' buffers, so the client has sent it
    // all and reads the answer.)
    relay.stall_after_sent(Some(1024 * 1024));
    let size = (2 * 1024 * 1024).to_string();
    let put = scenario(&s3seal, &["put", &bucket, "stalled", &size]);
    assert!(
        put["error"]
            .as_str()
            .unwrap()
            .contains("ServiceUnavailable"),
        "{put}"
    );
    relay.cut_all();
    relay.stall_after_sent(None);
    fails_with(&upstream_head(&bucket, "stalled"), "404");

    // Silent in the middle of a GET's body: the download fails, never short.
    relay.stall_after_received(Some(2 * 1024 * 1024));
    let get = scenario(&s3seal, &["get", &bucket, "obj"]);
    assert!(get.get("error").is_some(), "a stalled GET must fail: {get}");
    assert!(
        elapsed(&get) < 60.0,
        "s3seal, not the client, gave up: {get}"
    );
    relay.cut_all();
    relay.stall_after_received(None);

    // Nothing is left stuck: the same s3seal serves the object whole.
    let whole = scenario(&s3seal, &["get", &bucket, "obj"]);
    assert_eq!(
        whole["sha256"].as_str(),
        Some(sha256_hex(&data).as_str()),
        "{whole}"
    );
    assert!(
        s3seal.log().contains("did not answer for 2 s"),
        "the log names the timeout"
    );
}

#[test]
fn a_slow_client_is_not_mistaken_for_a_hanging_upstream() {
    let (s3seal, _relay) = behind_hanging_relay();
    let bucket = make_bucket(&s3seal, "fault-slow");
    // 4 pieces, each after a pause of twice the upstream idle timeout.
    let slow = scenario(&s3seal, &["slow-put", &bucket, "slow", "4", "4"]);
    assert_eq!(slow["status"], 200, "{slow}");
    let got = scenario(&s3seal, &["get", &bucket, "slow"]);
    assert_eq!(got["sha256"], slow["sha256"], "{got}");
}

/// Upstream multipart uploads in progress for `bucket`.
fn upstream_uploads(bucket: &str) -> Vec<Value> {
    let out = upstream_aws(&["s3api", "list-multipart-uploads", "--bucket", bucket]);
    let text = ok(&out);
    if text.trim().is_empty() {
        return Vec::new();
    }
    let listing: Value = serde_json::from_str(&text).unwrap();
    listing["Uploads"].as_array().cloned().unwrap_or_default()
}

#[test]
fn clients_disconnecting_mid_upload_leave_nothing_behind() {
    let s3seal = S3seal::start();
    let bucket = make_bucket(&s3seal, "fault-client");
    let dir = tempfile::tempdir().unwrap();
    let v1 = temp_file(dir.path(), "v1", &test_data(50_000, 6));
    ok(&s3seal.put_file(&bucket, "obj", &v1, &[]));

    let mib = 1024 * 1024;
    scenario(
        &s3seal,
        &[
            "disconnect-put",
            &bucket,
            "obj",
            &(4 * mib).to_string(),
            &mib.to_string(),
        ],
    );
    scenario(
        &s3seal,
        &[
            "disconnect-put",
            &bucket,
            "fresh",
            &(4 * mib).to_string(),
            &mib.to_string(),
        ],
    );
    // A browser POST past 5 MiB streams into an upstream multipart upload.
    scenario(
        &s3seal,
        &[
            "disconnect-post",
            &bucket,
            "posted",
            &(12 * mib).to_string(),
            &(7 * mib).to_string(),
        ],
    );
    std::thread::sleep(Duration::from_secs(2));

    ok(&s3seal.get_file(&bucket, "obj", &dir.path().join("got")));
    assert_eq!(
        read(&dir.path().join("got")),
        read(&v1),
        "the previous version is intact"
    );
    for key in ["fresh", "posted"] {
        fails_with(&s3seal.head(&bucket, key), "404");
        fails_with(&upstream_head(&bucket, key), "404");
    }
    assert_eq!(
        upstream_uploads(&bucket),
        Vec::<Value>::new(),
        "no upstream multipart upload is left"
    );
}

#[test]
fn kill_9_during_uploads_loses_nothing_acknowledged() {
    let mut s3seal = S3seal::start();
    let port = s3seal.port;
    let bucket = make_bucket(&s3seal, "fault-kill");
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("acknowledged.jsonl");
    let lines = |ledger: &Path| std::fs::read_to_string(ledger).map_or(0, |s| s.lines().count());
    for round in 0..3u64 {
        let mut load = Command::new("python3")
            .arg(repo_path("tests/python/faults.py"))
            .args(["put-load", ledger.to_str().unwrap(), &bucket])
            .envs(s3seal.python_env())
            .spawn()
            .unwrap();
        let target = lines(&ledger) + 5;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while lines(&ledger) < target && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100 * round));
        let state = s3seal.kill();
        let _ = load.kill();
        let _ = load.wait();
        s3seal = S3seal::start_with(S3sealOptions {
            dir: Some(state),
            port: Some(port),
            ..Default::default()
        });
        let verified = scenario(&s3seal, &["put-verify", ledger.to_str().unwrap(), &bucket]);
        assert!(
            verified["checked"].as_u64().unwrap() >= target as u64,
            "round {round}: {verified}"
        );
        assert_eq!(
            verified["wrong"],
            serde_json::json!([]),
            "round {round}: {verified}"
        );
    }
    // The audit log, cut three times, still verifies (against the store's
    // chain head, with s3seal stopped).
    let state = s3seal.stop();
    let out = Command::new(env!("CARGO_BIN_EXE_s3seal"))
        .args(["audit", "verify", "--use-store", "--config"])
        .arg(state.join("s3seal.toml"))
        .env_remove("S3SEAL_CONFIG")
        .output()
        .unwrap();
    ok(&out);
}

/// A small tmpfs for s3seal's directory, so the test can fill it or make it
/// read-only; unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let path = std::env::temp_dir().join(format!("s3seal-disk-{}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "this test mounts a tmpfs to fill it (it needs root or CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { path }
    }

    fn remount(&self, mode: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.path)
            .output()
            .unwrap();
        ok(&out);
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) {
        use std::io::Write;
        let mut filler = std::fs::File::create(self.path.join("filler")).unwrap();
        let block = vec![0x5a; 64 * 1024];
        while filler.write_all(&block).is_ok() {}
        let _ = filler.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.path.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
    }
}

fn create_key(s3seal: &S3seal) -> std::process::Output {
    s3seal.aws(&["kms", "create-key", "--description", "on a small disk"])
}

fn encrypt_decrypt(s3seal: &S3seal, key_id: &str) {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let plaintext = temp_file(dir.path(), "plaintext", b"still decryptable");
    let out = json(&s3seal.aws(&[
        "kms",
        "encrypt",
        "--key-id",
        key_id,
        "--plaintext",
        &format!("fileb://{}", plaintext.display()),
    ]));
    let blob = base64::engine::general_purpose::STANDARD
        .decode(out["CiphertextBlob"].as_str().unwrap())
        .unwrap();
    let blob_file = temp_file(dir.path(), "blob", &blob);
    let back = json(&s3seal.aws(&[
        "kms",
        "decrypt",
        "--ciphertext-blob",
        &format!("fileb://{}", blob_file.display()),
    ]));
    let expected = base64::engine::general_purpose::STANDARD.encode(b"still decryptable");
    assert_eq!(back["Plaintext"], expected.as_str());
}

#[test]
fn full_or_read_only_disk_gives_clear_errors_and_no_corruption() {
    let disk = SmallDisk::mount("64m");
    let dir = disk.path.join("s3seal");
    let s3seal = S3seal::start_with(S3sealOptions {
        dir: Some(dir.clone()),
        ..Default::default()
    });
    let port = s3seal.port;
    let bucket = make_bucket(&s3seal, "fault-disk");
    let files = tempfile::tempdir().unwrap();
    let before = temp_file(files.path(), "before", &test_data(300_000, 7));
    ok(&s3seal.put_file(&bucket, "before", &before, &[]));
    let key_before = json(&create_key(&s3seal))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();

    // Full: changes are refused with a clear error; reads still work.
    disk.fill();
    // (The client is told what failed; the log says why.)
    let refused = create_key(&s3seal);
    fails_with(&refused, "KMSInternalException");
    let during = temp_file(files.path(), "during", &test_data(10_000, 8));
    let put = s3seal.put_file(&bucket, "during", &during, &[]);
    let message = fails_with(&put, "InternalError");
    assert!(message.contains("audit log"), "{message}");
    fails_with(&s3seal.head(&bucket, "during"), "404");
    assert!(s3seal.log().contains("No space left on device"));
    disk.free();
    ok(&create_key(&s3seal));
    ok(&s3seal.put_file(&bucket, "during", &during, &[]));

    // Read-only (remounted under a stopped s3seal: a mount with files open
    // for writing cannot be): s3seal refuses to start, saying why.
    let state = s3seal.stop();
    disk.remount("ro");
    let refused = Command::new(env!("CARGO_BIN_EXE_s3seal"))
        .args(["serve", "--config"])
        .arg(state.join("s3seal.toml"))
        .env_remove("S3SEAL_CONFIG")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    disk.remount("rw");
    let s3seal = S3seal::start_with(S3sealOptions {
        dir: Some(state),
        port: Some(port),
        ..Default::default()
    });
    ok(&s3seal.put_file(&bucket, "ro", &during, &[]));

    // Nothing was corrupted: after a restart every key and object is usable.
    let state = s3seal.stop();
    let s3seal = S3seal::start_with(S3sealOptions {
        dir: Some(state),
        port: Some(port),
        ..Default::default()
    });
    encrypt_decrypt(&s3seal, &key_before);
    for (key, file) in [("before", &before), ("during", &during), ("ro", &during)] {
        let got = files.path().join(format!("got-{key}"));
        ok(&s3seal.get_file(&bucket, key, &got));
        assert_eq!(read(&got), read(file), "{key}");
    }
    drop(s3seal);
}
