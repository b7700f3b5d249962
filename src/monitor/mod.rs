//! The system monitor (DESIGN §8, seed §5.1): CPU, memory, disk and network of the host,
//! and this process's CPU and memory, sampled periodically. The last points and the
//! threshold events (CPU or memory above their limits) are kept for `/api/monitor` and the
//! dashboard; each event is also logged.

use crate::config::MonitorConfig;
use crate::telemetry::metrics as m;
use chrono::{DateTime, Utc};
use poem_openapi::Object;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use sysinfo::{Disks, Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// Threshold events kept.
const MAX_EVENTS: usize = 100;

/// One sample of the host and the process.
#[derive(Object, Debug, Clone, PartialEq)]
pub struct SystemPoint {
    /// When it was taken (RFC 3339, UTC).
    pub at: DateTime<Utc>,
    /// Host CPU use, percent of all cores.
    pub cpu_percent: f32,
    /// Host memory in use, percent.
    pub memory_percent: f32,
    /// Space used on the host's disks, percent.
    pub disk_percent: f32,
    /// Bytes received by all interfaces since the previous sample.
    pub network_rx_bytes: u64,
    /// Bytes sent by all interfaces since the previous sample.
    pub network_tx_bytes: u64,
    /// CPU use of this service, percent of one core.
    pub process_cpu_percent: f32,
    /// Resident memory of this service, bytes.
    pub process_memory_bytes: u64,
}

/// A limit crossed (or recovered from).
#[derive(Object, Debug, Clone, PartialEq)]
pub struct ThresholdEvent {
    /// When it was seen.
    pub at: DateTime<Utc>,
    /// `cpu` or `memory`.
    pub resource: String,
    /// `exceeded` or `recovered`.
    pub state: String,
    /// The measured percentage.
    pub value_percent: f32,
    /// The configured limit.
    pub threshold_percent: f32,
}

/// The monitor's history.
#[derive(Object, Debug, Clone, PartialEq)]
pub struct MonitorReport {
    /// Seconds between samples.
    pub interval_secs: f64,
    /// The limits: CPU percent.
    pub cpu_threshold_percent: f32,
    /// The limits: memory percent.
    pub memory_threshold_percent: f32,
    /// The last samples, oldest first.
    pub points: Vec<SystemPoint>,
    /// The last threshold events, oldest first.
    pub events: Vec<ThresholdEvent>,
}

#[derive(Default)]
struct History {
    points: VecDeque<SystemPoint>,
    events: VecDeque<ThresholdEvent>,
    cpu_high: bool,
    memory_high: bool,
}

/// Reads the monitor's history. Cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    history: Arc<Mutex<History>>,
    config: MonitorConfig,
}

/// Owns the sampling task; [`MonitorTask::shutdown`] stops and joins it.
pub struct MonitorTask {
    handle: JoinHandle<()>,
    stop: CancellationToken,
}

impl MonitorTask {
    /// Stops sampling and waits for the task.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(err) = self.handle.await {
            error!(error = %err, "System monitor task failed.");
        }
    }
}

impl Monitor {
    /// Starts sampling every `config.interval_ms`.
    pub fn start(config: &MonitorConfig) -> (Monitor, MonitorTask) {
        let monitor = Monitor {
            history: Arc::default(),
            config: config.clone(),
        };
        let stop = CancellationToken::new();
        let handle = tokio::spawn(monitor.clone().run(stop.clone()));
        (monitor, MonitorTask { handle, stop })
    }

    /// The points and events kept so far.
    pub fn report(&self) -> MonitorReport {
        let history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        MonitorReport {
            interval_secs: self.interval().as_secs_f64(),
            cpu_threshold_percent: self.config.cpu_threshold_percent,
            memory_threshold_percent: self.config.memory_threshold_percent,
            points: history.points.iter().cloned().collect(),
            events: history.events.iter().cloned().collect(),
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(self.config.interval_ms.max(100))
    }

    async fn run(self, stop: CancellationToken) {
        let Ok(mut sampler) = Sampler::new() else {
            warn!("System information is unavailable on this host; the monitor is off.");
            return;
        };
        info!(
            interval_ms = self.interval().as_millis() as u64,
            "System monitor started."
        );
        let mut ticks = tokio::time::interval(self.interval());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick fires at once and only primes the CPU counters.
        ticks.tick().await;
        sampler.sample();
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.cancelled() => break,
            }
            let point = sampler.sample();
            metrics::gauge!(m::PROCESS_MEMORY).set(point.process_memory_bytes as f64);
            metrics::gauge!(m::PROCESS_CPU).set(f64::from(point.process_cpu_percent));
            self.record(point);
        }
    }

    fn record(&self, point: SystemPoint) {
        let mut h = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        let c = &self.config;
        let checks = [
            ("cpu", point.cpu_percent, c.cpu_threshold_percent),
            ("memory", point.memory_percent, c.memory_threshold_percent),
        ];
        for (resource, value, threshold) in checks {
            let high = value > threshold;
            let was_high = match resource {
                "cpu" => std::mem::replace(&mut h.cpu_high, high),
                _ => std::mem::replace(&mut h.memory_high, high),
            };
            if high == was_high {
                continue;
            }
            let state = if high { "exceeded" } else { "recovered" };
            if high {
                warn!(
                    resource,
                    value_percent = value,
                    threshold_percent = threshold,
                    "System threshold exceeded."
                );
            } else {
                info!(
                    resource,
                    value_percent = value,
                    threshold_percent = threshold,
                    "System threshold recovered."
                );
            }
            if h.events.len() == MAX_EVENTS {
                h.events.pop_front();
            }
            h.events.push_back(ThresholdEvent {
                at: point.at,
                resource: resource.to_owned(),
                state: state.to_owned(),
                value_percent: value,
                threshold_percent: threshold,
            });
        }
        if h.points.len() >= c.history.max(1) {
            h.points.pop_front();
        }
        h.points.push_back(point);
    }
}

/// sysinfo state between samples (CPU use and network counters are differences).
struct Sampler {
    system: System,
    disks: Disks,
    networks: Networks,
    pid: Option<Pid>,
}

impl Sampler {
    fn new() -> Result<Self, sysinfo::Error> {
        Ok(Self {
            system: System::new()?,
            disks: Disks::new_with_refreshed_list()?,
            networks: Networks::new_with_refreshed_list()?,
            pid: sysinfo::get_current_pid().ok(),
        })
    }

    fn sample(&mut self) -> SystemPoint {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.disks.refresh(true);
        self.networks.refresh(true);
        let (process_cpu_percent, process_memory_bytes) = match self.pid {
            Some(pid) => {
                self.system.refresh_processes_specifics(
                    ProcessesToUpdate::Some(&[pid]),
                    true,
                    ProcessRefreshKind::nothing().with_cpu().with_memory(),
                );
                self.system
                    .process(pid)
                    .map_or((0.0, 0), |p| (p.cpu_usage(), p.memory()))
            }
            None => (0.0, 0),
        };
        let percent = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                (part as f64 * 100.0 / whole as f64) as f32
            }
        };
        let (disk_total, disk_free) = self.disks.iter().fold((0, 0), |(t, f), d| {
            (t + d.total_space(), f + d.available_space())
        });
        let (rx, tx) = self.networks.iter().fold((0, 0), |(r, t), (_, n)| {
            (r + n.received(), t + n.transmitted())
        });
        SystemPoint {
            at: Utc::now(),
            cpu_percent: self.system.global_cpu_usage(),
            memory_percent: percent(self.system.used_memory(), self.system.total_memory()),
            disk_percent: percent(disk_total.saturating_sub(disk_free), disk_total),
            network_rx_bytes: rx,
            network_tx_bytes: tx,
            process_cpu_percent,
            process_memory_bytes,
        }
    }
}
