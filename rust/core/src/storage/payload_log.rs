//! Appends raw payloads as log entries: the log store without consensus, for
//! benchmarking the write path in isolation.

use std::path::Path;

use super::{Entry, FileLogStore, FileStoreOptions, LogStore, StorageError};

pub struct PayloadLog<S: LogStore> {
    store: S,
    next_index: u64,
}

impl PayloadLog<FileLogStore> {
    pub fn open_file(dir: &Path, sync: bool) -> Result<Self, StorageError> {
        let options = FileStoreOptions {
            sync,
            ..Default::default()
        };
        let mut store = FileLogStore::open(dir, options)?;
        let next_index = store.recover()?.entries.last().map_or(1, |e| e.index + 1);
        Ok(PayloadLog { store, next_index })
    }
}

impl<S: LogStore> PayloadLog<S> {
    /// Appends the payloads as consecutive entries of term 1, with one sync.
    /// Returns the index of the last one.
    pub fn append(&mut self, payloads: Vec<Vec<u8>>) -> Result<u64, StorageError> {
        let entries: Vec<Entry> = payloads
            .into_iter()
            .enumerate()
            .map(|(i, data)| Entry {
                index: self.next_index + i as u64,
                term: 1,
                data: data.into(),
                ..Default::default()
            })
            .collect();
        self.store.append(&entries, None)?;
        self.next_index += entries.len() as u64;
        Ok(self.next_index - 1)
    }
}
