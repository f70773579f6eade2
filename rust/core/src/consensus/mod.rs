//! Consensus: a Raft node built on raft-rs's `RawNode`.
//!
//! [`node::Node`] is sans-I/O apart from its [`LogStore`](crate::storage::LogStore);
//! [`driver::Driver`] runs one on its own thread with group commit, for
//! embedding programs that do the networking themselves.

pub mod config;
pub mod driver;
mod log_cache;
pub mod log_sink;
pub mod membership;
pub mod node;
pub mod output;
pub mod status;

pub use config::RaftConfig;
pub use driver::{Driver, Input};
pub use log_sink::LogLevel;
pub use membership::{Member, Membership};
pub use node::{MembershipChange, Node};
pub use output::{Applied, OutMessage, Output, ProposalError, Role};
pub use status::{PeerProgress, Status};
