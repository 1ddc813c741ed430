//! `daoli cluster-config`: the files of a local network run as one process per service
//! (deploy/local/up starts them): a genesis, each datacenter's identity secret, and one
//! configuration file per service, all on loopback, on one Kafka broker and one PostgreSQL.
//!
//! Ports of datacenter `i` from `base + 100 i`: `+k` the peer endpoint of service `k` (in
//! [`Service::ALL`] order; the miner pool and the lottery take no peer messages), `+10+k` its
//! admin endpoint, `+20` the kernel buffer's client endpoint (the datacenter's front door, in
//! the genesis), `+21` the ledger's and `+22` the miner pool's (the front door's hand-offs).

use crate::devnet::{dc_name, genesis_of};
use daoli_protocol::params::{Genesis, Identity};
use daoli_runtime::config::Service;
use daoli_runtime::node::identity_from_secret;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Datacenters in the network.
    #[arg(long, default_value_t = 3)]
    pub datacenters: usize,
    /// Where the files go (the directory must not hold a network already).
    #[arg(long)]
    pub dir: PathBuf,
    /// First port; datacenter i uses BASE+100i .. BASE+100i+22.
    #[arg(long, default_value_t = 18000)]
    pub base_port: u16,
    /// The Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:19092")]
    pub kafka: String,
    /// Log filter written into each file.
    #[arg(long, default_value = "info")]
    pub log: String,
}

/// Services that take peer messages.
pub fn peer_port(base: u16, i: usize, s: Service) -> u16 {
    base + 100 * i as u16 + s.index() as u16
}
pub fn admin_port(base: u16, i: usize, s: Service) -> u16 {
    base + 100 * i as u16 + 10 + s.index() as u16
}
/// The datacenter's front door (its kernel buffer).
pub fn client_port(base: u16, i: usize) -> u16 {
    base + 100 * i as u16 + 20
}
fn ledger_client_port(base: u16, i: usize) -> u16 {
    base + 100 * i as u16 + 21
}
fn miner_pool_client_port(base: u16, i: usize) -> u16 {
    base + 100 * i as u16 + 22
}

/// Where service `s` of datacenter `i` keeps its configuration.
pub fn config_path(dir: &Path, i: usize, s: Service) -> PathBuf {
    dir.join(format!("dc{i}")).join(format!("{s}.toml"))
}

fn secret() -> Result<String, String> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("no randomness: /dev/urandom: {e}"))?;
    Ok(hex::encode(seed))
}

fn write_secret(path: &Path, secret: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(f, "{secret}").map_err(|e| format!("{}: {e}", path.display()))
}

/// The configuration file of service `s` of datacenter `i`.
fn service_toml(g: &Genesis, ids: &[Identity], a: &Args, i: usize, s: Service) -> String {
    let base = a.base_port;
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let mut t = format!(
        "# Service {s} of datacenter dc{i} (daoli cluster-config). The PostgreSQL connection\n\
         # string comes from the environment (DAOLI_POSTGRES_URL): it holds a password.\n\
         datacenter = \"{}\"\nservice = \"{s}\"\ndata_dir = \"data\"\ngenesis = \"../genesis.json\"\n\
         identity_key = \"identity.key\"\nadmin_addr = \"127.0.0.1:{}\"\n",
        dc_name(g, i),
        admin_port(base, i, s)
    );
    if s.takes_peer_messages() {
        t += &format!("peer_addr = \"127.0.0.1:{}\"\n", peer_port(base, i, s));
    }
    match s {
        Service::KernelBuffer => {
            t += &format!(
                "client_addr = \"127.0.0.1:{}\"\nledger_endpoint = \"{}\"\nminer_pool_endpoint = \"{}\"\n",
                client_port(base, i),
                url(ledger_client_port(base, i)),
                url(miner_pool_client_port(base, i))
            );
        }
        Service::Ledger => t += &format!("client_addr = \"127.0.0.1:{}\"\n", ledger_client_port(base, i)),
        Service::MinerPool => t += &format!("client_addr = \"127.0.0.1:{}\"\n", miner_pool_client_port(base, i)),
        _ => {}
    }
    t += &format!(
        "bus = \"kafka\"\nkafka_brokers = \"{}\"\nstore = \"postgres\"\nlog = \"{}\"\n\n\
         [limits]\nmessages_per_second = 20000\nmax_in_flight = 256\n",
        a.kafka, a.log
    );
    for (j, id) in ids.iter().enumerate() {
        t += &format!(
            "\n[[peers]]\nname = \"dc{j}\"\nroot_key = \"{}\"\nendpoint = \"{}\"\n\n[peers.services]\n",
            hex::encode(id.root.public().0),
            url(peer_port(base, j, Service::Ledger))
        );
        for s in Service::ALL.into_iter().filter(|s| s.takes_peer_messages()) {
            t += &format!("{s} = \"{}\"\n", url(peer_port(base, j, s)));
        }
    }
    t
}

/// Writes a new network's files into `a.dir`; returns its genesis.
pub fn write(a: &Args) -> Result<Genesis, String> {
    if a.datacenters < 1 {
        return Err("--datacenters: at least 1".into());
    }
    if a.base_port as usize + 100 * a.datacenters + 23 > u16::MAX as usize {
        return Err(format!("--base-port {}: the ports do not fit", a.base_port));
    }
    let genesis_path = a.dir.join("genesis.json");
    if genesis_path.exists() {
        return Err(format!(
            "{} exists: this directory holds a network already (remove it to start over)",
            genesis_path.display()
        ));
    }
    let mut secrets = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..a.datacenters {
        let s = secret()?;
        ids.push(identity_from_secret(&s)?.0);
        secrets.push(s);
    }
    let endpoints: Vec<String> = (0..a.datacenters)
        .map(|i| format!("http://127.0.0.1:{}", client_port(a.base_port, i)))
        .collect();
    let g = genesis_of(&ids, &endpoints);
    let at = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    for (i, secret) in secrets.iter().enumerate() {
        let d = a.dir.join(format!("dc{i}"));
        std::fs::create_dir_all(d.join("data")).map_err(|e| at(&d, e))?;
        write_secret(&d.join("identity.key"), secret)?;
        for s in Service::ALL {
            let p = config_path(&a.dir, i, s);
            std::fs::write(&p, service_toml(&g, &ids, a, i, s)).map_err(|e| at(&p, e))?;
        }
    }
    let json = serde_json::to_string_pretty(&g).map_err(|e| e.to_string())?;
    std::fs::write(&genesis_path, json).map_err(|e| at(&genesis_path, e))?;
    Ok(g)
}

pub fn run(a: Args) -> ExitCode {
    match write(&a) {
        Ok(g) => {
            println!(
                "cluster-config: {} datacenters x 7 services, chain {}, files in {}; clients on 127.0.0.1:{} (+100 per datacenter)",
                a.datacenters,
                g.chain_id().short(),
                a.dir.display(),
                client_port(a.base_port, 0)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cluster-config: {e}");
            ExitCode::FAILURE
        }
    }
}
