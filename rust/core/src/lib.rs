//! swarmkit-core: the pure-Rust core of swarmkit-py.
//!
//! It knows nothing of Python. `consensus` drives Raft (on tikv/raft-rs) and is
//! sans-I/O apart from the [`storage::LogStore`] it is given; `storage` holds the
//! durable log.

pub mod consensus;
pub mod scheduler;
pub mod storage;
