//! The PostgreSQL schema's versions: the SQL files in `migrations/postgres/`,
//! applied in order at start, each once, recorded in
//! `s3seal_schema_migrations`.
//!
//! An advisory lock serialises instances starting together. A store whose
//! schema is newer than this build knows is refused (an older binary must
//! not write to a schema it does not understand). Never edit an applied
//! migration; add the next file.

use postgres::Client;

use super::super::StoreError;
use super::db_error;

/// (version, name, SQL), in order.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "records",
    include_str!("../../../migrations/postgres/0001_records.sql"),
)];

/// Any constant: the key of the advisory lock migrations hold ("s3seal" in ASCII).
const MIGRATION_LOCK: i64 = 0x7333_7365_616c;

/// The schema version this build writes.
pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}

/// Brings the schema up to [`latest_version`]; returns the versions applied.
pub fn migrate(client: &mut Client) -> Result<Vec<i32>, StoreError> {
    let mut txn = client.transaction().map_err(db_error)?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db_error)?;
    txn.batch_execute(
        "CREATE TABLE IF NOT EXISTS s3seal_schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .map_err(db_error)?;
    let current: i32 = txn
        .query_one(
            "SELECT coalesce(max(version), 0) FROM s3seal_schema_migrations",
            &[],
        )
        .map_err(db_error)?
        .get(0);
    if current > latest_version() {
        return Err(StoreError::Io(format!(
            "the store's schema is at version {current}, newer than this s3seal knows ({}): upgrade s3seal",
            latest_version()
        )));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > current) {
        txn.batch_execute(sql).map_err(|e| {
            StoreError::Io(format!("schema migration {version} ({name}) failed: {e}"))
        })?;
        txn.execute(
            "INSERT INTO s3seal_schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .map_err(db_error)?;
        applied.push(*version);
    }
    txn.commit().map_err(db_error)?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, (version, name, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i as i32 + 1, "{name}");
            assert!(!sql.trim().is_empty());
        }
        assert_eq!(latest_version(), MIGRATIONS.len() as i32);
    }

    #[test]
    fn the_notify_trigger_names_exactly_the_cached_tables() {
        let sql = MIGRATIONS[0].2;
        let line = sql
            .lines()
            .find(|l| l.contains("changed.tbl IN"))
            .expect("the trigger's table list");
        for table in super::super::super::Table::ALL {
            let named = line.contains(&format!("'{}'", table.name()));
            assert_eq!(named, table.is_configuration(), "{}", table.name());
        }
    }
}
