//! The `file` storage backend: a segmented write-ahead log plus snapshot files
//! in one data directory, locked for the lifetime of the store.
//!
//! ```text
//! <dir>/VERSION   format version ("1")
//! <dir>/LOCK      flock'ed exclusively while a store is open
//! <dir>/wal/      log segments (see `wal.rs`)
//! <dir>/snap/     snapshot files (see `snapshot_file.rs`)
//! ```
//!
//! Design and guarantees: `docs/design/wal.md`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::snapshot_file::SnapshotDir;
use super::wal::Wal;
use super::{Entry, HardState, LogStore, Recovered, Snapshot, StorageError};

/// The on-disk format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// How a [`FileLogStore`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStoreOptions {
    /// A segment that has reached this many bytes is closed, and the next
    /// write starts a new one. Compaction deletes whole segments.
    pub segment_size: u64,
    /// Sync every write to stable storage (`fdatasync`). Turning this off
    /// voids every durability guarantee; it exists for benchmarks that
    /// measure everything but the disk.
    pub sync: bool,
    /// Zero-fill each segment file to `segment_size` (and sync it) before
    /// writing to it, preparing the next one on a background thread, so that
    /// appends overwrite allocated blocks and their `fdatasync` need not
    /// commit file-system metadata: on ext4 it is about twice as fast. Costs
    /// `segment_size` bytes of disk up front per segment. Logs written either
    /// way open either way.
    pub preallocate: bool,
}

impl Default for FileStoreOptions {
    fn default() -> Self {
        FileStoreOptions {
            segment_size: 64 << 20,
            sync: true,
            preallocate: true,
        }
    }
}

/// Counters describing a store's files, for tests and operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStoreStats {
    /// Log segment files, including the one being written.
    pub segments: usize,
    /// Bytes of log records in all segments: what was written, not counting
    /// preallocated space.
    pub wal_bytes: u64,
    /// Size of all segment files on disk: `wal_bytes` plus preallocated space
    /// not written yet (the segment being prepared in the background is not
    /// counted).
    pub wal_file_bytes: u64,
    /// Snapshot files kept (at most two).
    pub snapshots: usize,
    /// Bytes of an interrupted write removed from the log's tail when
    /// opening: cut off, or with preallocation zeroed (up to the last non-zero
    /// byte; the zeros after it are free space and not counted).
    pub truncated_tail_bytes: u64,
}

/// A [`LogStore`] on local disk: a segmented write-ahead log and snapshot files.
#[derive(Debug)]
pub struct FileLogStore {
    dir: PathBuf,
    wal: Wal,
    snapshots: SnapshotDir,
    /// What `open` replayed, handed out by the first `recover`.
    recovered: Option<Recovered>,
    /// Holds the exclusive lock on `<dir>/LOCK` until the store is dropped.
    _lock: File,
}

impl FileLogStore {
    /// Opens the store in `dir`, creating it if needed, and replays it.
    ///
    /// Fails with `Locked` if another store has `dir` open, `UnknownVersion`
    /// if `dir` holds another format, and `Corrupt` if the log or the newest
    /// snapshot is damaged anywhere but in an interrupted final write (which is
    /// zeroed or cut off, see [`FileStoreStats::truncated_tail_bytes`]).
    pub fn open(dir: &Path, options: FileStoreOptions) -> Result<Self, StorageError> {
        fs::create_dir_all(dir).map_err(|e| {
            StorageError::io(format!("creating data directory {}", dir.display()), e)
        })?;
        let lock = lock_data_dir(dir)?;
        check_or_write_version(dir, options.sync)?;
        let wal_dir = create_subdir(dir, "wal", options.sync)?;
        let snap_dir = create_subdir(dir, "snap", options.sync)?;

        let snapshots = SnapshotDir::open(&snap_dir, options.sync)?;
        let snapshot = snapshots.load_newest()?;
        let (wal, replay) = Wal::open(&wal_dir, &options)?;
        let recovered = recovered_state(snapshot, replay.hard_state, replay.entries);
        Ok(FileLogStore {
            dir: dir.to_path_buf(),
            wal,
            snapshots,
            recovered: Some(recovered),
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stats(&self) -> FileStoreStats {
        let wal = self.wal.stats();
        FileStoreStats {
            segments: wal.segments,
            wal_bytes: wal.bytes,
            wal_file_bytes: wal.file_bytes,
            snapshots: self.snapshots.count(),
            truncated_tail_bytes: wal.truncated_tail_bytes,
        }
    }
}

impl LogStore for FileLogStore {
    fn recover(&mut self) -> Result<Recovered, StorageError> {
        if let Some(recovered) = self.recovered.take() {
            return Ok(recovered);
        }
        // Entries are not kept in memory after the first call: read them again.
        let snapshot = self.snapshots.load_newest()?;
        let replay = self.wal.read_all()?;
        Ok(recovered_state(snapshot, replay.hard_state, replay.entries))
    }

    fn append(
        &mut self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), StorageError> {
        self.recovered = None;
        self.wal.append(entries, hard_state)
    }

    fn save_snapshot(
        &mut self,
        snapshot: &Snapshot,
        discard_log: bool,
    ) -> Result<(), StorageError> {
        self.recovered = None;
        // Snapshot first, marker second: a crash in between leaves the new
        // snapshot with the old log, whose entries at or below the snapshot
        // are filtered out anyway; the reverse order could lose the log
        // without a snapshot to replace it.
        self.snapshots.save(snapshot)?;
        if discard_log {
            let metadata = snapshot.get_metadata();
            self.wal
                .append_snapshot_marker(metadata.index, metadata.term)?;
        }
        Ok(())
    }

    fn compact(&mut self, first_index: u64) -> Result<(), StorageError> {
        self.recovered = None;
        self.wal.compact(first_index)
    }
}

/// Drops the entries the snapshot covers.
fn recovered_state(
    snapshot: Option<Snapshot>,
    hard_state: HardState,
    mut entries: Vec<Entry>,
) -> Recovered {
    let snapshot_index = snapshot.as_ref().map_or(0, |s| s.get_metadata().index);
    let covered = entries.partition_point(|e| e.index <= snapshot_index);
    entries.drain(..covered);
    Recovered {
        hard_state,
        snapshot,
        entries,
    }
}

/// Makes the entries of directory `dir` (created, renamed, deleted files)
/// durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io(format!("syncing directory {}", dir.display()), e))
}

fn lock_data_dir(dir: &Path) -> Result<File, StorageError> {
    let lock_path = dir.join("LOCK");
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| StorageError::io(format!("opening lock file {}", lock_path.display()), e))?;
    match fs2::FileExt::try_lock_exclusive(&lock) {
        Ok(()) => Ok(lock),
        Err(e)
            if e.kind() == io::ErrorKind::WouldBlock
                || e.raw_os_error() == fs2::lock_contended_error().raw_os_error() =>
        {
            Err(StorageError::Locked {
                dir: dir.to_path_buf(),
                lock: lock_path,
            })
        }
        Err(e) => Err(StorageError::io(
            format!("locking {}", lock_path.display()),
            e,
        )),
    }
}

/// Checks `<dir>/VERSION`, writing it (atomically) into a directory that holds
/// no store yet.
fn check_or_write_version(dir: &Path, sync: bool) -> Result<(), StorageError> {
    let path = dir.join("VERSION");
    let unknown = |found: String| StorageError::UnknownVersion {
        dir: dir.to_path_buf(),
        found,
        supported: FORMAT_VERSION,
    };
    match fs::read_to_string(&path) {
        Ok(text) if text.trim() == FORMAT_VERSION.to_string() => Ok(()),
        Ok(text) => Err(unknown(format!("{:?}", text.trim()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // The VERSION file is written before anything else, so data without
            // it was not written by this backend.
            if dir.join("wal").exists() || dir.join("snap").exists() {
                return Err(unknown("none (the VERSION file is missing)".to_owned()));
            }
            let temp = dir.join("VERSION.tmp");
            let write_error = |e| StorageError::io(format!("writing {}", temp.display()), e);
            let mut file = File::create(&temp).map_err(write_error)?;
            file.write_all(format!("{FORMAT_VERSION}\n").as_bytes())
                .map_err(write_error)?;
            if sync {
                file.sync_data().map_err(write_error)?;
            }
            fs::rename(&temp, &path).map_err(|e| {
                StorageError::io(format!("renaming {} into place", temp.display()), e)
            })?;
            if sync {
                sync_dir(dir)?;
            }
            Ok(())
        }
        Err(e) => Err(StorageError::io(format!("reading {}", path.display()), e)),
    }
}

/// Creates `<dir>/<name>` if missing (durably) and returns its path.
fn create_subdir(dir: &Path, name: &str, sync: bool) -> Result<PathBuf, StorageError> {
    let path = dir.join(name);
    match fs::create_dir(&path) {
        Ok(()) if sync => sync_dir(dir)?,
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(StorageError::io(
                format!("creating directory {}", path.display()),
                e,
            ))
        }
    }
    Ok(path)
}
