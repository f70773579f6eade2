//! A point-in-time view of a node, for operators and tests.

use super::membership::Membership;
use super::output::Role;

#[derive(Debug, Clone)]
pub struct PeerProgress {
    pub id: u64,
    /// Highest index known to be on that peer.
    pub matched: u64,
    pub next_index: u64,
    /// `probe`, `replicate` or `snapshot`.
    pub state: String,
    pub recent_active: bool,
}

#[derive(Debug, Clone)]
pub struct Status {
    pub id: u64,
    pub term: u64,
    pub vote: u64,
    pub leader_id: u64,
    pub role: Role,
    pub commit_index: u64,
    pub applied_index: u64,
    pub first_index: u64,
    pub last_index: u64,
    pub snapshot_index: u64,
    pub membership: Membership,
    /// Replication progress of each member; only a leader tracks it.
    pub progress: Vec<PeerProgress>,
}
