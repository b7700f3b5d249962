//! Logging, OTLP trace export, Prometheus metrics, W3C trace context and the recent-trace
//! store (DESIGN §8).

pub mod metrics;
pub mod otel;
pub mod traceparent;
pub mod traces;

use crate::config::{LogConfig, LogFormat};
use otel::OtelGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Installs the global subscriber: logs to stderr (`RUST_LOG` if set, else the configured
/// filter; text or JSON) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, span export over
/// OTLP. The returned guard flushes the export at shutdown.
pub fn init(config: &LogConfig) -> Option<OtelGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.filter));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = match config.format {
        LogFormat::Json => fmt.json().boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    let (otel_layer, guard) = if otel::configured() {
        // The exporter's blocking HTTP client must not be built on a runtime thread.
        let pipeline = std::thread::spawn(otel::pipeline)
            .join()
            .unwrap_or_else(|_| {
                Err(opentelemetry_otlp::ExporterBuildError::InternalFailure(
                    "the exporter setup panicked".to_owned(),
                ))
            });
        match pipeline {
            Ok((tracer, guard)) => (
                // The service's own spans only: not every driver-internal span.
                Some(
                    tracing_opentelemetry::layer()
                        .with_tracer(tracer)
                        .with_filter(EnvFilter::new("ljwx_bigscreen=info")),
                ),
                Some(guard),
            ),
            Err(err) => {
                eprintln!("OTLP export is off: {err}");
                (None, None)
            }
        }
    } else {
        (None, None)
    };
    let installed = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel_layer)
        .try_init();
    // A second initialisation (several servers in one test process) keeps the first.
    if installed.is_err() {
        return None;
    }
    guard
}
