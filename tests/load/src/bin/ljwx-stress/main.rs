//! `ljwx-stress`: load generator for the ljwx-bigscreen upload endpoint.
//!
//! Reproduces the Python seed's stress test (5000 users posting 100-record batches with 1–5 s
//! think time) and improves on it: every record is unique so the server's dedup cannot hide a
//! loss, an open-loop mode measures latency free of coordinated omission, latencies go into
//! an HDR histogram instead of a list, and `--verify-db` checks that every acknowledged
//! record was stored.
//!
//! Everything runs on one tokio `current_thread` runtime inside a `LocalSet`: the generator
//! must not compete with the server for cores, and one thread removes all locking from the hot
//! path. It only ever targets loopback.

mod backlog;
mod closed;
mod files;
mod open;
mod report;
mod send;
mod shared;
mod stats;
mod verify;
mod workload;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use report::{Report, RunInfo};
use shared::Shared;
use stats::Stats;
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::Instant;
use workload::Workload;

/// Longest run id: with `_{user}_{seq}` (at most 1 + 10 + 1 + 20 characters) a batch id stays
/// within the server's 64 characters.
const MAX_RUN_ID: usize = 32;
/// Extra time past deadline + timeout before in-flight requests are abandoned.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// Interval of the progress lines on stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// Exit code when `--verify-db` found acknowledged records missing.
const EXIT_LOST: u8 = 2;

#[derive(Parser)]
#[command(
    name = "ljwx-stress",
    version,
    about = "Load generator for the ljwx-bigscreen upload endpoint (loopback targets only)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a load test against a local server and print the report.
    Run(Box<RunArgs>),
    /// Print a bindings CSV for the test devices (import it with
    /// `ljwx-bigscreen devices import FILE`).
    Bindings(DeviceArgs),
}

/// The test devices: `{prefix}{n:04}` for n in 1..=devices.
#[derive(Args, Debug, Clone)]
struct DeviceArgs {
    /// Number of devices.
    #[arg(long, default_value_t = 1000)]
    devices: u64,
    /// Serial number prefix.
    #[arg(long, default_value = "TEST_")]
    device_prefix: String,
}

/// How requests are issued.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Fixed users, each waiting for its answer and thinking before the next (the seed).
    Closed,
    /// Fixed request rate; latency measured from each request's due time.
    Open,
    /// The reconnect storm: every user at once with `--batches` batches to deliver, sent
    /// again after `Retry-After` when refused, until all are stored or the duration ends.
    Backlog,
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    /// Base URL of the server (loopback only) or the full upload endpoint URL.
    #[arg(long, default_value = "http://127.0.0.1:8001")]
    url: String,
    /// Closed loop (users with think time) or open loop (fixed rate).
    #[arg(long, value_enum, default_value_t = Mode::Closed)]
    mode: Mode,
    /// Backlog: batches each user has to deliver.
    #[arg(long, default_value_t = 10)]
    batches: u32,
    /// Closed loop and backlog: concurrent users.
    #[arg(long, default_value_t = 5000)]
    users: u32,
    /// Records per request (1–10000).
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Closed loop: shortest think time in seconds.
    #[arg(long, default_value_t = 1.0)]
    think_min: f64,
    /// Closed loop: longest think time in seconds.
    #[arg(long, default_value_t = 5.0)]
    think_max: f64,
    /// Seconds to send for; in-flight requests then get up to --timeout to finish.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Closed loop: users started per ramp step.
    #[arg(long, default_value_t = 100)]
    ramp_per_step: u32,
    /// Closed loop: milliseconds between ramp steps.
    #[arg(long, default_value_t = 100)]
    ramp_step_ms: u64,
    /// Open loop: requests per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Open loop: most requests outstanding; due requests beyond it are counted as
    /// `client_overload` and not sent.
    #[arg(long, default_value_t = 20000)]
    max_in_flight: usize,
    /// Client timeout per request in seconds (at most 120).
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    #[command(flatten)]
    devices: DeviceArgs,
    /// The first record's timestamp lies this many days before the start; record k is
    /// `k / devices` seconds later. Runs over the same devices whose timestamp spans overlap
    /// see each other's records as duplicates: give repeated runs against one database
    /// different values (or a fresh database).
    #[arg(long, default_value_t = workload::DEFAULT_DAYS_BACK)]
    days_back: u32,
    /// Per mille of records whose heart rate (121–160) breaches the default alert rules, to
    /// load the alert path; 0 (default) keeps the seed's 60–120.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1000))]
    breach_per_mille: u32,
    /// Prefix of every batch id (`[A-Za-z0-9._-]`, at most 32 characters); default
    /// `stress_<unix seconds>`.
    #[arg(long)]
    run_id: Option<String>,
    /// Device key sent as `Authorization: Bearer <key>` with every upload (for a server with
    /// `devices.auth` on: a gateway key of the test devices' customer 1 covers them all).
    #[arg(
        long,
        value_name = "KEY",
        env = "LJWX_STRESS_KEY",
        hide_env_values = true
    )]
    key: Option<String>,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// After the run, count the run's rows in this database and compare them with what was
    /// acknowledged; exit 2 if any acknowledged record is missing.
    #[arg(long, value_name = "DATABASE_URL")]
    verify_db: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bindings(args) => bindings(&args).map(|()| ExitCode::SUCCESS),
        Command::Run(args) => run_blocking(*args),
    };
    result.unwrap_or_else(|err| {
        eprintln!("ljwx-stress: {err:#}");
        ExitCode::FAILURE
    })
}

/// `bindings`: the CSV binding every test device to user n, customer 1, org 1.
fn bindings(args: &DeviceArgs) -> anyhow::Result<()> {
    use std::io::Write;
    workload::check_prefix(&args.device_prefix, args.devices)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "device_sn,user_id,customer_id,org_id")?;
    for n in 1..=args.devices {
        writeln!(
            out,
            "{},{n},1,1",
            workload::device_sn(&args.device_prefix, n)
        )?;
    }
    out.flush()?;
    Ok(())
}

/// `run` on a single-threaded runtime.
fn run_blocking(args: RunArgs) -> anyhow::Result<ExitCode> {
    validate(&args)?;
    // One thread drives every connection: the server under test gets the other cores.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, run(args))
}

/// Checks the arguments that clap's types do not.
fn validate(args: &RunArgs) -> anyhow::Result<()> {
    let positive = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err(anyhow::anyhow!(
                "--{name} must be a positive number, got {v}"
            ))
        }
    };
    positive("duration", args.duration)?;
    positive("timeout", args.timeout)?;
    positive("rate", args.rate)?;
    if args.timeout > 120.0 {
        bail!("--timeout must be at most 120 s (the latency histogram's range)");
    }
    if !(args.think_min.is_finite() && args.think_max.is_finite())
        || args.think_min < 0.0
        || args.think_min > args.think_max
    {
        bail!("--think-min and --think-max must satisfy 0 <= think-min <= think-max");
    }
    if !(1..=10_000).contains(&args.batch_size) {
        bail!("--batch-size must be 1–10000");
    }
    if args.users == 0 || args.ramp_per_step == 0 || args.max_in_flight == 0 {
        bail!("--users, --ramp-per-step and --max-in-flight must be at least 1");
    }
    workload::check_prefix(&args.devices.device_prefix, args.devices.devices)?;
    if let Some(id) = &args.run_id {
        check_run_id(id)?;
    }
    Ok(())
}

/// A run id must be safe inside a batch id, a JSON string and a SQL literal unescaped.
fn check_run_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_RUN_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !ok {
        bail!("--run-id must be 1–{MAX_RUN_ID} characters from [A-Za-z0-9._-], got {id:?}");
    }
    Ok(())
}

/// The run itself: load, report, optional verification.
async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let url = send::upload_url(&args.url)?;
    send::check_resolves_to_loopback(&url).await?;
    let now = chrono::Utc::now().timestamp();
    let run_id = args
        .run_id
        .clone()
        .unwrap_or_else(|| format!("stress_{now}"));
    check_run_id(&run_id)?;
    let timeout = Duration::from_secs_f64(args.timeout);
    files::warn_if_few(sockets_wanted(&args));

    let shared = Rc::new(Shared {
        client: send::client(timeout, args.key.as_deref())?,
        url: url.clone(),
        workload: Workload::new(
            &args.devices.device_prefix,
            args.devices.devices,
            now,
            args.days_back,
        )?
        .with_breaches(args.breach_per_mille),
        batch_size: args.batch_size,
        run_id: run_id.clone(),
        stats: RefCell::new(Stats::new()),
    });
    let mut rng = SmallRng::from_os_rng();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.duration);
    let drain_limit = deadline + timeout + DRAIN_GRACE;
    eprintln!(
        "ljwx-stress: run {run_id}, {} loop against {url} for {} s",
        match args.mode {
            Mode::Closed => "closed",
            Mode::Open => "open",
            Mode::Backlog => "backlog",
        },
        args.duration
    );
    let progress = tokio::task::spawn_local(progress(Rc::clone(&shared), start));

    let mut info = RunInfo {
        mode: "closed",
        url: url.to_string(),
        run_id: run_id.clone(),
        users: None,
        users_started: None,
        think_s: None,
        rate: None,
        max_in_flight: None,
        scheduled: None,
        max_send_lag_ms: None,
        batch_size: args.batch_size,
        duration_s: args.duration,
        timeout_s: args.timeout,
        devices: args.devices.devices,
        device_prefix: args.devices.device_prefix.clone(),
        timestamps: None,
        batches: None,
        users_drained: None,
        drained_s: None,
    };
    match args.mode {
        Mode::Closed => {
            let config = closed::ClosedConfig {
                users: args.users,
                think_min: args.think_min,
                think_max: args.think_max,
                ramp_per_step: args.ramp_per_step,
                ramp_step: Duration::from_millis(args.ramp_step_ms),
            };
            let started =
                closed::run(Rc::clone(&shared), &config, deadline, drain_limit, &mut rng).await;
            info.users = Some(args.users);
            info.users_started = Some(started);
            info.think_s = Some([args.think_min, args.think_max]);
        }
        Mode::Open => {
            let config = open::OpenConfig {
                rate: args.rate,
                max_in_flight: args.max_in_flight,
            };
            let summary = open::run(
                Rc::clone(&shared),
                config,
                start,
                deadline,
                drain_limit,
                &mut rng,
            )
            .await;
            info.mode = "open";
            info.rate = Some(args.rate);
            info.max_in_flight = Some(args.max_in_flight);
            info.scheduled = Some(summary.scheduled);
            info.max_send_lag_ms = Some(summary.max_send_lag.as_secs_f64() * 1000.0);
        }
        Mode::Backlog => {
            let config = backlog::BacklogConfig {
                users: args.users,
                batches: args.batches,
            };
            let summary = backlog::run(
                Rc::clone(&shared),
                config,
                start,
                deadline,
                drain_limit,
                &mut rng,
            )
            .await;
            info.mode = "backlog";
            info.users = Some(args.users);
            info.batches = Some(args.batches);
            info.users_drained = Some(summary.users_drained);
            info.drained_s = summary.drained_s;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    progress.abort();
    info.timestamps = shared.workload.timestamp_span();

    let mut report = {
        let stats = shared.stats.borrow();
        Report::new(info, &stats, elapsed)
    };
    let mut verify_error = None;
    if let Some(db_url) = &args.verify_db {
        // Every request has finished (or was abandoned): the counts are final for the client.
        let acked = shared.stats.borrow().acked;
        match verify::verify(db_url, &run_id, acked.inserted, acked.unknown_device).await {
            Ok(v) => report.verify = Some(v),
            Err(err) => verify_error = Some(err),
        }
    }
    print!("{}", report.render());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).context("cannot serialise the report")?;
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(err) = verify_error {
        return Err(err.context("verification failed"));
    }
    // PASS/FAIL of the acceptance checks is in the report; only a loss changes the exit code.
    Ok(match report.verify {
        Some(v) if v.lost > 0 => ExitCode::from(EXIT_LOST),
        _ => ExitCode::SUCCESS,
    })
}

/// Prints a progress line to stderr every few seconds until aborted.
async fn progress(shared: Rc<Shared>, start: Instant) {
    let mut ticks = tokio::time::interval_at(start + PROGRESS_EVERY, PROGRESS_EVERY);
    loop {
        ticks.tick().await;
        let stats = shared.stats.borrow();
        eprintln!(
            "  {:>5.0} s: {} requests, {} ok, {} failed, {} records generated",
            start.elapsed().as_secs_f64(),
            stats.requests,
            stats.ok,
            stats.failed(),
            shared.workload.records_reserved()
        );
    }
}

/// Sockets the run may open at once: one per closed-loop or backlog user; in the open loop
/// one per request in flight, at most rate × timeout of them.
fn sockets_wanted(args: &RunArgs) -> usize {
    match args.mode {
        Mode::Closed | Mode::Backlog => args.users as usize,
        Mode::Open => args
            .max_in_flight
            .min((args.rate * args.timeout).ceil() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_restricted() {
        assert!(check_run_id("stress_1750000000").is_ok());
        assert!(check_run_id("a.b-c_D9").is_ok());
        assert!(check_run_id(&"x".repeat(MAX_RUN_ID)).is_ok());
        assert!(check_run_id(&"x".repeat(MAX_RUN_ID + 1)).is_err());
        assert!(check_run_id("").is_err());
        assert!(check_run_id("it's").is_err());
        assert!(check_run_id("a b").is_err());
        assert!(check_run_id("a%").is_err());
    }

    #[test]
    fn the_longest_batch_id_fits_the_server_limit() {
        let id = format!("{}_{}_{}", "x".repeat(MAX_RUN_ID), u32::MAX, u64::MAX);
        assert!(id.len() <= 64, "{} characters", id.len());
    }

    #[test]
    fn the_cli_parses_the_documented_flags() {
        let cli = Cli::try_parse_from([
            "ljwx-stress",
            "run",
            "--url",
            "http://127.0.0.1:18001",
            "--mode",
            "open",
            "--rate",
            "50",
            "--duration",
            "5",
            "--devices",
            "100",
            "--run-id",
            "t1",
        ])
        .expect("parses");
        let Command::Run(args) = cli.command else {
            panic!("not run");
        };
        assert_eq!(args.mode, Mode::Open);
        assert_eq!(args.users, 5000);
        assert_eq!(args.devices.devices, 100);
        assert_eq!(args.devices.device_prefix, "TEST_");
        assert!(validate(&args).is_ok());
    }
}
