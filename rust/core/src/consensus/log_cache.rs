//! The in-memory view of the log that raft-rs reads through its `Storage`
//! trait. It mirrors what the [`LogStore`](crate::storage::LogStore) holds
//! durably: the driver writes to the store first, then updates this cache.

use std::cell::Cell;

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

#[derive(Debug, Default)]
pub struct LogCache {
    hard_state: HardState,
    conf_state: ConfState,
    /// The newest snapshot, with its data, served to followers that lag behind
    /// the first entry.
    snapshot: Snapshot,
    /// Index and term of the entry just before `entries[0]` (the compaction
    /// point, or the snapshot when nothing before it is kept).
    offset_index: u64,
    offset_term: u64,
    entries: Vec<Entry>,
    /// Set when a follower needed a snapshot newer than the one we have.
    snapshot_wanted: Cell<bool>,
}

impl LogCache {
    /// Builds the cache from what a store recovered.
    pub fn recovered(
        hard_state: HardState,
        snapshot: Option<Snapshot>,
        entries: Vec<Entry>,
    ) -> Self {
        let mut cache = LogCache {
            hard_state,
            ..Default::default()
        };
        if let Some(snap) = snapshot {
            let meta = snap.get_metadata();
            cache.offset_index = meta.index;
            cache.offset_term = meta.term;
            cache.conf_state = meta.get_conf_state().clone();
            cache.snapshot = snap;
        }
        cache.entries = entries
            .into_iter()
            .skip_while(|e| e.index <= cache.offset_index)
            .collect();
        // A commit index past the log would make raft-rs panic; a store may
        // hold one if the tail after the hard state record was torn away.
        let last = cache.last();
        let floor = cache.offset_index;
        cache.hard_state.commit = cache.hard_state.commit.min(last).max(floor);
        cache
    }

    pub fn first(&self) -> u64 {
        self.offset_index + 1
    }

    pub fn last(&self) -> u64 {
        self.entries.last().map_or(self.offset_index, |e| e.index)
    }

    pub fn snapshot_index(&self) -> u64 {
        self.snapshot.get_metadata().index
    }

    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    pub fn set_hard_state(&mut self, hs: HardState) {
        self.hard_state = hs;
    }

    pub fn set_conf_state(&mut self, cs: ConfState) {
        self.conf_state = cs;
    }

    /// Appends entries, replacing any at or after the first new index.
    pub fn append(&mut self, new: &[Entry]) {
        let Some(first) = new.first() else { return };
        assert!(
            first.index > self.offset_index && first.index <= self.last() + 1,
            "append at {} leaves a gap or rewrites compacted entries (log {}..={})",
            first.index,
            self.first(),
            self.last()
        );
        let keep = (first.index - self.first()) as usize;
        self.entries.truncate(keep);
        self.entries.extend_from_slice(new);
    }

    /// Installs a snapshot received from the leader: the log restarts after it.
    pub fn install_snapshot(&mut self, snap: Snapshot) {
        let meta = snap.get_metadata();
        self.offset_index = meta.index;
        self.offset_term = meta.term;
        self.conf_state = meta.get_conf_state().clone();
        self.hard_state.term = self.hard_state.term.max(meta.term);
        self.hard_state.commit = self.hard_state.commit.max(meta.index);
        self.entries.clear();
        self.snapshot = snap;
    }

    /// True once after a follower needed a newer snapshot than the one kept.
    pub fn take_snapshot_wanted(&self) -> bool {
        self.snapshot_wanted.replace(false)
    }

    /// Records a snapshot taken locally; the log is unchanged.
    pub fn set_snapshot(&mut self, snap: Snapshot) {
        self.snapshot = snap;
    }

    /// Drops entries below `first_index` (never past the last entry).
    pub fn compact(&mut self, first_index: u64) {
        let first_index = first_index.min(self.last() + 1);
        if first_index <= self.first() {
            return;
        }
        let drop = (first_index - self.first()) as usize;
        self.offset_term = self.entries[drop - 1].term;
        self.offset_index = first_index - 1;
        self.entries.drain(..drop);
    }

    pub fn entry_term(&self, idx: u64) -> Option<u64> {
        if idx == self.offset_index {
            return Some(self.offset_term);
        }
        if idx < self.offset_index || idx > self.last() {
            return None;
        }
        Some(self.entries[(idx - self.first()) as usize].term)
    }
}

impl Storage for LogCache {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let lo = (low - self.first()) as usize;
        let hi = (high - self.first()) as usize;
        let max_size = max_size.into().unwrap_or(u64::MAX);
        let mut size = 0u64;
        let mut out = Vec::with_capacity(hi - lo);
        for e in &self.entries[lo..hi] {
            size += protobuf::Message::compute_size(e) as u64;
            if !out.is_empty() && size > max_size {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx < self.offset_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.entry_term(idx)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let meta = self.snapshot.get_metadata();
        let cs = meta.get_conf_state();
        let includes_peer = cs.voters.contains(&to) || cs.learners.contains(&to);
        // A follower ignores a snapshot whose membership lacks it (it was added
        // later): ask the application for a fresh one and let raft retry.
        if meta.index == 0 || meta.index < request_index || !includes_peer {
            self.snapshot_wanted.set(true);
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        Ok(self.snapshot.clone())
    }
}
