use std::path::PathBuf;

/// Why a store could not be opened, read or written. Messages say what failed,
/// where, and what the operator can do.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "corrupt raft log: {file} at byte offset {offset}: {reason}; the node will not start \
         because entries after this point could be lost. Restore the data directory from a \
         backup or remove this manager from the cluster and rejoin it"
    )]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error(
        "data directory {dir} has format version {found}, this build understands version \
         {supported}; use a matching swarmkit-py version"
    )]
    UnknownVersion {
        dir: PathBuf,
        found: String,
        supported: u32,
    },
    #[error(
        "data directory {dir} is in use by another process (lock file {lock} is held); stop \
         that process or choose another data directory"
    )]
    Locked { dir: PathBuf, lock: PathBuf },
    /// A write or sync of the log failed earlier; what reached the disk is
    /// unknown, so the store refuses further writes until it is reopened
    /// (reopening repairs a torn tail or reports corruption).
    #[error(
        "the write-ahead log in {dir} accepts no more writes after an earlier failure \
         ({cause}); fix the cause (disk full, I/O error) and restart the node"
    )]
    Failed { dir: PathBuf, cause: String },
    /// A storage backend (a plugin) reported a failure; `message` is its own.
    #[error("the storage backend failed to {operation}: {message}")]
    Backend { operation: String, message: String },
    /// The backend failed earlier; what that call left behind is unknown, so
    /// the store refuses further writes until the node is reopened.
    #[error(
        "the storage backend accepts no more writes after an earlier failure ({cause}); \
         restart the node once the backend works again"
    )]
    BackendFailed { cause: String },
    /// A storage backend returned records that do not form a valid Raft log.
    #[error(
        "the raft log in the storage backend is damaged: {reason}; the node will not start \
         because committed entries could be lost. Restore the backend's data from a backup or \
         remove this manager from the cluster and rejoin it"
    )]
    InvalidRecords { reason: String },
}

impl StorageError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StorageError::Io {
            context: context.into(),
            source,
        }
    }
}
