//! Test harness: a real Garage per test binary, a real s3seal per test, and
//! the real aws CLI and boto3 as clients.
//!
//! Garage is started once per test process (each test uses its own bucket);
//! s3seal instances are per test, on free ports, in temporary directories.
//! Child processes die with the test process (PR_SET_PDEATHSIG), so nothing
//! is left running after `cargo test`, even on a panic or a kill.
//! A missing tool fails the test with a message saying how to install it;
//! tests never skip.

#![allow(dead_code)]

pub mod certs;
pub mod fault_relay;
pub mod postgres;
pub mod tls_relay;

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const CLIENT_KEY: &str = "AKIAS3SEALTEST000001";
pub const CLIENT_SECRET: &str = "s3seal-test-secret-key-0000000000000000";
pub const REGION: &str = "us-east-1";

/// A path inside the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    repo().join(relative)
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// This test process's scratch directory: `target/tmp/s3seal-it/<pid>/`.
/// Garage's data lives as long as the process that started it, and statics
/// are never dropped, so a process cannot clean up after itself; the first
/// call instead removes the directories of test processes that have ended.
/// Without that, every test binary of a `cargo test` run leaves hundreds of
/// MiB of Garage blocks behind, and CI runs out of disk.
fn tmp_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let all = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("s3seal-it");
        remove_dirs_of_finished_processes(&all);
        let mine = all.join(std::process::id().to_string());
        std::fs::create_dir_all(&mine).unwrap();
        mine
    })
    .clone()
}

/// A fresh, empty directory for one test's own files, inside [`tmp_root`].
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = tmp_root().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes `<all>/<pid>` for every pid that is no longer running (and any
/// entry not named by a pid, left by older versions of this harness).
fn remove_dirs_of_finished_processes(all: &Path) {
    let Ok(entries) = std::fs::read_dir(all) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let running = name.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists()
        });
        if !running {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(log).unwrap_or_default();
    panic!("{what} did not listen on port {port} within 30 s; its log:\n{log}");
}

/// A command whose process is killed when the spawning thread exits.
fn dies_with_parent(cmd: &mut Command) -> &mut Command {
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        })
    }
}

fn require_tool(name: &str, args: &[&str], hint: &str) -> PathBuf {
    let path = which(name).unwrap_or_else(|| panic!("`{name}` is not installed. {hint}"));
    let ok = Command::new(&path)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "`{name} {}` failed. {hint}", args.join(" "));
    path
}

fn which(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

pub struct Garage {
    pub s3_port: u16,
    pub key_id: String,
    pub secret: String,
    pub dir: PathBuf,
}

impl Garage {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The aws CLI pointed directly at this Garage with its credentials.
    pub fn aws(&self, args: &[&str]) -> Output {
        aws_cli(&self.endpoint(), &self.key_id, &self.secret, "garage", args)
    }

    /// `aws s3api get-object` directly on this Garage into a file (the stored bytes).
    pub fn get_file(&self, bucket: &str, key: &str, dst: &Path) -> Output {
        self.aws(&get_object_args(bucket, key, dst))
    }

    /// `aws s3api put-object` of a file directly on this Garage (bypassing s3seal).
    pub fn put_file(&self, bucket: &str, key: &str, file: &Path, extra: &[&str]) -> Output {
        self.aws(&put_object_args(bucket, key, file, extra))
    }
}

/// The Garage shared by the tests of this process.
pub fn garage() -> &'static Garage {
    static GARAGE: OnceLock<Garage> = OnceLock::new();
    GARAGE.get_or_init(|| start_garage("garage"))
}

/// Another Garage, independent of [`garage()`] (its own data, ports and
/// keys), for tests of deployments that each have their own store. It
/// lives as long as the test process.
pub fn independent_garage() -> &'static Garage {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!("garage-independent-{}", N.fetch_add(1, Ordering::SeqCst));
    Box::leak(Box::new(start_garage(&name)))
}

/// A Garage that keeps its metadata in SQLite instead of LMDB. LMDB caps an
/// index key (bucket id and object key) at 511 bytes, so on the default
/// Garage object keys longer than 479 bytes fail (503, MDB_BAD_VALSIZE);
/// S3 allows 1024. It lives as long as the test process.
pub fn sqlite_garage() -> &'static Garage {
    static GARAGE: OnceLock<Garage> = OnceLock::new();
    GARAGE.get_or_init(|| start_garage_with("garage-sqlite", "sqlite"))
}

fn start_garage(name: &str) -> Garage {
    start_garage_with(name, "lmdb")
}

fn start_garage_with(name: &str, db_engine: &str) -> Garage {
    let bin = require_tool(
        "garage",
        &["--version"],
        "Run scripts/test (it installs Garage 2.5.0), or `cargo install --locked garage --version 2.5.0`.",
    );
    let dir = scratch_dir(name);
    let (s3, rpc, admin) = (free_port(), free_port(), free_port());
    let script = repo().join("scripts/garage-node");
    let status = Command::new(&script)
        .args([
            "config",
            dir.to_str().unwrap(),
            &s3.to_string(),
            &rpc.to_string(),
            &admin.to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "garage-node config failed");
    let cfg = dir.join("garage.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let text = text.replace(
        "db_engine = \"lmdb\"",
        &format!("db_engine = \"{db_engine}\""),
    );
    std::fs::write(&cfg, text).unwrap();
    // Spawned from a thread that lives as long as the process, so that
    // PR_SET_PDEATHSIG fires only when the test process ends.
    let (tx, rx) = std::sync::mpsc::channel();
    let log = dir.join("garage.log");
    let log_for_thread = log.clone();
    std::thread::spawn(move || {
        let log_file = std::fs::File::create(&log_for_thread).unwrap();
        let child = dies_with_parent(
            Command::new(&bin)
                .arg("-c")
                .arg(&cfg)
                .arg("server")
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file),
        )
        .spawn();
        let _ = tx.send(child.map(|c| c.id()).map_err(|e| e.to_string()));
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap().expect("spawning garage");
    let key_id = format!("GK{}", hex24());
    let secret = format!("{:0>64}", hex24());
    let out = Command::new(&script)
        .args(["init", dir.to_str().unwrap(), &key_id, &secret])
        .env("GARAGE_BIN", which("garage").unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "garage-node init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_port(s3, "garage", &log);
    Garage {
        s3_port: s3,
        key_id,
        secret,
        dir,
    }
}

fn hex24() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:024x}", nanos ^ ((std::process::id() as u128) << 64))[..24].to_string()
}

/// A unique, valid bucket name for one test.
pub fn bucket(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Options for starting s3seal.
#[derive(Default)]
pub struct S3sealOptions {
    /// Extra TOML appended to the generated config.
    pub extra_config: String,
    /// Reuse this directory (store, root key) instead of a fresh one.
    pub dir: Option<PathBuf>,
    /// Extra environment variables for the process (`S3SEAL_*` settings).
    pub env: Vec<(String, String)>,
    /// Leave `kms.root_key_file` out of the config (the root comes from `env`).
    pub no_root_key_file: bool,
    /// Also serve HTTPS (`tls.listen`), with a certificate from a fresh test CA.
    pub tls: bool,
    /// Serve HTTPS only (`tls` and `server.plain_http = false`).
    pub https_only: bool,
    /// Use this PostgreSQL database as the store instead of an embedded file.
    pub postgres_url: Option<String>,
    /// The Garage to front instead of the shared [`garage()`].
    pub upstream: Option<&'static Garage>,
    /// `server.region` instead of [`REGION`] (clients then sign for it).
    pub region: Option<String>,
    /// Listen on this port (e.g. known to another instance before start, or
    /// kept across a restart) instead of a fresh one.
    pub port: Option<u16>,
    /// Reach the upstream Garage through this URL (e.g. a [`fault_relay`]).
    pub upstream_url: Option<String>,
}

/// s3seal's HTTPS listener in a test.
pub struct TlsListener {
    pub port: u16,
    /// The CA that signed the served certificate (clients trust `ca.bundle`).
    pub ca: certs::TestCa,
    /// What `tls.cert_file` and `tls.key_file` hold at start.
    pub served: certs::ServerCert,
}

pub struct S3seal {
    pub port: u16,
    pub dir: PathBuf,
    /// `server.region`: what the aws CLI signs for.
    pub region: String,
    child: Child,
    pub default_key_arn: String,
    /// Set when started with [`S3sealOptions::tls`].
    pub tls: Option<TlsListener>,
}

impl S3seal {
    pub fn start() -> S3seal {
        Self::start_with(S3sealOptions::default())
    }

    pub fn start_with(options: S3sealOptions) -> S3seal {
        let garage = options.upstream.unwrap_or_else(garage);
        let region = options.region.clone().unwrap_or_else(|| REGION.to_string());
        let dir = options.dir.clone().unwrap_or_else(|| {
            static N: AtomicU32 = AtomicU32::new(0);
            scratch_dir(&format!("s3seal-{}", N.fetch_add(1, Ordering::SeqCst)))
        });
        std::fs::create_dir_all(&dir).unwrap();
        let port = options.port.unwrap_or_else(free_port);
        let root_key = dir.join("root.key");
        let root_key_line = if options.no_root_key_file {
            String::new()
        } else {
            format!("root_key_file = \"{}/root.key\"", dir.display())
        };
        if !root_key.exists() && !options.no_root_key_file {
            std::fs::write(&root_key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        }
        let tls = (options.tls || options.https_only).then(|| {
            let tls_dir = dir.join("tls");
            let ca = certs::TestCa::new(&tls_dir, "s3seal");
            let served = ca.server_cert(&tls_dir, "server");
            TlsListener {
                port: free_port(),
                ca,
                served,
            }
        });
        let plain_http = !options.https_only;
        let tls_section = tls.as_ref().map_or(String::new(), |t| {
            format!(
                "[tls]\nlisten = \"127.0.0.1:{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                t.port,
                t.served.cert_file.display(),
                t.served.key_file.display()
            )
        });
        let config = format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
plain_http = {plain_http}
region = "{region}"
shutdown_grace_seconds = 10
[upstream]
url = "{upstream}"
region = "garage"
access_key_id = "{key_id}"
secret_access_key = "{secret}"
[store]
{store}
[kms]
{root_key_line}
[[auth.credentials]]
access_key_id = "{CLIENT_KEY}"
secret_access_key = "{CLIENT_SECRET}"
principal = "tester"
[log]
format = "text"
level = "info"
{tls_section}
{extra}
"#,
            upstream = options
                .upstream_url
                .clone()
                .unwrap_or_else(|| garage.endpoint()),
            key_id = garage.key_id,
            secret = garage.secret,
            store = match &options.postgres_url {
                Some(url) => format!(
                    "backend = \"postgres\"\npostgres_url = \"{url}\"\npostgres_connect_timeout_seconds = 2\n[audit]\ndir = \"{}/audit\"",
                    dir.display()
                ),
                None => format!("path = \"{}/store.redb\"", dir.display()),
            },
            extra = options.extra_config,
        );
        std::fs::write(dir.join("s3seal.toml"), config).unwrap();
        let default_key_arn = Self::kms_cli_with(&dir, &["default-key"], &options.env);
        let log = dir.join("s3seal.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = dies_with_parent(
            Command::new(env!("CARGO_BIN_EXE_s3seal"))
                .args(["serve", "--config"])
                .arg(dir.join("s3seal.toml"))
                .env_remove("S3SEAL_CONFIG")
                .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file),
        )
        .spawn()
        .expect("spawning s3seal");
        if plain_http {
            wait_for_port(port, "s3seal", &log);
        }
        if let Some(tls) = &tls {
            wait_for_port(tls.port, "s3seal (tls.listen)", &log);
        }
        S3seal {
            port,
            dir,
            region,
            child,
            default_key_arn,
            tls,
        }
    }

    /// Runs `s3seal kms <args>` against a (stopped) instance's store.
    pub fn kms_cli(dir: &Path, args: &[&str]) -> String {
        Self::kms_cli_with(dir, args, &[])
    }

    /// [`Self::kms_cli`] with extra environment variables.
    pub fn kms_cli_with(dir: &Path, args: &[&str], env: &[(String, String)]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_s3seal"))
            .arg("kms")
            .args(args)
            .arg("--config")
            .arg(dir.join("s3seal.toml"))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "s3seal kms {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn tls_listener(&self) -> &TlsListener {
        self.tls
            .as_ref()
            .expect("start s3seal with S3sealOptions { tls: true, .. }")
    }

    /// The HTTPS endpoint (`tls.listen`).
    pub fn https_endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.tls_listener().port)
    }

    /// The CA bundle that verifies the HTTPS endpoint's certificate.
    pub fn ca_bundle(&self) -> &Path {
        &self.tls_listener().ca.bundle
    }

    /// The aws CLI over HTTPS, verifying s3seal's certificate with `--ca-bundle`.
    pub fn aws_https(&self, args: &[&str]) -> Output {
        let bundle = self.ca_bundle().to_str().unwrap();
        let mut with_bundle = vec!["--ca-bundle", bundle];
        with_bundle.extend_from_slice(args);
        aws_cli(
            &self.https_endpoint(),
            CLIENT_KEY,
            CLIENT_SECRET,
            &self.region,
            &with_bundle,
        )
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("s3seal.log")).unwrap_or_default()
    }

    /// Stops the process (SIGTERM, then waits); the directory is kept for a restart.
    pub fn stop(mut self) -> PathBuf {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
        self.dir.clone()
    }

    /// The aws CLI pointed at this s3seal with the test credentials.
    pub fn aws(&self, args: &[&str]) -> Output {
        aws_cli(
            &self.endpoint(),
            CLIENT_KEY,
            CLIENT_SECRET,
            &self.region,
            args,
        )
    }

    /// `aws s3api put-bucket-encryption` with `configuration` (the
    /// ServerSideEncryptionConfiguration as JSON).
    pub fn put_bucket_encryption(&self, bucket: &str, configuration: &serde_json::Value) -> Output {
        self.aws(&[
            "s3api",
            "put-bucket-encryption",
            "--bucket",
            bucket,
            "--server-side-encryption-configuration",
            &configuration.to_string(),
        ])
    }

    /// `aws s3api put-object` of a file, with extra CLI arguments.
    pub fn put_file(&self, bucket: &str, key: &str, file: &Path, extra: &[&str]) -> Output {
        self.aws(&put_object_args(bucket, key, file, extra))
    }

    /// `aws s3api upload-part` of a file into an open multipart upload.
    pub fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        file: &Path,
    ) -> Output {
        self.aws(&[
            "s3api",
            "upload-part",
            "--bucket",
            bucket,
            "--key",
            key,
            "--upload-id",
            upload_id,
            "--part-number",
            &part_number.to_string(),
            "--body",
            file.to_str().unwrap(),
        ])
    }

    /// `aws s3api get-object` into a file.
    pub fn get_file(&self, bucket: &str, key: &str, dst: &Path) -> Output {
        self.aws(&get_object_args(bucket, key, dst))
    }

    /// `aws s3api head-object`.
    pub fn head(&self, bucket: &str, key: &str) -> Output {
        self.aws(&["s3api", "head-object", "--bucket", bucket, "--key", key])
    }

    /// The aws CLI with other credentials.
    pub fn aws_as(&self, key: &str, secret: &str, args: &[&str]) -> Output {
        aws_cli(&self.endpoint(), key, secret, &self.region, args)
    }

    /// Runs a Python script from tests/python with this instance's endpoint in the environment.
    pub fn python(&self, script: &str, args: &[&str]) -> Output {
        self.python_with(script, args, &[])
    }

    /// [`Self::python`] with extra environment variables.
    pub fn python_with(&self, script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(python())
            .arg(repo().join("tests/python").join(script))
            .args(args)
            .envs(self.python_env())
            .envs(env.iter().copied())
            .output()
            .expect("running python3")
    }

    /// The environment the Python scenarios read: endpoints and credentials.
    pub fn python_env(&self) -> Vec<(String, String)> {
        let g = garage();
        let mut env = vec![
            ("S3SEAL_ENDPOINT".to_string(), self.endpoint()),
            ("S3SEAL_KEY".to_string(), CLIENT_KEY.to_string()),
            ("S3SEAL_SECRET".to_string(), CLIENT_SECRET.to_string()),
            ("S3SEAL_REGION".to_string(), self.region.clone()),
            ("UPSTREAM_ENDPOINT".to_string(), g.endpoint()),
            ("UPSTREAM_KEY".to_string(), g.key_id.clone()),
            ("UPSTREAM_SECRET".to_string(), g.secret.clone()),
        ];
        if let Some(tls) = &self.tls {
            env.push(("S3SEAL_HTTPS_ENDPOINT".into(), self.https_endpoint()));
            env.push((
                "S3SEAL_CA_BUNDLE".into(),
                tls.ca.bundle.display().to_string(),
            ));
        }
        env.extend(
            isolated_aws_env()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        env
    }

    /// Kills the process with SIGKILL (no shutdown at all); the directory is kept.
    pub fn kill(mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.clone()
    }
}

impl Drop for S3seal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    let path = which("python3").expect("python3 is required");
    let ok = Command::new(&path)
        .args(["-c", "import boto3"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "boto3 is not installed for python3. Run scripts/test, or `pip install -r scripts/requirements-test.txt`."
    );
    path
}

/// Environment that keeps the user's own AWS config out of the tests.
fn isolated_aws_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_MAX_ATTEMPTS", "1"),
        ("AWS_RETRY_MODE", "standard"),
        ("AWS_PAGER", ""),
    ]
}

pub fn aws_cli(endpoint: &str, key: &str, secret: &str, region: &str, args: &[&str]) -> Output {
    let bin = require_tool(
        "aws",
        &["--version"],
        "Run scripts/test, or `pip install -r scripts/requirements-test.txt`.",
    );
    Command::new(bin)
        .args(["--endpoint-url", endpoint])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", region)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .envs(isolated_aws_env())
        .stdin(Stdio::null())
        .output()
        .expect("running the aws CLI")
}

/// The aws CLI pointed directly at Garage with the upstream credentials.
pub fn upstream_aws(args: &[&str]) -> Output {
    garage().aws(args)
}

fn put_object_args<'a>(
    bucket: &'a str,
    key: &'a str,
    file: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "s3api",
        "put-object",
        "--bucket",
        bucket,
        "--key",
        key,
        "--body",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args
}

fn get_object_args<'a>(bucket: &'a str, key: &'a str, dst: &'a Path) -> [&'a str; 7] {
    [
        "s3api",
        "get-object",
        "--bucket",
        bucket,
        "--key",
        key,
        dst.to_str().unwrap(),
    ]
}

/// `aws s3api get-object` directly on Garage into a file (the stored bytes).
pub fn upstream_get_file(bucket: &str, key: &str, dst: &Path) -> Output {
    garage().get_file(bucket, key, dst)
}

/// `aws s3api put-object` of a file directly on Garage (bypassing s3seal).
pub fn upstream_put_file(bucket: &str, key: &str, file: &Path, extra: &[&str]) -> Output {
    garage().put_file(bucket, key, file, extra)
}

/// `aws s3api head-object` directly on Garage.
pub fn upstream_head(bucket: &str, key: &str) -> Output {
    upstream_aws(&["s3api", "head-object", "--bucket", bucket, "--key", key])
}

#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts the command failed and its stderr mentions `needle`; returns stderr.
#[track_caller]
pub fn fails_with(out: &Output, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected failure mentioning {needle:?}, but it succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains(needle),
        "expected {needle:?} in stderr:\n{stderr}"
    );
    stderr
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).expect("aws CLI printed JSON")
}

/// Deterministic pseudo-random bytes (xorshift) with a text marker every 4 KiB,
/// so "the plaintext appears in the ciphertext" is checkable.
pub fn test_data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        if out.len() % 4096 == 0 {
            out.extend_from_slice(PLAINTEXT_MARKER);
            continue;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out.truncate(len);
    out
}

pub const PLAINTEXT_MARKER: &[u8] = b"S3SEAL-PLAINTEXT-MARKER";

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The sealed length of a single-part object of `plaintext` bytes (docs/format.md):
/// header, segments with their tags, and the 56-byte sealed checksum record.
pub fn sealed_len(plaintext: u64) -> u64 {
    36 + plaintext + 16 * plaintext.div_ceil(65536).max(1) + 56
}

pub fn temp_file(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

pub fn read(path: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut v)
        .unwrap();
    v
}

/// Creates a fresh bucket through s3seal.
pub fn make_bucket(s3seal: &S3seal, prefix: &str) -> String {
    let b = bucket(prefix);
    ok(&s3seal.aws(&["s3", "mb", &format!("s3://{b}")]));
    b
}

/// Reads an object's stored bytes directly from Garage.
pub fn stored_bytes(bucket: &str, key: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("raw-{}", key.replace('/', "_")));
    ok(&upstream_get_file(bucket, key, &out));
    read(&out)
}

/// The files of an instance's audit log (`audit/` in its directory), in order.
pub fn audit_files(dir: &Path) -> Vec<PathBuf> {
    // The log files, not the writer's `.lock`.
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
}

/// Every record of an instance's audit log, digests included.
pub fn audit_records(dir: &Path) -> Vec<serde_json::Value> {
    audit_files(dir)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The events of an instance's audit log (digests left out).
pub fn audit_events(dir: &Path) -> Vec<serde_json::Value> {
    audit_records(dir)
        .into_iter()
        .filter(|r| r["eventType"] != "S3sealAuditDigest")
        .collect()
}

/// `curl` of a plain-HTTP URL (the admin endpoints): (status, body).
pub fn http_get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').expect("curl wrote a status");
    (
        status.trim().parse().expect("an HTTP status"),
        body.to_string(),
    )
}
