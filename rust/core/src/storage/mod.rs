//! Durable storage of a Raft node: hard state, log entries and snapshots.
//!
//! [`LogStore`] is the one seam between consensus and the disk. The `file`
//! backend ([`file::FileLogStore`], a segmented WAL) is the default;
//! [`memory::MemoryLogStore`] serves tests. A backend written elsewhere (a
//! Python plugin such as MySQL) stores plain records through
//! [`external::RecordBackend`]; [`external::ExternalLogStore`] turns it into a
//! `LogStore`.

pub mod error;
pub mod external;
pub mod file;
pub mod memory;
mod payload_log;
mod segment_prealloc;
mod snapshot_file;
mod wal;

pub use error::StorageError;
pub use external::{
    ExternalLogStore, HardStateRecord, LogRecord, RecordBackend, RecoveredRecords, SnapshotRecord,
};
pub use file::{FileLogStore, FileStoreOptions, FileStoreStats};
pub use memory::MemoryLogStore;
pub use payload_log::PayloadLog;
pub use raft::eraftpb::{Entry, HardState, Snapshot};

/// Everything a store holds durably, as loaded when a node starts.
#[derive(Debug, Default, Clone)]
pub struct Recovered {
    /// The last hard state written, or the default one if none was.
    pub hard_state: HardState,
    /// The newest durable snapshot (metadata and data), if any.
    pub snapshot: Option<Snapshot>,
    /// Log entries after the snapshot, contiguous and in index order.
    /// Entries at or below the snapshot's index are not returned.
    pub entries: Vec<Entry>,
}

/// Durable storage for one Raft node. Every method that returns `Ok` has made
/// its write durable (synced) before returning.
pub trait LogStore: Send {
    /// Loads what is stored. Called once, right after opening.
    fn recover(&mut self) -> Result<Recovered, StorageError>;

    /// Appends `entries` and/or records `hard_state`, with one sync for both.
    /// An entry whose index is at or below the last stored one replaces it and
    /// every entry after it (Raft's log truncation on conflict). `entries`, when
    /// not empty, is contiguous.
    fn append(
        &mut self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), StorageError>;

    /// Stores `snapshot` durably (data and metadata, atomically). When
    /// `discard_log` is true (a snapshot installed from the leader) every log
    /// entry stored so far is dropped, whatever its index; otherwise only the
    /// entries at or below the snapshot's index stop being returned by `recover`.
    fn save_snapshot(&mut self, snapshot: &Snapshot, discard_log: bool)
        -> Result<(), StorageError>;

    /// Lets the store reclaim space used by entries below `first_index`. It may
    /// keep some (it drops whole segments); they are never returned again once
    /// a snapshot covers them.
    fn compact(&mut self, first_index: u64) -> Result<(), StorageError>;
}
