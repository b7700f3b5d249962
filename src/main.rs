//! `ljwx-bigscreen`: parse the command line, load the configuration, run the command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ljwx_bigscreen::app::open_storage;
use ljwx_bigscreen::config::Config;
use ljwx_bigscreen::dashboard::password;
use ljwx_bigscreen::devices::parse_bindings_csv;
use ljwx_bigscreen::store::{BenchMethod, BenchOptions, Store};
use ljwx_bigscreen::{App, telemetry};
use std::path::PathBuf;

/// mimalloc returns freed memory to the OS far better than glibc's malloc under many
/// threads and short-lived request buffers (measured: docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "Ingest service for smartwatch health data with a live dashboard."
)]
struct Cli {
    /// Configuration file (TOML); missing is fine.
    #[arg(long, global = true, default_value = "bigscreen.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Write the OpenAPI document the server serves.
    ExportOpenapi {
        /// Where to write it; `-` for standard output.
        #[arg(long, default_value = "openapi/openapi.json")]
        output: PathBuf,
    },
    /// Measure the database's raw insert rate into the health table (use a scratch database:
    /// it adds the rows it measures).
    BenchDb {
        /// Rows to insert.
        #[arg(long, default_value_t = 200_000)]
        rows: usize,
        /// Rows per transaction.
        #[arg(long, default_value_t = 1000)]
        chunk: usize,
        /// Parallel connections (SQLite: 1).
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// `multi` (multi-row insert), `copy` (PostgreSQL COPY through a staging table) or
        /// `json` (PostgreSQL: one JSON parameter through `json_to_recordset`).
        #[arg(long, default_value = "multi")]
        method: String,
    },
    /// Read a password from standard input and print its argon2 hash, for
    /// `LJWX_ADMIN__PASSWORD_HASH`.
    HashPassword,
    /// Manage device → user bindings.
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
    },
}

#[derive(Subcommand)]
enum DevicesCommand {
    /// Bind devices from a CSV file: device_sn,user_id,customer_id,org_id.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(&cli.config).context("invalid configuration")?;
    let otel = telemetry::init(&config.log);
    let result = run(cli.command.unwrap_or(Command::Serve), config).await;
    // Spans of the last requests are still queued for export.
    if let Some(otel) = otel {
        tokio::task::spawn_blocking(move || otel.shutdown()).await?;
    }
    result
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            close(open_storage(&config).await?).await;
            tracing::info!("Database schema is up to date.");
            Ok(())
        }
        Command::ExportOpenapi { output } => {
            // The document does not depend on data: build the API over a throwaway database.
            config.database.url = ljwx_bigscreen::config::Secret::new("sqlite::memory:");
            // …and a fixed dashboard password, so no password is generated and printed.
            config.admin.password = Some(ljwx_bigscreen::config::Secret::new("export-openapi"));
            let app = App::build(config).await?;
            let spec = app.api().spec();
            app.close().await;
            if output.as_os_str() == "-" {
                println!("{spec}");
            } else {
                std::fs::write(&output, format!("{spec}\n"))
                    .with_context(|| format!("cannot write {}", output.display()))?;
            }
            Ok(())
        }
        Command::BenchDb {
            rows,
            chunk,
            connections,
            method,
        } => {
            let method = match method.as_str() {
                "multi" => BenchMethod::Multi,
                "copy" => BenchMethod::Copy,
                "json" => BenchMethod::Json,
                other => anyhow::bail!("unknown method {other:?}: multi, copy or json"),
            };
            config.database.max_connections =
                config.database.max_connections.max(connections as u32 + 1);
            let store = open_storage(&config).await?;
            let result = store
                .bench_insert(BenchOptions {
                    rows,
                    chunk,
                    connections,
                    method,
                })
                .await?;
            close(store).await;
            println!("{}", serde_json::to_string(&result)?);
            Ok(())
        }
        Command::HashPassword => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            let password = line.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!password.is_empty(), "the password is empty");
            println!("{}", password::hash(password)?);
            Ok(())
        }
        Command::Devices {
            command: DevicesCommand::Import { file },
        } => {
            let input = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let imports = parse_bindings_csv(input)?;
            let store = open_storage(&config).await?;
            store.bind_devices(&imports).await?;
            close(store).await;
            println!("Bound {} devices.", imports.len());
            Ok(())
        }
    }
}

/// Closes the pool of a maintenance command.
async fn close(store: Store) {
    if let Err(err) = store.connection().clone().close().await {
        tracing::warn!(error = %err, "Closing the database pool failed.");
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Thousands of devices keep connections open: lift the soft open-files limit to the hard.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "Open-files limit raised."),
        Err(err) => tracing::warn!(error = %err, "Could not raise the open-files limit."),
    }
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let app = App::build(config).await?;
    app.serve(listener, shutdown_signal()).await?;
    tracing::info!("Stopped.");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("Shutdown signal received; finishing in-flight requests.");
}
