//! Schema migrations: plain SQL files in `migrations/`, applied in order under an advisory
//! lock so that replicas starting together migrate once. A schema newer than this version
//! knows is refused rather than guessed at.

use super::{classify, PgStore};
use crate::store::{Result, StoreError};

/// Every migration this version knows, in order; the schema version is their count.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_records",
        include_str!("../../../migrations/0001_records.sql"),
    ),
    (
        "0002_claims",
        include_str!("../../../migrations/0002_claims.sql"),
    ),
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// An arbitrary constant shared by every replica: the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x5747_6174_6531;

impl PgStore {
    /// Brings the schema up to [`SCHEMA_VERSION`]; returns the version found before.
    pub(crate) async fn migrate(&self) -> Result<i32> {
        let mut client = self.client().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(classify)?;
        let outcome = apply(&mut client).await;
        // Released on every path; a lost connection releases it as well.
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await;
        outcome
    }
}

async fn apply(client: &mut deadpool_postgres::Object) -> Result<i32> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS statusgate_schema (version integer NOT NULL);
             INSERT INTO statusgate_schema (version)
                 SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM statusgate_schema);",
        )
        .await
        .map_err(classify)?;
    let row = client
        .query_one("SELECT version FROM statusgate_schema", &[])
        .await
        .map_err(classify)?;
    let found: i32 = row.get(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::Io(format!(
            "the database schema is version {found}, newer than this statusgate knows \
             ({SCHEMA_VERSION}); run a newer statusgate or restore the older schema"
        )));
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i32 + 1;
        let tx = client.transaction().await.map_err(classify)?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Io(format!("migration {name} failed: {}", classify(e))))?;
        tx.execute("UPDATE statusgate_schema SET version = $1", &[&version])
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        tracing::info!(migration = name, version, "database schema migrated");
    }
    Ok(found)
}
