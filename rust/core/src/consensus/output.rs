//! What a [`Node`](super::node::Node) hands to the outside world.

use super::log_sink::LogLevel;
use super::membership::Membership;

/// An encoded Raft message for peer `to`.
#[derive(Debug, Clone)]
pub struct OutMessage {
    pub to: u64,
    /// A snapshot message: report its delivery with `report_snapshot`.
    pub snapshot: bool,
    pub bytes: Vec<u8>,
}

/// Something the application applies, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A committed application entry.
    Entry {
        index: u64,
        term: u64,
        data: Vec<u8>,
    },
    /// A committed membership change (see [`Output::membership`]).
    Membership { index: u64, term: u64 },
    /// Replace the application's state with this snapshot's data.
    Restore {
        index: u64,
        term: u64,
        data: Vec<u8>,
    },
}

impl Applied {
    pub fn index(&self) -> u64 {
        match self {
            Applied::Entry { index, .. }
            | Applied::Membership { index, .. }
            | Applied::Restore { index, .. } => *index,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// Why a proposal or read did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalError {
    /// This node is not the leader; `leader` is the one it knows of (0: none).
    NotLeader {
        leader: u64,
    },
    /// The entry was lost to a leadership change and will never commit.
    Dropped,
    TooLarge {
        size: usize,
        max: usize,
    },
    /// A membership change that is not allowed, with the reason.
    Rejected(String),
    /// The node stopped before the outcome was known.
    Stopped(String),
}

impl ProposalError {
    /// A stable name for the kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            ProposalError::NotLeader { .. } => "not_leader",
            ProposalError::Dropped => "dropped",
            ProposalError::TooLarge { .. } => "too_large",
            ProposalError::Rejected(_) => "rejected",
            ProposalError::Stopped(_) => "stopped",
        }
    }
}

impl std::fmt::Display for ProposalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProposalError::NotLeader { leader: 0 } => {
                write!(f, "this node is not the leader and no leader is known")
            }
            ProposalError::NotLeader { leader } => {
                write!(
                    f,
                    "this node is not the leader; the leader is node {leader}"
                )
            }
            ProposalError::Dropped => write!(
                f,
                "the proposal was lost to a leadership change and was not committed; retry it"
            ),
            ProposalError::TooLarge { size, max } => {
                write!(
                    f,
                    "proposal of {size} bytes exceeds the limit of {max} bytes"
                )
            }
            ProposalError::Rejected(reason) => write!(f, "{reason}"),
            ProposalError::Stopped(reason) => write!(f, "the raft node stopped: {reason}"),
        }
    }
}

/// Everything produced since the last take, in the order it must be acted on.
#[derive(Debug, Default)]
pub struct Output {
    pub messages: Vec<OutMessage>,
    pub applied: Vec<Applied>,
    /// Highest index handed out so far (entries with no application data,
    /// such as a new leader's empty entry, advance it without an `Applied`).
    pub applied_index: u64,
    /// Outcomes of proposals: the committed index, or the error.
    pub proposals: Vec<(u64, Result<u64, ProposalError>)>,
    /// Outcomes of read-index requests: the index to wait for, or the error.
    pub reads: Vec<(u64, Result<u64, ProposalError>)>,
    /// The membership, when it changed.
    pub membership: Option<Membership>,
    /// Set when the leader, term or this node's role changed.
    pub leader_changed: bool,
    /// (leader ID, term, this node's role) as of this output.
    pub leader: Option<(u64, u64, Role)>,
    pub snapshots_saved: Vec<u64>,
    /// A follower needs a snapshot newer than the last one: the application
    /// should call `save_snapshot` at its applied index soon.
    pub snapshot_wanted: bool,
    pub logs: Vec<(LogLevel, String)>,
    /// The node stopped because of this error (it cannot go on safely).
    pub fatal: Option<String>,
}

impl Output {
    /// Appends `later` to this output, keeping the order of everything.
    pub fn merge(&mut self, later: Output) {
        self.messages.extend(later.messages);
        self.applied.extend(later.applied);
        self.applied_index = self.applied_index.max(later.applied_index);
        self.proposals.extend(later.proposals);
        self.reads.extend(later.reads);
        if later.membership.is_some() {
            self.membership = later.membership;
        }
        self.leader_changed |= later.leader_changed;
        if later.leader.is_some() {
            self.leader = later.leader;
        }
        self.snapshots_saved.extend(later.snapshots_saved);
        self.snapshot_wanted |= later.snapshot_wanted;
        self.logs.extend(later.logs);
        if later.fatal.is_some() {
            self.fatal = later.fatal;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.applied.is_empty()
            && self.proposals.is_empty()
            && self.reads.is_empty()
            && self.membership.is_none()
            && !self.leader_changed
            && self.snapshots_saved.is_empty()
            && !self.snapshot_wanted
            && self.logs.is_empty()
            && self.fatal.is_none()
    }
}
