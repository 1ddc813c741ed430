//! One datacenter's services in this process: all seven (`daoli devnet`), or one (a service
//! process of a datacenter run as one process per service, as operators deploy it).
//!
//! Start-up is the same either way: open the datacenter's seven stores, rebuild its state from
//! them exactly as [`Datacenter::recover`] does, keep the roles that run here (a lone service
//! reads the other six stores once, read-only, then closes them: its chain follower needs the
//! certified chain the ledger stored, the ledger needs the batches the kernel buffer signed),
//! subscribe each to the bus, then open the listeners. A role recovered at the ledger's tip
//! while its bus offset is behind sees those blocks again; its follower ignores them.

use crate::admin::{AdminState, Readiness};
use crate::bus::kafka::{KafkaBus, KafkaOptions};
use crate::bus::{Bus, InProcBus, InProcOptions};
use crate::client::ClientApi;
use crate::config::{Peer as PeerConfig, PeerLimits, Service};
use crate::host::{CommittedHook, HostDeps, LocalRoutes, PeerSink, RoleEvent, RoleHost, StopSignal, now_ms};
use crate::metrics::Metrics;
use crate::peer::{ClientOptions, PeerRoute, PeerServer, Peers, ServeHandle, ServerOptions};
use crate::store::pg::{PgOptions, PgStore};
use crate::store::{EmbeddedDb, EmbeddedStore, Store};
use actix::prelude::*;
use daoli_protocol::crypto::Keypair;
use daoli_protocol::datacenter::Datacenter;
use daoli_protocol::node::{Committed, Durable};
use daoli_protocol::params::{Genesis, Identity};
use daoli_protocol::roles::Role;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use url::Url;

/// Where the datacenter keeps its events and state.
#[derive(Clone)]
pub enum Backend {
    /// In-process bus and one redb file: every service in this process.
    Embedded { file: PathBuf },
    /// Apache Kafka (bootstrap servers and client settings), topic
    /// `daoli.<datacenter>.events`, and PostgreSQL (connection string), schema
    /// `<datacenter>_<service>` per service ('-' as '_').
    Real { kafka: KafkaOptions, postgres: String },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Embedded { file } => f.debug_struct("Embedded").field("file", file).finish(),
            // Never the password.
            Backend::Real { kafka, postgres } => f
                .debug_struct("Real")
                .field("kafka", kafka)
                .field("postgres", &crate::store::pg::display_url(postgres))
                .finish(),
        }
    }
}

/// What this process runs for its datacenter.
#[derive(Clone)]
pub struct NodeSpec {
    /// The datacenter's name: its topic and schema prefix.
    pub name: String,
    pub genesis: Genesis,
    pub identity: Identity,
    pub miners: Vec<Keypair>,
    /// The roles that run here.
    pub services: Vec<Service>,
    pub backend: Backend,
    /// Where peers reach the services that run here (none: they take no peer messages).
    pub peer_addr: Option<SocketAddr>,
    /// Every datacenter of the network, this one too (a service of this datacenter that runs
    /// in another process is reached through this datacenter's own entry).
    pub peers: Vec<PeerConfig>,
    pub limits: PeerLimits,
    /// Where clients reach this process (none: no client endpoint).
    pub client_addr: Option<SocketAddr>,
    /// With only the kernel buffer here: the ledger's and the miner pool's client endpoints.
    pub client_forward: Option<(Url, Url)>,
    pub admin_addr: SocketAddr,
    /// Labels on every metric (datacenter, service).
    pub labels: Vec<(String, String)>,
    /// Called with every block the ledger commits, if the ledger runs here.
    pub on_committed: Option<CommittedHook>,
}

impl std::fmt::Debug for NodeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSpec")
            .field("name", &self.name)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

impl NodeSpec {
    /// The seq stream of this process's peer messages: 0 for the whole datacenter, 1 + the
    /// service's index for one service.
    fn stream(&self) -> u8 {
        match self.services.as_slice() {
            [one] => 1 + one.index() as u8,
            _ => 0,
        }
    }

    fn schema(&self, s: Service) -> String {
        format!("{}_{}", self.name, s.as_str()).replace('-', "_")
    }
}

/// Start-up failures, each naming what failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("store of {service}: {reason}")]
    Store { service: Service, reason: String },
    #[error("cannot resume from the stores: {0}")]
    Recover(String),
    #[error("bus: {0}")]
    Bus(String),
    #[error("peers: {0}")]
    Peers(String),
    #[error("{what} endpoint {addr}: {reason}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        reason: String,
    },
    #[error("{0}")]
    Spec(String),
}

/// The services of one datacenter running in this process, their listeners, and the height
/// its ledger reached (if the ledger runs here).
#[derive(Debug)]
pub struct RunningNode {
    pub resumed_at: u64,
    pub height: Arc<AtomicU64>,
    pub readiness: Readiness,
    arbiters: Vec<Arbiter>,
    peer: Option<ServeHandle>,
    client_stop: Option<tokio::sync::oneshot::Sender<()>>,
    admin: actix_web::dev::ServerHandle,
    stopped: Arc<AtomicBool>,
    /// Raised by a role's actor when it stops (on its own: a store or bus failure).
    failed: StopSignal,
}

impl RunningNode {
    /// Stops everything this process runs and waits for its actors' threads.
    pub async fn stop(mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(p) = self.peer.take() {
            let _ = p.stop().await;
        }
        if let Some(c) = self.client_stop.take() {
            let _ = c.send(());
        }
        self.admin.stop(false).await;
        for a in &self.arbiters {
            a.stop();
        }
        for a in self.arbiters.drain(..) {
            let _ = a.join();
        }
    }

    /// Returns once a role's actor has stopped on its own (its service must restart).
    pub async fn failure(&self) {
        self.failed.wait().await
    }

    /// Raised when one of its services stops on a failure.
    pub fn stop_signal(&self) -> StopSignal {
        self.failed.clone()
    }
}

/// A service's store.
type Stores = Vec<(Service, Arc<dyn Store>)>;

/// Opens the datacenter's seven stores; those of services not running here are only read.
fn open_stores(spec: &NodeSpec) -> Result<Stores, NodeError> {
    let mut stores: Stores = Vec::new();
    match &spec.backend {
        Backend::Embedded { file } => {
            let db = Arc::new(EmbeddedDb::open(file).map_err(|e| NodeError::Store {
                service: spec.services.first().copied().unwrap_or(Service::Ledger),
                reason: e.to_string(),
            })?);
            for s in Service::ALL {
                let st = EmbeddedStore::new(db.clone(), s.as_str()).map_err(|e| NodeError::Store {
                    service: s,
                    reason: e.to_string(),
                })?;
                stores.push((s, Arc::new(st)));
            }
        }
        Backend::Real { postgres, .. } => {
            let (chain, me) = (spec.genesis.chain_id(), spec.identity.root.public());
            for s in Service::ALL {
                let err = |e: crate::store::StoreError| NodeError::Store {
                    service: s,
                    reason: e.to_string(),
                };
                // Its own schema is migrated and leased; the others' are only read, at start-up,
                // through one connection returned right after (their own processes migrate them).
                let mine = spec.services.contains(&s);
                let opts = PgOptions {
                    url: postgres.clone(),
                    pool: if mine { 2 } else { 1 },
                };
                let st = if mine {
                    PgStore::connect(&opts, &spec.schema(s))
                } else {
                    PgStore::open_read_only(&opts, &spec.schema(s))
                }
                .map_err(err)?;
                st.claim(&chain, &me.0).map_err(err)?;
                stores.push((s, Arc::new(st)));
            }
        }
    }
    Ok(stores)
}

/// Starts the datacenter's services that `spec` names, resumed from its stores. Call inside
/// an actix system on a multi-threaded Tokio runtime.
pub async fn start(spec: &NodeSpec) -> Result<RunningNode, NodeError> {
    if spec.services.is_empty() {
        return Err(NodeError::Spec("no service to run".into()));
    }
    if matches!(spec.backend, Backend::Embedded { .. }) && spec.services.len() != Service::ALL.len() {
        return Err(NodeError::Spec(
            "the embedded store and bus join the seven services in one process; a lone service needs Kafka and PostgreSQL".into(),
        ));
    }
    let g = &spec.genesis;
    let chain = g.chain_id();
    let stores = open_stores(spec)?;
    let mut durable = Durable::default();
    for (s, st) in &stores {
        let r = st.recover().map_err(|e| NodeError::Store {
            service: *s,
            reason: e.to_string(),
        })?;
        durable.blocks.extend(r.durable.blocks);
        durable.txs.extend(r.durable.txs);
        durable.evidence.extend(r.durable.evidence);
        durable.signed.extend(r.durable.signed);
        durable.votes.extend(r.votes);
    }
    // The stores of services that run elsewhere were only read: close them.
    let stores: Stores = stores.into_iter().filter(|(s, _)| spec.services.contains(s)).collect();
    let resumed_at = durable.blocks.len() as u64;
    let dc = Datacenter::recover(
        g.clone(),
        spec.identity.clone(),
        spec.miners.clone(),
        durable,
        now_ms() ^ u64::from(spec.stream()),
        now_ms(),
    )
    .map_err(|e| NodeError::Recover(e.to_string()))?;
    let labels: Vec<(&str, &str)> = spec.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let admin = AdminState {
        readiness: Readiness::new(),
        metrics: Metrics::with_labels(&labels),
    };
    let height = Arc::new(AtomicU64::new(resumed_at));
    let stopped = Arc::new(AtomicBool::new(false));
    let failed = StopSignal::default();
    let hook: CommittedHook = {
        let readiness = admin.readiness.clone();
        let height = height.clone();
        let outer = spec.on_committed.clone();
        let stopped = stopped.clone();
        Arc::new(move |c: &Committed| {
            // Ready once it certifies blocks again after a (re)start: it has caught up.
            readiness.set_ready();
            height.fetch_max(c.height, Ordering::SeqCst);
            if let Some(h) = &outer
                && !stopped.load(Ordering::SeqCst)
            {
                h(c);
            }
        })
    };
    let bus: Arc<dyn Bus<RoleEvent>> = match &spec.backend {
        Backend::Embedded { .. } => Arc::new(InProcBus::new(
            &spec.name,
            InProcOptions {
                partitions: 1,
                capacity: 65_536,
            },
        )),
        Backend::Real { kafka, .. } => Arc::new(
            KafkaBus::connect(&spec.name, kafka.clone())
                .await
                .map_err(|e| NodeError::Bus(e.to_string()))?,
        ),
    };
    // Every role joins the bus before any host is made, so no event published at a start is
    // missed by a service made later; a refused subscription (a missing permission) stops
    // start-up here. Off the executor: a Kafka subscription asks the broker and blocks.
    let mut subs = Vec::new();
    for s in Service::ALL.into_iter().filter(|s| spec.services.contains(s)) {
        let bus = bus.clone();
        let sub = tokio::task::spawn_blocking(move || bus.subscribe("events", s.as_str()))
            .await
            .map_err(|e| NodeError::Bus(e.to_string()))?
            .map_err(|e| NodeError::Bus(e.to_string()))?;
        subs.push((s, sub));
    }
    let mut sub = |s: Service| {
        let i = subs.iter().position(|(x, _)| *x == s).expect("subscribed above");
        subs.swap_remove(i).1
    };
    // Peers: real gRPC, every message sealed by this datacenter's root key. A service of this
    // datacenter run in another process is reached through its own entry's endpoints.
    let me = spec.identity.root.public();
    let routes: Vec<PeerRoute> = spec
        .peers
        .iter()
        .map(|p| PeerRoute {
            key: p.root_key,
            endpoint: p.endpoint.clone(),
            services: p
                .services
                .iter()
                .filter(|(s, _)| !(p.root_key == me && spec.services.contains(s)))
                .map(|(s, u)| (s.as_str(), u.clone()))
                .collect(),
        })
        .collect();
    let peers: Arc<dyn PeerSink> = Arc::new(
        Peers::start_routed(
            spec.identity.root.clone(),
            chain,
            routes,
            ClientOptions {
                metrics: admin.metrics.clone(),
                stream: spec.stream(),
                ..ClientOptions::default()
            },
        )
        .map_err(|e| NodeError::Peers(e.to_string()))?,
    );
    let local = LocalRoutes::default();
    let base = HostDeps {
        datacenter: me,
        chain,
        store: stores[0].1.clone(),
        bus: bus.clone(),
        peers: peers.clone(),
        local: local.clone(),
        metrics: admin.metrics.clone(),
        on_committed: None,
        stopped: failed.clone(),
    };
    let store_of = |s: Service| {
        stores
            .iter()
            .find(|(x, _)| *x == s)
            .map(|(_, st)| st.clone())
            .expect("a store per service run here")
    };
    let Datacenter {
        clock,
        miner_pool,
        lot_drawing,
        kernel_buffer,
        trustee,
        ledger,
        lottery,
        ..
    } = dc;
    let runs = |s: Service| spec.services.contains(&s);
    let deps = |s: Service| HostDeps {
        store: store_of(s),
        ..base.clone()
    };
    let lottery =
        runs(Service::Lottery).then(|| RoleHost::subscribed(lottery, deps(Service::Lottery), sub(Service::Lottery)));
    let trustee = runs(Service::IbftTrustees)
        .then(|| RoleHost::subscribed(trustee, deps(Service::IbftTrustees), sub(Service::IbftTrustees)));
    let ledger = runs(Service::Ledger).then(|| {
        RoleHost::subscribed(
            ledger,
            HostDeps {
                on_committed: Some(hook),
                ..deps(Service::Ledger)
            },
            sub(Service::Ledger),
        )
    });
    let kernel_buffer = runs(Service::KernelBuffer)
        .then(|| RoleHost::subscribed(kernel_buffer, deps(Service::KernelBuffer), sub(Service::KernelBuffer)));
    let lot_drawing = runs(Service::LotDrawing)
        .then(|| RoleHost::subscribed(lot_drawing, deps(Service::LotDrawing), sub(Service::LotDrawing)));
    let miner_pool = runs(Service::MinerPool)
        .then(|| RoleHost::subscribed(miner_pool, deps(Service::MinerPool), sub(Service::MinerPool)));
    let clock = runs(Service::ClockBeacon)
        .then(|| RoleHost::subscribed(clock, deps(Service::ClockBeacon), sub(Service::ClockBeacon)));
    let mut arbiters = Vec::new();
    // Each actor on its own thread; one that stops raises `failed` (HostDeps::stopped).
    fn launch<R: Role>(arbiters: &mut Vec<Arbiter>, host: RoleHost<R>) -> Addr<RoleHost<R>> {
        let arbiter = Arbiter::new();
        let addr = RoleHost::start_in_arbiter(&arbiter.handle(), move |_| host);
        arbiters.push(arbiter);
        addr
    }
    if let Some(h) = lottery {
        launch(&mut arbiters, h);
    }
    if let Some(h) = trustee {
        launch(&mut arbiters, h);
    }
    let ledger = ledger.map(|h| launch(&mut arbiters, h));
    let kernel_buffer = kernel_buffer.map(|h| launch(&mut arbiters, h));
    if let Some(h) = lot_drawing {
        launch(&mut arbiters, h);
    }
    let miner_pool = miner_pool.map(|h| launch(&mut arbiters, h));
    let clock = clock.map(|h| launch(&mut arbiters, h));
    // Only the ledger knows when the datacenter has caught up; a process without it is ready
    // once its role runs (its bus consumer resumes from its committed offset).
    if !runs(Service::Ledger) {
        admin.readiness.set_ready();
    }
    let peer = match spec.peer_addr {
        None => None,
        Some(addr) => {
            let (inbound_tx, inbound_rx) = tokio::sync::mpsc::channel(4096);
            let server = PeerServer::new(
                chain,
                &spec.peers,
                spec.limits,
                inbound_tx,
                &admin.metrics,
                ServerOptions::default(),
            );
            let h = crate::peer::serve(addr, server, std::future::pending())
                .await
                .map_err(|e| NodeError::Listen {
                    what: "peer",
                    addr,
                    reason: e.to_string(),
                })?;
            tokio::spawn(crate::host::route_inbound(inbound_rx, local.clone()));
            Some(h)
        }
    };
    let api = match (clock, miner_pool, kernel_buffer, ledger) {
        (Some(c), Some(m), Some(k), Some(l)) => Some(ClientApi::new(c, m, k, l)),
        (None, None, Some(k), None) => match &spec.client_forward {
            Some((ledger, miner_pool)) => {
                Some(ClientApi::front_door(k, ledger, miner_pool).map_err(|e| NodeError::Spec(e.to_string()))?)
            }
            None => None,
        },
        (None, None, None, Some(l)) => Some(ClientApi::ledger_only(l)),
        (None, Some(m), None, None) => Some(ClientApi::miner_pool_only(m)),
        _ => None,
    };
    let client_stop = match (spec.client_addr, api) {
        (Some(addr), Some(api)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| NodeError::Listen {
                    what: "client",
                    addr,
                    reason: e.to_string(),
                })?;
            let (client_stop, client_stopped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(async move {
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                if let Err(e) = tonic::transport::Server::builder()
                    .add_service(api.server())
                    .serve_with_incoming_shutdown(incoming, async move {
                        let _ = client_stopped.await;
                    })
                    .await
                {
                    tracing::error!(error = %e, "client endpoint stopped");
                }
            });
            Some(client_stop)
        }
        (Some(addr), None) => {
            return Err(NodeError::Spec(format!(
                "client endpoint {addr}: no client API for {:?} (the kernel buffer serves clients, with ledger_endpoint and miner_pool_endpoint; the ledger and the miner pool serve their own methods)",
                spec.services
            )));
        }
        (None, _) => None,
    };
    let readiness = admin.readiness.clone();
    let admin_addr = spec.admin_addr;
    let server = crate::admin::serve(admin_addr, admin).map_err(|e| NodeError::Listen {
        what: "admin",
        addr: admin_addr,
        reason: e.to_string(),
    })?;
    let admin = server.handle();
    actix::spawn(server);
    Ok(RunningNode {
        resumed_at,
        height,
        readiness,
        arbiters,
        peer,
        client_stop,
        admin,
        stopped,
        failed,
    })
}

/// The secret keys of the datacenter whose identity file is `text`: its keys (root and role
/// keys) and its two hosted miners are derived from the file's secret, as the devnet derives
/// them from its labels.
pub fn identity_from_secret(text: &str) -> Result<(Identity, Vec<Keypair>), String> {
    let secret = text.trim();
    if secret.len() < 16 {
        return Err(format!(
            "the secret is {} bytes; at least 16 (e.g. 64 random hex characters)",
            secret.len()
        ));
    }
    let miners = (0..2)
        .map(|m| Keypair::from_label(&format!("{secret}/miner{m}")))
        .collect();
    Ok((Identity::from_label(secret), miners))
}

/// The command line of one service process: its configuration (file, environment, flags).
#[derive(Debug, clap::Parser)]
#[command(about = "One DaoliCloud service of one datacenter, on Kafka and PostgreSQL")]
pub struct ServiceCli {
    #[command(flatten)]
    pub config: crate::config::ConfigArgs,
}

/// Runs one service process until SIGINT or SIGTERM (exit 0), or until its role stops on its
/// own (exit 1: a store or bus failure; restarted, it resumes from its store). `fixed` is the
/// service a dedicated binary runs; the configuration must agree.
pub fn service_main(fixed: Option<Service>, cli: ServiceCli) -> std::process::ExitCode {
    use std::process::ExitCode;
    // Every value is checked before anything starts or any port is bound.
    let cfg = match cli.config.load().and_then(|c| c.validate()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(f) = fixed
        && f != cfg.service
    {
        eprintln!("service: this binary runs {f}, the configuration names {}", cfg.service);
        return ExitCode::from(2);
    }
    let secret = match std::fs::read_to_string(&cfg.identity_key) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("identity_key: cannot read {}: {e}", cfg.identity_key.display());
            return ExitCode::from(2);
        }
    };
    let (identity, miners) = match identity_from_secret(&secret) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("identity_key: {}: {e}", cfg.identity_key.display());
            return ExitCode::from(2);
        }
    };
    if !cfg.peers.iter().any(|p| p.root_key == identity.root.public()) {
        eprintln!(
            "peers: no entry for this datacenter (root key {}): its own services run in other processes and are reached through it",
            hex::encode(identity.root.public().0)
        );
        return ExitCode::from(2);
    }
    let crate::config::BusKind::Kafka {
        brokers,
        security,
        replication,
        retention_hours,
    } = &cfg.bus;
    let crate::config::StoreKind::Postgres { url } = &cfg.store;
    let spec = NodeSpec {
        name: cfg.datacenter.clone(),
        genesis: (*cfg.genesis).clone(),
        identity,
        miners,
        services: vec![cfg.service],
        backend: Backend::Real {
            kafka: KafkaOptions {
                extra: security.client_settings(),
                replication: i32::from(replication.get()),
                retention_ms: i64::from(retention_hours.get()) * 3_600_000,
                ..KafkaOptions::new(brokers)
            },
            postgres: url.clone(),
        },
        peer_addr: cfg.peer_addr,
        peers: cfg.peers.clone(),
        limits: cfg.limits,
        client_addr: cfg.client_addr,
        client_forward: cfg.ledger_endpoint.clone().zip(cfg.miner_pool_endpoint.clone()),
        admin_addr: cfg.admin_addr,
        labels: vec![
            ("datacenter".into(), cfg.datacenter.clone()),
            ("service".into(), cfg.service.as_str().into()),
        ],
        on_committed: None,
    };
    let sys = System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("daoli-net")
            .build()
            .expect("a tokio runtime")
    });
    let code = sys.block_on(async move {
        let telemetry = match crate::telemetry::init(&crate::telemetry::TelemetryOptions {
            service: cfg.service.as_str().into(),
            datacenter: cfg.datacenter.clone(),
            log: cfg.log.clone(),
            otlp_endpoint: cfg.otlp_endpoint.clone(),
        }) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("telemetry: {e}");
                return ExitCode::from(2);
            }
        };
        let code = match start(&spec).await {
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                eprintln!("{} {}: {e}", cfg.datacenter, cfg.service);
                ExitCode::FAILURE
            }
            Ok(node) => {
                tracing::info!(datacenter = %cfg.datacenter, service = %cfg.service, resumed_at = node.resumed_at, "started");
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler");
                let failed = tokio::select! {
                    _ = tokio::signal::ctrl_c() => false,
                    _ = term.recv() => false,
                    _ = node.failure() => true,
                };
                node.stop().await;
                if failed {
                    eprintln!("{} {}: the service stopped on a failure (see the log); restart it", cfg.datacenter, cfg.service);
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                }
            }
        };
        telemetry.shutdown().await;
        code
    });
    System::current().stop();
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    // The devnet's labels are secrets as good as any for a local network: a key file holding
    // one gives that datacenter's keys and miners; a secret shorter than 16 bytes is refused.
    #[test]
    fn an_identity_comes_from_a_long_enough_secret() {
        let (id, miners) = identity_from_secret("daoli-devnet/dc1\n").unwrap();
        assert_eq!(id.root.public(), Identity::from_label("daoli-devnet/dc1").root.public());
        assert_eq!(
            miners[1].public(),
            Keypair::from_label("daoli-devnet/dc1/miner1").public()
        );
        let e = identity_from_secret("  fifteen bytes!!  ").unwrap_err();
        assert!(e.contains("15 bytes; at least 16"), "{e}");
    }

    // One redb file and one in-process bus cannot be shared with other processes: a lone
    // service on them would never hear its datacenter's other roles.
    #[tokio::test]
    async fn a_lone_service_on_the_embedded_backend_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::from_label("node-test/dc0");
        let spec = NodeSpec {
            name: "dc0".into(),
            genesis: daoli_protocol::vectors::vector_genesis(),
            identity: id,
            miners: vec![],
            services: vec![Service::Ledger],
            backend: Backend::Embedded {
                file: dir.path().join("store.redb"),
            },
            peer_addr: None,
            peers: vec![],
            limits: PeerLimits {
                messages_per_second: NonZeroU32::new(1).unwrap(),
                max_in_flight: NonZeroU32::new(1).unwrap(),
            },
            client_addr: None,
            client_forward: None,
            admin_addr: ([127, 0, 0, 1], 1).into(),
            labels: vec![],
            on_committed: None,
        };
        let e = start(&spec).await.unwrap_err().to_string();
        assert!(e.contains("a lone service needs Kafka and PostgreSQL"), "{e}");
        assert!(!dir.path().join("store.redb").exists(), "nothing was opened");
    }
}
