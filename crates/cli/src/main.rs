//! `daoli`: the DaoliCloud command line.
#![forbid(unsafe_code)]

use daoli::{cmds, devnet};

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
        Cmd::Keygen(a) => cmds::keygen(a),
        Cmd::Tx(c) => cmds::tx(c),
        Cmd::Chain(c) => cmds::chain(c),
        Cmd::Load(a) => cmds::load(a),
    }
}
