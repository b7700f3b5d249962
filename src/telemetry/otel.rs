//! OTLP trace export (DESIGN §8) through opentelemetry + tracing-opentelemetry, switched on
//! by the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) variable; the
//! exporter also reads `OTEL_EXPORTER_OTLP_*`, and the SDK `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_TRACES_SAMPLER*`. Spans go out in batches from the
//! SDK's own thread, so a slow or absent collector never holds up a request; shutdown
//! flushes what is pending.

use super::traceparent::TraceContext;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Owns the export pipeline; [`OtelGuard::shutdown`] flushes it.
pub struct OtelGuard {
    provider: SdkTracerProvider,
}

impl OtelGuard {
    /// Exports the spans still queued and stops the exporter.
    pub fn shutdown(self) {
        if let Err(err) = self.provider.shutdown() {
            eprintln!("OTLP export did not shut down cleanly: {err}");
        }
    }
}

/// Whether an OTLP endpoint is configured (and the SDK not disabled).
pub fn configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// Builds the OTLP/HTTP (protobuf) exporter and the tracer for the tracing layer.
pub fn pipeline() -> Result<(SdkTracer, OtelGuard), opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let mut resource = Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name(env!("CARGO_PKG_NAME"));
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer(env!("CARGO_PKG_NAME"));
    Ok((tracer, OtelGuard { provider }))
}

/// Makes `span` continue the caller's trace of `context` (when it came with a `traceparent`)
/// and, when spans are exported, adopts the exported span's ids into `context`, so the
/// `trace_id` a device gets back is the one the collector shows.
pub fn link(span: &tracing::Span, context: &mut TraceContext) {
    if let Some(parent) = context.parent_span_id {
        let flags = if context.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let remote = SpanContext::new(
            TraceId::from_bytes(context.trace_id),
            SpanId::from_bytes(parent),
            flags,
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    let exported = span.context();
    let ids = exported.span().span_context().clone();
    if ids.is_valid() {
        context.trace_id = ids.trace_id().to_bytes();
        context.span_id = ids.span_id().to_bytes();
    }
}
