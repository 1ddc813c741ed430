//! The DaoliCloud command line as a library: the devnet, the client commands and the load
//! generator (the integration tests drive them in-process).
#![forbid(unsafe_code)]

pub mod cluster;
pub mod cmds;
pub mod devnet;
pub mod load;
