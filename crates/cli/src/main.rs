//! `daoli`: the DaoliCloud command line.
#![forbid(unsafe_code)]

mod devnet;
mod load;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Devnet(a) => devnet::run(a),
    }
}
