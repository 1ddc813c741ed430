//! The wire crate's tests, in one binary (one link on a 2-core machine).

mod client;
mod common;
mod envelope;
mod events;
mod fuzz;
mod limits;
mod malformed;
mod roundtrip;
