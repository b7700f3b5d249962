//! The raw insert rate of the database: the fastest plain way to put health rows into
//! `t_user_health_data` with the same dedup semantics as the service, without the service.
//! `ljwx-bigscreen bench-db` prints it, so the writer's throughput can be read against it.

use super::sql::{insert_ignore, rows_per_statement, statement, values_list};
use super::{Store, StoreError};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, TransactionTrait, Value};
use std::fmt::Write as _;
use std::time::Instant;

/// How rows are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchMethod {
    /// Multi-row `INSERT IGNORE` / `INSERT … ON CONFLICT DO NOTHING`, one transaction per
    /// chunk.
    Multi,
    /// PostgreSQL only: `COPY` into a staging table, then `INSERT … SELECT … ON CONFLICT DO
    /// NOTHING`, one transaction per chunk.
    Copy,
}

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Rows to insert in all.
    pub rows: usize,
    /// Rows per transaction.
    pub chunk: usize,
    /// Connections inserting in parallel (SQLite: always 1, it has one writer).
    pub connections: usize,
    /// How rows are sent.
    pub method: BenchMethod,
}

/// The measurement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchResult {
    /// The options measured.
    pub method: BenchMethod,
    /// Rows per transaction.
    pub chunk: usize,
    /// Parallel connections.
    pub connections: usize,
    /// Rows sent.
    pub rows: usize,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Rows per second.
    pub rows_per_second: f64,
}

const COLUMNS: &str = "user_id, device_sn, heart_rate, blood_oxygen, temperature, \
    pressure_high, pressure_low, stress, step, distance, calorie, latitude, longitude, \
    timestamp, upload_method, customer_id, org_id, batch_id, create_time";
const COLUMN_COUNT: usize = 19;
/// Synthetic devices the rows are spread over (as the seed's stress test: 1000).
const DEVICES: usize = 1000;

impl Store {
    /// Inserts `options.rows` synthetic rows of devices `BENCH<run>_<n>` and reports the rate.
    pub async fn bench_insert(&self, options: BenchOptions) -> Result<BenchResult, StoreError> {
        let backend = self.backend();
        if options.method == BenchMethod::Copy && backend != DbBackend::Postgres {
            return Err(StoreError::Database(DbErr::Custom(
                "COPY exists on PostgreSQL only".to_owned(),
            )));
        }
        let connections = if backend == DbBackend::Sqlite {
            1
        } else {
            options.connections.max(1)
        };
        let chunk = options.chunk.max(1);
        let run = Utc::now().timestamp_subsec_micros();
        let base = Utc::now() - TimeDelta::days(45);
        let chunks: Vec<(usize, usize)> = (0..options.rows)
            .step_by(chunk)
            .map(|start| (start, (start + chunk).min(options.rows)))
            .collect();
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(connections);
        for worker in 0..connections {
            let store = self.clone();
            let mine: Vec<(usize, usize)> = chunks
                .iter()
                .skip(worker)
                .step_by(connections)
                .copied()
                .collect();
            tasks.push(tokio::spawn(async move {
                for (start, end) in mine {
                    match options.method {
                        BenchMethod::Multi => store.bench_multi(run, base, start, end).await?,
                        BenchMethod::Copy => store.bench_copy(run, base, start, end).await?,
                    }
                }
                Ok::<(), DbErr>(())
            }));
        }
        for task in tasks {
            task.await
                .map_err(|err| StoreError::Database(DbErr::Custom(err.to_string())))??;
        }
        let seconds = started.elapsed().as_secs_f64().max(f64::EPSILON);
        Ok(BenchResult {
            method: options.method,
            chunk,
            connections,
            rows: options.rows,
            seconds,
            rows_per_second: options.rows as f64 / seconds,
        })
    }

    async fn bench_multi(
        &self,
        run: u32,
        base: DateTime<Utc>,
        start: usize,
        end: usize,
    ) -> Result<(), DbErr> {
        let backend = self.backend();
        let txn = self.db.begin().await?;
        let per_statement = rows_per_statement(backend, COLUMN_COUNT, usize::MAX);
        let rows: Vec<usize> = (start..end).collect();
        for rows in rows.chunks(per_statement) {
            let mut values = Vec::with_capacity(rows.len() * COLUMN_COUNT);
            for &i in rows {
                let r = synthetic(run, base, i);
                values.extend([
                    Value::BigInt(Some(r.user_id)),
                    Value::String(Some(r.device)),
                    Value::Int(Some(r.heart_rate)),
                    Value::Int(Some(98)),
                    Value::Double(Some(36.6)),
                    Value::Int(Some(120)),
                    Value::Int(Some(80)),
                    Value::Int(Some(40)),
                    Value::Int(Some(9000)),
                    Value::Int(Some(6000)),
                    Value::Int(Some(2500)),
                    Value::Double(Some(22.5431234)),
                    Value::Double(Some(114.0579876)),
                    Value::ChronoDateTimeUtc(Some(r.timestamp)),
                    Value::String(Some("bench".to_owned())),
                    Value::BigInt(Some(1)),
                    Value::BigInt(Some(1)),
                    Value::String(Some(r.batch)),
                    Value::ChronoDateTimeUtc(Some(Utc::now())),
                ]);
            }
            let list = values_list(backend, rows.len(), COLUMN_COUNT);
            let sql = insert_ignore(
                backend,
                "t_user_health_data",
                COLUMNS,
                &list,
                "device_sn, timestamp",
                "",
            );
            txn.execute_raw(statement(backend, sql, values)).await?;
        }
        txn.commit().await
    }

    async fn bench_copy(
        &self,
        run: u32,
        base: DateTime<Utc>,
        start: usize,
        end: usize,
    ) -> Result<(), DbErr> {
        let sqlx_err = |e: sqlx::Error| DbErr::Custom(e.to_string());
        let mut conn = self
            .db
            .get_postgres_connection_pool()
            .acquire()
            .await
            .map_err(sqlx_err)?;
        let mut tx = conn.begin().await.map_err(sqlx_err)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TEMP TABLE IF NOT EXISTS bench_stage ON COMMIT DELETE ROWS AS \
             SELECT {COLUMNS} FROM t_user_health_data WITH NO DATA"
        )))
        .execute(&mut *tx)
        .await
        .map_err(sqlx_err)?;
        let mut data = String::with_capacity((end - start) * 160);
        for i in start..end {
            let r = synthetic(run, base, i);
            let _ = writeln!(
                data,
                "{}\t{}\t{}\t98\t36.6\t120\t80\t40\t9000\t6000\t2500\t22.5431234\t114.0579876\t{}\tbench\t1\t1\t{}\t{}",
                r.user_id,
                r.device,
                r.heart_rate,
                r.timestamp.to_rfc3339(),
                r.batch,
                Utc::now().to_rfc3339()
            );
        }
        let mut copy = tx
            .copy_in_raw(&format!("COPY bench_stage ({COLUMNS}) FROM STDIN"))
            .await
            .map_err(sqlx_err)?;
        copy.send(data.as_bytes()).await.map_err(sqlx_err)?;
        copy.finish().await.map_err(sqlx_err)?;
        // Built from constants only.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO t_user_health_data ({COLUMNS}) SELECT {COLUMNS} FROM bench_stage \
             ON CONFLICT (device_sn, timestamp) DO NOTHING"
        )))
        .execute(&mut *tx)
        .await
        .map_err(sqlx_err)?;
        tx.commit().await.map_err(sqlx_err)
    }
}

struct Synthetic {
    /// The device's wearer: one per device, as the load generator's bindings have it, so
    /// the `(user_id, timestamp)` index takes rows at as many places as under load.
    user_id: i64,
    device: String,
    timestamp: DateTime<Utc>,
    heart_rate: i32,
    batch: String,
}

/// Row `i` of a run: unique `(device, timestamp)`, spread over [`DEVICES`] devices.
fn synthetic(run: u32, base: DateTime<Utc>, i: usize) -> Synthetic {
    let step = i64::try_from(i / DEVICES).unwrap_or(i64::MAX);
    Synthetic {
        user_id: i64::try_from(i % DEVICES + 1).unwrap_or(1),
        device: format!("BENCH{run:06}_{:04}", i % DEVICES),
        timestamp: base + TimeDelta::seconds(step),
        heart_rate: 60 + (i % 60) as i32,
        batch: format!("bench_{run}_{}", i / 1000),
    }
}
