//! `ljwx-bigscreen`: parse the command line, load the configuration, run the command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ljwx_bigscreen::access::password;
use ljwx_bigscreen::app::{Stop, open_storage};
use ljwx_bigscreen::config::Config;
use ljwx_bigscreen::devices::keys as device_keys;
use ljwx_bigscreen::devices::parse_bindings_csv;
use ljwx_bigscreen::domain::KeyOwner;
use ljwx_bigscreen::domain::is_valid_device_sn;
use ljwx_bigscreen::store::{Progress, Store};
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
    /// Read a password from standard input and print its argon2 hash, for
    /// `LJWX_ADMIN__PASSWORD_HASH`.
    HashPassword,
    /// Manage device → user bindings.
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
    },
    /// The health table's monthly partitions (MariaDB/MySQL, PostgreSQL).
    Partitions {
        #[command(subcommand)]
        command: PartitionsCommand,
    },
}

#[derive(Subcommand)]
enum PartitionsCommand {
    /// List the partitions: name, what each holds, estimated rows.
    Status,
    /// Create the months ahead and drop those past retention once, as housekeeping does
    /// (`partitions.ahead`, `partitions.retention_months`).
    Maintain,
    /// Convert an unpartitioned health table: all or nothing. MariaDB/MySQL rewrite it in one
    /// ALTER TABLE, during which writes wait; PostgreSQL copies it while writes go on and
    /// holds them only for the last rows and the swap, keeping the old table as
    /// t_user_health_data_unpartitioned.
    Convert,
}

#[derive(Subcommand)]
enum DevicesCommand {
    /// Bind devices from a CSV file: device_sn,user_id,customer_id,org_id.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// Device keys (for `devices.auth = optional | required`).
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Issue a key and print it once on standard output (only its hash is kept).
    Issue(KeyOwnerArgs),
    /// List the keys (ids, issue and revocation times; never the keys themselves).
    List(KeyOwnerArgs),
    /// Revoke key ID, or with `--all` every valid key.
    Revoke {
        #[command(flatten)]
        owner: KeyOwnerArgs,
        /// The key id (from `list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every valid key of the device (or customer).
        #[arg(long)]
        all: bool,
    },
}

/// Whose keys: a device's, or with `--customer` a customer's gateway keys.
#[derive(clap::Args)]
struct KeyOwnerArgs {
    /// Serial number of the device.
    #[arg(required_unless_present = "customer", conflicts_with = "customer")]
    sn: Option<String>,
    /// A customer id: gateway keys, good for every device bound to the customer.
    #[arg(long)]
    customer: Option<i64>,
}

impl KeyOwnerArgs {
    fn owner(self) -> anyhow::Result<KeyOwner> {
        match (self.sn, self.customer) {
            (Some(sn), None) => {
                anyhow::ensure!(
                    is_valid_device_sn(&sn),
                    "{sn:?} is not a device serial number (5–64 printable ASCII characters)"
                );
                Ok(KeyOwner::Device(sn))
            }
            (None, Some(customer)) => Ok(KeyOwner::Customer(customer)),
            _ => anyhow::bail!("name a device serial number or --customer ID"),
        }
    }
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
            command: DevicesCommand::Key { command },
        } => {
            let store = open_storage(&config).await?;
            let result = keys(&store, command).await;
            close(store).await;
            result
        }
        Command::Partitions { command } => {
            let store = open_storage(&config).await?;
            let result = partitions(&store, &config, command).await;
            close(store).await;
            result
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

/// Runs a `devices key` command.
async fn keys(store: &Store, command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Issue(owner) => {
            let owner = owner.owner()?;
            let Some((key, info)) = device_keys::issue(store, &owner).await? else {
                anyhow::bail!(
                    "{} valid keys exist already: revoke one first",
                    device_keys::MAX_ACTIVE_KEYS
                );
            };
            // The key goes to standard output alone, so scripts can capture it.
            println!("{key}");
            eprintln!(
                "Issued key {} for {}. It is shown only now: only its hash is kept.",
                info.id,
                describe(&info.owner)
            );
        }
        KeyCommand::List(owner) => {
            let owner = owner.owner()?;
            println!("{:>8}  {:<25}  {:<25}  status", "id", "issued", "revoked");
            for key in store.keys_of(&owner).await? {
                let revoked = key.revoked_at.map(|t| t.to_rfc3339());
                println!(
                    "{:>8}  {:<25}  {:<25}  {}",
                    key.id,
                    key.created_at.to_rfc3339(),
                    revoked.as_deref().unwrap_or("-"),
                    if revoked.is_some() {
                        "revoked"
                    } else {
                        "valid"
                    }
                );
            }
        }
        KeyCommand::Revoke { owner, id, all } => {
            let owner = owner.owner()?;
            let revoked = store
                .revoke_keys(&owner, if all { None } else { id }, chrono::Utc::now())
                .await?;
            anyhow::ensure!(
                !revoked.is_empty(),
                "no valid key to revoke for {}",
                describe(&owner)
            );
            for key in &revoked {
                println!("Revoked key {}.", key.id);
            }
            eprintln!("Running instances refuse it within a few seconds.");
        }
    }
    Ok(())
}

fn describe(owner: &KeyOwner) -> String {
    match owner {
        KeyOwner::Device(sn) => format!("device {sn}"),
        KeyOwner::Customer(id) => format!("the gateways of customer {id}"),
    }
}

/// Runs a `partitions` command on `store`.
async fn partitions(
    store: &Store,
    config: &Config,
    command: PartitionsCommand,
) -> anyhow::Result<()> {
    let ahead = config.partitions.ahead;
    match command {
        PartitionsCommand::Status => match store.partitions().await? {
            Some(partitions) => {
                for p in partitions {
                    println!("{:<36} {:>12} rows  {}", p.name, p.rows, p.bounds);
                }
            }
            None => println!(
                "t_user_health_data is not partitioned (`ljwx-bigscreen partitions convert`)."
            ),
        },
        PartitionsCommand::Maintain => {
            let Some(lock) = store.try_housekeeping_lock().await? else {
                anyhow::bail!("an instance is running housekeeping now; try again shortly");
            };
            let done = store
                .maintain_partitions(
                    chrono::Utc::now(),
                    ahead,
                    config.partitions.retention_months,
                )
                .await;
            lock.release().await;
            let done = done?;
            println!(
                "Created {} partitions, dropped {}.",
                done.created.len(),
                done.dropped.len()
            );
        }
        PartitionsCommand::Convert => {
            let started = std::time::Instant::now();
            store
                .convert_to_partitions(chrono::Utc::now(), ahead, &mut |progress| {
                    let elapsed = started.elapsed().as_secs();
                    match progress {
                        Progress::Copied { rows, total } => {
                            eprintln!("{elapsed:>6} s  copied {rows} of ~{total} rows");
                        }
                        Progress::Rewriting(Some(percent)) => {
                            eprintln!("{elapsed:>6} s  rewriting: {percent:.1} %");
                        }
                        Progress::Rewriting(None) => eprintln!("{elapsed:>6} s  rewriting"),
                    }
                })
                .await?;
            println!("t_user_health_data is partitioned by month.");
        }
    }
    Ok(())
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
    // From here on a signal is handled (not the default that ends the process on the spot):
    // one that comes while the app is built stops it as soon as it serves.
    let signal = shutdown_signal()?;
    let listener = ljwx_bigscreen::app::listen(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let app = App::build(config).await?;
    app.serve(listener, signal).await?;
    tracing::info!("Stopped.");
    Ok(())
}

/// Completes on SIGINT (stop at once: someone at a terminal) or SIGTERM (drain first: a
/// service manager, most often in a rolling restart behind a proxy). The handlers are in place
/// when this returns; a signal that came before the returned future is first polled counts.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = Stop>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        let stop = tokio::select! {
            _ = interrupt.recv() => Stop::Now,
            _ = terminate.recv() => Stop::Drain,
        };
        tracing::info!(?stop, "Shutdown signal received.");
        stop
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl Future<Output = Stop>> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        Stop::Now
    })
}
