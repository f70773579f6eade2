//! A [`LogStore`] that keeps everything in memory: for tests and simulations.
//! "Durable" here means: survives a simulated crash of the node that owns the
//! store, because the test keeps the store and hands it to the restarted node.

use super::{Entry, HardState, LogStore, Recovered, Snapshot, StorageError};

#[derive(Debug, Default, Clone)]
pub struct MemoryLogStore {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    entries: Vec<Entry>,
}

impl MemoryLogStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl LogStore for MemoryLogStore {
    fn recover(&mut self) -> Result<Recovered, StorageError> {
        let snap_index = self.snapshot.as_ref().map_or(0, |s| s.get_metadata().index);
        Ok(Recovered {
            hard_state: self.hard_state.clone(),
            snapshot: self.snapshot.clone(),
            entries: self
                .entries
                .iter()
                .filter(|e| e.index > snap_index)
                .cloned()
                .collect(),
        })
    }

    fn append(
        &mut self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), StorageError> {
        if let Some(first) = entries.first() {
            self.entries.retain(|e| e.index < first.index);
            self.entries.extend_from_slice(entries);
        }
        if let Some(hs) = hard_state {
            self.hard_state = hs.clone();
        }
        Ok(())
    }

    fn save_snapshot(
        &mut self,
        snapshot: &Snapshot,
        discard_log: bool,
    ) -> Result<(), StorageError> {
        if discard_log {
            self.entries.clear();
        }
        self.snapshot = Some(snapshot.clone());
        Ok(())
    }

    fn compact(&mut self, first_index: u64) -> Result<(), StorageError> {
        self.entries.retain(|e| e.index >= first_index);
        Ok(())
    }
}
