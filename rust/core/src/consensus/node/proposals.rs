//! Proposals, membership changes and reads: accepted on the leader, tracked
//! by index and term until their entry is applied (or lost).

use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType, Message, MessageType};

use super::Node;
use crate::consensus::output::ProposalError;
use crate::storage::LogStore;

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
pub(super) enum PendingKind {
    Normal,
    ConfChange,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    pub(super) term: u64,
    pub(super) proposal: u64,
    pub(super) kind: PendingKind,
}

impl<S: LogStore> Node<S> {
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

    pub(super) fn not_leader(&self) -> ProposalError {
        ProposalError::NotLeader {
            leader: self.raw.raft.leader_id,
        }
    }

    /// Resolves the proposal made here for this entry's index, if any.
    pub(super) fn settle(&mut self, e: &Entry) {
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

    /// Fails proposals whose entry was overwritten by another leader's, or cut
    /// from the log: they will never commit, so say so now, not at a timeout.
    pub(super) fn fail_lost_proposals(&mut self) {
        if self.pending.is_empty() || (self.is_leader() && !self.has_old_pending()) {
            return;
        }
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

    pub(super) fn retry_deferred_reads(&mut self) {
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
