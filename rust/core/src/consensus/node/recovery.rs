//! Recovering from the loss of quorum: `swarm init --force-new-cluster`.

use raft::eraftpb::{HardState, Snapshot};
use raft::RawNode;

use super::Node;
use crate::consensus::log_cache::LogCache;
use crate::consensus::log_sink;
use crate::consensus::membership::{Member, SnapshotEnvelope};
use crate::consensus::output::ProposalError;
use crate::storage::{LogStore, StorageError};

impl<S: LogStore> Node<S> {
    /// Makes this node the only member of a new group that keeps every entry
    /// it has applied. `app_data` is the application's snapshot as of the
    /// applied index, which must equal the commit index (wait for it first).
    /// Entries after the commit index are dropped. The other members' Raft IDs
    /// are put on the removed list: they come back, if at all, with new IDs.
    /// The node then campaigns and, alone, becomes leader at once.
    pub fn force_new_cluster(&mut self, app_data: &[u8]) -> Result<(), String> {
        let log = &self.raw.raft.raft_log;
        let (index, commit) = (log.applied, log.committed);
        if index != commit {
            return Err(format!(
                "applied index {index} has not reached the commit index {commit}; wait for it"
            ));
        }
        let term = self
            .raw
            .store()
            .entry_term(index)
            .or_else(|| (self.raw.store().snapshot_index() == index).then_some(self.raw.raft.term))
            .ok_or_else(|| format!("the term of entry {index} is no longer known"))?;
        let me = self.config.id;
        let mut membership = self.membership.clone();
        let address = membership.members.get(&me).map(|m| m.address.clone());
        let others: Vec<u64> = membership
            .members
            .keys()
            .copied()
            .filter(|&id| id != me)
            .collect();
        for id in others {
            membership.members.remove(&id);
            membership.removed.insert(id);
        }
        membership.members.insert(
            me,
            Member {
                id: me,
                address: address.unwrap_or_default(),
                learner: false,
            },
        );
        let mut snap = Snapshot::default();
        snap.set_data(SnapshotEnvelope::encode(&membership, app_data).into());
        let meta = snap.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(membership.conf_state());
        let hs = HardState {
            term: self.raw.raft.term,
            vote: 0,
            commit: index,
            ..Default::default()
        };
        let io = |e: StorageError| e.to_string();
        self.store.save_snapshot(&snap, true).map_err(io)?;
        self.store.append(&[], Some(&hs)).map_err(io)?;
        let cache = LogCache::recovered(hs, Some(snap), Vec::new());
        let logger = log_sink::logger(self.logs.clone());
        self.raw = RawNode::new(&self.config.to_raft(index), cache, &logger)
            .map_err(|e| format!("restarting raft: {e}"))?;
        for (_, p) in std::mem::take(&mut self.pending) {
            self.out
                .proposals
                .push((p.proposal, Err(ProposalError::Dropped)));
        }
        self.membership_history = [(index, membership.clone())].into();
        self.membership = membership;
        self.out.membership = Some(self.membership.clone());
        self.last_role = None;
        let _ = self.raw.campaign();
        Ok(())
    }
}
