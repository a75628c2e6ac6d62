//! Multi-Region keys between two s3seal deployments, each in its own Region
//! with its own store, root key and Garage, as a disaster-recovery pair is
//! deployed: the real aws CLI creates, replicates, uses, rotates and fails
//! over a key; a sealed object copied raw from one Garage to the other reads
//! back through the other deployment; strangers and non-primaries cannot
//! use the replication operations; a replica that was down catches up.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use s3seal::auth::Secret;
use s3seal::config::PeerRegion;
use s3seal::kms::replication::ReplicationError;
use s3seal::kms::replication::peer::PeerClient;
use serde_json::{Value, json};

const R1: &str = "us-east-1";
const R2: &str = "eu-west-1";
/// The credential each deployment calls the other with (a principal of the
/// other's), by the calling Region.
const PEER_KEYS: [(&str, &str, &str); 2] = [
    (
        R1,
        "AKIAPEERUSEAST100001",
        "secret-of-us-east-1-at-eu-west-1",
    ),
    (
        R2,
        "AKIAPEEREUWEST100001",
        "secret-of-eu-west-1-at-us-east-1",
    ),
];
/// An ordinary principal of both deployments, not a peer.
const MALLORY_KEY: &str = "AKIAMALLORY000000001";
const MALLORY_SECRET: &str = "mallory-secret-000000000000000000000000";

fn peer_key(calling_region: &str) -> (&'static str, &'static str) {
    let (_, key, secret) = PEER_KEYS
        .iter()
        .find(|(region, _, _)| *region == calling_region)
        .expect("a peer credential per Region");
    (key, secret)
}

/// One deployment of the pair: where it lives and what it fronts.
struct Deployment {
    region: &'static str,
    peer_region: &'static str,
    port: u16,
    peer_port: u16,
    garage: &'static Garage,
    dir: PathBuf,
}

impl Deployment {
    /// A fresh directory with a root key of its own (`root_byte` × 32).
    fn new(
        region: &'static str,
        peer_region: &'static str,
        ports: (u16, u16),
        garage: &'static Garage,
        root_byte: u8,
    ) -> Self {
        let dir = scratch_dir(&format!("mrk-{region}-{}", ports.0));
        std::fs::write(dir.join("root.key"), hex_of(&[root_byte; 32])).unwrap();
        Deployment {
            region,
            peer_region,
            port: ports.0,
            peer_port: ports.1,
            garage,
            dir,
        }
    }

    /// Starts (or restarts, on the same store and port) its s3seal.
    fn start(&self) -> S3seal {
        let (in_key, in_secret) = peer_key(self.peer_region);
        let (out_key, out_secret) = peer_key(self.region);
        let peer = self.peer_region;
        S3seal::start_with(S3sealOptions {
            extra_config: format!(
                r#"
[[auth.credentials]]
access_key_id = "{in_key}"
secret_access_key = "{in_secret}"
principal = "s3seal-{peer}"
[[auth.credentials]]
access_key_id = "{MALLORY_KEY}"
secret_access_key = "{MALLORY_SECRET}"
principal = "mallory"
[[kms.peer_regions]]
region = "{peer}"
endpoint = "http://127.0.0.1:{peer_port}"
access_key_id = "{out_key}"
secret_access_key = "{out_secret}"
principal = "s3seal-{peer}"
"#,
                peer_port = self.peer_port,
            ),
            env: vec![("S3SEAL_KMS_MAINTENANCE_INTERVAL_SECONDS".into(), "1".into())],
            dir: Some(self.dir.clone()),
            upstream: Some(self.garage),
            region: Some(self.region.to_string()),
            port: Some(self.port),
            ..Default::default()
        })
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Two deployments, R1 in front of `garage()` and R2 in front of a Garage
/// of its own, configured as each other's peers.
fn pair() -> (Deployment, Deployment) {
    let ports = (free_port(), free_port());
    let r1 = Deployment::new(R1, R2, ports, garage(), 0x11);
    let r2 = Deployment::new(R2, R1, (ports.1, ports.0), independent_garage(), 0x22);
    (r1, r2)
}

fn kms(s3seal: &S3seal, args: &[&str]) -> Value {
    let mut full = vec!["kms"];
    full.extend_from_slice(args);
    json(&s3seal.aws(&full))
}

/// A `kms` command that prints nothing on success.
fn kms_quiet(s3seal: &S3seal, args: &[&str]) {
    let mut full = vec!["kms"];
    full.extend_from_slice(args);
    ok(&s3seal.aws(&full));
}

fn kms_fails(s3seal: &S3seal, args: &[&str], error: &str) -> String {
    let mut full = vec!["kms"];
    full.extend_from_slice(args);
    fails_with(&s3seal.aws(&full), error)
}

fn describe(s3seal: &S3seal, key_id: &str) -> Value {
    kms(s3seal, &["describe-key", "--key-id", key_id])["KeyMetadata"].clone()
}

/// The (Arn, Region) pairs of a `MultiRegionKey` list.
fn related(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["Arn"].as_str().unwrap().to_string(),
                k["Region"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn arn(region: &str, key_id: &str) -> String {
    format!("arn:aws:kms:{region}:000000000000:key/{key_id}")
}

fn rotations(s3seal: &S3seal, key_id: &str) -> Vec<Value> {
    kms(s3seal, &["list-key-rotations", "--key-id", key_id])["Rotations"]
        .as_array()
        .unwrap()
        .clone()
}

#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Encrypts in `from` and decrypts in `to`, by key id only (the blob names
/// its key).
fn encrypt_here_decrypt_there(from: &S3seal, to: &S3seal, key_id: &str, dir: &Path, tag: &str) {
    let plain = temp_file(dir, &format!("plain-{tag}"), tag.as_bytes());
    let encrypted = kms(
        from,
        &[
            "encrypt",
            "--key-id",
            key_id,
            "--plaintext",
            &format!("fileb://{}", plain.display()),
            "--encryption-context",
            "purpose=dr",
        ],
    );
    let blob = encrypted["CiphertextBlob"].as_str().unwrap();
    let blob_file = temp_file(dir, &format!("blob-{tag}"), &b64_decode(blob));
    let decrypted = kms(
        to,
        &[
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", blob_file.display()),
            "--encryption-context",
            "purpose=dr",
            "--key-id",
            key_id,
        ],
    );
    assert_eq!(
        b64_decode(decrypted["Plaintext"].as_str().unwrap()),
        tag.as_bytes()
    );
    assert_eq!(
        decrypted["KeyId"],
        arn(&to.region, key_id),
        "the replica there decrypted it"
    );
}

fn b64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// Copies an object's stored bytes and every piece of its user metadata
/// (s3seal's `x-amz-meta-s3seal-*` included) from one Garage to another,
/// byte for byte: what a storage-level replication or a restore does.
fn copy_raw(from: &Garage, to: &Garage, bucket: &str, key: &str, dir: &Path) {
    let body = dir.join("raw-copy");
    let stored = json(&from.get_file(bucket, key, &body));
    let metadata = stored["Metadata"].to_string();
    assert!(metadata.contains("s3seal-dk"), "{metadata}");
    ok(&to.put_file(bucket, key, &body, &["--metadata", &metadata]));
}

#[test]
fn a_multi_region_key_replicates_serves_disaster_recovery_rotates_and_fails_over() {
    let (d1, d2) = pair();
    let r1 = d1.start();
    let r2 = d2.start();
    let dir = tempfile::tempdir().unwrap();

    // CreateKey MultiRegion in R1: an mrk- id, a primary without replicas.
    let created = kms(
        &r1,
        &["create-key", "--multi-region", "--description", "dr key"],
    );
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        key_id.len() == 36
            && key_id.starts_with("mrk-")
            && key_id[4..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{key_id}"
    );
    assert_eq!(created["KeyMetadata"]["MultiRegion"], true);
    let config = &created["KeyMetadata"]["MultiRegionConfiguration"];
    assert_eq!(config["MultiRegionKeyType"], "PRIMARY");
    assert_eq!(config["PrimaryKey"]["Region"], R1);
    assert_eq!(config["ReplicaKeys"], json!([]));
    let single = kms(&r1, &["create-key"]);
    assert_eq!(single["KeyMetadata"]["MultiRegion"], false);
    assert!(
        single["KeyMetadata"]
            .get("MultiRegionConfiguration")
            .is_none()
    );

    // ReplicateKey to R2, with a description and tags of the replica's own.
    let replicated = kms(
        &r1,
        &[
            "replicate-key",
            "--key-id",
            &key_id,
            "--replica-region",
            R2,
            "--description",
            "dr replica",
            "--tags",
            "TagKey=site,TagValue=dr",
        ],
    );
    let replica = &replicated["ReplicaKeyMetadata"];
    assert_eq!(replica["KeyId"], key_id.as_str());
    assert_eq!(replica["Arn"], arn(R2, &key_id));
    assert_eq!(replica["Description"], "dr replica");
    assert_eq!(replica["KeyState"], "Enabled");
    assert_eq!(
        replica["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "REPLICA"
    );
    assert_eq!(
        replicated["ReplicaTags"],
        json!([{"TagKey": "site", "TagValue": "dr"}])
    );
    assert!(
        replicated["ReplicaPolicy"]
            .as_str()
            .unwrap()
            .contains("kms:*")
    );
    kms_fails(
        &r1,
        &["replicate-key", "--key-id", &key_id, "--replica-region", R2],
        "AlreadyExistsException",
    );
    kms_fails(
        &r1,
        &[
            "replicate-key",
            "--key-id",
            single["KeyMetadata"]["KeyId"].as_str().unwrap(),
            "--replica-region",
            R2,
        ],
        "UnsupportedOperationException",
    );

    // DescribeKey on both sides: same id, each its own ARN and role.
    for (s3seal, role) in [(&r1, "PRIMARY"), (&r2, "REPLICA")] {
        let meta = describe(s3seal, &key_id);
        assert_eq!(meta["Arn"], arn(&s3seal.region, &key_id));
        assert_eq!(meta["MultiRegion"], true);
        let config = &meta["MultiRegionConfiguration"];
        assert_eq!(config["MultiRegionKeyType"], role, "{meta}");
        assert_eq!(
            related(&json!([config["PrimaryKey"]])),
            vec![(arn(R1, &key_id), R1.to_string())]
        );
        assert_eq!(
            related(&config["ReplicaKeys"]),
            vec![(arn(R2, &key_id), R2.to_string())]
        );
    }
    let replica_meta = describe(&r2, &key_id);
    assert_eq!(replica_meta["Description"], "dr replica");
    assert_eq!(
        kms(&r2, &["list-resource-tags", "--key-id", &key_id])["Tags"],
        json!([{"TagKey": "site", "TagValue": "dr"}])
    );
    assert_eq!(describe(&r1, &key_id)["Description"], "dr key");

    // Encrypt in R1, decrypt in R2 (and back); R2's own ARN works there,
    // R1's ARN does not (as on AWS: an ARN names one Region).
    encrypt_here_decrypt_there(&r1, &r2, &key_id, dir.path(), "to-r2");
    encrypt_here_decrypt_there(&r2, &r1, &key_id, dir.path(), "to-r1");
    kms(&r2, &["describe-key", "--key-id", &arn(R2, &key_id)]);
    kms_fails(
        &r2,
        &["describe-key", "--key-id", &arn(R1, &key_id)],
        "NotFoundException",
    );

    // A sealed object written through R1, copied raw to the same-named
    // bucket in R2's Garage, reads back through R2.
    let bucket = make_bucket(&r1, "mrk-dr");
    ok(&r2.aws(&["s3", "mb", &format!("s3://{bucket}")]));
    let data = test_data(200_000, 7);
    let file = temp_file(dir.path(), "object", &data);
    ok(&r1.put_file(
        &bucket,
        "doc.bin",
        &file,
        &[
            "--server-side-encryption",
            "aws:kms",
            "--ssekms-key-id",
            &key_id,
        ],
    ));
    copy_raw(d1.garage, d2.garage, &bucket, "doc.bin", dir.path());
    let back = dir.path().join("back");
    let got = json(&r2.get_file(&bucket, "doc.bin", &back));
    assert_eq!(read(&back), data, "byte-identical through R2");
    assert_eq!(got["SSEKMSKeyId"], arn(R2, &key_id));

    // RotateKeyOnDemand in R1 reaches R2: what R1 encrypts with the new
    // version decrypts in R2, and both list the same rotations.
    kms(&r1, &["rotate-key-on-demand", "--key-id", &key_id]);
    wait_until("R2 has R1's rotation", || {
        rotations(&r2, &key_id).len() == 1
    });
    assert_eq!(rotations(&r1, &key_id), rotations(&r2, &key_id));
    encrypt_here_decrypt_there(&r1, &r2, &key_id, dir.path(), "after-rotation");
    // Automatic rotation is shared too.
    kms_quiet(
        &r1,
        &[
            "enable-key-rotation",
            "--key-id",
            &key_id,
            "--rotation-period-in-days",
            "180",
        ],
    );
    wait_until("R2 reports R1's rotation schedule", || {
        kms(&r2, &["get-key-rotation-status", "--key-id", &key_id])["RotationPeriodInDays"] == 180
    });

    // The replica refuses rotation, as on AWS.
    kms_fails(
        &r2,
        &["rotate-key-on-demand", "--key-id", &key_id],
        "UnsupportedOperationException",
    );
    kms_fails(
        &r2,
        &["enable-key-rotation", "--key-id", &key_id],
        "UnsupportedOperationException",
    );
    kms_fails(
        &r2,
        &["replicate-key", "--key-id", &key_id, "--replica-region", R1],
        "UnsupportedOperationException",
    );

    // UpdatePrimaryRegion to R2: both sides say so.
    kms_quiet(
        &r1,
        &[
            "update-primary-region",
            "--key-id",
            &key_id,
            "--primary-region",
            R2,
        ],
    );
    for (s3seal, role) in [(&r1, "REPLICA"), (&r2, "PRIMARY")] {
        let config = describe(s3seal, &key_id)["MultiRegionConfiguration"].clone();
        assert_eq!(config["MultiRegionKeyType"], role, "{config}");
        assert_eq!(config["PrimaryKey"]["Region"], R2);
        assert_eq!(
            related(&config["ReplicaKeys"]),
            vec![(arn(R1, &key_id), R1.to_string())]
        );
    }
    kms_fails(
        &r1,
        &["rotate-key-on-demand", "--key-id", &key_id],
        "UnsupportedOperationException",
    );
    // Rotation is now initiated in R2 and reaches R1.
    kms(&r2, &["rotate-key-on-demand", "--key-id", &key_id]);
    wait_until("R1 has R2's rotation", || {
        rotations(&r1, &key_id).len() == 2
    });
    assert_eq!(rotations(&r1, &key_id), rotations(&r2, &key_id));
    encrypt_here_decrypt_there(&r2, &r1, &key_id, dir.path(), "from-new-primary");

    // R1 down during a rotation gets the version once it is back.
    let r1_dir = r1.stop();
    kms(&r2, &["rotate-key-on-demand", "--key-id", &key_id]);
    wait_until("R2 logged that R1 is unreachable", || {
        r2.log()
            .contains("cannot bring a multi-Region replica up to date")
    });
    assert_eq!(r1_dir, d1.dir);
    let r1 = d1.start();
    wait_until("R1 caught up", || rotations(&r1, &key_id).len() == 3);
    assert_eq!(rotations(&r1, &key_id), rotations(&r2, &key_id));
    encrypt_here_decrypt_there(&r2, &r1, &key_id, dir.path(), "after-outage");

    // Audited on both sides: the calls, the peer calls, the retries.
    let r2_dir = r2.stop();
    let audit_r1 = audit_text(&d1.dir);
    let audit_r2 = audit_text(&r2_dir);
    for (audit, needles) in [
        (
            &audit_r1,
            &[
                "\"ReplicateKey\"",
                "\"UpdatePrimaryRegion\"",
                "S3sealReplication.SyncReplica",
            ][..],
        ),
        (
            &audit_r2,
            &[
                "S3sealReplication.CreateReplica",
                "S3sealReplication.PromoteReplica",
                "SynchronizeMultiRegionKey",
                "DependencyTimeoutException",
            ][..],
        ),
    ] {
        for needle in needles {
            assert!(audit.contains(needle), "{needle} is not in the audit log");
        }
    }
    assert!(
        !audit_r2.contains("EncryptedKeyMaterial"),
        "key material is never audited"
    );
    assert!(
        !audit_r2.contains("ImportToken"),
        "one-time tokens are never audited"
    );
}

fn audit_text(dir: &Path) -> String {
    audit_files(dir)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

/// Calls a replication operation directly, as a peer deployment would,
/// with the given credential.
fn peer_call(
    target: &S3seal,
    (key, secret): (&str, &str),
    operation: &str,
    message: Value,
) -> Result<Value, ReplicationError> {
    let client = PeerClient::new(&PeerRegion {
        region: target.region.clone(),
        endpoint: target.endpoint(),
        access_key_id: key.to_string(),
        secret_access_key: Secret::new(secret),
        principal: "unused".into(),
        ca_bundle: None,
        connect_timeout_seconds: 5,
    })
    .unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(client.call(operation, &message))
}

#[track_caller]
fn refused(result: Result<Value, ReplicationError>, kind: &str) {
    match result {
        Err(ReplicationError::Refused {
            kind: got, message, ..
        }) => {
            assert_eq!(got, kind, "{message}")
        }
        other => panic!("expected {kind}, got {other:?}"),
    }
}

#[test]
fn only_a_peer_may_replicate_and_only_keys_whose_primary_it_holds() {
    let (d1, d2) = pair();
    let r1 = d1.start();
    let r2 = d2.start();
    let key_id = kms(&r1, &["create-key", "--multi-region"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let forged = json!({
        "KeyId": key_id, "ImportToken": "00", "Description": "", "KeySpec": "SYMMETRIC_DEFAULT",
        "KeyUsage": "ENCRYPT_DECRYPT", "Origin": "AWS_KMS", "KeyVersions": [], "CurrentVersion": 1,
        "MultiRegionConfiguration": {"PrimaryRegion": R2, "ReplicaRegions": [R1], "Generation": 9},
    });

    // An ordinary principal (the test client, mallory) is no peer.
    for credential in [(CLIENT_KEY, CLIENT_SECRET), (MALLORY_KEY, MALLORY_SECRET)] {
        for (operation, message) in [
            ("GetReplicationParameters", json!({"KeyId": key_id})),
            ("CreateReplica", forged.clone()),
            ("SyncReplica", forged.clone()),
            (
                "PromoteReplica",
                json!({"KeyId": key_id, "MultiRegionConfiguration": forged["MultiRegionConfiguration"]}),
            ),
        ] {
            refused(
                peer_call(&r1, credential, operation, message.clone()),
                "AccessDeniedException",
            );
            refused(
                peer_call(&r2, credential, operation, message),
                "AccessDeniedException",
            );
        }
    }
    // A wrong secret for the peer's access key does not authenticate.
    refused(
        peer_call(
            &r1,
            (peer_key(R2).0, "wrong-secret"),
            "GetReplicationParameters",
            json!({"KeyId": key_id}),
        ),
        "InvalidSignatureException",
    );

    // R2 is R1's peer, but R1 holds the primary: R2 can neither fetch
    // parameters for it, nor overwrite it, nor push versions into it.
    let r2_at_r1 = peer_key(R2);
    refused(
        peer_call(
            &r1,
            r2_at_r1,
            "GetReplicationParameters",
            json!({"KeyId": key_id}),
        ),
        "AccessDeniedException",
    );
    refused(
        peer_call(&r1, r2_at_r1, "CreateReplica", forged.clone()),
        "AlreadyExistsException",
    );
    refused(
        peer_call(&r1, r2_at_r1, "SyncReplica", forged.clone()),
        "AccessDeniedException",
    );
    refused(
        peer_call(
            &r1,
            r2_at_r1,
            "PromoteReplica",
            json!({"KeyId": key_id, "MultiRegionConfiguration": {"PrimaryRegion": R1, "ReplicaRegions": [R2], "Generation": 9}}),
        ),
        "AccessDeniedException",
    );
    // Nor may R1 create a replica in R2 that claims another primary Region.
    let mut claims_other = forged.clone();
    claims_other["MultiRegionConfiguration"] =
        json!({"PrimaryRegion": "ap-south-1", "ReplicaRegions": [R2], "Generation": 1});
    refused(
        peer_call(&r2, peer_key(R1), "CreateReplica", claims_other),
        "AccessDeniedException",
    );
    // And a token R2 never issued does not unwrap anything.
    let mut unissued = forged.clone();
    unissued["MultiRegionConfiguration"] =
        json!({"PrimaryRegion": R1, "ReplicaRegions": [R2], "Generation": 2});
    refused(
        peer_call(&r2, peer_key(R1), "CreateReplica", unissued),
        "InvalidImportTokenException",
    );
    kms_fails(
        &r2,
        &["describe-key", "--key-id", &key_id],
        "NotFoundException",
    );

    // The key is still R1's, intact, with no replica.
    let meta = describe(&r1, &key_id);
    assert_eq!(
        meta["MultiRegionConfiguration"]["MultiRegionKeyType"],
        "PRIMARY"
    );
    assert_eq!(meta["MultiRegionConfiguration"]["ReplicaKeys"], json!([]));
    // Without a peer for a Region, ReplicateKey says so.
    kms_fails(
        &r1,
        &[
            "replicate-key",
            "--key-id",
            &key_id,
            "--replica-region",
            "ap-south-1",
        ],
        "UnsupportedOperationException",
    );
    kms_fails(
        &r1,
        &["replicate-key", "--key-id", &key_id, "--replica-region", R1],
        "ValidationException",
    );
    let log = r1.log();
    assert!(
        log.contains("S3sealReplication.CreateReplica"),
        "peer calls are logged"
    );

    asymmetric_and_hmac_keys_replicate(&r1, &r2);
}

/// Multi-Region signing and HMAC keys: what R1 signs or MACs, R2 verifies
/// with the replica, and both have the same public key.
fn asymmetric_and_hmac_keys_replicate(r1: &S3seal, r2: &S3seal) {
    let dir = tempfile::tempdir().unwrap();
    let message = temp_file(dir.path(), "message", b"signed in us-east-1");
    let message_arg = format!("fileb://{}", message.display());
    let create = |spec: &str, usage: &str| {
        let id = kms(
            r1,
            &[
                "create-key",
                "--multi-region",
                "--key-spec",
                spec,
                "--key-usage",
                usage,
            ],
        )["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_string();
        kms(
            r1,
            &["replicate-key", "--key-id", &id, "--replica-region", R2],
        );
        id
    };

    let signing = create("ECC_NIST_P256", "SIGN_VERIFY");
    let common = [
        "--message",
        &message_arg,
        "--message-type",
        "RAW",
        "--signing-algorithm",
        "ECDSA_SHA_256",
    ];
    let mut sign = vec!["sign", "--key-id", &signing];
    sign.extend_from_slice(&common);
    let signature = kms(r1, &sign)["Signature"].as_str().unwrap().to_string();
    let signature_file = temp_file(dir.path(), "signature", &b64_decode(&signature));
    let signature_arg = format!("fileb://{}", signature_file.display());
    let mut verify = vec![
        "verify",
        "--key-id",
        &signing,
        "--signature",
        &signature_arg,
    ];
    verify.extend_from_slice(&common);
    assert_eq!(kms(r2, &verify)["SignatureValid"], true);
    let public_key = |s3seal: &S3seal| {
        kms(s3seal, &["get-public-key", "--key-id", &signing])["PublicKey"].clone()
    };
    assert_eq!(public_key(r1), public_key(r2));

    let mac_key = create("HMAC_256", "GENERATE_VERIFY_MAC");
    let mac_args = ["--message", &message_arg, "--mac-algorithm", "HMAC_SHA_256"];
    let mut generate = vec!["generate-mac", "--key-id", &mac_key];
    generate.extend_from_slice(&mac_args);
    let mac = kms(r1, &generate)["Mac"].as_str().unwrap().to_string();
    let mac_file = temp_file(dir.path(), "mac", &b64_decode(&mac));
    let mac_arg = format!("fileb://{}", mac_file.display());
    let mut verify_mac = vec!["verify-mac", "--key-id", &mac_key, "--mac", &mac_arg];
    verify_mac.extend_from_slice(&mac_args);
    let verified = kms(r2, &verify_mac);
    assert_eq!(verified["MacValid"], true);
}
