//! Zero-filled WAL segment files, prepared ahead of time on a background thread.
//!
//! On ext4 (and file systems like it) an `fdatasync` after a write that
//! extends a file also commits the new size and block allocation through the
//! journal; after a write into blocks that already hold written zeros it only
//! flushes data, which is about twice as fast. So the log writes into segments
//! that were zero-filled to their full size and synced beforehand (blocks
//! reserved with `fallocate` are not enough: they are "unwritten" extents, and
//! the first write into them is a metadata change too).
//!
//! The next segment is filled while the current one takes appends, under a
//! temporary name: its real name holds its first index, known only at
//! rollover, when the log renames it into place.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::StorageError;

/// Name of the segment being prepared, in the WAL directory. A file of this
/// name found when the log opens is left from a crash and is deleted.
pub(crate) const TEMP_FILE_NAME: &str = "next-segment.prealloc";

/// Zeros are written in pieces of this size, and cancellation is checked
/// between them.
const FILL_CHUNK: usize = 1 << 20;

/// The next segment file: idle, being zero-filled by a thread, or failed to
/// start one. Dropping it stops the thread and waits for it, so the thread
/// never outlives the log (or its directory lock).
#[derive(Debug)]
pub(crate) struct NextSegment {
    path: PathBuf,
    size: u64,
    sync: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    Idle,
    Filling {
        cancel: Arc<AtomicBool>,
        thread: JoinHandle<io::Result<File>>,
    },
    /// The thread could not be started; reported by `finish`.
    NotStarted(io::Error),
}

impl NextSegment {
    /// Prepares segments of `size` zero bytes as `<wal_dir>/<TEMP_FILE_NAME>`;
    /// `sync` makes the zeros and the file size durable before `finish`.
    pub fn new(wal_dir: &Path, size: u64, sync: bool) -> Self {
        NextSegment {
            path: wal_dir.join(TEMP_FILE_NAME),
            size,
            sync,
            state: State::Idle,
        }
    }

    /// Where the prepared file is, until the caller renames it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size of a prepared file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Starts zero-filling a new temporary file, replacing whatever is at
    /// `path()`.
    pub fn start(&mut self) {
        self.stop();
        let cancel = Arc::new(AtomicBool::new(false));
        let path = self.path.clone();
        let (size, sync) = (self.size, self.sync);
        let thread_cancel = Arc::clone(&cancel);
        let spawned = thread::Builder::new()
            .name("wal-prealloc".to_owned())
            .spawn(move || zero_fill(&path, size, sync, &thread_cancel));
        self.state = match spawned {
            Ok(thread) => State::Filling { cancel, thread },
            Err(e) => State::NotStarted(e),
        };
    }

    /// Waits for the file started by `start` and returns it, zero-filled and
    /// (if asked) synced, still at `path()`. Any failure of the background
    /// work is returned here, as an error naming the file.
    pub fn finish(&mut self) -> Result<File, StorageError> {
        let context = || {
            format!(
                "preallocating the next WAL segment as {}",
                self.path.display()
            )
        };
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Filling { thread, .. } => match thread.join() {
                Ok(filled) => filled.map_err(|e| StorageError::io(context(), e)),
                Err(_) => Err(StorageError::io(
                    context(),
                    io::Error::other("the preallocation thread panicked"),
                )),
            },
            State::NotStarted(e) => Err(StorageError::io(
                format!("{}: starting a thread", context()),
                e,
            )),
            State::Idle => Err(StorageError::io(
                context(),
                io::Error::other("no preallocation was started"),
            )),
        }
    }

    /// Cancels a running fill and waits for its thread. What it wrote stays
    /// on disk until the next `start` or the next open of the log.
    fn stop(&mut self) {
        if let State::Filling { cancel, thread } = std::mem::replace(&mut self.state, State::Idle) {
            cancel.store(true, Ordering::Relaxed);
            // Its result (likely "cancelled") no longer matters.
            let _ = thread.join();
        }
    }
}

impl Drop for NextSegment {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates (or truncates) `path` and writes `size` zero bytes to it, then
/// syncs it if `sync`. Stops early with `Interrupted` once `cancel` is set.
fn zero_fill(path: &Path, size: u64, sync: bool, cancel: &AtomicBool) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let zeros = vec![0u8; FILL_CHUNK];
    let mut left = size;
    while left > 0 {
        if cancel.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "preallocation cancelled",
            ));
        }
        let piece = left.min(FILL_CHUNK as u64) as usize;
        file.write_all(&zeros[..piece])?;
        left -= piece as u64;
    }
    if sync {
        // Data and size: the file is renamed into the log and written in
        // place, with `fdatasync`s that must not depend on its metadata.
        file.sync_all()?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_fill_is_all_zeros_of_the_asked_size() {
        let temp = tempfile::tempdir().unwrap();
        let size = FILL_CHUNK as u64 * 2 + 12_345;
        let mut next = NextSegment::new(temp.path(), size, true);
        next.start();
        let file = next.finish().unwrap();
        assert_eq!(file.metadata().unwrap().len(), size);
        let data = std::fs::read(next.path()).unwrap();
        assert!(data.iter().all(|&b| b == 0));
    }

    #[test]
    fn a_failed_fill_is_an_error_naming_the_file_not_a_panic() {
        let temp = tempfile::tempdir().unwrap();
        let mut next = NextSegment::new(&temp.path().join("missing"), 4096, true);
        next.start();
        let error = next.finish().unwrap_err().to_string();
        assert!(
            error.contains("preallocating the next WAL segment"),
            "{error}"
        );
        assert!(error.contains(TEMP_FILE_NAME), "{error}");
        // Nothing more to wait for: asking again says so instead of hanging.
        assert!(next.finish().is_err());
    }

    #[test]
    fn dropping_stops_a_running_fill() {
        let temp = tempfile::tempdir().unwrap();
        let mut next = NextSegment::new(temp.path(), 1 << 30, false);
        next.start();
        let started = std::time::Instant::now();
        drop(next);
        // Cancelled between chunks, long before a gigabyte is written.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let written = std::fs::metadata(temp.path().join(TEMP_FILE_NAME)).map_or(0, |m| m.len());
        assert!(written < 1 << 30, "{written}");
    }
}
