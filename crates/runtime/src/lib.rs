//! What every DaoliCloud service needs around its role machine: configuration, the durable
//! store, the datacenter's event bus, the admin HTTP endpoint and telemetry.
//!
//! Peer networking (gRPC between datacenters) is not here yet: it waits for the wire crate.
#![forbid(unsafe_code)]

pub mod admin;
pub mod bus;
pub mod client;
pub mod config;
pub mod host;
pub mod metrics;
pub mod store;
pub mod telemetry;
