//! Logs and traces.
//!
//! [`init`] installs the global `tracing` subscriber: a human-readable log (fmt layer) filtered
//! by the configured env-filter, and, only when an OTLP endpoint is configured, an
//! OpenTelemetry layer exporting spans over OTLP/gRPC through a batch processor (spans are
//! handed to a background thread; a slow or absent collector never blocks the service).
//!
//! The tonic exporter needs a Tokio runtime when it is built (the STACK's pitfall: it panics
//! outside one), so [`init`] checks for one and returns [`TelemetryError::NoRuntime`] instead.
//! Its connection is driven by that runtime, so flush with [`TelemetryGuard::shutdown`] while
//! the runtime still runs. Dropping the guard also flushes, bounded by a timeout, except on a
//! current-thread runtime (actix's main): there the dropping thread is the one that would drive
//! the export, so the drop gives up almost at once instead of stalling for the whole timeout.
//!
//! Trace context crosses process boundaries as a W3C `traceparent` header: [`inject_metadata`]
//! and [`set_parent_from_metadata`] for gRPC metadata, [`inject`] and [`extract`] for any other
//! carrier (Kafka headers later). Without OTLP export there is no OpenTelemetry layer, so
//! nothing is injected; a downstream service then starts a new trace.

use crate::config::ServiceConfig;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::time::Duration;
use tonic::metadata::{KeyRef, MetadataKey, MetadataMap, MetadataValue};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};
use url::Url;

const EXPORTER_STACK: [&str; 7] = [
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "tonic",
    "tower",
    "hyper",
    "h2",
];

/// How long one export may take before it is abandoned.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a shutdown waits for the last spans to leave.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryOptions {
    /// `service.name` of the exported spans, e.g. `ledger`.
    pub service: String,
    /// Exported as the resource attribute `daoli.datacenter`.
    pub datacenter: String,
    /// A `tracing` env-filter, e.g. `info,daoli_runtime=debug`.
    pub log: String,
    /// An OTLP/gRPC collector; `None` exports nothing.
    pub otlp_endpoint: Option<Url>,
}

impl From<&ServiceConfig> for TelemetryOptions {
    fn from(c: &ServiceConfig) -> Self {
        TelemetryOptions {
            service: c.service.as_str().to_string(),
            datacenter: c.datacenter.clone(),
            log: c.log.clone(),
            otlp_endpoint: c.otlp_endpoint.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log filter {filter:?}: {message}")]
    Filter { filter: String, message: String },
    #[error("OTLP export needs a Tokio runtime: initialize telemetry inside #[tokio::main] or #[actix_web::main]")]
    NoRuntime,
    #[error("OTLP exporter for {endpoint}: {message}")]
    Exporter { endpoint: String, message: String },
    #[error("a global tracing subscriber is already set: {0}")]
    AlreadyInitialized(String),
}

/// Keeps the exporter alive; flushes on [`TelemetryGuard::shutdown`] or drop.
#[derive(Debug)]
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes the last spans and stops export. Runs on the blocking pool, so the runtime keeps
    /// driving the exporter's connection meanwhile.
    pub async fn shutdown(mut self) {
        if let Some(p) = self.provider.take() {
            let done = tokio::task::spawn_blocking(move || p.shutdown_with_timeout(SHUTDOWN_TIMEOUT)).await;
            if let Ok(Err(e)) = done {
                eprintln!("telemetry: flushing spans on shutdown: {e}");
            }
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let Some(p) = self.provider.take() else { return };
        // On a current-thread runtime this thread is the one that would drive the export, so
        // waiting cannot help: give up at once rather than hold the process for the timeout.
        let timeout = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread => {
                eprintln!("telemetry: guard dropped on a current-thread runtime; use `shutdown().await` to flush");
                Duration::from_millis(100)
            }
            _ => SHUTDOWN_TIMEOUT,
        };
        if let Err(e) = p.shutdown_with_timeout(timeout) {
            // The subscriber may be going away with us; stderr is what is left.
            eprintln!("telemetry: flushing spans on drop: {e}");
        }
    }
}

/// Installs the global subscriber (once per process).
pub fn init(opts: &TelemetryOptions) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::builder()
        .parse(&opts.log)
        .map_err(|e| TelemetryError::Filter {
            filter: opts.log.clone(),
            message: e.to_string(),
        })?;
    let provider = match &opts.otlp_endpoint {
        None => None,
        Some(url) => Some(otlp_provider(opts, url)?),
    };
    // The exporter's own stack (tonic, hyper, h2, the SDK) logs and opens spans while it
    // exports; exporting those too would feed back on itself, so they only go to the log.
    let exporter_stack = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(EXPORTER_STACK.iter().map(|t| (*t, LevelFilter::OFF)));
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("daoli"))
            .with_filter(exporter_stack)
    });
    tracing_subscriber::registry()
        .with(filter)
        // Logs to stderr: stdout stays the program's own output (the devnet's height lines).
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .with_writer(std::io::stderr),
        )
        .with(otel)
        .try_init()
        .map_err(|e| TelemetryError::AlreadyInitialized(e.to_string()))?;
    if let Some(p) = &provider {
        opentelemetry::global::set_tracer_provider(p.clone());
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    }
    Ok(TelemetryGuard { provider })
}

fn otlp_provider(opts: &TelemetryOptions, url: &Url) -> Result<SdkTracerProvider, TelemetryError> {
    // Building the tonic channel spawns onto the current runtime; without one it panics.
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TelemetryError::NoRuntime);
    }
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(url.as_str())
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| TelemetryError::Exporter {
            endpoint: url.to_string(),
            message: e.to_string(),
        })?;
    let resource = Resource::builder()
        .with_service_name(opts.service.clone())
        .with_attribute(KeyValue::new("daoli.datacenter", opts.datacenter.clone()))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Writes `span`'s trace context into `carrier` (a `traceparent`, and `tracestate` if any).
pub fn inject(span: &Span, carrier: &mut dyn Injector) {
    TraceContextPropagator::new().inject_context(&span.context(), carrier);
}

/// Reads a trace context from `carrier` (an empty context if it has none or a malformed one).
pub fn extract(carrier: &dyn Extractor) -> Context {
    TraceContextPropagator::new().extract(carrier)
}

/// gRPC metadata as a propagation carrier.
#[derive(Debug)]
pub struct MetadataCarrier<'a>(pub &'a mut MetadataMap);

impl Injector for MetadataCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        // traceparent values are ASCII by construction; anything else is dropped, not sent.
        if let (Ok(k), Ok(v)) = (MetadataKey::from_bytes(key.as_bytes()), MetadataValue::try_from(value)) {
            self.0.insert(k, v);
        }
    }
}

/// Read-only view of gRPC metadata for [`extract`].
#[derive(Debug)]
pub struct MetadataView<'a>(pub &'a MetadataMap);

impl Extractor for MetadataView<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                KeyRef::Ascii(k) => Some(k.as_str()),
                KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// Before a gRPC call: carries the current span's trace to the server.
pub fn inject_metadata(span: &Span, metadata: &mut MetadataMap) {
    inject(span, &mut MetadataCarrier(metadata));
}

/// In a gRPC handler: makes `span` a child of the caller's trace. Returns whether a valid
/// remote context was found and attached.
pub fn set_parent_from_metadata(span: &Span, metadata: &MetadataMap) -> bool {
    use opentelemetry::trace::TraceContextExt as _;
    let cx = extract(&MetadataView(metadata));
    if !cx.span().span_context().is_valid() {
        return false;
    }
    span.set_parent(cx).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt as _;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
    use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};

    fn trace_id(span: &Span) -> opentelemetry::trace::TraceId {
        span.context().span().span_context().trace_id()
    }

    #[test]
    fn trace_context_travels_in_grpc_metadata() {
        // A local subscriber with an OpenTelemetry layer and no exporter.
        let provider = SdkTracerProvider::builder().build();
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let client = tracing::info_span!("client_call");
            let mut md = MetadataMap::new();
            inject_metadata(&client, &mut md);
            let tp = md
                .get("traceparent")
                .expect("traceparent")
                .to_str()
                .unwrap()
                .to_string();
            let id = trace_id(&client);
            assert!(id != opentelemetry::trace::TraceId::INVALID);
            assert!(tp.starts_with("00-") && tp.contains(&id.to_string()), "{tp}");

            let server = tracing::info_span!("handle");
            assert!(set_parent_from_metadata(&server, &md));
            assert_eq!(trace_id(&server), id, "the server span joins the client's trace");

            let other = tracing::info_span!("unrelated");
            assert!(!set_parent_from_metadata(&other, &MetadataMap::new()));
            assert_ne!(trace_id(&other), id);
        });
    }

    #[test]
    fn malformed_traceparent_is_ignored() {
        let mut md = MetadataMap::new();
        md.insert("traceparent", "00-nothex-nothex-01".parse().unwrap());
        assert!(!extract(&MetadataView(&md)).span().span_context().is_valid());
    }

    #[test]
    fn a_bad_filter_is_refused_before_anything_is_installed() {
        let opts = TelemetryOptions {
            service: "ledger".into(),
            datacenter: "dc0".into(),
            log: "info,[".into(),
            otlp_endpoint: None,
        };
        assert!(matches!(init(&opts), Err(TelemetryError::Filter { .. })));
    }

    #[test]
    fn dropping_the_guard_on_a_current_thread_runtime_is_bounded() {
        let opts = TelemetryOptions {
            service: "ledger".into(),
            datacenter: "dc0".into(),
            log: "info".into(),
            otlp_endpoint: None,
        };
        let url = Url::parse("http://127.0.0.1:9").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            use opentelemetry::trace::{Tracer as _, TracerProvider as _};
            let provider = otlp_provider(&opts, &url).unwrap();
            provider.tracer("test").in_span("work", |_| {});
            let guard = TelemetryGuard {
                provider: Some(provider),
            };
            let started = std::time::Instant::now();
            // This thread would drive the export, so the drop gives up quickly instead of
            // blocking it for the whole shutdown timeout.
            drop(guard);
            assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        });
    }

    /// A fake OTLP collector that hands every export request to the test.
    struct Collector(tokio::sync::mpsc::UnboundedSender<ExportTraceServiceRequest>);

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            req: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let _ = self.0.send(req.into_inner());
            Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            }))
        }
    }

    fn string_attr(attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue], key: &str) -> Option<String> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        attrs
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
    }

    /// The only test that installs the process-global subscriber.
    #[test]
    fn spans_reach_an_otlp_collector_and_init_refuses_misuse() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let opts = TelemetryOptions {
            service: "ledger".into(),
            datacenter: "dc0".into(),
            log: "info".into(),
            otlp_endpoint: Some(Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap()),
        };
        assert!(
            matches!(init(&opts), Err(TelemetryError::NoRuntime)),
            "an error, not a panic"
        );

        rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(TraceServiceServer::new(Collector(tx)))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
            );
            let guard = init(&opts).unwrap();
            assert!(guard.exporting());
            assert!(matches!(init(&opts), Err(TelemetryError::AlreadyInitialized(_))));
            {
                let work = tracing::info_span!("work");
                let _in = work.enter();
                tracing::info_span!("child").in_scope(|| tracing::info!("inside"));
            }
            guard.shutdown().await;

            let mut spans = Vec::new();
            while let Ok(req) = rx.try_recv() {
                for rs in req.resource_spans {
                    let attrs = rs.resource.map(|r| r.attributes).unwrap_or_default();
                    assert_eq!(string_attr(&attrs, "service.name").as_deref(), Some("ledger"));
                    assert_eq!(string_attr(&attrs, "daoli.datacenter").as_deref(), Some("dc0"));
                    spans.extend(rs.scope_spans.into_iter().flat_map(|s| s.spans));
                }
            }
            let work = spans.iter().find(|s| s.name == "work").expect("work exported");
            let child = spans.iter().find(|s| s.name == "child").expect("child exported");
            assert_eq!(child.trace_id, work.trace_id);
            assert_eq!(child.parent_span_id, work.span_id);
        });
    }
}
