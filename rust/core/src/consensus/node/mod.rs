//! One Raft node without threads or sockets: raft-rs's `RawNode` plus the
//! durable [`LogStore`], proposal tracking, membership and snapshots.
//!
//! The caller feeds it ticks, peer messages and proposals, then calls
//! [`Node::process_ready`]; everything the outside world must act on comes
//! back in an [`Output`]: messages to send, entries to apply, outcomes of
//! proposals and reads. The threaded [`Driver`](super::driver::Driver) and the
//! simulated network in the tests both drive it this way.

use std::collections::BTreeMap;

use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType, Snapshot};
use raft::{RawNode, StateRole};

mod proposals;
mod ready;
mod recovery;

pub use proposals::MembershipChange;
use proposals::Pending;

use super::config::RaftConfig;
use super::log_cache::LogCache;
use super::log_sink::{self, LogBuffer, LogLevel};
use super::membership::{Membership, SnapshotEnvelope};
use super::output::{Applied, OutMessage, Output, ProposalError, Role};
use super::status::{PeerProgress, Status};
use crate::storage::{LogStore, StorageError};

pub struct Node<S: LogStore> {
    raw: RawNode<LogCache>,
    store: S,
    config: RaftConfig,
    logs: LogBuffer,
    /// Proposals made here that are in the log but not applied, by index.
    pending: BTreeMap<u64, Pending>,
    /// Reads asked while this leader had not yet committed in its term.
    deferred_reads: Vec<u64>,
    membership: Membership,
    /// Membership as of each index where it changed, back to the snapshot.
    membership_history: BTreeMap<u64, Membership>,
    out: Output,
    last_role: Option<(u64, u64, StateRole)>,
}

fn storage_fatal(context: &str, err: raft::Error) -> StorageError {
    StorageError::io(context, std::io::Error::other(err.to_string()))
}

impl<S: LogStore> Node<S> {
    /// Opens a node on `store`. If the store is empty and `bootstrap` names the
    /// initial members, the group is created with them (every initial member
    /// must be bootstrapped with the same list). An empty store without
    /// `bootstrap` makes a node that waits to be added by a leader.
    pub fn open(
        config: RaftConfig,
        mut store: S,
        bootstrap: Option<&[(u64, String)]>,
    ) -> Result<Self, StorageError> {
        config.validate().map_err(|e| {
            StorageError::io("invalid raft configuration", std::io::Error::other(e))
        })?;
        let mut recovered = store.recover()?;
        let empty = recovered.snapshot.is_none()
            && recovered.entries.is_empty()
            && recovered.hard_state == Default::default();
        if empty {
            if let Some(peers) = bootstrap {
                let membership = Membership::bootstrap(peers);
                let mut snap = Snapshot::default();
                snap.set_data(SnapshotEnvelope::encode(&membership, &[]).into());
                let meta = snap.mut_metadata();
                meta.index = 1;
                meta.term = 1;
                meta.set_conf_state(membership.conf_state());
                store.save_snapshot(&snap, true)?;
                recovered.snapshot = Some(snap);
            }
        }
        let mut membership = Membership::default();
        let mut restore = None;
        if let Some(snap) = &recovered.snapshot {
            let (m, app) = SnapshotEnvelope::decode(snap.get_data()).map_err(|reason| {
                StorageError::Corrupt {
                    file: "snapshot".into(),
                    offset: 0,
                    reason,
                }
            })?;
            membership = m;
            let meta = snap.get_metadata();
            restore = Some(Applied::Restore {
                index: meta.index,
                term: meta.term,
                data: app.to_vec(),
            });
        }
        let snapshot_index = recovered
            .snapshot
            .as_ref()
            .map_or(0, |s| s.get_metadata().index);
        let cache =
            LogCache::recovered(recovered.hard_state, recovered.snapshot, recovered.entries);
        let logs = LogBuffer::default();
        let logger = log_sink::logger(logs.clone());
        let raw = RawNode::new(&config.to_raft(snapshot_index), cache, &logger)
            .map_err(|e| storage_fatal("starting raft", e))?;
        let mut node = Node {
            raw,
            store,
            config,
            logs,
            pending: BTreeMap::new(),
            deferred_reads: Vec::new(),
            membership_history: BTreeMap::from([(snapshot_index, membership.clone())]),
            membership,
            out: Output::default(),
            last_role: None,
        };
        if let Some(r) = restore {
            node.out.applied.push(r);
            node.out.membership = Some(node.membership.clone());
        }
        node.out.applied_index = snapshot_index;
        Ok(node)
    }

    pub fn id(&self) -> u64 {
        self.config.id
    }

    pub fn config(&self) -> &RaftConfig {
        &self.config
    }

    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    pub fn leader_id(&self) -> u64 {
        self.raw.raft.leader_id
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back, e.g. to reopen a node on it after a simulated crash.
    pub fn into_store(self) -> S {
        self.store
    }

    pub fn tick(&mut self) {
        self.raw.tick();
    }

    /// Starts an election now instead of waiting for the timeout.
    pub fn campaign(&mut self) {
        let _ = self.raw.campaign();
    }

    /// Steps one encoded message from a peer. A message that does not decode,
    /// is not for this node or comes from a removed node is dropped and logged.
    pub fn step_bytes(&mut self, bytes: &[u8]) {
        match Message::parse_from_bytes(bytes) {
            Ok(m) => self.step(m),
            Err(e) => self.log(
                LogLevel::Warning,
                format!(
                    "dropped a malformed raft message ({} bytes): {e}",
                    bytes.len()
                ),
            ),
        }
    }

    pub fn step(&mut self, m: Message) {
        if m.to != self.config.id {
            self.log(
                LogLevel::Warning,
                format!(
                    "dropped a raft message for node {} (this is {})",
                    m.to, self.config.id
                ),
            );
            return;
        }
        if self.membership.removed.contains(&m.from) {
            self.log(
                LogLevel::Warning,
                format!("dropped a raft message from removed node {}", m.from),
            );
            return;
        }
        if raft::raw_node::is_local_msg(m.get_msg_type()) {
            self.log(
                LogLevel::Warning,
                "dropped a local-only raft message from a peer".into(),
            );
            return;
        }
        if let Err(e) = self.raw.step(m) {
            self.log(LogLevel::Debug, format!("raft message not stepped: {e}"));
        }
    }

    /// Takes what accumulated since the last call.
    pub fn take_output(&mut self) -> Output {
        self.drain_logs();
        self.out.applied_index = self.raw.raft.raft_log.applied.max(self.out.applied_index);
        let mut out = std::mem::take(&mut self.out);
        self.out.applied_index = out.applied_index;
        out.leader = self
            .last_role
            .map(|(leader, term, role)| (leader, term, role_of(role)));
        out
    }

    pub fn status(&self) -> Status {
        let raft = &self.raw.raft;
        let progress = raft
            .prs()
            .iter()
            .map(|(id, pr)| PeerProgress {
                id: *id,
                matched: pr.matched,
                next_index: pr.next_idx,
                state: format!("{:?}", pr.state).to_lowercase(),
                recent_active: pr.recent_active,
            })
            .collect();
        Status {
            id: self.config.id,
            term: raft.term,
            vote: raft.vote,
            leader_id: raft.leader_id,
            role: role_of(raft.state),
            commit_index: raft.raft_log.committed,
            // What was handed out, which raft-rs counts as applied only at
            // the end of the batch.
            applied_index: raft.raft_log.applied.max(self.out.applied_index),
            first_index: self.raw.store().first(),
            last_index: raft.raft_log.last_index(),
            snapshot_index: self.raw.store().snapshot_index(),
            membership: self.membership.clone(),
            progress,
        }
    }

    /// Reports the outcome of a request made under a proposal ID.
    pub fn push_proposal_outcome(&mut self, proposal: u64, outcome: Result<u64, ProposalError>) {
        self.out.proposals.push((proposal, outcome));
    }

    /// Adds a line to the output's log records.
    pub fn push_log(&mut self, level: LogLevel, message: String) {
        self.out.logs.push((level, message));
    }

    fn log(&mut self, level: LogLevel, message: String) {
        self.push_log(level, message);
    }

    fn drain_logs(&mut self) {
        if let Ok(mut buf) = self.logs.lock() {
            self.out.logs.append(&mut buf);
        }
    }

    fn encode_messages(&self, msgs: Vec<Message>) -> Vec<OutMessage> {
        msgs.into_iter()
            .map(|m| OutMessage {
                to: m.to,
                snapshot: m.get_msg_type() == MessageType::MsgSnapshot,
                bytes: m.write_to_bytes().expect("raft message encodes"),
            })
            .collect()
    }
}

fn role_of(role: StateRole) -> Role {
    match role {
        StateRole::Leader => Role::Leader,
        StateRole::Candidate => Role::Candidate,
        StateRole::PreCandidate => Role::PreCandidate,
        StateRole::Follower => Role::Follower,
    }
}
