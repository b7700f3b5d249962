//! Partitions on PostgreSQL: declarative `PARTITION BY RANGE (timestamp)`, a partition table
//! per month (`t_user_health_data_p202612`, from the month's first instant to the next's),
//! the first one from `MINVALUE`, and the default partition `t_user_health_data_pdefault`.

use super::{Month, Partition, PartitionError, Progress, TABLE, execute};
use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait, Value,
};

/// The table a conversion builds before it takes the name.
const NEW_TABLE: &str = "t_user_health_data_partitioned";
/// The name the converted table keeps.
const OLD_TABLE: &str = "t_user_health_data_unpartitioned";
/// The sequence of the partitioned table's `id`: PostgreSQL before 17 has no identity
/// columns on partitioned tables, and the old table's identity sequence stays with it.
const ID_SEQUENCE: &str = "t_user_health_data_id_partitioned_seq";
/// Rows copied per statement by a conversion.
const CHUNK_ROWS: i64 = 50_000;
/// Key of the advisory lock that keeps two conversions apart.
const CONVERT_LOCK: i64 = 0x6c6a_7778_7061_7274;

/// The default partition's table.
fn default_partition() -> String {
    format!("{TABLE}_pdefault")
}

/// The partition table of `month`.
fn table_of(month: Month) -> String {
    format!("{TABLE}_{}", month.name())
}

/// A `timestamptz` literal.
fn literal(at: DateTime<Utc>) -> String {
    format!("'{}'", at.format("%Y-%m-%d %H:%M:%S+00"))
}

/// The table's partitions, the months by name and the default partition last; `None` when the
/// table is not partitioned.
pub(super) async fn partitions(db: &DatabaseConnection) -> Result<Option<Vec<Partition>>, DbErr> {
    if !partitioned(db).await? {
        return Ok(None);
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT c.relname::text AS name, pg_get_expr(c.relpartbound, c.oid) AS bounds, \
                 GREATEST(c.reltuples, 0)::bigint AS rows_estimate \
                 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = '{TABLE}'::regclass ORDER BY c.relname"
            ),
        ))
        .await?;
    let mut partitions = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get("", "name")?;
        partitions.push(Partition {
            month: Month::parse(&name),
            bounds: row.try_get("", "bounds")?,
            rows: row.try_get("", "rows_estimate")?,
            name,
        });
    }
    Ok(Some(partitions))
}

/// Creates the partition of `month`, moving into it what the default partition holds of
/// that month (samples that came before the partition existed), and returns its name.
pub(super) async fn create(db: &DatabaseConnection, month: Month) -> Result<String, DbErr> {
    let name = table_of(month);
    let (from, to) = (literal(month.start()), literal(month.next().start()));
    let range = format!("timestamp >= {from} AND timestamp < {to}");
    let default = default_partition();
    let stray = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT 1 AS one FROM {default} WHERE {range} LIMIT 1"),
        ))
        .await?
        .is_some();
    let create =
        format!("CREATE TABLE {name} PARTITION OF {TABLE} FOR VALUES FROM ({from}) TO ({to})");
    if !stray {
        execute(db, &create).await?;
        return Ok(name);
    }
    // The server refuses a partition whose rows the default partition holds: detach it,
    // create the partition, move the rows through the parent, attach it again — one
    // transaction, which the writer's inserts wait for.
    let txn = db.begin().await?;
    execute(
        &txn,
        &format!("ALTER TABLE {TABLE} DETACH PARTITION {default}"),
    )
    .await?;
    execute(&txn, &create).await?;
    execute(
        &txn,
        &format!("INSERT INTO {TABLE} SELECT * FROM {default} WHERE {range}"),
    )
    .await?;
    execute(&txn, &format!("DELETE FROM {default} WHERE {range}")).await?;
    execute(
        &txn,
        &format!("ALTER TABLE {TABLE} ATTACH PARTITION {default} DEFAULT"),
    )
    .await?;
    txn.commit().await?;
    Ok(name)
}

/// Drops the partition table `name` and its rows.
pub(super) async fn drop(db: &DatabaseConnection, name: &str) -> Result<(), DbErr> {
    execute(db, &format!("DROP TABLE \"{name}\"")).await
}

/// The seed's indexes of the health table (migration 3), as the partitioned table has them:
/// `(name, definition)`.
const INDEXES: [(&str, &str); 5] = [
    (
        "uk_device_timestamp",
        "UNIQUE INDEX {name} ON {table} (device_sn, timestamp)",
    ),
    (
        "idx_user_timestamp",
        "INDEX {name} ON {table} (user_id, timestamp)",
    ),
    (
        "idx_customer_org",
        "INDEX {name} ON {table} (customer_id, org_id)",
    ),
    ("idx_batch_id", "INDEX {name} ON {table} (batch_id)"),
    ("idx_create_time", "INDEX {name} ON {table} (create_time)"),
];

/// Copies the table into a new partitioned one with `months` partitions, the first from
/// `MINVALUE`, and the default partition, then gives it the table's name — in one
/// transaction. Rows are copied by `id` in chunks while the writer goes on; the last ones
/// under a lock that holds writes until the swap commits. The old table stays, renamed to
/// `t_user_health_data_unpartitioned`, for the operator to drop once satisfied.
pub(super) async fn convert(
    db: &DatabaseConnection,
    months: &[Month],
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), PartitionError> {
    let txn = db.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [Value::BigInt(Some(CONVERT_LOCK))],
    ))
    .await?;
    if partitioned(&txn).await? {
        return Err(PartitionError::State(format!(
            "{TABLE} is partitioned already"
        )));
    }
    let total: i64 = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT GREATEST(reltuples, 0)::bigint AS estimate FROM pg_class \
                 WHERE oid = '{TABLE}'::regclass"
            ),
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "estimate"))
        .transpose()?
        .unwrap_or(0);
    execute(&txn, &format!("CREATE SEQUENCE {ID_SEQUENCE}")).await?;
    execute(
        &txn,
        &format!(
            "CREATE TABLE {NEW_TABLE} (LIKE {TABLE} INCLUDING DEFAULTS) \
             PARTITION BY RANGE (timestamp)"
        ),
    )
    .await?;
    execute(
        &txn,
        &format!("ALTER TABLE {NEW_TABLE} ALTER COLUMN id SET DEFAULT nextval('{ID_SEQUENCE}')"),
    )
    .await?;
    for (i, &month) in months.iter().enumerate() {
        let from = if i == 0 {
            "MINVALUE".to_owned()
        } else {
            literal(month.start())
        };
        execute(
            &txn,
            &format!(
                "CREATE TABLE {} PARTITION OF {NEW_TABLE} FOR VALUES FROM ({from}) TO ({})",
                table_of(month),
                literal(month.next().start())
            ),
        )
        .await?;
    }
    execute(
        &txn,
        &format!(
            "CREATE TABLE {} PARTITION OF {NEW_TABLE} DEFAULT",
            default_partition()
        ),
    )
    .await?;
    // The keys before the copy, under names of their own until the swap.
    execute(
        &txn,
        &format!(
            "ALTER TABLE {NEW_TABLE} ADD CONSTRAINT {NEW_TABLE}_pkey PRIMARY KEY (id, timestamp)"
        ),
    )
    .await?;
    for (name, definition) in INDEXES {
        let sql = definition
            .replace("{name}", &format!("{name}_partitioned"))
            .replace("{table}", NEW_TABLE);
        execute(&txn, &format!("CREATE {sql}")).await?;
    }

    let mut copied = 0u64;
    let mut last = i64::MIN;
    let total = u64::try_from(total).unwrap_or(0);
    copy_rows(&txn, &mut last, &mut copied, &mut |rows| {
        progress(Progress::Copied {
            rows,
            total: total.max(rows),
        });
    })
    .await?;
    // From here the writer's inserts wait until the swap commits; reads go on.
    execute(&txn, &format!("LOCK TABLE {TABLE} IN EXCLUSIVE MODE")).await?;
    copy_rows(&txn, &mut last, &mut copied, &mut |rows| {
        progress(Progress::Copied {
            rows,
            total: total.max(rows),
        });
    })
    .await?;

    // New ids continue after every copied one; the sequence goes with the new table.
    execute(
        &txn,
        &format!(
            "SELECT setval('{ID_SEQUENCE}', COALESCE((SELECT MAX(id) FROM {NEW_TABLE}), 0) + 1, false)"
        ),
    )
    .await?;
    execute(
        &txn,
        &format!("ALTER SEQUENCE {ID_SEQUENCE} OWNED BY {NEW_TABLE}.id"),
    )
    .await?;
    let old_indexes = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT indexname::text AS name FROM pg_indexes WHERE tablename = '{TABLE}'"),
        ))
        .await?;
    execute(&txn, &format!("ALTER TABLE {TABLE} RENAME TO {OLD_TABLE}")).await?;
    for row in old_indexes {
        let name: String = row.try_get("", "name")?;
        execute(
            &txn,
            &format!("ALTER INDEX \"{name}\" RENAME TO \"{name}_unpartitioned\""),
        )
        .await?;
    }
    execute(&txn, &format!("ALTER TABLE {NEW_TABLE} RENAME TO {TABLE}")).await?;
    execute(
        &txn,
        &format!("ALTER INDEX {NEW_TABLE}_pkey RENAME TO {TABLE}_pkey"),
    )
    .await?;
    for (name, _) in INDEXES {
        execute(
            &txn,
            &format!("ALTER INDEX {name}_partitioned RENAME TO {name}"),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Whether the health table is partitioned, as `db` (perhaps a transaction) sees it.
async fn partitioned(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let kind = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT relkind::text AS kind FROM pg_class WHERE oid = to_regclass('{TABLE}')"
            ),
        ))
        .await?
        .map(|row| row.try_get::<String>("", "kind"))
        .transpose()?;
    Ok(kind.as_deref() == Some("p"))
}

/// Copies the rows with an `id` above `last` from the table into the new one, a chunk per
/// statement, until none is left; advances `last` and `copied`, and reports `copied` after
/// each chunk.
async fn copy_rows(
    db: &impl ConnectionTrait,
    last: &mut i64,
    copied: &mut u64,
    report: &mut (dyn FnMut(u64) + Send),
) -> Result<(), DbErr> {
    let sql = format!(
        "WITH chunk AS (SELECT * FROM {TABLE} WHERE id > $1 ORDER BY id LIMIT {CHUNK_ROWS}), \
         copied AS (INSERT INTO {NEW_TABLE} SELECT * FROM chunk RETURNING id) \
         SELECT COUNT(*) AS n, MAX(id) AS last FROM copied"
    );
    loop {
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql.as_str(),
                [Value::BigInt(Some(*last))],
            ))
            .await?;
        let Some(row) = row else { return Ok(()) };
        let n: i64 = row.try_get("", "n")?;
        let Some(max) = row.try_get::<Option<i64>>("", "last")? else {
            return Ok(());
        };
        *last = max;
        *copied += u64::try_from(n).unwrap_or(0);
        report(*copied);
    }
}
