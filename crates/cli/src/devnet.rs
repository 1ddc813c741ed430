//! `daoli devnet`: N datacenters in one process, each running the seven services (one actor
//! per role machine, on its own thread) over its own in-process bus and an embedded store in
//! the data directory. A second run resumes from that directory; `--fresh` starts over.

use actix::prelude::*;
use daoli_protocol::codec::sha256;
use daoli_protocol::crypto::{Keypair, PublicKey};

use daoli_protocol::datacenter::Datacenter;
use daoli_protocol::ledger::LotteryEvent;
use daoli_protocol::node::{Committed, Durable};
use daoli_protocol::params::{Genesis, Identity, Params, PeriodicLottery};
use daoli_runtime::bus::{Bus, InProcBus, InProcOptions};
use daoli_runtime::config::{Peer as PeerConfig, PeerLimits};
use url::Url;
use daoli_runtime::host::{CommittedHook, HostDeps, LocalRoutes, PeerSink, RoleEvent, RoleHost, now_ms};
use daoli_runtime::peer::{ClientOptions, PeerServer, Peers, ServerOptions};
use std::num::NonZeroU32;
use daoli_runtime::admin::{AdminState, Readiness};
use daoli_runtime::client::ClientApi;
use daoli_runtime::metrics::Metrics;
use std::net::SocketAddr;
use daoli_runtime::store::{EmbeddedDb, EmbeddedStore, Store};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Datacenters in the network.
    #[arg(long, default_value_t = 4)]
    datacenters: usize,
    /// Stop after this many certified heights (default: run until Ctrl-C).
    #[arg(long)]
    heights: Option<u64>,
    /// Where each datacenter keeps its store (and the network its genesis).
    #[arg(long, default_value = "daoli-devnet")]
    data_dir: PathBuf,
    /// Start over: delete the data directory first.
    #[arg(long)]
    fresh: bool,
    /// Datacenter i serves clients on 127.0.0.1:PORT+i and its admin HTTP on PORT+100+i.
    #[arg(long, default_value_t = 7100)]
    base_port: u16,
    /// Drive a built-in client at this many transactions per second.
    #[arg(long)]
    load: Option<u64>,
}

/// The seven services of the devnet's datacenters, by name.
const SERVICES: [&str; 7] = [
    "clock-beacon",
    "miner-pool",
    "lot-drawing",
    "kernel-buffer",
    "ibft-trustees",
    "ledger",
    "lottery",
];

fn identities(n: usize) -> Vec<Identity> {
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

/// The devnet's client accounts (funded at genesis; their keys are derived from public labels,
/// as fits a local test network).
pub fn client_keys() -> Vec<Keypair> {
    (0..16)
        .map(|i| Keypair::from_label(&format!("daoli-devnet/client{i}")))
        .collect()
}

fn new_genesis(n: usize, base: u16) -> Genesis {
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
        accounts: (0..16)
            .map(|i| {
                (
                    Keypair::from_label(&format!("daoli-devnet/client{i}")).public(),
                    1_000_000,
                )
            })
            .collect(),
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
fn genesis(dir: &Path, n: usize, base: u16) -> Result<Genesis, String> {
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

fn line(c: &Committed, names: &[(PublicKey, String)]) -> String {
    let name = |k: &PublicKey| {
        names
            .iter()
            .find(|(x, _)| x == k)
            .map_or_else(|| k.short(), |(_, n)| n.clone())
    };
    let mut signers: Vec<String> = c.signers.iter().map(name).collect();
    signers.sort();
    signers.dedup();
    let mut s = format!(
        "height {:>4}  leader {}  round {}  signed [{}]  txs {}  root {}",
        c.height,
        c.leader.short(),
        c.round,
        signers.join(","),
        c.txs,
        c.outcome.state_root.short()
    );
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

pub fn run(a: Args) -> ExitCode {
    if a.datacenters < 1 {
        eprintln!("--datacenters: at least 1");
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
    if a.base_port as usize + 200 + a.datacenters > u16::MAX as usize {
        eprintln!("--base-port {}: the ports of {} datacenters do not fit", a.base_port, a.datacenters);
        return ExitCode::FAILURE;
    }
    let g = match genesis(&a.data_dir, a.datacenters, a.base_port) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let sys = System::new();
    let code = sys.block_on(devnet(a, g));
    System::current().stop();
    code
}

async fn devnet(a: Args, g: Genesis) -> ExitCode {
    let n = a.datacenters;
    let ids = identities(n);
    let chain = g.chain_id();
    let routes: Vec<LocalRoutes> = (0..n).map(|_| LocalRoutes::default()).collect();
    let peer_addr = |i: usize| -> SocketAddr { ([127, 0, 0, 1], a.base_port + 200 + i as u16).into() };
    let peer_list: Vec<PeerConfig> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| PeerConfig {
            name: format!("dc{i}"),
            root_key: id.root.public(),
            endpoint: Url::parse(&format!("http://{}", peer_addr(i))).expect("a loopback URL"),
        })
        .collect();
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
    let finalized = Arc::new(AtomicU64::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let start_height = Arc::new(Mutex::new(None::<u64>));
    for (i, id) in ids.iter().enumerate() {
        let dir = a.data_dir.join(format!("dc{i}"));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("{}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        let db = match EmbeddedDb::open(dir.join("store.redb")) {
            Ok(db) => Arc::new(db),
            Err(e) => {
                eprintln!("dc{i}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut stores: Vec<Arc<dyn Store>> = Vec::new();
        let mut durable = Durable::default();
        for s in SERVICES {
            let st = match EmbeddedStore::new(db.clone(), s) {
                Ok(st) => st,
                Err(e) => {
                    eprintln!("dc{i} {s}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match st.recover() {
                Ok(r) => {
                    durable.blocks.extend(r.durable.blocks);
                    durable.txs.extend(r.durable.txs);
                    durable.evidence.extend(r.durable.evidence);
                    durable.signed.extend(r.durable.signed);
                    durable.votes.extend(r.votes);
                }
                Err(e) => {
                    eprintln!("dc{i} {s}: {e}");
                    return ExitCode::FAILURE;
                }
            }
            stores.push(Arc::new(st));
        }
        let resumed = durable.blocks.len();
        let dc = match Datacenter::recover(g.clone(), id.clone(), miners(i), durable, now_ms() ^ i as u64, now_ms()) {
            Ok(dc) => dc,
            Err(e) => {
                eprintln!("dc{i}: cannot resume from {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        };
        if i == 0 {
            *start_height.lock().unwrap_or_else(PoisonError::into_inner) = Some(resumed as u64);
            if resumed > 0 {
                println!("resuming from {} at height {resumed}", a.data_dir.display());
            }
        }
        let bus: Arc<dyn Bus<RoleEvent>> = Arc::new(InProcBus::new(
            &format!("dc{i}"),
            InProcOptions {
                partitions: 1,
                capacity: 65_536,
            },
        ));
        let admin = AdminState {
            readiness: Readiness::new(),
            metrics: Metrics::with_labels(&[("datacenter", &format!("dc{i}"))]),
        };
        let hook: CommittedHook = {
            let print = i == 0;
            let names = names.clone();
            let top = top.clone();
            let done = done.clone();
            let stop = a.heights.map(|h| h + resumed as u64);
            let readiness = admin.readiness.clone();
            let finalized = finalized.clone();
            Arc::new(move |c: &Committed| {
                // Ready once it certifies blocks again after a (re)start: it has caught up.
                readiness.set_ready();
                if print {
                    println!("{}", line(c, &names));
                    finalized.fetch_add(c.txs as u64, Ordering::SeqCst);
                    top.fetch_max(c.height, Ordering::SeqCst);
                    if stop.is_some_and(|s| c.height >= s) {
                        done.notify_one();
                    }
                }
            })
        };
        let hook = Some(hook);
        // Peers: real gRPC over loopback, every message sealed by this datacenter's root key.
        let peers: Arc<dyn PeerSink> = match Peers::start(
            id.root.clone(),
            chain,
            peer_list.iter().map(|p| (p.root_key, p.endpoint.clone())).collect(),
            ClientOptions {
                metrics: admin.metrics.clone(),
                ..ClientOptions::default()
            },
        ) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                eprintln!("dc{i}: peers: {e}");
                return ExitCode::FAILURE;
            }
        };
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
        match daoli_runtime::peer::serve(peer_addr(i), server, std::future::pending()).await {
            Ok(handle) => std::mem::forget(handle),
            Err(e) => {
                eprintln!("dc{i}: peer endpoint {}: {e}", peer_addr(i));
                return ExitCode::FAILURE;
            }
        }
        actix::spawn(daoli_runtime::host::route_inbound(inbound_rx, routes[i].clone()));
        let deps = |k: usize, on_committed: Option<CommittedHook>| HostDeps {
            datacenter: id.root.public(),
            chain,
            store: stores[k].clone(),
            bus: bus.clone(),
            peers: peers.clone(),
            local: routes[i].clone(),
            metrics: admin.metrics.clone(),
            on_committed,
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
        // Consumers first, so that no event is published before its subscribers joined.
        RoleHost::new(lottery, deps(6, None)).start_on_arbiter();
        RoleHost::new(trustee, deps(4, None)).start_on_arbiter();
        let ledger = RoleHost::new(ledger, deps(5, hook)).start_on_arbiter();
        let kernel_buffer = RoleHost::new(kernel_buffer, deps(3, None)).start_on_arbiter();
        RoleHost::new(lot_drawing, deps(2, None)).start_on_arbiter();
        let miner_pool = RoleHost::new(miner_pool, deps(1, None)).start_on_arbiter();
        let clock = RoleHost::new(clock, deps(0, None)).start_on_arbiter();
        let api = ClientApi {
            clock,
            miner_pool,
            kernel_buffer,
            ledger,
        };
        let client_addr: SocketAddr = ([127, 0, 0, 1], a.base_port + i as u16).into();
        let listener = match tokio::net::TcpListener::bind(client_addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("dc{i}: client endpoint {client_addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        actix::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            if let Err(e) = tonic::transport::Server::builder()
                .add_service(api.server())
                .serve_with_incoming(incoming)
                .await
            {
                tracing::error!(error = %e, "client endpoint stopped");
            }
        });
        let admin_addr: SocketAddr = ([127, 0, 0, 1], a.base_port + 100 + i as u16).into();
        match daoli_runtime::admin::serve(admin_addr, admin) {
            Ok(server) => {
                actix::spawn(server);
            }
            Err(e) => {
                eprintln!("dc{i}: admin endpoint {admin_addr}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "devnet: {n} datacenters x 7 services, chain {}, data in {}; clients on {}..; admin (/healthz /readyz /metrics) on 127.0.0.1:{}..",
        chain.short(),
        a.data_dir.display(),
        client_endpoint(a.base_port, 0),
        a.base_port + 100
    );
    let (stop_load, load_stopped) = tokio::sync::oneshot::channel::<()>();
    let load = a.load.map(|tps| {
        let endpoints: Vec<String> = (0..n).map(|i| client_endpoint(a.base_port, i)).collect();
        tokio::spawn(crate::load::drive(endpoints, chain, tps, async move {
            let _ = load_stopped.await;
        }))
    });
    let code = tokio::select! {
        _ = done.notified() => {
            println!(
                "{} heights certified, {} transactions executed",
                top.load(Ordering::SeqCst),
                finalized.load(Ordering::SeqCst)
            );
            ExitCode::SUCCESS
        }
        _ = tokio::signal::ctrl_c() => {
            println!("stopped at height {}", top.load(Ordering::SeqCst));
            ExitCode::SUCCESS
        }
    };
    let _ = stop_load.send(());
    if let Some(l) = load
        && let Ok(r) = l.await
    {
        println!("load: {}", r.summary());
    }
    code
}
