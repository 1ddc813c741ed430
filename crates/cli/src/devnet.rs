//! `daoli devnet`: N datacenters in one process, each running the seven services (one actor
//! per role machine, each on its own thread) over its own in-process bus, an embedded store in
//! the data directory, and real gRPC on loopback between datacenters and to clients. A second
//! run resumes from that directory; `--fresh` starts over.

use actix::prelude::*;
use daoli_protocol::codec::{ChainId, sha256};
use daoli_protocol::crypto::{Keypair, PublicKey};
use daoli_protocol::ledger::LotteryEvent;
use daoli_protocol::node::Committed;
use daoli_protocol::params::{Genesis, Identity, Params, PeriodicLottery};
use daoli_runtime::config::{Peer as PeerConfig, PeerLimits, Service};
use daoli_runtime::host::{CommittedHook, now_ms};
use daoli_runtime::node::{self, NodeSpec, RunningNode};
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
    /// files; needs --kafka too. It holds the password: prefer DAOLI_POSTGRES_URL to the flag.
    #[arg(
        long,
        env = "DAOLI_POSTGRES_URL",
        hide_env_values = true,
        requires = "kafka",
        value_name = "URL"
    )]
    pub postgres: Option<daoli_runtime::config::Secret>,
}

impl Args {
    pub fn backend(&self) -> Backend {
        match (&self.kafka, &self.postgres) {
            (Some(kafka), Some(postgres)) => Backend::Real {
                kafka: kafka.clone(),
                postgres: postgres.0.clone(),
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
    let endpoints: Vec<String> = (0..n).map(|i| client_endpoint(base, i)).collect();
    genesis_of(&identities(n), &endpoints)
}

/// A new network of the datacenters `dcs`, whose clients go to `endpoints`, with the devnet's
/// parameters, client accounts and periodic lottery.
pub fn genesis_of(dcs: &[Identity], endpoints: &[String]) -> Genesis {
    let n = dcs.len();
    let params = Params::devnet();
    Genesis {
        network: "daoli-devnet".into(),
        founders: dcs
            .iter()
            .zip(endpoints)
            .map(|(k, e)| k.datacenter(e, params.min_bond))
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
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Backend {
    /// In-process bus, one redb file per datacenter in the data directory.
    #[default]
    Embedded,
    /// A real Apache Kafka (bootstrap `host:port`) and PostgreSQL (connection string): topic
    /// `daoli.<net>-dc<i>.events` and schemas `<net>_dc<i>_<service>`, `<net>` being `n` and
    /// the chain id's first 8 hex digits, so two networks on one broker and server never meet.
    Real { kafka: String, postgres: String },
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Embedded => f.write_str("Embedded"),
            // Never the password.
            Backend::Real { kafka, postgres } => write!(
                f,
                "Real {{ kafka: {kafka:?}, postgres: {:?} }}",
                daoli_runtime::store::pg::display_url(postgres)
            ),
        }
    }
}

impl std::fmt::Debug for NetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetSpec")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// The network's datacenters as peers: each one's root key and peer endpoint.
pub fn peer_list(n: usize, base: u16) -> Vec<PeerConfig> {
    identities(n)
        .iter()
        .enumerate()
        .map(|(j, id)| PeerConfig {
            name: format!("dc{j}"),
            root_key: id.root.public(),
            endpoint: Url::parse(&format!("http://{}", peer_addr(base, j))).expect("a loopback URL"),
            services: Vec::new(),
        })
        .collect()
}

/// Datacenter `i`'s name on a shared broker and server: `n` and the chain id's first 8 hex
/// digits, then `-dc<i>`, so two networks never meet.
pub fn dc_name(g: &Genesis, i: usize) -> String {
    format!("n{}-dc{i}", &hex::encode(g.chain_id().0)[..8])
}

/// Starts datacenter `i` of the network from its data directory: its seven actors (each on an
/// arbiter), its peer, client and admin endpoints, and the height its ledger reached.
/// [`RunningNode::stop`] stops it as a crash would, minus the kill (everything durable is
/// stored after each write anyway).
pub async fn start_dc(net: &NetSpec, i: usize) -> Result<RunningNode, String> {
    let g = &net.genesis;
    let n = g.founders.len();
    let dir = net.data_dir.join(format!("dc{i}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let backend = match &net.backend {
        Backend::Embedded => node::Backend::Embedded {
            file: dir.join("store.redb"),
        },
        Backend::Real { kafka, postgres } => node::Backend::Real {
            kafka: daoli_runtime::bus::kafka::KafkaOptions::new(kafka),
            postgres: postgres.clone(),
        },
    };
    let spec = NodeSpec {
        name: dc_name(g, i),
        genesis: g.clone(),
        identity: identities(n)[i].clone(),
        miners: miners(i),
        services: Service::ALL.to_vec(),
        backend,
        peer_addr: Some(peer_addr(net.base_port, i)),
        peers: peer_list(n, net.base_port),
        limits: PeerLimits {
            messages_per_second: NonZeroU32::new(20_000).expect("non-zero"),
            max_in_flight: NonZeroU32::new(256).expect("non-zero"),
        },
        client_addr: Some(([127, 0, 0, 1], net.base_port + i as u16).into()),
        client_forward: None,
        admin_addr: ([127, 0, 0, 1], net.base_port + 100 + i as u16).into(),
        labels: vec![("datacenter".into(), format!("dc{i}"))],
        on_committed: net.on_committed.clone(),
    };
    node::start(&spec).await.map_err(|e| format!("dc{i}: {e}"))
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
    // A service that stops on a failure (its store or bus) leaves its datacenter stalled: the
    // devnet has no supervisor to restart it, so it stops, and says so.
    let signals: Vec<_> = dcs.iter().map(|d| d.stop_signal()).collect();
    let failed = async {
        loop {
            if let Some(i) = signals.iter().position(|s| s.raised()) {
                return i;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    };
    let mut code = ExitCode::SUCCESS;
    tokio::select! {
        _ = done.notified() => {}
        _ = tokio::signal::ctrl_c() => quiet.store(true, Ordering::SeqCst),
        i = failed => {
            eprintln!("devnet: a service of datacenter {i} stopped on a failure (see the log above); stopping the devnet");
            code = ExitCode::FAILURE;
        }
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
    code
}
