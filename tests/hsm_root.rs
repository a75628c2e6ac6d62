//! A PKCS#11 HSM (SoftHSM2) as the root of trust: the root key never exists
//! in s3seal's memory, and everything still works across restarts.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "246810";

/// A fresh SoftHSM token in `dir`; returns the environment s3seal needs.
fn softhsm_token(dir: &Path) -> Vec<(String, String)> {
    assert!(
        Path::new(MODULE).exists(),
        "SoftHSM2 is required ({MODULE} missing): run scripts/test, or `apt-get install softhsm2`"
    );
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let init = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "s3seal-test",
            "--pin",
            PIN,
            "--so-pin",
            "13579",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("running softhsm2-util");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    vec![
        ("SOFTHSM2_CONF".into(), conf.display().to_string()),
        ("S3SEAL_KMS_PKCS11_MODULE".into(), MODULE.into()),
        ("S3SEAL_KMS_PKCS11_TOKEN_LABEL".into(), "s3seal-test".into()),
        ("S3SEAL_KMS_PKCS11_PIN".into(), PIN.into()),
    ]
}

fn s3seal_cmd(config: &Path, args: &[&str], env: &[(String, String)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_s3seal"))
        .args(args)
        .arg("--config")
        .arg(config)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap()
}

#[test]
fn an_hsm_root_key_protects_everything() {
    let hsm_dir = tempfile::tempdir().unwrap();
    let env = softhsm_token(hsm_dir.path());
    // Create the root key on the token with the operator command first.
    let probe_dir = tempfile::tempdir().unwrap();
    let options = |dir: Option<std::path::PathBuf>| S3sealOptions {
        env: env.clone(),
        no_root_key_file: true,
        dir,
        ..Default::default()
    };
    let config = write_config_only(probe_dir.path());
    let created = s3seal_cmd(&config, &["hsm-create-root-key"], &env);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let again = s3seal_cmd(&config, &["hsm-create-root-key"], &env);
    assert!(
        !again.status.success(),
        "a second root key with the same label is refused"
    );

    let s3seal = S3seal::start_with(options(Some(probe_dir.path().to_path_buf())));
    let b = make_bucket(&s3seal, "hsm");
    let dir = tempfile::tempdir().unwrap();
    let data = test_data(300_000, 5);
    let src = temp_file(dir.path(), "f", &data);
    ok(&s3seal.put_file(&b, "k", &src, &[]));
    let created = json(&s3seal.aws(&["kms", "create-key", "--description", "under hsm"]));
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let state = s3seal.stop();

    // The store holds nothing the root key file would open; the token is needed.
    assert!(!state.join("root.key").exists());
    let s3seal = S3seal::start_with(options(Some(state.clone())));
    let back = dir.path().join("back");
    ok(&s3seal.get_file(&b, "k", &back));
    assert!(read(&back) == data);
    ok(&s3seal.aws(&["kms", "describe-key", "--key-id", &key_id]));
    let state = s3seal.stop();

    // A wrong PIN: s3seal refuses to start, saying why.
    let mut wrong = env.clone();
    for (k, v) in wrong.iter_mut() {
        if k == "S3SEAL_KMS_PKCS11_PIN" {
            *v = "000000".into();
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_s3seal"))
        .args(["kms", "list-keys", "--config"])
        .arg(state.join("s3seal.toml"))
        .envs(wrong.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("logging in to the token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes the s3seal config S3seal::start_with would, without starting it.
fn write_config_only(dir: &Path) -> std::path::PathBuf {
    let garage = garage();
    let config = dir.join("s3seal.toml");
    std::fs::write(
        &config,
        format!(
            "[upstream]\nurl = \"{}\"\nregion = \"garage\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n[store]\npath = \"{}/store.redb\"\n[[auth.credentials]]\naccess_key_id = \"{CLIENT_KEY}\"\nsecret_access_key = \"{CLIENT_SECRET}\"\nprincipal = \"tester\"\n",
            garage.endpoint(),
            garage.key_id,
            garage.secret,
            dir.display()
        ),
    )
    .unwrap();
    config
}
