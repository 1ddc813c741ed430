//! `daoli devnet`: N datacenters in one process, each running the seven services (one actor
//! per role machine, each on its own thread) over its own in-process bus, an embedded store in
//! the data directory, and real gRPC on loopback between datacenters and to clients. A second
//! run resumes from that directory; `--fresh` starts over.

use actix::prelude::*;
use daoli_protocol::codec::{ChainId, sha256};
use daoli_protocol::crypto::{Keypair, PublicKey};
use daoli_protocol::datacenter::Datacenter;
use daoli_protocol::ledger::LotteryEvent;
use daoli_protocol::node::{Committed, Durable};
use daoli_protocol::params::{Genesis, Identity, Params, PeriodicLottery};
use daoli_protocol::roles::Role;
use daoli_runtime::admin::{AdminState, Readiness};
use daoli_runtime::bus::kafka::{KafkaBus, KafkaOptions};
use daoli_runtime::bus::{Bus, InProcBus, InProcOptions};
use daoli_runtime::client::ClientApi;
use daoli_runtime::config::{Peer as PeerConfig, PeerLimits, Service};
use daoli_runtime::host::{CommittedHook, HostDeps, LocalRoutes, PeerSink, RoleEvent, RoleHost, now_ms};
use daoli_runtime::metrics::Metrics;
use daoli_runtime::peer::{ClientOptions, PeerServer, Peers, ServeHandle, ServerOptions};
use daoli_runtime::store::pg::{PgOptions, PgStore};
use daoli_runtime::store::{EmbeddedDb, EmbeddedStore, Store};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use url::Url;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Datacenters in the network.
    #[arg(long, default_value_t = 4)]
    pub datacenters: usize,
    /// Stop after this many certified heights (default: run until Ctrl-C).
    #[arg(long)]
    pub heights: Option<u64>,
    /// Where each datacenter keeps its store (and the network its genesis).
    #[arg(long, default_value = "daoli-devnet")]
    pub data_dir: PathBuf,
    /// Start over: delete the data directory first.
    #[arg(long)]
    pub fresh: bool,
    /// Datacenter i serves clients on 127.0.0.1:PORT+i, its admin HTTP on PORT+100+i and
    /// its peers on PORT+200+i.
    #[arg(long, default_value_t = 7100)]
    pub base_port: u16,
    /// Drive a built-in client at this many transactions per second.
    #[arg(long)]
    pub load: Option<u64>,
    /// Log filter (tracing env-filter syntax); logs go to stderr.
    #[arg(long, env = "DAOLI_LOG", default_value = "warn")]
    pub log: String,
    /// OTLP/gRPC collector for traces, e.g. http://127.0.0.1:4317 (none: no export).
    #[arg(long, env = "DAOLI_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<Url>,
    /// Run on a real Apache Kafka broker (bootstrap host:port) instead of the in-process bus;
    /// needs --postgres too (deploy/local/infra.sh start runs both on loopback).
    #[arg(long, requires = "postgres", value_name = "HOST:PORT")]
    pub kafka: Option<String>,
    /// Store in a real PostgreSQL (postgres://user:password@host:port/db) instead of redb
    /// files; needs --kafka too.
    #[arg(long, requires = "kafka", value_name = "URL")]
    pub postgres: Option<String>,
}

impl Args {
    pub fn backend(&self) -> Backend {
        match (&self.kafka, &self.postgres) {
            (Some(kafka), Some(postgres)) => Backend::Real {
                kafka: kafka.clone(),
                postgres: postgres.clone(),
            },
            _ => Backend::Embedded,
        }
    }
}

pub fn identities(n: usize) -> Vec<Identity> {
    (0..n)
        .map(|i| Identity::from_label(&format!("daoli-devnet/dc{i}")))
        .collect()
}

fn miners(i: usize) -> Vec<Keypair> {
    (0..2)
        .map(|m| Keypair::from_label(&format!("daoli-devnet/dc{i}/miner{m}")))
        .collect()
}

/// Where datacenter `i` takes client requests.
pub fn client_endpoint(base: u16, i: usize) -> String {
    format!("http://127.0.0.1:{}", base as usize + i)
}

/// Where datacenter `i` takes peer messages.
pub fn peer_addr(base: u16, i: usize) -> SocketAddr {
    ([127, 0, 0, 1], base + 200 + i as u16).into()
}

/// Client accounts funded at genesis: enough senders for `daoli load` to keep thousands of
/// transactions in flight within each sender's nonce window.
pub const CLIENT_ACCOUNTS: usize = 256;

/// The devnet's client accounts (funded at genesis; their keys are derived from public labels,
/// as fits a local test network).
pub fn client_keys() -> Vec<Keypair> {
    (0..CLIENT_ACCOUNTS)
        .map(|i| Keypair::from_label(&format!("daoli-devnet/client{i}")))
        .collect()
}

pub fn new_genesis(n: usize, base: u16) -> Genesis {
    let dcs = identities(n);
    let params = Params::devnet();
    Genesis {
        network: "daoli-devnet".into(),
        founders: dcs
            .iter()
            .enumerate()
            .map(|(i, k)| k.datacenter(&client_endpoint(base, i), params.min_bond))
            .collect(),
        seats: (0..params.seats).map(|i| dcs[i % n].root.public()).collect(),
        seed: sha256(format!("daoli-devnet genesis {}", now_ms()).as_bytes()),
        timestamp_ms: now_ms(),
        accounts: client_keys().iter().map(|k| (k.public(), 1 << 40)).collect(),
        rounds: vec![],
        periodic_lottery: Some(PeriodicLottery {
            every: 4,
            length: 3,
            price: 10,
            winners: 2,
        }),
        params,
    }
}

/// The genesis in `dir`, or a new one written there.
pub fn genesis(dir: &Path, n: usize, base: u16) -> Result<Genesis, String> {
    let path = dir.join("genesis.json");
    if path.exists() {
        let s = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let g = Genesis::from_json(&s).map_err(|e| format!("{}: {e}", path.display()))?;
        if g.founders.len() != n {
            return Err(format!(
                "{}: the network in this data directory has {} datacenters, not {n} (use --fresh)",
                path.display(),
                g.founders.len()
            ));
        }
        return Ok(g);
    }
    let g = new_genesis(n, base);
    let json = serde_json::to_string_pretty(&g).map_err(|e| e.to_string())?;
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(g)
}

/// Transactions block `c` executed. A block can carry a transaction it does not execute (it
/// ran ahead of a nonce gap and comes again later, it repeats one already executed, or it
/// cannot pay its fee): the line shows those apart as skipped.
fn executed(c: &Committed) -> usize {
    c.outcome.receipts.iter().filter(|r| r.outcome.used_nonce()).count()
}

/// The line printed for block `c`, which executed `executed` of the transactions it carries.
fn line(c: &Committed, executed: usize, names: &[(PublicKey, String)]) -> String {
    let name = |k: &PublicKey| {
        names
            .iter()
            .find(|(x, _)| x == k)
            .map_or_else(|| k.short(), |(_, n)| n.clone())
    };
    let mut signers: Vec<String> = c.signers.iter().map(name).collect();
    signers.sort();
    signers.dedup();
    let skipped = c.txs - executed;
    let mut s = format!(
        "height {:>4}  leader {}  round {}  signed [{}]  txs {}  root {}",
        c.height,
        c.leader.short(),
        c.round,
        signers.join(","),
        executed,
        c.outcome.state_root.short()
    );
    if skipped > 0 {
        s += &format!("  skipped {skipped}");
    }
    for e in &c.outcome.lottery {
        match e {
            LotteryEvent::Opened { round, open, close } => s += &format!("  | lottery {round} open {open}..={close}"),
            LotteryEvent::Closed { round, tickets, .. } => {
                s += &format!("  | lottery {round} closed: {tickets} tickets")
            }
            LotteryEvent::Drawn { round, .. } => s += &format!("  | lottery {round} drawn"),
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }
    s
}

/// What one running datacenter needs from the network around it.
#[derive(Clone)]
pub struct NetSpec {
    pub genesis: Genesis,
    pub data_dir: PathBuf,
    pub base_port: u16,
    pub on_committed: Option<CommittedHook>,
    pub backend: Backend,
}

/// Where the datacenters keep their events and state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Backend {
    /// In-process bus, one redb file per datacenter in the data directory.
    #[default]
    Embedded,
    /// A real Apache Kafka (bootstrap `host:port`) and PostgreSQL (connection string): topic
    /// `daoli.<net>-dc<i>.events` and schemas `<net>_dc<i>_<service>`, `<net>` being `n` and
    /// the chain id's first 8 hex digits, so two networks on one broker and server never meet.
    Real { kafka: String, postgres: String },
}

impl std::fmt::Debug for NetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetSpec")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// One running datacenter: its seven actors (each on an arbiter), its peer, client and admin
/// endpoints, and the height its ledger reached.
#[derive(Debug)]
pub struct RunningDc {
    pub index: usize,
    pub resumed_at: u64,
    pub height: Arc<AtomicU64>,
    pub readiness: Readiness,
    arbiters: Vec<Arbiter>,
    peer: Option<ServeHandle>,
    client_stop: Option<tokio::sync::oneshot::Sender<()>>,
    admin: actix_web::dev::ServerHandle,
    stopped: Arc<AtomicBool>,
}

impl RunningDc {
    /// Stops everything this datacenter runs and waits for its store to be released (as a
    /// crash would, minus the kill: everything durable is on disk after each write anyway).
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
}

/// Starts datacenter `i` of the network from its data directory.
pub async fn start_dc(net: &NetSpec, i: usize) -> Result<RunningDc, String> {
    let g = &net.genesis;
    let n = g.founders.len();
    let ids = identities(n);
    let id = ids[i].clone();
    let chain = g.chain_id();
    let peer_list: Vec<PeerConfig> = ids
        .iter()
        .enumerate()
        .map(|(j, id)| PeerConfig {
            name: format!("dc{j}"),
            root_key: id.root.public(),
            endpoint: Url::parse(&format!("http://{}", peer_addr(net.base_port, j))).expect("a loopback URL"),
        })
        .collect();
    let dir = net.data_dir.join(format!("dc{i}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let net_name = format!("n{}", &hex::encode(chain.0)[..8]);
    let mut stores: Vec<(&str, Arc<dyn Store>)> = Vec::new();
    match &net.backend {
        Backend::Embedded => {
            let db = Arc::new(EmbeddedDb::open(dir.join("store.redb")).map_err(|e| format!("dc{i}: {e}"))?);
            for s in Service::ALL.map(Service::as_str) {
                let st = EmbeddedStore::new(db.clone(), s).map_err(|e| format!("dc{i} {s}: {e}"))?;
                stores.push((s, Arc::new(st)));
            }
        }
        Backend::Real { postgres, .. } => {
            let opts = PgOptions {
                url: postgres.clone(),
                pool: 2,
            };
            for s in Service::ALL.map(Service::as_str) {
                let schema = format!("{net_name}_dc{i}_{}", s.replace('-', "_"));
                let st = PgStore::connect(&opts, &schema).map_err(|e| format!("dc{i} {s}: {e}"))?;
                stores.push((s, Arc::new(st)));
            }
        }
    }
    let mut durable = Durable::default();
    for (s, st) in &stores {
        let r = st.recover().map_err(|e| format!("dc{i} {s}: {e}"))?;
        durable.blocks.extend(r.durable.blocks);
        durable.txs.extend(r.durable.txs);
        durable.evidence.extend(r.durable.evidence);
        durable.signed.extend(r.durable.signed);
        durable.votes.extend(r.votes);
    }
    let resumed_at = durable.blocks.len() as u64;
    let dc = Datacenter::recover(g.clone(), id.clone(), miners(i), durable, now_ms() ^ i as u64, now_ms())
        .map_err(|e| format!("dc{i}: cannot resume from {}: {e}", dir.display()))?;
    let admin = AdminState {
        readiness: Readiness::new(),
        metrics: Metrics::with_labels(&[("datacenter", &format!("dc{i}"))]),
    };
    let height = Arc::new(AtomicU64::new(resumed_at));
    let stopped = Arc::new(AtomicBool::new(false));
    let hook: CommittedHook = {
        let readiness = admin.readiness.clone();
        let height = height.clone();
        let outer = net.on_committed.clone();
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
    let bus: Arc<dyn Bus<RoleEvent>> = match &net.backend {
        Backend::Embedded => Arc::new(InProcBus::new(
            &format!("dc{i}"),
            InProcOptions {
                partitions: 1,
                capacity: 65_536,
            },
        )),
        Backend::Real { kafka, .. } => Arc::new(
            KafkaBus::connect(&format!("{net_name}-dc{i}"), KafkaOptions::new(kafka))
                .await
                .map_err(|e| format!("dc{i}: {e}"))?,
        ),
    };
    // Peers: real gRPC over loopback, every message sealed by this datacenter's root key.
    let peers: Arc<dyn PeerSink> = Arc::new(
        Peers::start(
            id.root.clone(),
            chain,
            peer_list.iter().map(|p| (p.root_key, p.endpoint.clone())).collect(),
            ClientOptions {
                metrics: admin.metrics.clone(),
                ..ClientOptions::default()
            },
        )
        .map_err(|e| format!("dc{i}: peers: {e}"))?,
    );
    let routes = LocalRoutes::default();
    let (inbound_tx, inbound_rx) = tokio::sync::mpsc::channel(4096);
    let server = PeerServer::new(
        chain,
        &peer_list,
        PeerLimits {
            messages_per_second: NonZeroU32::new(20_000).expect("non-zero"),
            max_in_flight: NonZeroU32::new(256).expect("non-zero"),
        },
        inbound_tx,
        &admin.metrics,
        ServerOptions::default(),
    );
    let peer = daoli_runtime::peer::serve(peer_addr(net.base_port, i), server, std::future::pending())
        .await
        .map_err(|e| format!("dc{i}: peer endpoint {}: {e}", peer_addr(net.base_port, i)))?;
    tokio::spawn(daoli_runtime::host::route_inbound(inbound_rx, routes.clone()));
    let base = HostDeps {
        datacenter: id.root.public(),
        chain,
        store: stores[0].1.clone(),
        bus: bus.clone(),
        peers: peers.clone(),
        local: routes.clone(),
        metrics: admin.metrics.clone(),
        on_committed: None,
    };
    // A role's host, with its service's store.
    fn host<R: Role>(role: R, base: &HostDeps, stores: &[(&str, Arc<dyn Store>)]) -> RoleHost<R> {
        let store = stores
            .iter()
            .find(|(s, _)| *s == R::SERVICE)
            .expect("a store per service")
            .1
            .clone();
        RoleHost::new(role, HostDeps { store, ..base.clone() })
    }
    fn start<R: Role>(arbiters: &mut Vec<Arbiter>, host: RoleHost<R>) -> Addr<RoleHost<R>> {
        let arbiter = Arbiter::new();
        let addr = RoleHost::start_in_arbiter(&arbiter.handle(), move |_| host);
        arbiters.push(arbiter);
        addr
    }
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
    // Every host joins the bus when it is made, so all seven are made before any starts: no
    // event published at a start is missed by a service made later.
    let lottery = host(lottery, &base, &stores);
    let trustee = host(trustee, &base, &stores);
    let ledger = host(
        ledger,
        &HostDeps {
            on_committed: Some(hook),
            ..base.clone()
        },
        &stores,
    );
    let kernel_buffer = host(kernel_buffer, &base, &stores);
    let lot_drawing = host(lot_drawing, &base, &stores);
    let miner_pool = host(miner_pool, &base, &stores);
    let clock = host(clock, &base, &stores);
    let mut arbiters = Vec::new();
    start(&mut arbiters, lottery);
    start(&mut arbiters, trustee);
    let ledger = start(&mut arbiters, ledger);
    let kernel_buffer = start(&mut arbiters, kernel_buffer);
    start(&mut arbiters, lot_drawing);
    let miner_pool = start(&mut arbiters, miner_pool);
    let clock = start(&mut arbiters, clock);
    let api = ClientApi::new(clock, miner_pool, kernel_buffer, ledger);
    let client_addr: SocketAddr = ([127, 0, 0, 1], net.base_port + i as u16).into();
    let listener = tokio::net::TcpListener::bind(client_addr)
        .await
        .map_err(|e| format!("dc{i}: client endpoint {client_addr}: {e}"))?;
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
    let admin_addr: SocketAddr = ([127, 0, 0, 1], net.base_port + 100 + i as u16).into();
    let readiness = admin.readiness.clone();
    let server = daoli_runtime::admin::serve(admin_addr, admin)
        .map_err(|e| format!("dc{i}: admin endpoint {admin_addr}: {e}"))?;
    let admin = server.handle();
    actix::spawn(server);
    Ok(RunningDc {
        index: i,
        resumed_at,
        height,
        readiness,
        arbiters,
        peer: Some(peer),
        client_stop: Some(client_stop),
        admin,
        stopped,
    })
}

pub fn run(a: Args) -> ExitCode {
    if a.datacenters < 1 {
        eprintln!("--datacenters: at least 1");
        return ExitCode::FAILURE;
    }
    if a.base_port as usize + 200 + a.datacenters > u16::MAX as usize {
        eprintln!(
            "--base-port {}: the ports of {} datacenters do not fit",
            a.base_port, a.datacenters
        );
        return ExitCode::FAILURE;
    }
    if a.fresh
        && a.data_dir.exists()
        && let Err(e) = std::fs::remove_dir_all(&a.data_dir)
    {
        eprintln!("--fresh: cannot remove {}: {e}", a.data_dir.display());
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::create_dir_all(&a.data_dir) {
        eprintln!("--data-dir {}: {e}", a.data_dir.display());
        return ExitCode::FAILURE;
    }
    let g = match genesis(&a.data_dir, a.datacenters, a.base_port) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    // The network side (gRPC servers and clients of every datacenter, envelope checks) runs
    // on a multi-threaded runtime; each role's actor keeps its own thread.
    let sys = System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("daoli-net")
            .build()
            .expect("a tokio runtime")
    });
    let code = sys.block_on(devnet(a, g));
    System::current().stop();
    code
}

async fn devnet(a: Args, g: Genesis) -> ExitCode {
    let telemetry = match daoli_runtime::telemetry::init(&daoli_runtime::telemetry::TelemetryOptions {
        service: "devnet".into(),
        datacenter: format!("dc0..dc{}", a.datacenters - 1),
        log: a.log.clone(),
        otlp_endpoint: a.otlp_endpoint.clone(),
    }) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("telemetry: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = devnet_run(a, g).await;
    telemetry.shutdown().await;
    code
}

async fn devnet_run(a: Args, g: Genesis) -> ExitCode {
    let n = a.datacenters;
    let ids = identities(n);
    let chain: ChainId = g.chain_id();
    let names: Vec<(PublicKey, String)> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| {
            [
                (id.root.public(), format!("dc{i}")),
                (id.vote.public(), format!("dc{i}")),
            ]
        })
        .collect();
    let top = Arc::new(AtomicU64::new(0));
    let executed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let stop_at = Arc::new(AtomicU64::new(u64::MAX));
    let quiet = Arc::new(AtomicBool::new(false));
    // One line per certified height, from the first datacenter.
    let printer: CommittedHook = {
        let (top, executed, done, stop_at, quiet) = (
            top.clone(),
            executed.clone(),
            done.clone(),
            stop_at.clone(),
            quiet.clone(),
        );
        Arc::new(move |c: &Committed| {
            if quiet.load(Ordering::SeqCst) {
                return;
            }
            let n = self::executed(c);
            println!("{}", line(c, n, &names));
            executed.fetch_add(n as u64, Ordering::SeqCst);
            top.fetch_max(c.height, Ordering::SeqCst);
            if c.height >= stop_at.load(Ordering::SeqCst) {
                quiet.store(true, Ordering::SeqCst);
                done.notify_one();
            }
        })
    };
    let mut dcs = Vec::new();
    for i in 0..n {
        let net = NetSpec {
            genesis: g.clone(),
            data_dir: a.data_dir.clone(),
            base_port: a.base_port,
            on_committed: (i == 0).then(|| printer.clone()),
            backend: a.backend(),
        };
        match start_dc(&net, i).await {
            Ok(dc) => {
                if i == 0 {
                    if dc.resumed_at > 0 {
                        println!("resuming from {} at height {}", a.data_dir.display(), dc.resumed_at);
                    }
                    if let Some(h) = a.heights {
                        stop_at.store(dc.resumed_at + h, Ordering::SeqCst);
                    }
                }
                dcs.push(dc);
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "devnet: {n} datacenters x 7 services, chain {}, data in {}; clients on {}..; admin (/healthz /readyz /metrics) on 127.0.0.1:{}..; peers on 127.0.0.1:{}..",
        chain.short(),
        a.data_dir.display(),
        client_endpoint(a.base_port, 0),
        a.base_port + 100,
        a.base_port + 200
    );
    let (stop_load, load_stopped) = tokio::sync::oneshot::channel::<()>();
    let load = a.load.map(|tps| {
        let endpoints: Vec<String> = (0..n).map(|i| client_endpoint(a.base_port, i)).collect();
        tokio::spawn(crate::load::drive(endpoints, chain, tps, CLIENT_ACCOUNTS, async move {
            let _ = load_stopped.await;
        }))
    });
    tokio::select! {
        _ = done.notified() => {}
        _ = tokio::signal::ctrl_c() => quiet.store(true, Ordering::SeqCst),
    }
    let _ = stop_load.send(());
    if let Some(l) = load
        && let Ok(r) = l.await
    {
        println!("load: {}", r.summary());
    }
    println!(
        "{} heights certified, {} transactions executed in them",
        top.load(Ordering::SeqCst),
        executed.load(Ordering::SeqCst)
    );
    for dc in dcs {
        dc.stop().await;
    }
    ExitCode::SUCCESS
}
