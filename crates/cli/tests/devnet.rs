//! A 4-datacenter devnet in this process, on real gRPC over loopback, with the embedded
//! backend (in-process bus, redb files): client transactions are executed exactly once, every
//! datacenter holds the same chain, a stopped datacenter restarts from its data directory and
//! catches up, and bad peer and client messages are refused with a clear reason and change
//! nothing. tests/devnet_real.rs runs the same scenario on Kafka and PostgreSQL.

const BASE: u16 = 17_100;

fn backend() -> daoli::devnet::Backend {
    daoli::devnet::Backend::Embedded
}

include!("common/devnet_scenario.rs");
