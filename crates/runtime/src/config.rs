//! Configuration of one service of one datacenter.
//!
//! Three sources, later ones overriding earlier ones: a TOML file (`--config` /
//! `DAOLI_CONFIG`), the environment, then command-line flags. Every key has the same name in
//! each: key `admin_addr` is env `DAOLI_ADMIN_ADDR` and flag `--admin-addr`; `limits.max_in_flight`
//! is `DAOLI_LIMITS_MAX_IN_FLIGHT` and `--limits-max-in-flight`. Peers come as `[[peers]]` tables
//! in the file, or as `--peer NAME=ROOTKEYHEX@URL` (repeatable; env `DAOLI_PEERS`,
//! comma-separated), which replace the file's list. Relative paths in the file are relative to
//! the file's directory, so a config directory can be moved as a whole. The Kafka password
//! (`kafka_password`) is the one key the file may not hold: it comes from the environment or
//! a flag only.
//!
//! Loading ([`ConfigArgs::load`]) only merges: [`Config`] holds the raw values. [`Config::validate`]
//! turns them into a typed [`ServiceConfig`] before any port is bound, reading the genesis file
//! and checking every value; it reports *all* problems at once, each naming its key and why.

use clap::Args;
use daoli_protocol::crypto::PublicKey;
use daoli_protocol::params::Genesis;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU16, NonZeroU32};
use std::path::{Path, PathBuf};
use url::Url;

/// The seven services of a datacenter (one role machine each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    ClockBeacon,
    MinerPool,
    LotDrawing,
    KernelBuffer,
    IbftTrustees,
    Ledger,
    Lottery,
}

impl Service {
    pub const ALL: [Service; 7] = [
        Service::ClockBeacon,
        Service::MinerPool,
        Service::LotDrawing,
        Service::KernelBuffer,
        Service::IbftTrustees,
        Service::Ledger,
        Service::Lottery,
    ];

    /// The name used in configuration, store namespaces, metrics and traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::ClockBeacon => "clock-beacon",
            Service::MinerPool => "miner-pool",
            Service::LotDrawing => "lot-drawing",
            Service::KernelBuffer => "kernel-buffer",
            Service::IbftTrustees => "ibft-trustees",
            Service::Ledger => "ledger",
            Service::Lottery => "lottery",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Its place in [`Service::ALL`] (seq streams, port layouts).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether other datacenters send it messages (`roles::service_of`), so it needs a
    /// `peer_addr`. The miner pool and the lottery take none.
    pub fn takes_peer_messages(self) -> bool {
        !matches!(self, Service::MinerPool | Service::Lottery)
    }

    /// Whether it answers clients (a `client_addr`): the kernel buffer (the front door), the
    /// ledger and the miner pool (the front door's forwards).
    pub fn has_client_api(self) -> bool {
        matches!(self, Service::KernelBuffer | Service::Ledger | Service::MinerPool)
    }
}

/// The longest datacenter name a service process takes: its schemas `<name>_<service>` must
/// fit PostgreSQL's 63-byte identifiers (longer ones are cut silently, and two datacenters
/// could then share a schema); `ibft_trustees` is the longest service.
pub const MAX_DATACENTER_NAME: usize = 63 - "_ibft_trustees".len();

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value that may hold a password: never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// The datacenter's event log. A service process needs one its datacenter's other processes
/// share (the in-process bus of `daoli devnet` joins services in one process only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusKind {
    /// Apache Kafka ([`crate::bus::kafka::KafkaBus`]), bootstrap `host:port[,host:port...]`.
    Kafka {
        brokers: String,
        security: KafkaSecurity,
        /// The datacenter topic's replication factor, when start-up creates it.
        replication: NonZeroU16,
        /// How long the broker keeps events, hours (topic `retention.ms`, when start-up
        /// creates it).
        retention_hours: NonZeroU32,
    },
}

/// Kafka's own default; set 3 (with `min.insync.replicas` 2, which start-up sets) on a
/// cluster of three brokers or more.
pub const DEFAULT_KAFKA_REPLICATION: u16 = 1;
/// A week: a service down longer catches up from its store and its peers, not the bus.
pub const DEFAULT_KAFKA_RETENTION_HOURS: u32 = 7 * 24;

/// How a service's Kafka clients reach the brokers and log in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaSecurity {
    pub protocol: KafkaProtocol,
    /// With a SASL protocol: who logs in.
    pub sasl: Option<KafkaSasl>,
}

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KafkaProtocol {
    #[default]
    Plaintext,
    SaslPlaintext,
    SaslSsl,
    Ssl,
}

impl KafkaProtocol {
    const ALL: [KafkaProtocol; 4] = [
        KafkaProtocol::Plaintext,
        KafkaProtocol::SaslPlaintext,
        KafkaProtocol::SaslSsl,
        KafkaProtocol::Ssl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KafkaProtocol::Plaintext => "plaintext",
            KafkaProtocol::SaslPlaintext => "sasl_plaintext",
            KafkaProtocol::SaslSsl => "sasl_ssl",
            KafkaProtocol::Ssl => "ssl",
        }
    }

    /// Whether clients log in (SASL).
    pub fn sasl(self) -> bool {
        matches!(self, KafkaProtocol::SaslPlaintext | KafkaProtocol::SaslSsl)
    }
}

/// A SASL login. `Debug` never shows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSasl {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: &'static str,
    pub username: String,
    pub password: Secret,
}

const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

impl KafkaSecurity {
    /// The librdkafka settings for it ([`crate::bus::kafka::KafkaOptions::extra`]; they hold
    /// the password).
    pub fn client_settings(&self) -> Vec<(String, String)> {
        let mut v = vec![("security.protocol".to_string(), self.protocol.as_str().to_string())];
        if let Some(s) = &self.sasl {
            v.push(("sasl.mechanism".into(), s.mechanism.into()));
            v.push(("sasl.username".into(), s.username.clone()));
            v.push(("sasl.password".into(), s.password.0.clone()));
        }
        v
    }
}

/// Where a service persists. A service process needs a store its datacenter's other processes
/// can read (it rebuilds the certified chain from the ledger's schema at start-up), so the
/// embedded redb file, which one process owns, is `daoli devnet`'s only.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// PostgreSQL ([`crate::store::pg::PgStore`]), a connection string (it may hold the
    /// password: prefer DAOLI_POSTGRES_URL to a file or a flag).
    Postgres { url: String },
}

impl fmt::Debug for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Never the password.
            StoreKind::Postgres { url } => write!(f, "Postgres({})", crate::store::pg::display_url(url)),
        }
    }
}

const DEFAULT_LOG: &str = "info";
const DEFAULT_MESSAGES_PER_SECOND: u32 = 1_000;
const DEFAULT_MAX_IN_FLIGHT: u32 = 64;

/// A peer as written in the file or on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    #[serde(default)]
    pub name: String,
    /// The peer datacenter's root public key, 64 hex characters.
    #[serde(default)]
    pub root_key: String,
    /// Its peer gRPC endpoint, e.g. `http://dc1.example:7100` (TLS is not built in).
    #[serde(default)]
    pub endpoint: String,
    /// For a datacenter run as one process per service: the peer endpoint of each service
    /// that takes peer messages (`[peers.services]`, e.g. `ledger = "http://..."`); messages
    /// for a service not listed go to `endpoint`.
    #[serde(default)]
    pub services: BTreeMap<String, String>,
}

impl std::str::FromStr for PeerEntry {
    type Err = String;
    /// `NAME=ROOTKEYHEX@URL`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, rest) = s.split_once('=').ok_or("expected NAME=ROOTKEYHEX@URL")?;
        let (key, url) = rest.split_once('@').ok_or("expected NAME=ROOTKEYHEX@URL")?;
        Ok(PeerEntry {
            name: name.into(),
            root_key: key.into(),
            endpoint: url.into(),
            services: BTreeMap::new(),
        })
    }
}

/// Per-peer limits, applied by the peer server to each connected datacenter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsEntry {
    pub messages_per_second: Option<u32>,
    pub max_in_flight: Option<u32>,
}

/// The merged, unchecked values. Build it with [`ConfigArgs::load`] (or by hand, as a devnet
/// launcher does), then call [`Config::validate`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub datacenter: Option<String>,
    pub service: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub genesis: Option<PathBuf>,
    pub identity_key: Option<PathBuf>,
    pub peer_addr: Option<String>,
    pub client_addr: Option<String>,
    pub admin_addr: Option<String>,
    #[serde(default)]
    pub peers: Vec<PeerEntry>,
    /// This datacenter's ledger's client endpoint: the kernel buffer, the datacenter's front
    /// door for clients, hands chain queries on to it.
    pub ledger_endpoint: Option<String>,
    /// This datacenter's miner pool's client endpoint: the kernel buffer hands lots on to it.
    pub miner_pool_endpoint: Option<String>,
    pub bus: Option<String>,
    /// With `bus = "kafka"`: `host:port[,host:port...]`.
    pub kafka_brokers: Option<String>,
    /// plaintext (the default), sasl_plaintext, sasl_ssl or ssl.
    pub kafka_security_protocol: Option<String>,
    /// With a SASL protocol: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    pub kafka_sasl_mechanism: Option<String>,
    /// With a SASL protocol: the user clients log in as.
    pub kafka_username: Option<String>,
    /// With a SASL protocol: the password, from the environment or a flag only (a file that
    /// sets it is refused).
    pub kafka_password: Option<Secret>,
    /// Replication factor of the datacenter's topic when start-up creates it (default 1).
    pub kafka_replication: Option<u16>,
    /// Retention of the datacenter's topic when start-up creates it, hours (default 168).
    pub kafka_retention_hours: Option<u32>,
    pub store: Option<String>,
    /// With `store = "postgres"`: `postgres://user:password@host:port/db`.
    pub postgres_url: Option<Secret>,
    /// OTLP/gRPC collector, e.g. `http://127.0.0.1:4317`; absent or empty: no export.
    pub otlp_endpoint: Option<String>,
    /// A `tracing` env-filter directive, e.g. `info,daoli_runtime=debug`.
    pub log: Option<String>,
    #[serde(default)]
    pub limits: LimitsEntry,
}

/// The flags (and their environment variables) a service binary flattens into its CLI.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// TOML configuration file; the environment and flags override its values.
    #[arg(long, env = "DAOLI_CONFIG")]
    pub config: Option<PathBuf>,
    /// This datacenter's name (a-z, 0-9, '-'), used in bus topics.
    #[arg(long, env = "DAOLI_DATACENTER")]
    pub datacenter: Option<String>,
    /// clock-beacon, miner-pool, lot-drawing, kernel-buffer, ibft-trustees, ledger or lottery.
    #[arg(long, env = "DAOLI_SERVICE")]
    pub service: Option<String>,
    #[arg(long, env = "DAOLI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Genesis JSON file.
    #[arg(long, env = "DAOLI_GENESIS")]
    pub genesis: Option<PathBuf>,
    /// This datacenter's secret key file.
    #[arg(long, env = "DAOLI_IDENTITY_KEY")]
    pub identity_key: Option<PathBuf>,
    /// Peer gRPC listen address, IP:PORT.
    #[arg(long, env = "DAOLI_PEER_ADDR")]
    pub peer_addr: Option<String>,
    /// Client gRPC listen address, IP:PORT.
    #[arg(long, env = "DAOLI_CLIENT_ADDR")]
    pub client_addr: Option<String>,
    /// Admin HTTP listen address (/healthz, /readyz, /metrics), IP:PORT.
    #[arg(long, env = "DAOLI_ADMIN_ADDR")]
    pub admin_addr: Option<String>,
    /// A peer datacenter, NAME=ROOTKEYHEX@URL; repeat it. Replaces the file's peers.
    #[arg(long = "peer", env = "DAOLI_PEERS", value_delimiter = ',')]
    pub peers: Vec<PeerEntry>,
    /// This datacenter's ledger's client endpoint (the kernel buffer hands queries to it).
    #[arg(long, env = "DAOLI_LEDGER_ENDPOINT")]
    pub ledger_endpoint: Option<String>,
    /// This datacenter's miner pool's client endpoint (the kernel buffer hands lots to it).
    #[arg(long, env = "DAOLI_MINER_POOL_ENDPOINT")]
    pub miner_pool_endpoint: Option<String>,
    /// Event bus: kafka (the only kind a service process can share).
    #[arg(long, env = "DAOLI_BUS")]
    pub bus: Option<String>,
    /// The Kafka bootstrap servers, host:port[,host:port...] (bus = kafka).
    #[arg(long, env = "DAOLI_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// How Kafka clients connect: plaintext (default), sasl_plaintext, sasl_ssl or ssl.
    #[arg(long, env = "DAOLI_KAFKA_SECURITY_PROTOCOL")]
    pub kafka_security_protocol: Option<String>,
    /// SASL mechanism (SASL protocols): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, env = "DAOLI_KAFKA_SASL_MECHANISM")]
    pub kafka_sasl_mechanism: Option<String>,
    /// SASL user name (SASL protocols).
    #[arg(long, env = "DAOLI_KAFKA_USERNAME")]
    pub kafka_username: Option<String>,
    /// SASL password (SASL protocols); never read from the file, and prefer the environment
    /// variable to the flag.
    #[arg(long, env = "DAOLI_KAFKA_PASSWORD", hide_env_values = true)]
    pub kafka_password: Option<Secret>,
    /// Replication factor of the datacenter's topic, when start-up creates it (default 1).
    #[arg(long, env = "DAOLI_KAFKA_REPLICATION")]
    pub kafka_replication: Option<u16>,
    /// Retention of the datacenter's topic, hours, when start-up creates it (default 168).
    #[arg(long, env = "DAOLI_KAFKA_RETENTION_HOURS")]
    pub kafka_retention_hours: Option<u32>,
    /// Store: postgres (the only kind a service process can share).
    #[arg(long, env = "DAOLI_STORE")]
    pub store: Option<String>,
    /// The PostgreSQL connection string (store = postgres); it may hold the password, so prefer
    /// the environment variable to the flag.
    #[arg(long, env = "DAOLI_POSTGRES_URL", hide_env_values = true)]
    pub postgres_url: Option<Secret>,
    /// OTLP/gRPC trace collector URL; empty turns export off.
    #[arg(long, env = "DAOLI_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Log filter (tracing env-filter syntax).
    #[arg(long, env = "DAOLI_LOG")]
    pub log: Option<String>,
    /// Messages per second accepted from each peer.
    #[arg(long, env = "DAOLI_LIMITS_MESSAGES_PER_SECOND")]
    pub limits_messages_per_second: Option<u32>,
    /// Requests from each peer being served at once.
    #[arg(long, env = "DAOLI_LIMITS_MAX_IN_FLIGHT")]
    pub limits_max_in_flight: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML, or has a value of the wrong type or an unknown key (the message
    /// names the key, line and column).
    #[error("config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration:\n  {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The problems found by validation (empty for a read or parse error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            _ => &[],
        }
    }
}

/// One bad value: its key (`peers[2].endpoint`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl ConfigArgs {
    /// The file (if any) overridden by the environment and flags (clap already applied
    /// "flag over env" to these fields).
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut c = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        c.apply(self);
        Ok(c)
    }
}

impl Config {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        // toml's Display quotes the offending line, which may hold a secret (a mistyped
        // `postgres_url` key): only where, and why.
        let mut c: Config = toml::from_str(&text).map_err(|e| {
            let at = e.span().map_or(String::new(), |r| {
                let start = r.start.min(text.len());
                let before = &text[..start];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                // The key of the line, never its value.
                let key = text
                    .lines()
                    .nth(line - 1)
                    .and_then(|l| l.split_once('='))
                    .map(|(k, _)| k.trim())
                    .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)))
                    .map_or(String::new(), |k| format!("`{k}`: "));
                format!("line {line}, column {column}: {key}")
            });
            ConfigError::Parse {
                path: path.into(),
                message: format!("{at}{}", e.message().trim_end()),
            }
        })?;
        if c.kafka_password.is_some() {
            return Err(ConfigError::Parse {
                path: path.into(),
                message:
                    "kafka_password: a password is not read from a file (set DAOLI_KAFKA_PASSWORD or --kafka-password)"
                        .into(),
            });
        }
        let base = path.parent().unwrap_or(Path::new(""));
        for p in [&mut c.data_dir, &mut c.genesis, &mut c.identity_key]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }

    /// Overrides every value `args` sets.
    pub fn apply(&mut self, args: &ConfigArgs) {
        fn set<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
            if src.is_some() {
                dst.clone_from(src);
            }
        }
        set(&mut self.datacenter, &args.datacenter);
        set(&mut self.service, &args.service);
        set(&mut self.data_dir, &args.data_dir);
        set(&mut self.genesis, &args.genesis);
        set(&mut self.identity_key, &args.identity_key);
        set(&mut self.peer_addr, &args.peer_addr);
        set(&mut self.client_addr, &args.client_addr);
        set(&mut self.admin_addr, &args.admin_addr);
        set(&mut self.ledger_endpoint, &args.ledger_endpoint);
        set(&mut self.miner_pool_endpoint, &args.miner_pool_endpoint);
        set(&mut self.bus, &args.bus);
        set(&mut self.kafka_brokers, &args.kafka_brokers);
        set(&mut self.kafka_security_protocol, &args.kafka_security_protocol);
        set(&mut self.kafka_sasl_mechanism, &args.kafka_sasl_mechanism);
        set(&mut self.kafka_username, &args.kafka_username);
        set(&mut self.kafka_password, &args.kafka_password);
        set(&mut self.kafka_replication, &args.kafka_replication);
        set(&mut self.kafka_retention_hours, &args.kafka_retention_hours);
        set(&mut self.store, &args.store);
        set(&mut self.postgres_url, &args.postgres_url);
        set(&mut self.otlp_endpoint, &args.otlp_endpoint);
        set(&mut self.log, &args.log);
        set(&mut self.limits.messages_per_second, &args.limits_messages_per_second);
        set(&mut self.limits.max_in_flight, &args.limits_max_in_flight);
        if !args.peers.is_empty() {
            self.peers.clone_from(&args.peers);
        }
    }

    /// Checks every value and returns the typed configuration, or every problem found.
    pub fn validate(&self) -> Result<ServiceConfig, ConfigError> {
        let mut v = Validator::default();
        let datacenter = v
            .required("datacenter", &self.datacenter)
            .and_then(|s| v.name("datacenter", s))
            .and_then(|s| v.datacenter(s));
        let service = v.required("service", &self.service).and_then(|s| {
            let parsed = Service::parse(s);
            if parsed.is_none() {
                let all: Vec<_> = Service::ALL.iter().map(|s| s.as_str()).collect();
                v.bad::<()>("service", format!("{s:?} is not a service (one of {})", all.join(", ")));
            }
            parsed
        });
        let data_dir = v.required("data_dir", &self.data_dir).and_then(|d| {
            if d.exists() && !d.is_dir() {
                return v.bad("data_dir", format!("{} exists and is not a directory", d.display()));
            }
            Some(d.clone())
        });
        let genesis = v.required("genesis", &self.genesis).and_then(|p| v.genesis(p));
        let identity_key = v
            .required("identity_key", &self.identity_key)
            .and_then(|p| v.key_file(p));
        let peer_addr = self.peer_addr.as_deref().and_then(|a| v.addr("peer_addr", a));
        let client_addr = self.client_addr.as_deref().and_then(|a| v.addr("client_addr", a));
        if let Some(s) = service {
            // Without a peer endpoint its peers' messages would go nowhere; a listener that
            // serves nothing is a mistake the operator should hear about.
            if s.takes_peer_messages() {
                v.required("peer_addr", &self.peer_addr);
            } else if self.peer_addr.is_some() {
                v.bad::<()>("peer_addr", format!("{s} takes no peer messages: leave peer_addr out"));
            }
            if !s.has_client_api() && self.client_addr.is_some() {
                v.bad::<()>(
                    "client_addr",
                    format!("{s} has no client API (the kernel buffer, the ledger and the miner pool do): leave client_addr out"),
                );
            }
        }
        let admin_addr = v
            .required("admin_addr", &self.admin_addr)
            .and_then(|a| v.addr("admin_addr", a));
        v.distinct_ports(&[
            ("peer_addr", peer_addr),
            ("client_addr", client_addr),
            ("admin_addr", admin_addr),
        ]);
        let peers = v.peers(&self.peers);
        let bus = match self.bus.as_deref().unwrap_or("kafka") {
            "kafka" => {
                let brokers = v
                    .required("kafka_brokers", &self.kafka_brokers)
                    .and_then(|b| v.brokers("kafka_brokers", b));
                let security = v.kafka_security(self);
                let replication = NonZeroU16::new(self.kafka_replication.unwrap_or(DEFAULT_KAFKA_REPLICATION))
                    .or_else(|| v.bad("kafka_replication", "must be at least 1"));
                let retention_hours = v.positive(
                    "kafka_retention_hours",
                    self.kafka_retention_hours.unwrap_or(DEFAULT_KAFKA_RETENTION_HOURS),
                );
                match (brokers, security, replication, retention_hours) {
                    (Some(brokers), Some(security), Some(replication), Some(retention_hours)) => Some(BusKind::Kafka {
                        brokers,
                        security,
                        replication,
                        retention_hours,
                    }),
                    _ => None,
                }
            }
            "inproc" => v.bad(
                "bus",
                "\"inproc\" joins services in one process only (daoli devnet); a service process needs \"kafka\"",
            ),
            other => v.bad("bus", format!("{other:?} is not a bus kind (kafka)")),
        };
        let store = match self.store.as_deref().unwrap_or("postgres") {
            "postgres" => v
                .required("postgres_url", &self.postgres_url)
                .and_then(|u| v.postgres("postgres_url", &u.0))
                .map(|url| StoreKind::Postgres { url }),
            "embedded" => v.bad(
                "store",
                "\"embedded\" is one process's file (daoli devnet); a service process needs \"postgres\"",
            ),
            other => v.bad("store", format!("{other:?} is not a store kind (postgres)")),
        };
        let ledger_endpoint = self
            .ledger_endpoint
            .as_deref()
            .and_then(|u| v.url("ledger_endpoint", u));
        let miner_pool_endpoint = self
            .miner_pool_endpoint
            .as_deref()
            .and_then(|u| v.url("miner_pool_endpoint", u));
        // The kernel buffer is the clients' front door: it answers what it cannot itself
        // through the ledger and the miner pool.
        if service == Some(Service::KernelBuffer) && client_addr.is_some() {
            v.required("ledger_endpoint", &self.ledger_endpoint);
            v.required("miner_pool_endpoint", &self.miner_pool_endpoint);
        }
        let otlp_endpoint = match self.otlp_endpoint.as_deref() {
            None | Some("") => Some(None),
            // The exporter is built without a TLS stack (url() refuses https): export to a
            // local collector or agent.
            Some(u) => v.url("otlp_endpoint", u).map(Some),
        };
        let log = self.log.clone().unwrap_or_else(|| DEFAULT_LOG.into());
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&log) {
            v.bad::<()>("log", format!("{log:?} is not a log filter: {e}"));
        }
        let messages_per_second = v.positive(
            "limits.messages_per_second",
            self.limits.messages_per_second.unwrap_or(DEFAULT_MESSAGES_PER_SECOND),
        );
        let max_in_flight = v.positive(
            "limits.max_in_flight",
            self.limits.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
        );

        if !v.problems.is_empty() {
            return Err(ConfigError::Invalid(v.problems));
        }
        // Every `None` above recorded a problem, so these are all `Some`.
        let missing = || {
            ConfigError::Invalid(vec![Problem {
                key: "config".into(),
                reason: "internal error: a value was refused without a reason".into(),
            }])
        };
        let (genesis_path, genesis) = genesis.ok_or_else(missing)?;
        Ok(ServiceConfig {
            datacenter: datacenter.ok_or_else(missing)?.to_string(),
            service: service.ok_or_else(missing)?,
            data_dir: data_dir.ok_or_else(missing)?,
            genesis_path,
            genesis: Box::new(genesis),
            identity_key: identity_key.ok_or_else(missing)?,
            peer_addr,
            client_addr,
            admin_addr: admin_addr.ok_or_else(missing)?,
            peers: peers.ok_or_else(missing)?,
            ledger_endpoint,
            miner_pool_endpoint,
            bus: bus.ok_or_else(missing)?,
            store: store.ok_or_else(missing)?,
            otlp_endpoint: otlp_endpoint.ok_or_else(missing)?,
            log,
            limits: PeerLimits {
                messages_per_second: messages_per_second.ok_or_else(missing)?,
                max_in_flight: max_in_flight.ok_or_else(missing)?,
            },
        })
    }
}

/// A peer datacenter, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub root_key: PublicKey,
    pub endpoint: Url,
    /// Endpoints of its services run apart (see [`PeerEntry::services`]).
    pub services: Vec<(Service, Url)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLimits {
    pub messages_per_second: NonZeroU32,
    pub max_in_flight: NonZeroU32,
}

/// A checked configuration: what a service starts from.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub datacenter: String,
    pub service: Service,
    pub data_dir: PathBuf,
    pub genesis_path: PathBuf,
    /// Parsed and validated by the core.
    pub genesis: Box<Genesis>,
    pub identity_key: PathBuf,
    /// Services that serve no peer (or no client) traffic leave these out.
    pub peer_addr: Option<SocketAddr>,
    pub client_addr: Option<SocketAddr>,
    pub admin_addr: SocketAddr,
    pub peers: Vec<Peer>,
    pub ledger_endpoint: Option<Url>,
    pub miner_pool_endpoint: Option<Url>,
    pub bus: BusKind,
    pub store: StoreKind,
    pub otlp_endpoint: Option<Url>,
    pub log: String,
    pub limits: PeerLimits,
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

impl Validator {
    /// Records a problem; returns `None` so callers can `return v.bad(..)`.
    fn bad<T>(&mut self, key: impl Into<String>, reason: impl Into<String>) -> Option<T> {
        self.problems.push(Problem {
            key: key.into(),
            reason: reason.into(),
        });
        None
    }

    fn required<'a, T>(&mut self, key: &str, value: &'a Option<T>) -> Option<&'a T> {
        if value.is_none() {
            let env = format!("DAOLI_{}", key.to_uppercase());
            let flag = format!("--{}", key.replace('_', "-"));
            return self.bad(key, format!("missing (set it in the file, {env} or {flag})"));
        }
        value.as_ref()
    }

    /// This process's own datacenter name, which also names its PostgreSQL schemas.
    fn datacenter<'a>(&mut self, s: &'a str) -> Option<&'a str> {
        if s.len() > MAX_DATACENTER_NAME {
            return self.bad(
                "datacenter",
                format!("{s:?} is {} characters; at most {MAX_DATACENTER_NAME} (it names PostgreSQL schemas, of at most 63)", s.len()),
            );
        }
        // Its schemas would start with "pg_", which PostgreSQL reserves.
        if s == "pg" || s.starts_with("pg-") {
            return self.bad(
                "datacenter",
                format!("{s:?}: names starting \"pg-\" are reserved by PostgreSQL (schema pg_...)"),
            );
        }
        Some(s)
    }

    /// Names end up in bus topics, file names and Kubernetes objects: a DNS label.
    fn name<'a>(&mut self, key: &str, s: &'a str) -> Option<&'a str> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Some(s)
        } else {
            self.bad(
                key,
                format!("{s:?} is not a name (1-63 of a-z, 0-9 and '-', not starting or ending with '-')"),
            )
        }
    }

    fn genesis(&mut self, path: &Path) -> Option<(PathBuf, Genesis)> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return self.bad("genesis", format!("cannot read {}: {e}", path.display())),
        };
        match Genesis::from_json(&text) {
            Ok(g) => Some((path.to_path_buf(), g)),
            Err(e) => self.bad("genesis", format!("{} is not a valid genesis: {e}", path.display())),
        }
    }

    fn key_file(&mut self, path: &Path) -> Option<PathBuf> {
        match std::fs::read(path) {
            Ok(b) if b.is_empty() => self.bad("identity_key", format!("{} is empty", path.display())),
            Ok(_) => Some(path.to_path_buf()),
            Err(e) => self.bad("identity_key", format!("cannot read {}: {e}", path.display())),
        }
    }

    /// `host:port[,host:port...]`, each port given and not 0.
    fn brokers(&mut self, key: &str, s: &str) -> Option<String> {
        let bad = s.split(',').map(str::trim).find(|b| {
            let Some((host, port)) = b.rsplit_once(':') else {
                return true;
            };
            host.is_empty() || !matches!(port.parse::<u16>(), Ok(p) if p > 0)
        });
        match bad {
            Some(b) => self.bad(key, format!("{b:?} is not HOST:PORT (a list is comma-separated)")),
            None => Some(s.to_string()),
        }
    }

    /// The Kafka client's security settings: a SASL protocol needs its mechanism, user and
    /// password; the others take none (a login that would be ignored is a mistake to name).
    /// The password is never repeated.
    fn kafka_security(&mut self, c: &Config) -> Option<KafkaSecurity> {
        let before = self.problems.len();
        let protocol = match c.kafka_security_protocol.as_deref() {
            None => Some(KafkaProtocol::Plaintext),
            Some(p) => KafkaProtocol::ALL
                .into_iter()
                .find(|x| x.as_str().eq_ignore_ascii_case(p))
                .or_else(|| {
                    self.bad(
                        "kafka_security_protocol",
                        format!("{p:?} is not a security protocol (plaintext, sasl_plaintext, sasl_ssl or ssl)"),
                    )
                }),
        };
        let mechanism = c.kafka_sasl_mechanism.as_deref().and_then(|m| {
            SASL_MECHANISMS
                .into_iter()
                .find(|x| x.eq_ignore_ascii_case(m))
                .or_else(|| {
                    self.bad(
                        "kafka_sasl_mechanism",
                        format!("{m:?} is not a SASL mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"),
                    )
                })
        });
        let protocol = protocol?;
        let sasl = if protocol.sasl() {
            let why = format!("kafka_security_protocol {} logs in with it", protocol.as_str());
            if c.kafka_sasl_mechanism.is_none() {
                self.bad::<()>(
                    "kafka_sasl_mechanism",
                    format!(
                        "missing: {why} (set it in the file, DAOLI_KAFKA_SASL_MECHANISM or --kafka-sasl-mechanism)"
                    ),
                );
            }
            let username = match c.kafka_username.as_deref() {
                None => self.bad(
                    "kafka_username",
                    format!("missing: {why} (set it in the file, DAOLI_KAFKA_USERNAME or --kafka-username)"),
                ),
                Some("") => self.bad("kafka_username", "is empty"),
                Some(u) => Some(u.to_string()),
            };
            let password = match &c.kafka_password {
                None => self.bad(
                    "kafka_password",
                    format!("missing: {why} (set DAOLI_KAFKA_PASSWORD or --kafka-password; never in the file)"),
                ),
                Some(p) if p.0.is_empty() => self.bad("kafka_password", "is empty"),
                Some(p) => Some(p.clone()),
            };
            match (mechanism, username, password) {
                (Some(mechanism), Some(username), Some(password)) => Some(KafkaSasl {
                    mechanism,
                    username,
                    password,
                }),
                _ => None,
            }
        } else {
            for (key, set) in [
                ("kafka_sasl_mechanism", c.kafka_sasl_mechanism.is_some()),
                ("kafka_username", c.kafka_username.is_some()),
                ("kafka_password", c.kafka_password.is_some()),
            ] {
                if set {
                    self.bad::<()>(
                        key,
                        format!(
                            "set, but kafka_security_protocol {} does not log in (use sasl_plaintext or sasl_ssl)",
                            protocol.as_str()
                        ),
                    );
                }
            }
            None
        };
        if self.problems.len() != before {
            return None;
        }
        let security = KafkaSecurity { protocol, sasl };
        // What this build's Kafka client can do (TLS and SCRAM need OpenSSL in librdkafka).
        if let Err((key, why)) = crate::bus::kafka::KafkaOptions::check_extra(&security.client_settings()) {
            let key = if key.starts_with("sasl.") {
                "kafka_sasl_mechanism"
            } else {
                "kafka_security_protocol"
            };
            return self.bad(key, format!("not supported by this build's Kafka client: {why}"));
        }
        Some(security)
    }

    /// A PostgreSQL connection string with a host and a user. The value is never repeated in
    /// the message: it may hold the password.
    fn postgres(&mut self, key: &str, s: &str) -> Option<String> {
        match <tokio_postgres::Config as std::str::FromStr>::from_str(s) {
            Err(_) => self.bad(
                key,
                "is not a PostgreSQL connection string (postgres://user:password@host:port/db)",
            ),
            Ok(c) if c.get_hosts().is_empty() => self.bad(key, "names no host"),
            Ok(c) if c.get_user().is_none() => self.bad(key, "names no user"),
            Ok(_) => Some(s.to_string()),
        }
    }

    fn addr(&mut self, key: &str, s: &str) -> Option<SocketAddr> {
        match s.parse::<SocketAddr>() {
            Ok(a) if a.port() == 0 => self.bad(
                key,
                format!("{s:?}: port 0 not allowed (peers and probes need a fixed port)"),
            ),
            Ok(a) => Some(a),
            Err(_) => self.bad(key, format!("{s:?} is not an IP:PORT address")),
        }
    }

    /// Two listeners clash when they share a port on the same IP or on a wildcard IP.
    fn distinct_ports(&mut self, addrs: &[(&str, Option<SocketAddr>)]) {
        let set: Vec<_> = addrs.iter().filter_map(|(k, a)| a.map(|a| (*k, a))).collect();
        for (i, (k1, a1)) in set.iter().enumerate() {
            for (k2, a2) in &set[i + 1..] {
                let overlap = a1.ip() == a2.ip() || a1.ip().is_unspecified() || a2.ip().is_unspecified();
                if a1.port() == a2.port() && overlap {
                    self.bad::<()>(*k2, format!("port {} is already used by {k1} ({a1})", a2.port()));
                }
            }
        }
    }

    /// An endpoint this process calls. TLS is not built into its gRPC client (it runs
    /// behind the cluster's network, or a mesh that encrypts): `https` is refused here rather
    /// than failing at the first call.
    fn url(&mut self, key: &str, s: &str) -> Option<Url> {
        match Url::parse(s) {
            Ok(u) if u.scheme() == "https" => self.bad(
                key,
                format!("{s:?}: TLS is not built into this build's gRPC client; use http:// (encrypt with the cluster's network or a mesh)"),
            ),
            Ok(u) if u.scheme() != "http" => self.bad(key, format!("{s:?}: scheme {:?} is not http", u.scheme())),
            Ok(u) if u.host_str().is_none_or(str::is_empty) => self.bad(key, format!("{s:?} has no host")),
            Ok(u) => Some(u),
            Err(e) => self.bad(key, format!("{s:?} is not a URL ({e})")),
        }
    }

    fn root_key(&mut self, key: &str, s: &str) -> Option<PublicKey> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return self.bad(key, format!("{s:?} is not 64 hex characters (a 32-byte public key)"));
        }
        let mut k = [0u8; 32];
        hex::decode_to_slice(s, &mut k).ok()?;
        Some(PublicKey(k))
    }

    fn peers(&mut self, entries: &[PeerEntry]) -> Option<Vec<Peer>> {
        let before = self.problems.len();
        let mut names = BTreeMap::new();
        let mut keys = BTreeMap::new();
        let mut out = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let k = |field: &str| format!("peers[{i}].{field}");
            let name = if e.name.is_empty() {
                self.bad(k("name"), "missing")
            } else {
                self.name(&k("name"), &e.name)
            };
            if let Some(first) = name.and_then(|n| names.insert(n, i)) {
                self.bad::<()>(k("name"), format!("{:?} is also peers[{first}].name", e.name));
            }
            let root_key = if e.root_key.is_empty() {
                self.bad(k("root_key"), "missing")
            } else {
                self.root_key(&k("root_key"), &e.root_key)
            };
            if let Some(first) = root_key.and_then(|rk| keys.insert(rk, i)) {
                self.bad::<()>(k("root_key"), format!("is also peers[{first}].root_key"));
            }
            let endpoint = if e.endpoint.is_empty() {
                self.bad(k("endpoint"), "missing")
            } else {
                self.url(&k("endpoint"), &e.endpoint)
            };
            let mut services = Vec::new();
            for (svc, url) in &e.services {
                let key = k(&format!("services.{svc}"));
                match Service::parse(svc) {
                    None => {
                        self.bad::<()>(key, format!("{svc:?} is not a service"));
                    }
                    Some(s) => {
                        if let Some(u) = self.url(&key, url) {
                            services.push((s, u));
                        }
                    }
                }
            }
            if let (Some(name), Some(root_key), Some(endpoint)) = (name, root_key, endpoint) {
                out.push(Peer {
                    name: name.to_string(),
                    root_key,
                    endpoint,
                    services,
                });
            }
        }
        (self.problems.len() == before).then_some(out)
    }

    fn positive(&mut self, key: &str, n: u32) -> Option<NonZeroU32> {
        NonZeroU32::new(n).or_else(|| self.bad(key, "must be at least 1"))
    }
}

#[cfg(test)]
mod tests;
