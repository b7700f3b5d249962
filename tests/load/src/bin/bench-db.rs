//! `bench-db`: the database's raw insert rate into the health table, as JSON on standard
//! output. Use a scratch database: it adds the rows it measures.

use anyhow::Context;
use clap::Parser;
use ljwx_bigscreen::app::open_storage;
use ljwx_bigscreen::config::Config;
use ljwx_load::bench::{BenchMethod, BenchOptions, bench_insert};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    version,
    about = "Raw insert rate of the ljwx-bigscreen database (DATABASE_URL; use a scratch database)."
)]
struct Cli {
    /// Configuration file of the service (TOML); missing is fine.
    #[arg(long, default_value = "bigscreen.toml")]
    config: PathBuf,
    /// Rows to insert.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Rows per transaction.
    #[arg(long, default_value_t = 1000)]
    chunk: usize,
    /// Parallel connections (SQLite: 1).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// `multi` (multi-row insert), `copy` (PostgreSQL COPY through a staging table) or `json`
    /// (PostgreSQL: one JSON parameter through `json_to_recordset`).
    #[arg(long, default_value = "multi")]
    method: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(&cli.config).context("invalid configuration")?;
    let method = match cli.method.as_str() {
        "multi" => BenchMethod::Multi,
        "copy" => BenchMethod::Copy,
        "json" => BenchMethod::Json,
        other => anyhow::bail!("unknown method {other:?}: multi, copy or json"),
    };
    config.database.max_connections = config
        .database
        .max_connections
        .max(cli.connections as u32 + 1);
    let store = open_storage(&config).await?;
    let result = bench_insert(
        &store,
        BenchOptions {
            rows: cli.rows,
            chunk: cli.chunk,
            connections: cli.connections,
            method,
        },
    )
    .await;
    if let Err(err) = store.connection().clone().close().await {
        eprintln!("closing the database pool failed: {err}");
    }
    println!("{}", serde_json::to_string(&result?)?);
    Ok(())
}
