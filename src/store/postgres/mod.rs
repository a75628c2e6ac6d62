//! The PostgreSQL backend: one store shared by several s3seal instances.
//!
//! Records live in one table (`s3seal_records`, see [`migrations`]). Writes
//! are PostgreSQL transactions at READ COMMITTED with row locks: a record
//! read for update (`SELECT … FOR UPDATE`) stays locked until commit, and
//! creation uses `INSERT … ON CONFLICT DO NOTHING`, so concurrent instances
//! never lose an update or create a name twice. Reads of the configuration
//! tables come from [`cache::ConfigCache`], kept current by
//! [`listener`] (LISTEN/NOTIFY, at most [`cache::STALENESS_BOUND`] behind).
//!
//! When PostgreSQL cannot be reached every operation fails with
//! [`StoreError::Unavailable`]: requests that need the store fail closed.
//! The client library is synchronous; calls made on the async runtime's
//! worker threads run in `block_in_place` so they do not stall other tasks.

pub mod cache;
pub mod listener;
pub mod migrations;

use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres::{IsolationLevel, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;
use super::backend::{Backend, Durability, Record, RecordVisitor, Table, WriteTxn};
use crate::config::StoreConfig;
use cache::ConfigCache;

type Pool = r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>;

pub struct PostgresBackend {
    pool: Pool,
    cache: Arc<ConfigCache>,
    description: String,
    _listener: listener::ListenerHandle,
}

impl PostgresBackend {
    /// Connects, applies pending schema migrations, and starts the change
    /// listener.
    pub fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let url = config
            .postgres_url
            .as_ref()
            .ok_or_else(|| StoreError::Open {
                path: "postgres".into(),
                message: "store.backend is \"postgres\" but store.postgres_url is not set".into(),
            })?;
        let mut pg_config: postgres::Config =
            url.expose().parse().map_err(|e| StoreError::Open {
                path: "store.postgres_url".into(),
                message: format!("not a PostgreSQL connection string: {e}"),
            })?;
        let timeout = Duration::from_secs(config.postgres_connect_timeout_seconds.max(1));
        pg_config
            .connect_timeout(timeout)
            .application_name("s3seal")
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
        let description = describe(&pg_config);
        let tls = tls_connector(config)?;
        off_runtime(|| {
            let mut client = pg_config
                .connect(tls.clone())
                .map_err(|e| StoreError::Open {
                    path: description.clone(),
                    message: e.to_string(),
                })?;
            let applied = migrations::migrate(&mut client)?;
            if !applied.is_empty() {
                tracing::info!(?applied, store = %description, "applied store schema migrations");
            }
            Ok::<_, StoreError>(())
        })?;
        let manager = PostgresConnectionManager::new(pg_config.clone(), tls.clone());
        let pool = r2d2::Pool::builder()
            .max_size(config.postgres_pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(timeout)
            .build(manager)
            .map_err(|e| StoreError::Open {
                path: description.clone(),
                message: e.to_string(),
            })?;
        let cache = Arc::new(ConfigCache::default());
        let listen_config = pg_config;
        let listener = listener::spawn(
            Box::new(move || listen_config.connect(tls.clone())),
            cache.clone(),
        )
        .map_err(|e| StoreError::Io(e.to_string()))?;
        Ok(PostgresBackend {
            pool,
            cache,
            description,
            _listener: listener,
        })
    }

    fn client(
        &self,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>, StoreError>
    {
        self.pool
            .get()
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", self.description)))
    }

    fn query_get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut client = self.client()?;
        let row = client
            .query_opt(
                "SELECT value FROM s3seal_records WHERE tbl = $1 AND key = $2",
                &[&table.name(), &key.as_bytes()],
            )
            .map_err(db_error)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn query_scan(&self, table: Table) -> Result<Vec<Record>, StoreError> {
        let mut client = self.client()?;
        scan_rows(&mut *client, table, None, "")
    }
}

impl Backend for PostgresBackend {
    fn get(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if !table.is_configuration() {
            return off_runtime(|| self.query_get(table, key));
        }
        let now = Instant::now();
        if let Some(cached) = self.cache.lookup(table, key, now) {
            return Ok(cached);
        }
        let ticket = self.cache.ticket(now);
        let value = off_runtime(|| self.query_get(table, key))?;
        if let Some(ticket) = ticket {
            self.cache.fill(ticket, table, key, value.clone());
        }
        Ok(value)
    }

    fn scan(&self, table: Table) -> Result<Vec<Record>, StoreError> {
        if !table.is_configuration() {
            return off_runtime(|| self.query_scan(table));
        }
        let now = Instant::now();
        if let Some(cached) = self.cache.lookup_scan(table, now) {
            return Ok(cached);
        }
        let ticket = self.cache.ticket(now);
        let records = off_runtime(|| self.query_scan(table))?;
        if let Some(ticket) = ticket {
            self.cache.fill_scan(ticket, table, records.clone());
        }
        Ok(records)
    }

    fn write(
        &self,
        durability: Durability,
        work: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let touched = off_runtime(|| {
            let mut client = self.client()?;
            let mut txn = client.transaction().map_err(db_error)?;
            if durability == Durability::Relaxed {
                // A rebuildable cache: skip waiting for the WAL flush.
                txn.batch_execute("SET LOCAL synchronous_commit = off")
                    .map_err(db_error)?;
            }
            let mut pg_txn = PgTxn {
                txn: &mut txn,
                touched: Vec::new(),
            };
            let commit = work(&mut pg_txn)?;
            let touched = std::mem::take(&mut pg_txn.touched);
            if commit {
                txn.commit().map_err(db_error)?;
                Ok(touched)
            } else {
                txn.rollback().map_err(db_error)?;
                Ok(Vec::new())
            }
        })?;
        // Our own change is visible here at once; other instances learn of
        // it from the notification.
        for (table, key) in touched {
            self.cache.invalidate(table, &key);
        }
        Ok(())
    }

    fn snapshot(&self, each: &mut RecordVisitor<'_>) -> Result<(), StoreError> {
        off_runtime(|| {
            let mut client = self.client()?;
            let mut txn = client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(db_error)?;
            for table in Table::ALL {
                for (key, value) in scan_rows(&mut txn, table, None, "")? {
                    each(table, &key, &value)?;
                }
            }
            txn.commit().map_err(db_error)
        })
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn check_ready(&self) -> Result<(), StoreError> {
        off_runtime(|| {
            self.client()?
                .simple_query("SELECT 1")
                .map_err(db_error)
                .map(drop)
        })
    }
}

/// A write transaction; remembers which records it changed.
struct PgTxn<'a, 'b> {
    txn: &'a mut Transaction<'b>,
    touched: Vec<(Table, String)>,
}

impl PgTxn<'_, '_> {
    fn touch(&mut self, table: Table, key: &str) {
        if table.is_configuration() {
            self.touched.push((table, key.to_string()));
        }
    }
}

impl WriteTxn for PgTxn<'_, '_> {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self
            .txn
            .query_opt(
                "SELECT value FROM s3seal_records WHERE tbl = $1 AND key = $2 FOR UPDATE",
                &[&table.name(), &key.as_bytes()],
            )
            .map_err(db_error)?;
        Ok(row.map(|r| r.get(0)))
    }

    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.txn
            .execute(
                "INSERT INTO s3seal_records (tbl, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (tbl, key) DO UPDATE SET value = EXCLUDED.value",
                &[&table.name(), &key.as_bytes(), &value],
            )
            .map_err(db_error)?;
        self.touch(table, key);
        Ok(())
    }

    fn insert_new(&mut self, table: Table, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        // Waits for a concurrent uncommitted insert of the same key, then
        // does nothing if that one committed: exactly one insert wins.
        let inserted = self
            .txn
            .execute(
                "INSERT INTO s3seal_records (tbl, key, value) VALUES ($1, $2, $3)
                 ON CONFLICT (tbl, key) DO NOTHING",
                &[&table.name(), &key.as_bytes(), &value],
            )
            .map_err(db_error)?;
        if inserted == 1 {
            self.touch(table, key);
        }
        Ok(inserted == 1)
    }

    fn delete(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        let deleted = self
            .txn
            .execute(
                "DELETE FROM s3seal_records WHERE tbl = $1 AND key = $2",
                &[&table.name(), &key.as_bytes()],
            )
            .map_err(db_error)?;
        if deleted > 0 {
            self.touch(table, key);
        }
        Ok(deleted > 0)
    }

    fn scan(
        &mut self,
        table: Table,
        range: Option<(&str, &str)>,
    ) -> Result<Vec<Record>, StoreError> {
        scan_rows(self.txn, table, range, " FOR UPDATE")
    }

    fn delete_range(
        &mut self,
        table: Table,
        range: Option<(&str, &str)>,
    ) -> Result<u64, StoreError> {
        let doomed = self.scan(table, range)?;
        let deleted = match range {
            Some((first, end)) => self.txn.execute(
                "DELETE FROM s3seal_records WHERE tbl = $1 AND key >= $2 AND key < $3",
                &[&table.name(), &first.as_bytes(), &end.as_bytes()],
            ),
            None => self.txn.execute(
                "DELETE FROM s3seal_records WHERE tbl = $1",
                &[&table.name()],
            ),
        }
        .map_err(db_error)?;
        for (key, _) in doomed {
            self.touch(table, &key);
        }
        Ok(deleted)
    }
}

/// Records of `table` (within `range`), sorted by key bytes.
fn scan_rows(
    client: &mut impl postgres::GenericClient,
    table: Table,
    range: Option<(&str, &str)>,
    suffix: &str,
) -> Result<Vec<Record>, StoreError> {
    let rows = match range {
        Some((first, end)) => client.query(
            &format!(
                "SELECT key, value FROM s3seal_records WHERE tbl = $1 AND key >= $2 AND key < $3 ORDER BY key{suffix}"
            ),
            &[&table.name(), &first.as_bytes(), &end.as_bytes()],
        ),
        None => client.query(
            &format!("SELECT key, value FROM s3seal_records WHERE tbl = $1 ORDER BY key{suffix}"),
            &[&table.name()],
        ),
    }
    .map_err(db_error)?;
    rows.into_iter()
        .map(|row| {
            let key: Vec<u8> = row.get(0);
            let key = String::from_utf8(key).map_err(|_| StoreError::Corrupt {
                table: table.name(),
                message: "a key is not UTF-8".into(),
            })?;
            Ok((key, row.get(1)))
        })
        .collect()
}

/// Maps a PostgreSQL error: a lost or refused connection makes the store
/// unavailable (503); anything else is a failed operation.
pub(crate) fn db_error(err: postgres::Error) -> StoreError {
    if err.is_closed() || err.as_db_error().is_none() {
        StoreError::Unavailable(err.to_string())
    } else {
        StoreError::Io(err.to_string())
    }
}

/// TLS for connections that use it (`sslmode=prefer` or `require`): rustls,
/// verifying the server against the system trust store or `postgres_ca_bundle`.
fn tls_connector(config: &StoreConfig) -> Result<MakeRustlsConnect, StoreError> {
    let bundle = config.postgres_ca_bundle.as_deref();
    let roots = match crate::upstream::tls::trusted_roots(bundle) {
        Ok(roots) => roots,
        Err(err) if bundle.is_none() => {
            // Plain connections need no roots; TLS ones will fail to verify.
            tracing::warn!(error = %err, "no CA certificates for TLS connections to PostgreSQL");
            rustls::RootCertStore::empty()
        }
        Err(err) => {
            return Err(StoreError::Open {
                path: "store.postgres_ca_bundle".into(),
                message: err.to_string(),
            });
        }
    };
    let tls = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Io(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(tls))
}

/// `postgres://user@host:port/db`, without the password.
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{}:{port}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// Runs blocking database work: directly on a plain thread, and in
/// `block_in_place` on an async worker so other tasks keep running (the
/// client library runs a runtime of its own, which tokio forbids inside a
/// worker otherwise). s3seal's runtime is multi-threaded; a single-threaded
/// one cannot host this backend.
fn off_runtime<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => work(),
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        Ok(flavor) => panic!("the PostgreSQL store needs a multi-threaded runtime, not {flavor:?}"),
    }
}
