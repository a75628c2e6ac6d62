//! A real PostgreSQL server (Debian's package) for the shared-store tests:
//! one cluster per test process, in a temporary directory, on a free port,
//! with a fresh database per test.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the
//! server runs as the `postgres` system user the Debian package creates.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{dies_with_parent, free_port, wait_for_port};

pub struct Postgres {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
    user: Option<(u32, u32)>,
}

/// The PostgreSQL shared by the tests of this process.
pub fn postgres() -> &'static Postgres {
    static POSTGRES: OnceLock<Postgres> = OnceLock::new();
    POSTGRES.get_or_init(start)
}

impl Postgres {
    /// A new empty database; its connection URL.
    pub fn create_database(&self, prefix: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let out = self
            .command("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "s3seal",
                &name,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(&name)
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://s3seal@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// Runs SQL with psql; its output.
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let out = self
            .command("psql")
            .args([url, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }
}

fn start() -> Postgres {
    let pg = init_cluster("shared");
    // Spawned from a thread that lives as long as the process, so that
    // PR_SET_PDEATHSIG fires only when the test process ends.
    let (tx, rx) = std::sync::mpsc::channel();
    let server = pg.server_command();
    std::thread::spawn(move || {
        let mut server = server;
        let _ = tx.send(
            dies_with_parent(&mut server)
                .spawn()
                .map(|c| c.id())
                .map_err(|e| e.to_string()),
        );
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap().expect("spawning postgres");
    wait_for_port(pg.port, "postgres", &pg.log());
    pg
}

/// A PostgreSQL of one test's own, which it may stop and start again
/// (the server dies with the test's thread at the latest).
pub struct PrivatePostgres {
    pub server: Postgres,
    child: Option<std::process::Child>,
}

impl PrivatePostgres {
    pub fn start(name: &str) -> PrivatePostgres {
        let mut pg = PrivatePostgres {
            server: init_cluster(name),
            child: None,
        };
        pg.resume();
        pg
    }

    /// Kills the server at once (SIGKILL): clients see connections drop.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data.
    pub fn resume(&mut self) {
        let mut server = self.server.server_command();
        let child = dies_with_parent(&mut server)
            .spawn()
            .expect("spawning postgres");
        self.child = Some(child);
        wait_for_port(self.server.port, "postgres", &self.server.log());
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Postgres {
    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    fn server_command(&self) -> Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let mut server = self.command("postgres");
        server
            .args(["-D", self.dir.join("data").to_str().unwrap()])
            .args([
                "-p",
                &self.port.to_string(),
                "-k",
                self.dir.to_str().unwrap(),
            ])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "max_connections=200"])
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        server
    }
}

/// A new cluster (initdb) in a temporary directory, with a free port.
fn init_cluster(name: &str) -> Postgres {
    remove_clusters_of_finished_runs();
    let user = server_user();
    // Outside the repository: the server's user must be able to reach it.
    let dir = std::env::temp_dir().join(format!("s3seal-pg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    }
    let pg = Postgres {
        port: free_port(),
        dir: dir.clone(),
        bin: bin_dir(),
        user,
    };
    let out = pg
        .command("initdb")
        .args([
            "-D",
            dir.join("data").to_str().unwrap(),
            "-U",
            "s3seal",
            "--auth=trust",
        ])
        .args(["-E", "UTF8", "--no-sync", "--no-instructions"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    pg
}

/// Clusters are ~40 MB: drop those of test processes that have ended.
fn remove_clusters_of_finished_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix("s3seal-pg-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Where Debian's PostgreSQL binaries are (the newest installed version).
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb). Run scripts/test (it installs it), or `apt-get install postgresql`."
        )
    })
}

/// The uid and gid to run the server as when the tests run as root.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "running as root needs the `postgres` user (created by Debian's postgresql package)"
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    Some((id("-u"), id("-g")))
}
