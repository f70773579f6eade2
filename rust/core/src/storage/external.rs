//! A [`LogStore`] whose records live in a backend written elsewhere (a Python
//! plugin such as MySQL): [`ExternalLogStore`] over a [`RecordBackend`].
//!
//! The backend stores plain records (index, term and opaque bytes) and knows
//! nothing of Raft. Everything that needs Raft lives here: entries and
//! snapshots are encoded with the protobuf codec raft-rs uses, and what
//! `recover` returns is checked (contiguous, each record holding the entry it
//! claims to, nothing missing after the snapshot) before a node trusts it.

use protobuf::Message;

use super::{Entry, HardState, LogStore, Recovered, Snapshot, StorageError};

/// One log entry as a backend stores it; `data` is the encoded `Entry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub index: u64,
    pub term: u64,
    pub data: Vec<u8>,
}

/// Raft's hard state: current term, vote in that term, commit index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HardStateRecord {
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
}

/// A snapshot as a backend stores it; `data` is the encoded `Snapshot`
/// (metadata and application state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRecord {
    pub index: u64,
    pub term: u64,
    pub data: Vec<u8>,
}

/// Everything a backend holds, as its `recover` returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveredRecords {
    pub hard_state: Option<HardStateRecord>,
    pub snapshot: Option<SnapshotRecord>,
    /// In index order and contiguous; records at or below the snapshot's
    /// index may be included (they are ignored).
    pub entries: Vec<LogRecord>,
}

/// Durable storage of plain records for one Raft node. The contract is
/// [`LogStore`]'s: a method that returns `Ok` has made its write durable, and
/// `append` and `save_snapshot` are atomic. An `Err` carries the backend's own
/// description of what failed; it stops the node.
pub trait RecordBackend: Send {
    /// Loads what is stored.
    fn recover(&mut self) -> Result<RecoveredRecords, String>;

    /// Stores `entries` (contiguous, possibly empty) and `hard_state` (if
    /// given) atomically. An entry whose index is at or below the last stored
    /// one replaces it and every entry after it.
    fn append(
        &mut self,
        entries: &[LogRecord],
        hard_state: Option<HardStateRecord>,
    ) -> Result<(), String>;

    /// Stores `snapshot`, replacing the previous one; with `discard_log`
    /// every stored entry is dropped too, in the same transaction.
    fn save_snapshot(&mut self, snapshot: &SnapshotRecord, discard_log: bool)
        -> Result<(), String>;

    /// Entries below `first_index` are no longer needed.
    fn compact(&mut self, first_index: u64) -> Result<(), String>;
}

impl<B: RecordBackend + ?Sized> RecordBackend for Box<B> {
    fn recover(&mut self) -> Result<RecoveredRecords, String> {
        (**self).recover()
    }

    fn append(
        &mut self,
        entries: &[LogRecord],
        hard_state: Option<HardStateRecord>,
    ) -> Result<(), String> {
        (**self).append(entries, hard_state)
    }

    fn save_snapshot(
        &mut self,
        snapshot: &SnapshotRecord,
        discard_log: bool,
    ) -> Result<(), String> {
        (**self).save_snapshot(snapshot, discard_log)
    }

    fn compact(&mut self, first_index: u64) -> Result<(), String> {
        (**self).compact(first_index)
    }
}

/// A [`LogStore`] on a [`RecordBackend`].
///
/// After the backend fails once, the store refuses every further write:
/// what the failed call left behind is unknown until the node is reopened.
#[derive(Debug)]
pub struct ExternalLogStore<B: RecordBackend> {
    backend: B,
    failure: Option<String>,
}

impl<B: RecordBackend> ExternalLogStore<B> {
    pub fn new(backend: B) -> Self {
        ExternalLogStore {
            backend,
            failure: None,
        }
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Gives the backend back, e.g. to reopen a node on it.
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// Runs one backend call, remembering a failure.
    fn call<T>(
        &mut self,
        operation: impl FnOnce() -> String,
        call: impl FnOnce(&mut B) -> Result<T, String>,
    ) -> Result<T, StorageError> {
        if let Some(cause) = &self.failure {
            return Err(StorageError::BackendFailed {
                cause: cause.clone(),
            });
        }
        call(&mut self.backend).map_err(|message| {
            let error = StorageError::Backend {
                operation: operation(),
                message,
            };
            self.failure = Some(error.to_string());
            error
        })
    }
}

impl<B: RecordBackend> LogStore for ExternalLogStore<B> {
    fn recover(&mut self) -> Result<Recovered, StorageError> {
        let records = self.call(|| "load the raft log".into(), |b| b.recover())?;
        decode_recovered(records).map_err(|reason| StorageError::InvalidRecords { reason })
    }

    fn append(
        &mut self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), StorageError> {
        let records: Vec<LogRecord> = entries
            .iter()
            .map(|e| LogRecord {
                index: e.index,
                term: e.term,
                data: e.write_to_bytes().expect("a raft entry encodes"),
            })
            .collect();
        let hard_state = hard_state.map(|hs| HardStateRecord {
            term: hs.term,
            vote: hs.vote,
            commit: hs.commit,
        });
        let operation = || match (entries.first(), entries.last(), hard_state) {
            (Some(first), Some(last), None) => {
                format!("store entries {} to {}", first.index, last.index)
            }
            (Some(first), Some(last), Some(_)) => format!(
                "store entries {} to {} and the hard state",
                first.index, last.index
            ),
            _ => "store the hard state".into(),
        };
        self.call(operation, |b| b.append(&records, hard_state))
    }

    fn save_snapshot(
        &mut self,
        snapshot: &Snapshot,
        discard_log: bool,
    ) -> Result<(), StorageError> {
        let metadata = snapshot.get_metadata();
        let record = SnapshotRecord {
            index: metadata.index,
            term: metadata.term,
            data: snapshot.write_to_bytes().expect("a raft snapshot encodes"),
        };
        let operation = || format!("store the snapshot at index {}", record.index);
        self.call(operation, |b| b.save_snapshot(&record, discard_log))
    }

    fn compact(&mut self, first_index: u64) -> Result<(), StorageError> {
        let operation = || format!("compact the log below index {first_index}");
        self.call(operation, |b| b.compact(first_index))
    }
}

/// Decodes and checks what a backend recovered; the error names the record.
fn decode_recovered(records: RecoveredRecords) -> Result<Recovered, String> {
    let snapshot = records.snapshot.map(decode_snapshot).transpose()?;
    let snapshot_index = snapshot.as_ref().map_or(0, |s| s.get_metadata().index);
    for pair in records.entries.windows(2) {
        if pair[1].index != pair[0].index + 1 {
            return Err(format!(
                "log records are not contiguous: {} follows {}",
                pair[1].index, pair[0].index
            ));
        }
    }
    let entries = records
        .entries
        .into_iter()
        .filter(|r| r.index > snapshot_index)
        .map(decode_entry)
        .collect::<Result<Vec<Entry>, String>>()?;
    if let Some(first) = entries.first() {
        if first.index != snapshot_index + 1 {
            let after = match snapshot_index {
                0 => "with no snapshot before them".to_owned(),
                i => format!("but the snapshot ends at {i}"),
            };
            return Err(format!(
                "log records start at {} {after}: entries {} to {} are missing",
                first.index,
                snapshot_index + 1,
                first.index - 1
            ));
        }
    }
    let hard_state = records
        .hard_state
        .map(|hs| HardState {
            term: hs.term,
            vote: hs.vote,
            commit: hs.commit,
            ..Default::default()
        })
        .unwrap_or_default();
    Ok(Recovered {
        hard_state,
        snapshot,
        entries,
    })
}

fn decode_entry(record: LogRecord) -> Result<Entry, String> {
    let entry = Entry::parse_from_bytes(&record.data)
        .map_err(|e| format!("entry record {} does not decode: {e}", record.index))?;
    if (entry.index, entry.term) != (record.index, record.term) {
        return Err(format!(
            "entry record {} of term {} holds entry {} of term {}",
            record.index, record.term, entry.index, entry.term
        ));
    }
    Ok(entry)
}

fn decode_snapshot(record: SnapshotRecord) -> Result<Snapshot, String> {
    let snapshot = Snapshot::parse_from_bytes(&record.data).map_err(|e| {
        format!(
            "snapshot record at index {} does not decode: {e}",
            record.index
        )
    })?;
    let metadata = snapshot.get_metadata();
    if (metadata.index, metadata.term) != (record.index, record.term) {
        return Err(format!(
            "snapshot record at index {} of term {} holds a snapshot at index {} of term {}",
            record.index, record.term, metadata.index, metadata.term
        ));
    }
    Ok(snapshot)
}
