//! `daoli`: the DaoliCloud command line.
#![forbid(unsafe_code)]

use daoli::{cluster, cmds, devnet};

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "daoli",
    version,
    about = "DaoliCloud: a lineup of datacenters certified by lot"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs N datacenters, each with all seven services, in this process.
    Devnet(devnet::Args),
    /// Runs one service of one datacenter (the one its configuration names), on Kafka and
    /// PostgreSQL; the same as the service's own binary (daoli-ledger, ...).
    Service(Box<daoli_runtime::node::ServiceCli>),
    /// Writes the files of a local network run as one process per service (genesis, keys,
    /// one configuration file per service); deploy/local/up starts it.
    ClusterConfig(cluster::Args),
    /// Makes a new key pair.
    Keygen(cmds::KeygenArgs),
    /// Transactions: send one, or ask where one stands.
    #[command(subcommand)]
    Tx(cmds::TxCmd),
    /// The chain as a datacenter sees it.
    #[command(subcommand)]
    Chain(cmds::ChainCmd),
    /// Drives load against datacenters and reports tx/s and latency (devnet client accounts).
    Load(cmds::LoadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Devnet(a) => devnet::run(a),
        Cmd::Service(a) => daoli_runtime::node::service_main(None, *a),
        Cmd::ClusterConfig(a) => cluster::run(a),
        Cmd::Keygen(a) => cmds::keygen(a),
        Cmd::Tx(c) => cmds::tx(c),
        Cmd::Chain(c) => cmds::chain(c),
        Cmd::Load(a) => cmds::load(a),
    }
}
