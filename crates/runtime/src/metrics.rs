//! A metrics registry services add counters, gauges and histograms to, exposed by the admin
//! server's `/metrics` in the OpenMetrics text format (which Prometheus scrapes natively).
//!
//! Built on `prometheus-client` (the Prometheus project's own Rust client, maintained, no
//! global state). The registry enforces the naming rules: every name gets the `daoli_` prefix
//! and a unit suffix (`_seconds`, `_bytes`, `_events`, ...), and counters also `_total`, so a
//! dashboard can tell from the name what a number counts. Names are fixed in code, so a bad one
//! is a programming error and panics at registration (at start-up, before serving).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// What a metric measures; becomes the name's suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Bytes,
    /// A fraction in [0, 1].
    Ratio,
    Events,
    Messages,
    Transactions,
    Blocks,
    Votes,
    Requests,
    Peers,
    Items,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Bytes => "bytes",
            Unit::Ratio => "ratio",
            Unit::Events => "events",
            Unit::Messages => "messages",
            Unit::Transactions => "transactions",
            Unit::Blocks => "blocks",
            Unit::Votes => "votes",
            Unit::Requests => "requests",
            Unit::Peers => "peers",
            Unit::Items => "items",
        }
    }

    const ALL: [Unit; 11] = [
        Unit::Seconds,
        Unit::Bytes,
        Unit::Ratio,
        Unit::Events,
        Unit::Messages,
        Unit::Transactions,
        Unit::Blocks,
        Unit::Votes,
        Unit::Requests,
        Unit::Peers,
        Unit::Items,
    ];

    fn prom(self) -> prometheus_client::registry::Unit {
        use prometheus_client::registry::Unit as P;
        match self {
            Unit::Seconds => P::Seconds,
            Unit::Bytes => P::Bytes,
            u => P::Other(u.as_str().into()),
        }
    }
}

/// A shared registry; clones share it.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Every metric named `daoli_<name>_<unit>`.
    pub fn new() -> Self {
        Self::from_registry(Registry::with_prefix("daoli"))
    }

    /// As [`Metrics::new`], with labels on every metric (e.g. `datacenter`, `service`), so that
    /// the services of several datacenters can share one Prometheus.
    pub fn with_labels(labels: &[(&str, &str)]) -> Self {
        let labels: Vec<(Cow<'static, str>, Cow<'static, str>)> = labels
            .iter()
            .map(|(k, v)| (Cow::Owned(k.to_string()), Cow::Owned(v.to_string())))
            .collect();
        Self::from_registry(Registry::with_prefix_and_labels("daoli", labels.into_iter()))
    }

    fn from_registry(r: Registry) -> Self {
        Metrics {
            registry: Arc::new(Mutex::new(r)),
        }
    }

    /// A counter exported as `daoli_<name>_total` (a count of occurrences, no other unit).
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let c = Counter::default();
        self.add(name, help, None, c.clone());
        c
    }

    /// A counter of an amount, exported as `daoli_<name>_<unit>_total` (e.g. bytes sent).
    pub fn counter_of(&self, name: &str, help: &str, unit: Unit) -> Counter {
        let c = Counter::default();
        self.add(name, help, Some(unit), c.clone());
        c
    }

    pub fn gauge(&self, name: &str, help: &str, unit: Unit) -> Gauge {
        let g = Gauge::default();
        self.add(name, help, Some(unit), g.clone());
        g
    }

    pub fn histogram(&self, name: &str, help: &str, unit: Unit, buckets: impl IntoIterator<Item = f64>) -> Histogram {
        let h = Histogram::new(buckets);
        self.add(name, help, Some(unit), h.clone());
        h
    }

    /// Any other metric (labelled families, info metrics); it must have a unit.
    pub fn register(&self, name: &str, help: &str, unit: Unit, metric: impl Metric) {
        self.add(name, help, Some(unit), metric);
    }

    /// # Panics
    /// If `name` is not snake case or already carries a unit or `_total` suffix.
    fn add(&self, name: &str, help: &str, unit: Option<Unit>, metric: impl Metric) {
        check_name(name);
        let mut r = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        match unit {
            Some(u) => r.register_with_unit(name, help, u.prom(), metric),
            None => r.register(name, help, metric),
        }
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        // Writing into a String cannot fail.
        encode(&mut out, &r).expect("encoding metrics into a String");
        out
    }
}

fn check_name(name: &str) {
    let snake = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    assert!(snake, "metric name {name:?}: use snake case (a-z, 0-9, '_')");
    assert!(
        !name.starts_with("daoli_"),
        "metric name {name:?}: the daoli_ prefix is added"
    );
    let suffixed = name.ends_with("_total") || Unit::ALL.iter().any(|u| name.ends_with(&format!("_{}", u.as_str())));
    assert!(
        !suffixed,
        "metric name {name:?}: the unit and _total suffixes are added"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_prefix_unit_and_total() {
        let m = Metrics::with_labels(&[("datacenter", "dc0")]);
        m.counter("txs_accepted", "Client transactions accepted").inc_by(3);
        m.counter_of("peer_sent", "Bytes sent to peers", Unit::Bytes).inc_by(10);
        m.gauge("height", "Certified height", Unit::Blocks).set(42);
        m.histogram("commit_duration", "Time to commit a block", Unit::Seconds, [0.1, 1.0])
            .observe(0.5);
        let text = m.encode();
        for line in [
            "daoli_txs_accepted_total{datacenter=\"dc0\"} 3",
            "daoli_peer_sent_bytes_total{datacenter=\"dc0\"} 10",
            "daoli_height_blocks{datacenter=\"dc0\"} 42",
            "daoli_commit_duration_seconds_count{datacenter=\"dc0\"} 1",
            "# UNIT daoli_commit_duration_seconds seconds",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line:?} missing in\n{text}");
        }
    }

    #[test]
    #[should_panic(expected = "the unit and _total suffixes are added")]
    fn a_name_with_its_own_suffix_is_refused() {
        Metrics::new().gauge("queue_seconds", "x", Unit::Seconds);
    }

    #[test]
    #[should_panic(expected = "use snake case")]
    fn a_name_that_is_not_snake_case_is_refused() {
        Metrics::new().counter("Requests", "x");
    }
}
