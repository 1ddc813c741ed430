//! The lot-drawing service of one datacenter as its own process, on Kafka and PostgreSQL: its
//! configuration file (`--config`, or DAOLI_CONFIG), the environment and flags; see
//! docs/architecture.md and deploy/local/.
#![forbid(unsafe_code)]

use clap::Parser;
use daoli_runtime::config::Service;
use daoli_runtime::node::{ServiceCli, service_main};

fn main() -> std::process::ExitCode {
    service_main(Some(Service::LotDrawing), ServiceCli::parse())
}
