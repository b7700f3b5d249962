//! The raw insert rate of the database: the fastest plain way to put health rows into
//! `t_user_health_data` with the same dedup semantics as the service, without the service.
//! `bench-db` prints it, so the writer's throughput can be read against it.

use chrono::{DateTime, TimeDelta, Utc};
use ljwx_bigscreen::store::sql::{insert_ignore, rows_per_statement, statement, values_list};
use ljwx_bigscreen::store::{Store, StoreError};
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
    /// PostgreSQL only: the chunk as one JSON parameter, `INSERT … SELECT … FROM
    /// json_to_recordset($1) … ON CONFLICT DO NOTHING`, one transaction per chunk.
    Json,
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

/// Inserts `options.rows` synthetic rows of devices `BENCH<run>_<n>` into `store` and reports
/// the rate.
pub async fn bench_insert(store: &Store, options: BenchOptions) -> Result<BenchResult, StoreError> {
    Bench(store.clone()).run(options).await
}

/// The store measured.
struct Bench(Store);

impl Bench {
    async fn run(&self, options: BenchOptions) -> Result<BenchResult, StoreError> {
        let backend = self.0.backend();
        if options.method != BenchMethod::Multi && backend != DbBackend::Postgres {
            return Err(StoreError::Database(DbErr::Custom(
                "copy and json are PostgreSQL methods".to_owned(),
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
            let store = Bench(self.0.clone());
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
                        BenchMethod::Json => store.bench_json(run, base, start, end).await?,
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
        let backend = self.0.backend();
        let txn = self.0.connection().begin().await?;
        let per_statement = rows_per_statement(backend, COLUMN_COUNT, usize::MAX);
        let rows: Vec<usize> = (start..end).collect();
        for rows in rows.chunks(per_statement) {
            let mut values = Vec::with_capacity(rows.len() * COLUMN_COUNT);
            for &i in rows {
                values.extend(synthetic(run, base, i).values());
            }
            let list = values_list(backend, rows.len(), COLUMN_COUNT);
            let sql = insert_ignore(
                backend,
                "t_user_health_data",
                COLUMNS,
                &list,
                "device_sn, timestamp",
            );
            txn.execute_raw(statement(backend, sql, values)).await?;
        }
        txn.commit().await
    }

    async fn bench_json(
        &self,
        run: u32,
        base: DateTime<Utc>,
        start: usize,
        end: usize,
    ) -> Result<(), DbErr> {
        let rows: Vec<Synthetic> = (start..end).map(|i| synthetic(run, base, i)).collect();
        let json = serde_json::to_string(&rows).map_err(|e| DbErr::Custom(e.to_string()))?;
        let sql = format!(
            "INSERT INTO t_user_health_data ({COLUMNS}) SELECT {COLUMNS} FROM \
             json_to_recordset($1::json) AS r(user_id bigint, device_sn varchar, \
             heart_rate int, blood_oxygen int, temperature numeric, pressure_high int, \
             pressure_low int, stress int, step int, distance int, calorie int, \
             latitude numeric, longitude numeric, \"timestamp\" timestamptz, \
             upload_method varchar, customer_id bigint, org_id bigint, batch_id varchar, \
             create_time timestamptz) ON CONFLICT (device_sn, timestamp) DO NOTHING"
        );
        let txn = self.0.connection().begin().await?;
        txn.execute_raw(statement(
            DbBackend::Postgres,
            sql,
            vec![Value::String(Some(json))],
        ))
        .await?;
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
            .0
            .connection()
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
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                r.user_id,
                r.device_sn,
                r.heart_rate,
                r.blood_oxygen,
                r.temperature,
                r.pressure_high,
                r.pressure_low,
                r.stress,
                r.step,
                r.distance,
                r.calorie,
                r.latitude,
                r.longitude,
                r.timestamp.to_rfc3339(),
                r.upload_method,
                r.customer_id,
                r.org_id,
                r.batch_id,
                r.create_time.to_rfc3339()
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

/// A synthetic health row, fields named and ordered as [`COLUMNS`] (the JSON method sends
/// it as it is).
#[derive(serde::Serialize)]
struct Synthetic {
    /// The device's wearer: one per device, as the load generator's bindings have it, so
    /// the `(user_id, timestamp)` index takes rows at as many places as under load.
    user_id: i64,
    device_sn: String,
    heart_rate: i32,
    blood_oxygen: i32,
    temperature: f64,
    pressure_high: i32,
    pressure_low: i32,
    stress: i32,
    step: i32,
    distance: i32,
    calorie: i32,
    latitude: f64,
    longitude: f64,
    timestamp: DateTime<Utc>,
    upload_method: &'static str,
    customer_id: i64,
    org_id: i64,
    batch_id: String,
    create_time: DateTime<Utc>,
}

impl Synthetic {
    /// The row's values in [`COLUMNS`] order.
    fn values(self) -> [Value; COLUMN_COUNT] {
        [
            Value::BigInt(Some(self.user_id)),
            Value::String(Some(self.device_sn)),
            Value::Int(Some(self.heart_rate)),
            Value::Int(Some(self.blood_oxygen)),
            Value::Double(Some(self.temperature)),
            Value::Int(Some(self.pressure_high)),
            Value::Int(Some(self.pressure_low)),
            Value::Int(Some(self.stress)),
            Value::Int(Some(self.step)),
            Value::Int(Some(self.distance)),
            Value::Int(Some(self.calorie)),
            Value::Double(Some(self.latitude)),
            Value::Double(Some(self.longitude)),
            Value::ChronoDateTimeUtc(Some(self.timestamp)),
            Value::String(Some(self.upload_method.to_owned())),
            Value::BigInt(Some(self.customer_id)),
            Value::BigInt(Some(self.org_id)),
            Value::String(Some(self.batch_id)),
            Value::ChronoDateTimeUtc(Some(self.create_time)),
        ]
    }
}

/// Row `i` of a run: unique `(device, timestamp)`, spread over [`DEVICES`] devices.
fn synthetic(run: u32, base: DateTime<Utc>, i: usize) -> Synthetic {
    let step = i64::try_from(i / DEVICES).unwrap_or(i64::MAX);
    Synthetic {
        user_id: i64::try_from(i % DEVICES + 1).unwrap_or(1),
        device_sn: format!("BENCH{run:06}_{:04}", i % DEVICES),
        heart_rate: 60 + (i % 60) as i32,
        blood_oxygen: 98,
        temperature: 36.6,
        pressure_high: 120,
        pressure_low: 80,
        stress: 40,
        step: 9000,
        distance: 6000,
        calorie: 2500,
        latitude: 22.543_123_4,
        longitude: 114.057_987_6,
        timestamp: base + TimeDelta::seconds(step),
        upload_method: "bench",
        customer_id: 1,
        org_id: 1,
        batch_id: format!("bench_{run}_{}", i / 1000),
        create_time: Utc::now(),
    }
}
