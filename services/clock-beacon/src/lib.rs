//! Clock beacon: the decentralized clock (cycles from certified blocks, their deadlines) and the seed this datacenter publishes or hears.
//!
//! The service is its role machine ([`Role`]) inside the generic actor of
//! [`daoli_runtime::host`]: a bounded mailbox, outputs carried out in order (persistence
//! first), a gauge of events waiting for the bus.
#![forbid(unsafe_code)]

use actix::Addr;
use daoli_runtime::bus::BusError;
use daoli_runtime::host::{HostDeps, RoleHost};

pub use daoli_protocol::roles::clock::Clock as Role;

/// The service's actor.
pub type Service = RoleHost<Role>;

/// Starts the service's actor on its own thread, subscribed to its datacenter's bus (a bus
/// that refuses the subscription is an error: the service would hear nothing).
pub fn start(role: Role, deps: HostDeps) -> Result<Addr<Service>, BusError> {
    Ok(RoleHost::new(role, deps)?.start_on_arbiter())
}
