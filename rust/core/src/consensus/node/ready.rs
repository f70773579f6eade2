//! Persisting what raft-rs has ready and handing out what is committed;
//! snapshots taken here and installed from the leader.

use std::collections::BTreeMap;

use protobuf::Message as _;
use raft::eraftpb::{ConfChange, Entry, EntryType, Snapshot};
use raft::SnapshotStatus;

use super::Node;
use crate::consensus::log_sink::LogLevel;
use crate::consensus::membership::SnapshotEnvelope;
use crate::consensus::output::{Applied, Output, ProposalError};
use crate::storage::{LogStore, StorageError};

impl<S: LogStore> Node<S> {
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
        self.process_ready_with(|node| publish(node.take_output()))
    }

    /// Like [`Node::process_ready`], but `early` gets the node itself when
    /// there is output to go out before the write, to take it (and anything
    /// else it needs, such as the status that goes with it).
    pub fn process_ready_with(
        &mut self,
        mut early: impl FnMut(&mut Self),
    ) -> Result<(), StorageError> {
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
            early(self);
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
        self.fail_lost_proposals();
        self.retry_deferred_reads();
    }
}
