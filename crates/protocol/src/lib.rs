//! The sans-IO core of DaoliCloud. Nothing here reads a clock, opens a socket or draws
//! randomness: time, randomness and messages are inputs; actions are outputs.
#![forbid(unsafe_code)]
pub mod block;
pub mod buffer;
pub mod chain;
pub mod codec;
pub mod committee;
pub mod crypto;
pub mod datacenter;
pub mod dcc;
pub mod delay;
pub mod ibft;
pub mod ledger;
pub mod limits;
pub mod lot;
pub mod lottery;
pub mod merkle;
pub mod node;
pub mod params;
pub mod roles;
pub mod seed;
pub mod statement;
pub mod tx;
pub mod vectors;
pub mod verify;
pub mod vote;
pub mod vrf;
