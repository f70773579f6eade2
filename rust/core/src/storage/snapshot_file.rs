//! Snapshot files of the `file` backend, in `<dir>/snap/`.
//!
//! Each snapshot is one file `<sequence>-<index>.snap` (16 hex digits each;
//! the sequence orders saves, the index is informational and cross-checked):
//! `magic u32 | CRC32C u32 | payload length u64 | payload`, little-endian,
//! where the payload is the protobuf `Snapshot` (metadata and data). A save
//! writes a temporary file, syncs it, renames it into place and syncs the
//! directory, so a crash leaves either the old set of files or the new one.
//! The newest two are kept. The newest is the one loaded; if it is damaged
//! that is an error, not a reason to fall back to an older one silently.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use protobuf::Message;

use super::file::sync_dir;
use super::{Snapshot, StorageError};

/// "SSNP" as little-endian bytes.
const SNAPSHOT_MAGIC: u32 = u32::from_le_bytes(*b"SSNP");
const HEADER_LEN: usize = 16;
const KEEP: usize = 2;
const TEMP_SUFFIX: &str = ".snap.tmp";

#[derive(Debug)]
struct SnapshotFile {
    seq: u64,
    index: u64,
    path: PathBuf,
}

/// The snapshot files of one store, oldest first.
#[derive(Debug)]
pub(crate) struct SnapshotDir {
    dir: PathBuf,
    sync: bool,
    files: Vec<SnapshotFile>,
}

impl SnapshotDir {
    /// Lists the snapshots in `dir` (which must exist) and deletes temporary
    /// files left by a save that a crash interrupted.
    pub fn open(dir: &Path, sync: bool) -> Result<Self, StorageError> {
        let listing_error =
            |e| StorageError::io(format!("listing snapshot directory {}", dir.display()), e);
        let mut files = Vec::new();
        for dir_entry in fs::read_dir(dir).map_err(listing_error)? {
            let dir_entry = dir_entry.map_err(listing_error)?;
            let path = dir_entry.path();
            let Some(name) = dir_entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.ends_with(TEMP_SUFFIX) {
                fs::remove_file(&path).map_err(|e| {
                    StorageError::io(
                        format!("removing unfinished snapshot {}", path.display()),
                        e,
                    )
                })?;
            } else if let Some((seq, index)) = parse_file_name(&name) {
                files.push(SnapshotFile { seq, index, path });
            }
        }
        files.sort_by_key(|f| f.seq);
        Ok(SnapshotDir {
            dir: dir.to_path_buf(),
            sync,
            files,
        })
    }

    pub fn count(&self) -> usize {
        self.files.len()
    }

    /// Loads the newest snapshot. A damaged newest file is `Corrupt`, even if
    /// an older one is intact: the log may already be compacted past it.
    pub fn load_newest(&self) -> Result<Option<Snapshot>, StorageError> {
        let Some(newest) = self.files.last() else {
            return Ok(None);
        };
        let data = fs::read(&newest.path).map_err(|e| {
            StorageError::io(format!("reading snapshot {}", newest.path.display()), e)
        })?;
        let snapshot = decode(&data).map_err(|(offset, reason)| StorageError::Corrupt {
            file: newest.path.clone(),
            offset,
            reason,
        })?;
        let index = snapshot.get_metadata().index;
        if index != newest.index {
            return Err(StorageError::Corrupt {
                file: newest.path.clone(),
                offset: 0,
                reason: format!(
                    "snapshot holds index {index} but its file name says {}",
                    newest.index
                ),
            });
        }
        Ok(Some(snapshot))
    }

    /// Writes `snapshot` as the newest file, atomically, then deletes all but
    /// the newest two.
    pub fn save(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let seq = self.files.last().map_or(1, |f| f.seq + 1);
        let index = snapshot.get_metadata().index;
        let name = file_name(seq, index);
        let path = self.dir.join(&name);
        let temp_path = self.dir.join(format!("{name}{TEMP_SUFFIX}"));
        let encoded = encode(snapshot)?;

        let write_error =
            |e| StorageError::io(format!("writing snapshot {}", temp_path.display()), e);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp_path)
            .map_err(write_error)?;
        file.write_all(&encoded).map_err(write_error)?;
        if self.sync {
            file.sync_data().map_err(write_error)?;
        }
        drop(file);
        fs::rename(&temp_path, &path).map_err(|e| {
            StorageError::io(
                format!(
                    "renaming snapshot {} to {}",
                    temp_path.display(),
                    path.display()
                ),
                e,
            )
        })?;
        if self.sync {
            sync_dir(&self.dir)?;
        }
        self.files.push(SnapshotFile { seq, index, path });
        self.prune()
    }

    /// Deletes all but the newest `KEEP` snapshots. Not synced: a file that
    /// reappears after a crash is pruned at the next save.
    fn prune(&mut self) -> Result<(), StorageError> {
        let excess = self.files.len().saturating_sub(KEEP);
        for old in self.files.drain(..excess) {
            fs::remove_file(&old.path).map_err(|e| {
                StorageError::io(format!("deleting old snapshot {}", old.path.display()), e)
            })?;
        }
        Ok(())
    }
}

fn file_name(seq: u64, index: u64) -> String {
    format!("{seq:016x}-{index:016x}.snap")
}

fn parse_file_name(name: &str) -> Option<(u64, u64)> {
    let (seq, index) = name.strip_suffix(".snap")?.split_once('-')?;
    let parse = |hex: &str| {
        (hex.len() == 16)
            .then(|| u64::from_str_radix(hex, 16).ok())
            .flatten()
    };
    Some((parse(seq)?, parse(index)?))
}

fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, StorageError> {
    let mut buf = Vec::with_capacity(HEADER_LEN + snapshot.compute_size() as usize);
    buf.extend_from_slice(&[0; HEADER_LEN]);
    snapshot.write_to_vec(&mut buf).map_err(|e| {
        StorageError::io(
            "encoding a snapshot",
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
        )
    })?;
    let checksum = crc32c::crc32c(&buf[HEADER_LEN..]);
    let payload_len = (buf.len() - HEADER_LEN) as u64;
    buf[0..4].copy_from_slice(&SNAPSHOT_MAGIC.to_le_bytes());
    buf[4..8].copy_from_slice(&checksum.to_le_bytes());
    buf[8..16].copy_from_slice(&payload_len.to_le_bytes());
    Ok(buf)
}

/// Decodes a snapshot file; on failure, the byte offset and what is wrong.
fn decode(data: &[u8]) -> Result<Snapshot, (u64, String)> {
    if data.len() < HEADER_LEN {
        return Err((
            0,
            format!(
                "snapshot header cut short ({} of {HEADER_LEN} bytes)",
                data.len()
            ),
        ));
    }
    let magic = u32::from_le_bytes(data[0..4].try_into().expect("four bytes"));
    if magic != SNAPSHOT_MAGIC {
        return Err((
            0,
            format!("bad snapshot magic {magic:#010x} (expected {SNAPSHOT_MAGIC:#010x})"),
        ));
    }
    let stored = u32::from_le_bytes(data[4..8].try_into().expect("four bytes"));
    let payload_len = u64::from_le_bytes(data[8..16].try_into().expect("eight bytes"));
    let payload = &data[HEADER_LEN..];
    if payload.len() as u64 != payload_len {
        return Err((
            8,
            format!(
                "snapshot header says {payload_len} payload bytes, the file holds {}",
                payload.len()
            ),
        ));
    }
    let computed = crc32c::crc32c(payload);
    if stored != computed {
        return Err((
            HEADER_LEN as u64,
            format!(
                "snapshot checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
        ));
    }
    Snapshot::parse_from_bytes(payload)
        .map_err(|e| (HEADER_LEN as u64, format!("snapshot does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(index: u64, data: &[u8]) -> Snapshot {
        let mut snapshot = Snapshot::default();
        snapshot.mut_metadata().index = index;
        snapshot.mut_metadata().term = 3;
        snapshot.data = data.to_vec().into();
        snapshot
    }

    #[test]
    fn saves_load_back_and_only_the_newest_two_are_kept() {
        let temp = tempfile::tempdir().unwrap();
        let mut snaps = SnapshotDir::open(temp.path(), true).unwrap();
        assert!(snaps.load_newest().unwrap().is_none());
        for index in [10, 20, 30] {
            snaps.save(&snapshot(index, b"state")).unwrap();
        }
        assert_eq!(snaps.count(), 2);
        assert_eq!(fs::read_dir(temp.path()).unwrap().count(), 2);
        let reopened = SnapshotDir::open(temp.path(), true).unwrap();
        assert_eq!(
            reopened.load_newest().unwrap(),
            Some(snapshot(30, b"state"))
        );
    }

    #[test]
    fn unfinished_temporary_files_are_removed_on_open() {
        let temp = tempfile::tempdir().unwrap();
        let leftover = temp
            .path()
            .join(format!("{}{TEMP_SUFFIX}", file_name(1, 5)));
        fs::write(&leftover, b"half a snapshot").unwrap();
        let snaps = SnapshotDir::open(temp.path(), true).unwrap();
        assert!(!leftover.exists());
        assert!(snaps.load_newest().unwrap().is_none());
    }

    #[test]
    fn every_damaged_byte_is_detected() {
        let encoded = encode(&snapshot(7, b"some state")).unwrap();
        assert_eq!(decode(&encoded).unwrap(), snapshot(7, b"some state"));
        for at in 0..encoded.len() {
            let mut damaged = encoded.clone();
            damaged[at] ^= 0x01;
            assert!(
                decode(&damaged).is_err(),
                "flip at byte {at} went unnoticed"
            );
        }
        assert!(decode(&encoded[..encoded.len() - 1]).is_err());
    }
}
