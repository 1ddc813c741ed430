//! The datacenter's bus on Apache Kafka (librdkafka through rdkafka).
//!
//! - **One topic per datacenter**, `daoli.<datacenter>.events`, with **one partition**: roles
//!   rely on causal order across event kinds (a cycle begins after the block that starts it; a
//!   trustee sees the batches a MicroBlock names before the MicroBlock), and Kafka orders only
//!   within a partition. Created at start-up if missing, with the retention and size limits
//!   below; a topic that exists is used as it is.
//! - **Producer**: idempotent, `acks=all`, with no delivery deadline (`message.timeout.ms=0`:
//!   a broker that is down is waited for, not given up on; then only a fatal producer error can
//!   leave a gap, and it stops the service), so a
//!   retried send is neither lost nor duplicated and events stay in publish order.
//!   [`Bus::try_publish`] hands the event to librdkafka's bounded queue (full: [`BusError::Full`],
//!   the host holds the event and retries). A delivery that fails anyway (a fatal producer
//!   error) makes [`Bus::check`] fail: the publishing service stops rather than leave a hole in
//!   the stream. [`Bus::settled`] says whether everything taken is delivered; the host commits
//!   its input's offset only then. Dropping the bus flushes it (10 s at most).
//! - **Consumers**: one group per service, `daoli.<datacenter>.<service>`. Offsets are stored
//!   only by [`Subscriber::commit`], which the host calls once the event's effect is durable,
//!   and committed by librdkafka every second; after a crash the service sees again what it
//!   had not made durable, and, being idempotent, changes nothing on what it had.
//! - **Trace context** travels in the `traceparent` header.
//! - The payload is a `BusEvent` (proto/daoli/v1/events.proto), refused over
//!   `limits::MAX_EVENT_BYTES` before it is decoded; an event that does not decode is logged,
//!   counted (`undecodable`) and skipped, so one bad message cannot stall a service.
//! - **Start-up probes**: a missing permission must stop a service at start-up by name, not
//!   surface later as warnings in a loop. [`KafkaBus::connect`] describes the topic, creates it
//!   if missing, writes one probe record (header [`PROBE_HEADER`], empty payload) and reads it
//!   back; [`Bus::subscribe`] fetches the group's committed offset (group DESCRIBE). Each
//!   refusal is [`KafkaBusError::NotAllowed`] / [`BusError::NotAllowed`], naming the topic or
//!   group and the operation. Consumers skip probe records silently. A permission lost while
//!   running (an authorization error on a running consumer) ends the subscription, and the
//!   service stops; other errors are taken as transient.

use super::{BoxFuture, Bus, BusError, Subscriber};
use crate::host::RoleEvent;
use daoli_wire::events::{decode_event, encode_event};
use daoli_wire::limits::MAX_EVENT_BYTES;
use opentelemetry::propagation::{Extractor, Injector};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

/// The one event stream of a datacenter.
pub const EVENTS: &str = "events";

/// The header of a start-up probe record (its payload is empty): every consumer skips it.
pub const PROBE_HEADER: &str = "daoli-probe";

/// How a datacenter's services reach its Kafka cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaOptions {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    /// Replication factor of the topic this datacenter creates (1 on a single broker; 3 in
    /// production, with `min.insync.replicas` 2).
    pub replication: i32,
    /// How long the broker keeps events, ms. A service that is down longer catches up from
    /// its store and its peers, not from the bus.
    pub retention_ms: i64,
    /// Extra librdkafka settings for every client (`security.protocol`, `sasl.*`, ...).
    pub extra: Vec<(String, String)>,
    /// How long start-up waits for the broker.
    pub timeout: Duration,
}

impl fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `extra` may hold sasl.password: keys only.
        f.debug_struct("KafkaOptions")
            .field("brokers", &self.brokers)
            .field("replication", &self.replication)
            .field("retention_ms", &self.retention_ms)
            .field("extra", &self.extra.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl KafkaOptions {
    pub fn new(brokers: &str) -> Self {
        KafkaOptions {
            brokers: brokers.to_string(),
            replication: 1,
            retention_ms: 7 * 24 * 3600 * 1000,
            extra: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }

    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        // The topic is created by start-up with its settings (create_topic); a producer's
        // metadata request must not make one with the broker's defaults instead.
        c.set("allow.auto.create.topics", "false");
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }

    /// Whether librdkafka, as built here, takes these `extra` settings (TLS and SCRAM need
    /// OpenSSL, which this build may lack): the first one refused, as `(key, why)`. Checked
    /// without making a client, so configuration validation can name it. Secrets are not
    /// looked at (nor repeated).
    pub fn check_extra(extra: &[(String, String)]) -> Result<(), (String, String)> {
        let mut c = ClientConfig::new();
        for (k, v) in extra.iter().filter(|(k, _)| k != "sasl.password") {
            c.set(k, v);
        }
        let native = match c.create_native_config() {
            Ok(n) => n,
            Err(KafkaError::ClientConfig(_, why, key, _)) => return Err((key, why)),
            Err(e) => return Err((String::new(), e.to_string())),
        };
        // A mechanism is only checked when a client is made: ask what was built in.
        let features = native.get("builtin.features").unwrap_or_default();
        let built = |f: &str| features.split(',').any(|x| x == f);
        match c.get("sasl.mechanism") {
            Some(m) if m.starts_with("SCRAM-") && !built("sasl_scram") => Err((
                "sasl.mechanism".into(),
                format!("{m} needs librdkafka built with OpenSSL; this build has {features}"),
            )),
            Some("PLAIN") if !built("sasl_plain") => Err((
                "sasl.mechanism".into(),
                format!("PLAIN is not built in; this build has {features}"),
            )),
            _ => Ok(()),
        }
    }
}

/// Why the bus could not start. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum KafkaBusError {
    #[error("Kafka at {brokers}: unreachable: {why}")]
    Unreachable { brokers: String, why: String },
    #[error("Kafka at {brokers}: authentication failed (check kafka_username and the password): {why}")]
    NotAuthenticated { brokers: String, why: String },
    /// `operation`: describe, create, write or read.
    #[error("Kafka topic {topic}: not allowed to {operation} it (check the ACLs of this client's user): {why}")]
    NotAllowed {
        topic: String,
        operation: &'static str,
        why: String,
    },
    #[error("Kafka topic {topic}: {why}")]
    Topic { topic: String, why: String },
    #[error("Kafka client configuration: {0}")]
    Config(String),
}

/// Errors that waiting will not fix: this client's user lacks a permission.
fn not_allowed(c: RDKafkaErrorCode) -> bool {
    matches!(
        c,
        RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
    )
}

fn not_authenticated(c: RDKafkaErrorCode) -> bool {
    matches!(
        c,
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed
    )
}

/// The last error librdkafka reported on its own (a broker it cannot reach, a refused
/// login): a start-up request that only times out is named by it.
#[derive(Debug, Default)]
struct LastError(std::sync::Mutex<Option<(Option<RDKafkaErrorCode>, String)>>);

impl LastError {
    fn set(&self, e: &KafkaError, reason: &str) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((code(e), reason.to_string()));
    }
    fn get(&self) -> Option<(Option<RDKafkaErrorCode>, String)> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
    /// `; last error: ...`, or nothing.
    fn suffix(&self) -> String {
        self.get()
            .map(|(_, w)| format!("; last error: {w}"))
            .unwrap_or_default()
    }
}

/// Delivery reports: failures are logged, counted and the last one kept; `publish` waits for
/// its own.
#[derive(Debug, Default)]
struct Deliveries {
    failed: AtomicU64,
    last_failure: std::sync::Mutex<Option<String>>,
    last_error: LastError,
}

impl ClientContext for Deliveries {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, reason, "kafka client");
        self.last_error.set(&error, reason);
    }
}

/// Who waits for a delivery report ([`Bus::publish`], the write probe); nobody for
/// [`Bus::try_publish`]. It hears the record's partition and offset.
type Waiter = Box<Option<oneshot::Sender<Result<(i32, i64), KafkaError>>>>;

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Waiter;
    fn delivery(&self, r: &DeliveryResult<'_>, waiter: Waiter) {
        let r = match r {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, m)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(topic = m.topic(), error = %e, "bus event not delivered");
                *self
                    .last_failure
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
                Err(e.clone())
            }
        };
        if let Some(tx) = *waiter {
            let _ = tx.send(r);
        }
    }
}

/// A datacenter's bus on Kafka.
pub struct KafkaBus {
    datacenter: String,
    opts: KafkaOptions,
    producer: ThreadedProducer<Deliveries>,
    undecodable: Arc<AtomicU64>,
}

impl fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaBus")
            .field("datacenter", &self.datacenter)
            .field("brokers", &self.opts.brokers)
            .finish_non_exhaustive()
    }
}

fn code(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    e.rdkafka_error_code()
}

impl KafkaBus {
    /// Connects to the brokers, makes sure the datacenter's topic exists (creating it) and
    /// that this client may write and read it (a probe record), before any service runs: an
    /// unreachable broker, a refused login or a missing permission stops start-up with an
    /// error that names it.
    pub async fn connect(datacenter: &str, opts: KafkaOptions) -> Result<Self, KafkaBusError> {
        let topic = format!("daoli.{datacenter}.{EVENTS}");
        let producer: ThreadedProducer<Deliveries> = opts
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "0")
            .set("message.max.bytes", (MAX_EVENT_BYTES + 4096).to_string())
            .set("queue.buffering.max.messages", "100000")
            .set("linger.ms", "1")
            .set("compression.type", "lz4")
            .create_with_context(Deliveries::default())
            .map_err(|e| KafkaBusError::Config(e.to_string()))?;
        // Metadata answers only if a broker is reachable (and this client may connect). It
        // blocks, so off the async executor.
        let timeout = opts.timeout;
        let metadata = {
            let client = producer.clone();
            let t = topic.clone();
            tokio::task::spawn_blocking(move || {
                client.client().fetch_metadata(Some(&t), timeout).map(|m| {
                    m.topics().iter().find(|x| x.name() == t).map(|x| match x.error() {
                        None => Ok(x.partitions().len()),
                        Some(e) => Err(RDKafkaErrorCode::from(e)),
                    })
                })
            })
            .await
            .map_err(|e| KafkaBusError::Config(e.to_string()))?
        };
        let existing = match metadata {
            Ok(Some(Err(c))) if not_allowed(c) => {
                return Err(KafkaBusError::NotAllowed {
                    topic,
                    operation: "describe",
                    why: c.to_string(),
                });
            }
            Ok(m) => m.and_then(Result::ok),
            Err(e) => {
                let why = format!("{e}{}", producer.context().last_error.suffix());
                let brokers = opts.brokers.clone();
                return Err(match producer.context().last_error.get() {
                    Some((Some(c), _)) if not_authenticated(c) => KafkaBusError::NotAuthenticated { brokers, why },
                    _ => KafkaBusError::Unreachable { brokers, why },
                });
            }
        };
        match existing {
            // An operator's topic is used as it is (creating it needs a permission a service
            // should not have), if it keeps the one order the roles need.
            Some(1) => {}
            Some(n) => {
                return Err(KafkaBusError::Topic {
                    topic,
                    why: format!("has {n} partitions; the datacenter's events need exactly 1 (one order)"),
                });
            }
            None => create_topic(&opts, &topic).await?,
        }
        let at = probe_write(&producer, &topic, opts.timeout).await?;
        {
            let (opts, topic) = (opts.clone(), topic.clone());
            tokio::task::spawn_blocking(move || probe_read(&opts, &topic, datacenter_group(&topic), at))
                .await
                .map_err(|e| KafkaBusError::Config(e.to_string()))??;
        }
        Ok(KafkaBus {
            datacenter: datacenter.to_string(),
            opts,
            producer,
            undecodable: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Deliveries that failed for good since start.
    pub fn failed_deliveries(&self) -> u64 {
        self.producer.context().failed.load(Ordering::Relaxed)
    }

    /// Events taken and not yet delivered.
    pub fn in_flight(&self) -> usize {
        usize::try_from(self.producer.in_flight_count()).unwrap_or(0)
    }

    /// Events skipped because they did not decode.
    pub fn undecodable(&self) -> u64 {
        self.undecodable.load(Ordering::Relaxed)
    }

    /// Waits until every event handed over so far is delivered (or `timeout` passes).
    pub fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        self.producer
            .flush(timeout)
            .map_err(|e| BusError::Broker(e.to_string()))
    }

    /// Checks that this client may use consumer group `group` (its committed offset on
    /// `topic`: an offset fetch needs group DESCRIBE), so a missing group ACL stops start-up
    /// instead of a consumer retrying its join for ever.
    fn probe_group(&self, topic: &str, group: &str) -> Result<(), BusError> {
        let consumer: BaseConsumer = self
            .opts
            .client()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| BusError::Broker(e.to_string()))?;
        let refused = |c: RDKafkaErrorCode| BusError::NotAllowed {
            resource: format!("Kafka consumer group {group}"),
            operation: "describe",
            why: c.to_string(),
        };
        let deadline = std::time::Instant::now() + self.opts.timeout;
        let mut last;
        loop {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, 0);
            // Until the group's coordinator is found the fetch waits; a coordinator lookup the
            // broker refuses comes as an error on the consumer's queue, looked at in between.
            match consumer.committed_offsets(tpl, Duration::from_millis(500)) {
                Ok(t) => {
                    return match t.elements().iter().find_map(|p| p.error().err()) {
                        Some(e) if code(&e).is_some_and(not_allowed) => Err(BusError::NotAllowed {
                            resource: format!("Kafka topic {topic}"),
                            operation: "describe",
                            why: e.to_string(),
                        }),
                        _ => Ok(()),
                    };
                }
                Err(e) => match code(&e) {
                    Some(c) if not_allowed(c) => return Err(refused(c)),
                    _ => last = e.to_string(),
                },
            }
            while let Some(r) = consumer.poll(Duration::ZERO) {
                if let Err(e) = r {
                    match code(&e) {
                        Some(c) if not_allowed(c) => return Err(refused(c)),
                        _ => last = e.to_string(),
                    }
                }
            }
            if std::time::Instant::now() >= deadline {
                return Err(BusError::Broker(format!(
                    "Kafka consumer group {group}: its committed offset did not come within {:?}: {last}",
                    self.opts.timeout
                )));
            }
        }
    }

    fn send(&self, event: &RoleEvent, waiter: Waiter) -> Result<(), (BusError, Waiter)> {
        let topic = self.topic(super::Event::topic(event));
        let payload = match encode_event(&event.0) {
            Ok(p) => p,
            Err(e) => return Err((BusError::Broker(e.to_string()), waiter)),
        };
        let key = 0u64.to_be_bytes();
        let mut headers = HeaderCarrier(OwnedHeaders::new());
        crate::telemetry::inject(&tracing::Span::current(), &mut headers);
        let record = BaseRecord::with_opaque_to(&topic, waiter)
            .payload(&payload)
            .key(&key[..])
            .headers(headers.0);
        self.producer.send(record).map_err(|(e, r)| {
            let why = match code(&e) {
                Some(RDKafkaErrorCode::QueueFull) => BusError::Full {
                    topic: topic.clone(),
                    group: "producer".into(),
                    capacity: 100_000,
                },
                _ => BusError::Broker(e.to_string()),
            };
            (why, r.delivery_opaque)
        })
    }
}

struct HeaderCarrier(OwnedHeaders);

impl Injector for HeaderCarrier {
    fn set(&mut self, key: &str, value: String) {
        let h = std::mem::replace(&mut self.0, OwnedHeaders::new());
        self.0 = h.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
}

struct HeaderView<'a, H: Headers>(&'a H);

impl<H: Headers> Extractor for HeaderView<'_, H> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|h| h.key).collect()
    }
}

/// The group the read probe's consumer names (a consumer cannot be assigned a partition
/// without one); it never joins it or commits.
fn datacenter_group(topic: &str) -> String {
    format!("{}.probe", topic.strip_suffix(&format!(".{EVENTS}")).unwrap_or(topic))
}

/// Writes one probe record to `topic` and waits for its delivery report: this client may
/// write there. Returns where it landed.
async fn probe_write(
    producer: &ThreadedProducer<Deliveries>,
    topic: &str,
    timeout: Duration,
) -> Result<(i32, i64), KafkaBusError> {
    let (tx, rx) = oneshot::channel();
    let key = 0u64.to_be_bytes();
    let record = BaseRecord::with_opaque_to(topic, Box::new(Some(tx)))
        .payload(&[][..])
        .key(&key[..])
        .headers(OwnedHeaders::new().insert(Header {
            key: PROBE_HEADER,
            value: Some(&b"start-up"[..]),
        }));
    let refused = |c: RDKafkaErrorCode| KafkaBusError::NotAllowed {
        topic: topic.to_string(),
        operation: "write",
        why: if c == RDKafkaErrorCode::ClusterAuthorizationFailed {
            format!("{c} (the idempotent producer needs WRITE on the topic, or IDEMPOTENT_WRITE on the cluster)")
        } else {
            c.to_string()
        },
    };
    if let Err((e, _)) = producer.send(record) {
        return Err(KafkaBusError::Topic {
            topic: topic.to_string(),
            why: format!("the probe record was not taken: {e}"),
        });
    }
    let failed = match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(Ok(at))) => return Ok(at),
        Ok(Ok(Err(e))) => match code(&e) {
            Some(c) if not_allowed(c) => return Err(refused(c)),
            _ => format!("the probe record was not delivered: {e}"),
        },
        Ok(Err(_)) => "the probe record was not delivered".to_string(),
        Err(_) => format!("the probe record was not delivered within {timeout:?}"),
    };
    // An idempotent producer that may write nowhere gets no producer id: librdkafka makes
    // that a fatal client error (and purges the record), not an error on the record.
    let fatal = producer.client().fatal_error();
    let last = producer.context().last_error.get();
    match (fatal, last) {
        (Some((c, _)), _) | (None, Some((Some(c), _))) if not_allowed(c) => Err(refused(c)),
        (Some((c, w)), _) => Err(KafkaBusError::Topic {
            topic: topic.to_string(),
            why: format!("{failed}; fatal error {c:?}: {w}"),
        }),
        (None, Some((_, w))) => Err(KafkaBusError::Topic {
            topic: topic.to_string(),
            why: format!("{failed}; last error: {w}"),
        }),
        (None, None) => Err(KafkaBusError::Topic {
            topic: topic.to_string(),
            why: failed,
        }),
    }
}

/// Reads the probe record back at `at` from an assigned partition: this client may read the
/// topic. (Group permissions are the subscriber's to check: errors about the group are not
/// this probe's.)
fn probe_read(
    opts: &KafkaOptions,
    topic: &str,
    group: String,
    (partition, offset): (i32, i64),
) -> Result<(), KafkaBusError> {
    let fail = |why: String| KafkaBusError::Topic {
        topic: topic.to_string(),
        why,
    };
    let consumer: BaseConsumer = opts
        .client()
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .create()
        .map_err(|e| KafkaBusError::Config(e.to_string()))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .map_err(|e| fail(e.to_string()))?;
    consumer.assign(&tpl).map_err(|e| fail(e.to_string()))?;
    let deadline = std::time::Instant::now() + opts.timeout;
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) if m.offset() >= offset => return Ok(()),
            Some(Ok(_)) => {}
            Some(Err(e)) => match code(&e) {
                Some(c @ RDKafkaErrorCode::TopicAuthorizationFailed) => {
                    return Err(KafkaBusError::NotAllowed {
                        topic: topic.to_string(),
                        operation: "read",
                        why: c.to_string(),
                    });
                }
                _ => last = format!("; last error: {e}"),
            },
        }
    }
    Err(fail(format!(
        "the probe record at offset {offset} was not read back within {:?}{last}",
        opts.timeout
    )))
}

/// Creates the datacenter's topic: one partition, the retention and size limits of `opts`.
async fn create_topic(opts: &KafkaOptions, topic: &str) -> Result<(), KafkaBusError> {
    let admin: AdminClient<DefaultClientContext> = opts
        .client()
        .create()
        .map_err(|e| KafkaBusError::Config(e.to_string()))?;
    let max = (MAX_EVENT_BYTES + 4096).to_string();
    let retention = opts.retention_ms.to_string();
    // One replica may be down and writes go on (acks=all waits for the in-sync ones).
    let min_isr = (opts.replication - 1).clamp(1, 2).to_string();
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(opts.replication))
        .set("max.message.bytes", &max)
        .set("retention.ms", &retention)
        .set("min.insync.replicas", &min_isr);
    let results = admin
        .create_topics([&new], &AdminOptions::new().operation_timeout(Some(opts.timeout)))
        .await
        .map_err(|e| KafkaBusError::Unreachable {
            brokers: opts.brokers.clone(),
            why: e.to_string(),
        })?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((
                t,
                c @ (RDKafkaErrorCode::TopicAuthorizationFailed | RDKafkaErrorCode::ClusterAuthorizationFailed),
            )) => {
                return Err(KafkaBusError::NotAllowed {
                    topic: t,
                    operation: "create",
                    why: c.to_string(),
                });
            }
            Err((t, c)) => {
                return Err(KafkaBusError::Topic {
                    topic: t,
                    why: c.to_string(),
                });
            }
        }
    }
    Ok(())
}

impl Bus<RoleEvent> for KafkaBus {
    fn topic(&self, event: &str) -> String {
        format!("daoli.{}.{event}", self.datacenter)
    }

    fn try_publish(&self, event: &RoleEvent) -> Result<(), BusError> {
        self.send(event, Box::new(None)).map_err(|(e, _)| e)
    }

    fn publish<'a>(&'a self, event: &'a RoleEvent) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            loop {
                let (tx, rx) = oneshot::channel();
                match self.send(event, Box::new(Some(tx))) {
                    Ok(()) => {
                        return rx
                            .await
                            .map_err(|_| BusError::Closed)?
                            .map(drop)
                            .map_err(|e| BusError::Broker(e.to_string()));
                    }
                    // Back-pressure: wait for librdkafka's queue to drain a little.
                    Err((BusError::Full { .. }, _)) => tokio::time::sleep(Duration::from_millis(5)).await,
                    Err((e, _)) => return Err(e),
                }
            }
        })
    }

    fn check(&self) -> Result<(), BusError> {
        if let Some((code, why)) = self.producer.client().fatal_error() {
            return Err(BusError::Broker(format!("fatal producer error {code:?}: {why}")));
        }
        let failed = self.failed_deliveries();
        if failed > 0 {
            let last = self
                .producer
                .context()
                .last_failure
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
                .unwrap_or_default();
            return Err(BusError::Broker(format!(
                "{failed} events were not delivered (last: {last})"
            )));
        }
        Ok(())
    }

    /// Nothing waits for delivery, and nothing failed: after a lost delivery the consumed
    /// offsets stay uncommitted (the service stops on `check` and reads the events again).
    fn settled(&self) -> bool {
        self.producer.in_flight_count() == 0 && self.failed_deliveries() == 0
    }

    /// Blocks while it checks the group (up to the start-up timeout): call it off the async
    /// executor.
    fn subscribe(&self, event: &str, group: &str) -> Result<Box<dyn Subscriber<RoleEvent>>, BusError> {
        let topic = self.topic(event);
        let group = format!("daoli.{}.{group}", self.datacenter);
        self.probe_group(&topic, &group)?;
        let consumer: StreamConsumer = self
            .opts
            .client()
            .set("group.id", &group)
            // One member per group (one process per service): static membership lets a
            // restarted process take the partition over at once, instead of waiting for the
            // killed one's session to time out; a second process with the same identity is
            // fenced rather than sharing the stream.
            .set("group.instance.id", &group)
            .set("session.timeout.ms", "10000")
            // Offsets are stored only once an event's effect is durable (Subscriber::commit);
            // librdkafka commits what is stored every second.
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            // A new group reads the stream from its start (within retention): consumers are
            // idempotent, and a service with an empty store needs what came before it.
            .set("auto.offset.reset", "earliest")
            .set("fetch.max.bytes", (MAX_EVENT_BYTES + 4096).to_string())
            .set("max.partition.fetch.bytes", (MAX_EVENT_BYTES + 4096).to_string())
            .set("receive.message.max.bytes", (2 * MAX_EVENT_BYTES).to_string())
            .create()
            .map_err(|e| BusError::Broker(e.to_string()))?;
        consumer
            .subscribe(&[&topic])
            .map_err(|e| BusError::Broker(e.to_string()))?;
        Ok(Box::new(KafkaSubscriber {
            consumer,
            topic,
            group,
            last: None,
            unsettled: false,
            failure: None,
            undecodable: self.undecodable.clone(),
        }))
    }
}

/// One service's member of its consumer group.
pub struct KafkaSubscriber {
    consumer: StreamConsumer,
    topic: String,
    group: String,
    /// Partition and offset of the record `recv` took last (an event, or one it skipped).
    last: Option<(i32, i64)>,
    /// An event `recv` returned is not committed yet: records skipped after it wait for its
    /// commit rather than move the group past it.
    unsettled: bool,
    /// Why the subscription ended (a permission lost while running).
    failure: Option<BusError>,
    undecodable: Arc<AtomicU64>,
}

impl fmt::Debug for KafkaSubscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSubscriber")
            .field("topic", &self.topic)
            .field("group", &self.group)
            .field("last", &self.last)
            .finish()
    }
}

impl KafkaSubscriber {
    /// The next event; `None` once the subscription failed for good (see `failure`).
    async fn next(&mut self) -> Option<RoleEvent> {
        if self.failure.is_some() {
            return None;
        }
        loop {
            let m = match self.consumer.recv().await {
                Ok(m) => m,
                // The consumer cannot go on (fenced by a second process with this group's
                // identity, or a fatal client error): stop rather than run deaf.
                Err(e)
                    if matches!(e, KafkaError::MessageConsumptionFatal(_))
                        || matches!(
                            code(&e),
                            Some(RDKafkaErrorCode::FencedInstanceId | RDKafkaErrorCode::Fatal)
                        ) =>
                {
                    let e = BusError::Broker(format!("group {}: {e}", self.group));
                    tracing::error!(group = %self.group, error = %e, "bus: subscription ends");
                    self.failure = Some(e);
                    return None;
                }
                Err(e) => match code(&e) {
                    // A permission was taken away: retrying would only loop on warnings.
                    Some(c) if not_allowed(c) => {
                        let (resource, operation) = match c {
                            RDKafkaErrorCode::TopicAuthorizationFailed => {
                                (format!("Kafka topic {}", self.topic), "read")
                            }
                            RDKafkaErrorCode::GroupAuthorizationFailed => {
                                (format!("Kafka consumer group {}", self.group), "join")
                            }
                            _ => (format!("Kafka cluster (group {})", self.group), "use"),
                        };
                        let e = BusError::NotAllowed {
                            resource,
                            operation,
                            why: e.to_string(),
                        };
                        tracing::error!(group = %self.group, error = %e, "bus: subscription ends");
                        self.failure = Some(e);
                        return None;
                    }
                    _ => {
                        // Transient (a broker restart, a rebalance): librdkafka reconnects.
                        tracing::warn!(group = %self.group, error = %e, "bus: receive failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                },
            };
            let at = (m.partition(), m.offset());
            let probe = m.headers().is_some_and(|h| h.iter().any(|h| h.key == PROBE_HEADER));
            let decoded = (!probe).then(|| m.payload().map(decode_event));
            let parent = m.headers().map(|h| crate::telemetry::extract(&HeaderView(h)));
            drop(m);
            match decoded {
                // A service's start-up probe: not an event, nothing to say about it.
                None => self.skip(at),
                Some(Some(Ok(e))) => {
                    self.last = Some(at);
                    self.unsettled = true;
                    if let Some(cx) = parent {
                        use tracing_opentelemetry::OpenTelemetrySpanExt as _;
                        let span = tracing::debug_span!("bus.consume", group = %self.group, offset = at.1);
                        let _ = span.set_parent(cx);
                    }
                    return Some(RoleEvent(Arc::new(e)));
                }
                Some(Some(Err(e))) => {
                    self.undecodable.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(group = %self.group, partition = at.0, offset = at.1, error = %e, "bus: event skipped: it does not decode");
                    self.skip(at);
                }
                Some(None) => {
                    self.undecodable.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(group = %self.group, partition = at.0, offset = at.1, "bus: event skipped: no payload");
                    self.skip(at);
                }
            }
        }
    }

    /// A record that is no event: the group moves past it now, or, behind an event whose
    /// effect is not durable yet, with that event's commit.
    fn skip(&mut self, at: (i32, i64)) {
        self.last = Some(at);
        if !self.unsettled {
            self.store(at);
        }
    }

    /// The group may move past `at`.
    fn store(&self, (partition, offset): (i32, i64)) {
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition_offset(&self.topic, partition, Offset::Offset(offset + 1))
            .is_ok()
            && let Err(e) = self.consumer.store_offsets(&tpl)
        {
            tracing::warn!(group = %self.group, error = %e, "bus: offset not stored; the event may come again");
        }
    }
}

impl Subscriber<RoleEvent> for KafkaSubscriber {
    fn recv(&mut self) -> BoxFuture<'_, Option<RoleEvent>> {
        Box::pin(self.next())
    }

    fn try_recv(&mut self) -> Option<RoleEvent> {
        use std::future::Future as _;
        let mut f = std::pin::pin!(self.next());
        match f
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        {
            std::task::Poll::Ready(e) => e,
            std::task::Poll::Pending => None,
        }
    }

    /// Events behind this member: the partition's end, less its position (asks the broker,
    /// 100 ms at most; 0 if it does not answer).
    fn queued(&self) -> usize {
        let Some((partition, offset)) = self.last else {
            return 0;
        };
        match self
            .consumer
            .client()
            .fetch_watermarks(&self.topic, partition, Duration::from_millis(100))
        {
            Ok((_, high)) => usize::try_from(high - offset - 1).unwrap_or(0),
            Err(_) => 0,
        }
    }

    fn commit(&mut self) {
        if let Some(at) = self.last {
            self.unsettled = false;
            self.store(at);
        }
    }

    fn failure(&self) -> Option<BusError> {
        self.failure.clone()
    }
}

impl Drop for KafkaBus {
    fn drop(&mut self) {
        // librdkafka drops what is still queued when the producer goes: deliver it first.
        if let Err(e) = self.producer.flush(Duration::from_secs(10)) {
            tracing::error!(datacenter = %self.datacenter, error = %e, in_flight = self.in_flight(), "bus: events not delivered at shutdown");
        }
    }
}

impl Drop for KafkaSubscriber {
    fn drop(&mut self) {
        // What was stored goes to the group now, not a second later.
        let _ = self.consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync);
    }
}
