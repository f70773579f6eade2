//! Settings of one Raft node. Defaults are Docker Swarm's.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// This node's Raft ID (never 0, never reused within a group).
    pub id: u64,
    /// How often the driver ticks the state machine (Docker: 1 s).
    pub tick_interval: Duration,
    /// Ticks without a leader before a follower campaigns (Docker: 10).
    /// raft-rs randomizes the timeout in `[election_ticks, 2 * election_ticks)`.
    pub election_ticks: usize,
    /// Ticks between leader heartbeats (Docker: 1).
    pub heartbeat_ticks: usize,
    /// Entries applied between two snapshots (Docker: 10,000).
    pub snapshot_interval: u64,
    /// Entries kept behind a snapshot for followers that lag a little (Docker: 500).
    pub keep_entries_after_snapshot: u64,
    /// Largest proposal accepted, in bytes (Docker: 1.5 MiB).
    pub max_proposal_bytes: usize,
    /// Largest append message the leader builds, in bytes.
    pub max_size_per_msg: u64,
    /// Append messages in flight to one follower before waiting for acks.
    pub max_inflight_msgs: usize,
}

impl RaftConfig {
    pub fn new(id: u64) -> Self {
        RaftConfig {
            id,
            tick_interval: Duration::from_secs(1),
            election_ticks: 10,
            heartbeat_ticks: 1,
            snapshot_interval: 10_000,
            keep_entries_after_snapshot: 500,
            max_proposal_bytes: 1536 * 1024,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
        }
    }

    /// Checks the settings, saying which one is wrong and why.
    pub fn validate(&self) -> Result<(), String> {
        if self.id == 0 {
            return Err("raft ID must not be 0".into());
        }
        if self.heartbeat_ticks == 0 {
            return Err("heartbeat ticks must be at least 1".into());
        }
        if self.election_ticks <= self.heartbeat_ticks {
            return Err(format!(
                "election ticks ({}) must be greater than heartbeat ticks ({})",
                self.election_ticks, self.heartbeat_ticks
            ));
        }
        if self.tick_interval.is_zero() {
            return Err("tick interval must be greater than zero".into());
        }
        if self.snapshot_interval == 0 {
            return Err("snapshot interval must be at least 1 entry".into());
        }
        Ok(())
    }

    pub(crate) fn to_raft(&self, applied: u64) -> raft::Config {
        raft::Config {
            id: self.id,
            election_tick: self.election_ticks,
            heartbeat_tick: self.heartbeat_ticks,
            applied,
            max_size_per_msg: self.max_size_per_msg,
            max_inflight_msgs: self.max_inflight_msgs,
            check_quorum: true,
            pre_vote: true,
            read_only_option: raft::ReadOnlyOption::Safe,
            ..Default::default()
        }
    }
}
