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
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType, Message, MessageType, Snapshot};
use raft::{RawNode, SnapshotStatus, StateRole};

use super::config::RaftConfig;
use super::log_cache::LogCache;
use super::log_sink::{self, LogBuffer, LogLevel};
use super::membership::{Membership, SnapshotEnvelope};
use super::output::{Applied, OutMessage, Output, ProposalError, Role};
use super::status::{PeerProgress, Status};
use crate::storage::{LogStore, StorageError};

/// A membership change a caller may propose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    AddVoter {
        id: u64,
        address: String,
    },
    AddLearner {
        id: u64,
        address: String,
    },
    /// Makes a learner a voter.
    PromoteLearner {
        id: u64,
    },
    Remove {
        id: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingKind {
    Normal,
    ConfChange,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    term: u64,
    proposal: u64,
    kind: PendingKind,
}

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

    /// Proposes application entries. Each outcome comes back in
    /// [`Output::proposals`] under its `proposal` ID: the entry's index once it
    /// is committed and handed out in [`Output::applied`], or why it failed.
    pub fn propose(&mut self, batch: Vec<(u64, Vec<u8>)>) {
        if !self.is_leader() || self.raw.raft.lead_transferee.is_some() {
            let err = self.not_leader();
            for (proposal, _) in batch {
                self.out.proposals.push((proposal, Err(err.clone())));
            }
            return;
        }
        let mut accepted = Vec::with_capacity(batch.len());
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgPropose);
        m.from = self.config.id;
        for (proposal, data) in batch {
            if data.len() > self.config.max_proposal_bytes {
                let err = ProposalError::TooLarge {
                    size: data.len(),
                    max: self.config.max_proposal_bytes,
                };
                self.out.proposals.push((proposal, Err(err)));
                continue;
            }
            m.entries.push(Entry {
                data: data.into(),
                ..Default::default()
            });
            accepted.push(proposal);
        }
        if accepted.is_empty() {
            return;
        }
        let first = self.raw.raft.raft_log.last_index() + 1;
        let term = self.raw.raft.term;
        match self.raw.raft.step(m) {
            Ok(()) => {
                for (i, proposal) in accepted.into_iter().enumerate() {
                    let pending = Pending {
                        term,
                        proposal,
                        kind: PendingKind::Normal,
                    };
                    self.pending.insert(first + i as u64, pending);
                }
            }
            Err(_) => {
                let err = self.not_leader();
                for proposal in accepted {
                    self.out.proposals.push((proposal, Err(err.clone())));
                }
            }
        }
    }

    /// Proposes a membership change; its outcome comes back like a proposal's.
    pub fn propose_membership(&mut self, proposal: u64, change: MembershipChange) {
        if !self.is_leader() || self.raw.raft.lead_transferee.is_some() {
            let err = self.not_leader();
            self.out.proposals.push((proposal, Err(err)));
            return;
        }
        let mut cc = ConfChange::default();
        let (kind, id, address) = match change {
            MembershipChange::AddVoter { id, address } => (ConfChangeType::AddNode, id, address),
            MembershipChange::AddLearner { id, address } => {
                (ConfChangeType::AddLearnerNode, id, address)
            }
            MembershipChange::PromoteLearner { id } => {
                if !self.membership.members.get(&id).is_some_and(|m| m.learner) {
                    let err = ProposalError::Rejected(format!("node {id} is not a learner"));
                    self.out.proposals.push((proposal, Err(err)));
                    return;
                }
                (ConfChangeType::AddNode, id, String::new())
            }
            MembershipChange::Remove { id } => (ConfChangeType::RemoveNode, id, String::new()),
        };
        cc.set_change_type(kind);
        cc.node_id = id;
        cc.context = address.into_bytes().into();
        if let Err(reason) = self.membership.check(&cc) {
            self.out
                .proposals
                .push((proposal, Err(ProposalError::Rejected(reason))));
            return;
        }
        if kind == ConfChangeType::RemoveNode && id == self.config.id {
            let reason = "the leader cannot remove itself: transfer leadership first, then \
                          remove it from the new leader"
                .to_string();
            self.out
                .proposals
                .push((proposal, Err(ProposalError::Rejected(reason))));
            return;
        }
        let context = cc.context.to_vec();
        match self.raw.propose_conf_change(context, cc) {
            Ok(()) => {
                let index = self.raw.raft.raft_log.last_index();
                let pending = Pending {
                    term: self.raw.raft.term,
                    proposal,
                    kind: PendingKind::ConfChange,
                };
                self.pending.insert(index, pending);
            }
            Err(_) => {
                let err = self.not_leader();
                self.out.proposals.push((proposal, Err(err)));
            }
        }
    }

    /// Asks for a linearizable read point; the index comes back in
    /// [`Output::reads`] under `request`. Reads are served once the local
    /// applied index reaches it.
    pub fn read_index(&mut self, request: u64) {
        if self.raw.raft.leader_id == raft::INVALID_ID {
            self.out.reads.push((request, Err(self.not_leader())));
            return;
        }
        if self.is_leader() && !self.raw.raft.commit_to_current_term() {
            // raft-rs drops such a read; ask again once this term has a commit.
            self.deferred_reads.push(request);
            return;
        }
        self.raw.read_index(request.to_le_bytes().to_vec());
    }

    pub fn transfer_leader(&mut self, to: u64) {
        self.raw.transfer_leader(to);
    }

    pub fn report_unreachable(&mut self, id: u64) {
        self.raw.report_unreachable(id);
    }

    pub fn report_snapshot(&mut self, id: u64, delivered: bool) {
        let status = if delivered {
            SnapshotStatus::Finish
        } else {
            SnapshotStatus::Failure
        };
        self.raw.report_snapshot(id, status);
    }

    /// Saves a snapshot of the application's state as of `index` (which the
    /// application has applied) and compacts the log behind it, keeping
    /// `keep_entries_after_snapshot` entries for followers that lag a little.
    pub fn save_snapshot(&mut self, index: u64, app_data: &[u8]) -> Result<(), StorageError> {
        let cache = self.raw.store();
        if index <= cache.snapshot_index() || index > self.raw.raft.raft_log.applied {
            self.log(
                LogLevel::Debug,
                format!("snapshot at {index} skipped (not newer than the last, or not applied)"),
            );
            return Ok(());
        }
        let Some(term) = cache.entry_term(index) else {
            return Ok(());
        };
        let membership = self
            .membership_history
            .range(..=index)
            .next_back()
            .map(|(_, m)| m.clone())
            .unwrap_or_default();
        let mut snap = Snapshot::default();
        snap.set_data(SnapshotEnvelope::encode(&membership, app_data).into());
        let meta = snap.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(membership.conf_state());
        self.store.save_snapshot(&snap, false)?;
        let compact_to = index.saturating_sub(self.config.keep_entries_after_snapshot) + 1;
        let cache = self.raw.mut_store();
        cache.set_snapshot(snap);
        cache.compact(compact_to);
        self.store.compact(compact_to)?;
        // Keep the membership in force at the snapshot and everything after.
        let keep_from = self
            .membership_history
            .range(..=index)
            .next_back()
            .map_or(0, |(k, _)| *k);
        self.membership_history = self.membership_history.split_off(&keep_from);
        self.out.snapshots_saved.push(index);
        Ok(())
    }

    pub fn has_ready(&self) -> bool {
        self.raw.has_ready()
    }

    /// Persists and hands out whatever raft-rs has ready. `publish` receives
    /// what may go out before the local write is durable (the leader's
    /// appends, and entries committed earlier), so replication overlaps the
    /// leader's fsync; the rest stays for [`Node::take_output`].
    pub fn process_ready(&mut self, mut publish: impl FnMut(Output)) -> Result<(), StorageError> {
        if !self.raw.has_ready() {
            self.after_ready();
            return Ok(());
        }
        let mut rd = self.raw.ready();
        let first_msgs = self.encode_messages(rd.take_messages());
        self.out.messages.extend(first_msgs);
        if rd.snapshot().get_metadata().index > 0 {
            self.install_snapshot(rd.snapshot().clone())?;
        }
        // Committed entries here are already durable: hand them out now.
        self.apply_committed(rd.take_committed_entries());
        if !self.out.is_empty() {
            publish(self.take_output());
        }
        // Term and vote must be durable before we answer anyone; the commit
        // index need not be (it is re-learned), so a commit-only change rides
        // along with the next entries instead of costing a sync of its own.
        let hs = self.raw.raft.hard_state();
        let persisted = self.raw.store().hard_state();
        let vote_changed = hs.term != persisted.term || hs.vote != persisted.vote;
        if !rd.entries().is_empty() || vote_changed {
            let write_hs = hs != *persisted;
            self.store.append(rd.entries(), write_hs.then_some(&hs))?;
            let cache = self.raw.mut_store();
            cache.append(rd.entries());
            cache.set_hard_state(hs);
        }
        let persisted = self.encode_messages(rd.take_persisted_messages());
        self.out.messages.extend(persisted);
        for rs in rd.take_read_states() {
            if let Ok(bytes) = <[u8; 8]>::try_from(&rs.request_ctx[..]) {
                self.out
                    .reads
                    .push((u64::from_le_bytes(bytes), Ok(rs.index)));
            }
        }
        let mut light = self.raw.advance(rd);
        let msgs = self.encode_messages(light.take_messages());
        self.out.messages.extend(msgs);
        self.apply_committed(light.take_committed_entries());
        self.raw.advance_apply();
        self.after_ready();
        Ok(())
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
            applied_index: raft.raft_log.applied,
            first_index: self.raw.store().first(),
            last_index: raft.raft_log.last_index(),
            snapshot_index: self.raw.store().snapshot_index(),
            membership: self.membership.clone(),
            progress,
        }
    }

    fn not_leader(&self) -> ProposalError {
        ProposalError::NotLeader {
            leader: self.raw.raft.leader_id,
        }
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

    fn install_snapshot(&mut self, snap: Snapshot) -> Result<(), StorageError> {
        let (membership, app) = match SnapshotEnvelope::decode(snap.get_data()) {
            Ok((m, app)) => (m, app.to_vec()),
            Err(reason) => {
                // The leader sent something we cannot read; refuse it rather
                // than install a state we cannot reproduce.
                return Err(StorageError::Corrupt {
                    file: "snapshot received from the leader".into(),
                    offset: 0,
                    reason,
                });
            }
        };
        let meta = snap.get_metadata().clone();
        self.store.save_snapshot(&snap, true)?;
        self.raw.mut_store().install_snapshot(snap);
        self.membership = membership.clone();
        self.membership_history = BTreeMap::from([(meta.index, membership)]);
        self.out.applied.push(Applied::Restore {
            index: meta.index,
            term: meta.term,
            data: app,
        });
        self.out.membership = Some(self.membership.clone());
        self.out.applied_index = meta.index;
        // Proposals at or below the snapshot cannot be matched to entries any more.
        let rest = self.pending.split_off(&(meta.index + 1));
        for (_, p) in std::mem::replace(&mut self.pending, rest) {
            self.out
                .proposals
                .push((p.proposal, Err(ProposalError::Dropped)));
        }
        Ok(())
    }

    fn apply_committed(&mut self, entries: Vec<Entry>) {
        for e in entries {
            match e.get_entry_type() {
                EntryType::EntryNormal => {
                    if !e.data.is_empty() {
                        self.out.applied.push(Applied::Entry {
                            index: e.index,
                            term: e.term,
                            data: e.data.to_vec(),
                        });
                    }
                }
                EntryType::EntryConfChange => self.apply_conf_change(&e),
                EntryType::EntryConfChangeV2 => self.log(
                    LogLevel::Error,
                    format!(
                        "entry {} is a joint membership change, which is not used",
                        e.index
                    ),
                ),
            }
            self.settle(&e);
            self.out.applied_index = e.index;
        }
    }

    fn apply_conf_change(&mut self, e: &Entry) {
        let cc = match ConfChange::parse_from_bytes(&e.data) {
            Ok(cc) => cc,
            Err(err) => {
                self.log(
                    LogLevel::Error,
                    format!("membership entry {} does not decode: {err}", e.index),
                );
                return;
            }
        };
        match self.raw.apply_conf_change(&cc) {
            Ok(cs) => {
                self.membership.apply(&cc);
                self.raw.mut_store().set_conf_state(cs);
                self.membership_history
                    .insert(e.index, self.membership.clone());
                self.out.applied.push(Applied::Membership {
                    index: e.index,
                    term: e.term,
                });
                self.out.membership = Some(self.membership.clone());
            }
            Err(err) => self.log(
                LogLevel::Warning,
                format!("membership change at {} not applied: {err}", e.index),
            ),
        }
    }

    /// Resolves the proposal made here for this entry's index, if any.
    fn settle(&mut self, e: &Entry) {
        while let Some((&index, _)) = self.pending.first_key_value() {
            if index >= e.index {
                break;
            }
            let (_, p) = self.pending.pop_first().expect("non-empty");
            self.out
                .proposals
                .push((p.proposal, Err(ProposalError::Dropped)));
        }
        let Some(p) = self.pending.remove(&e.index) else {
            return;
        };
        let outcome = if p.term != e.term {
            Err(ProposalError::Dropped)
        } else if p.kind == PendingKind::ConfChange
            && e.get_entry_type() != EntryType::EntryConfChange
        {
            Err(ProposalError::Rejected(
                "another membership change is in progress; retry once it is applied".into(),
            ))
        } else {
            Ok(e.index)
        };
        self.out.proposals.push((p.proposal, outcome));
    }

    fn after_ready(&mut self) {
        if self.raw.store().take_snapshot_wanted() {
            self.out.snapshot_wanted = true;
        }
        let raft = &self.raw.raft;
        let now = (raft.leader_id, raft.term, raft.state);
        if self.last_role != Some(now) {
            self.last_role = Some(now);
            self.out.leader_changed = true;
        }
        // A proposal whose entry was overwritten by another leader's, or cut
        // from the log, will never commit: fail it now rather than at timeout.
        if !self.pending.is_empty() && (!self.is_leader() || self.has_old_pending()) {
            let log = &self.raw.raft.raft_log;
            let last = log.last_index();
            let lost: Vec<u64> = self
                .pending
                .iter()
                .filter(|(&i, p)| i > last || !log.term(i).is_ok_and(|t| t == p.term))
                .map(|(&i, _)| i)
                .collect();
            for i in lost {
                let p = self.pending.remove(&i).expect("present");
                self.out
                    .proposals
                    .push((p.proposal, Err(ProposalError::Dropped)));
            }
        }
        if !self.deferred_reads.is_empty()
            && (!self.is_leader() || self.raw.raft.commit_to_current_term())
        {
            for request in std::mem::take(&mut self.deferred_reads) {
                self.read_index(request);
            }
        }
    }

    fn has_old_pending(&self) -> bool {
        let term = self.raw.raft.term;
        self.pending.values().next().is_some_and(|p| p.term != term)
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
