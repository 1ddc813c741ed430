//! What every DaoliCloud service needs around its role machine: configuration, the durable
//! store, the datacenter's event bus, the admin HTTP endpoint and telemetry.
//!
//! Peer networking: [`peer`], the cross-datacenter gRPC transport (signed envelopes of
//! `daoli-wire`).
#![forbid(unsafe_code)]

pub mod admin;
pub mod bus;
pub mod client;
pub mod config;
pub mod fakes;
pub mod host;
pub mod metrics;
pub mod node;
pub mod peer;
pub mod store;
pub mod telemetry;

pub use peer::{Inbound, PeerServer, Peers};
