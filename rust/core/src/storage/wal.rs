//! The segmented write-ahead log of the `file` backend: entries, hard states
//! and snapshot markers, appended to numbered segment files in `<dir>/wal/`.
//!
//! A segment is named `<sequence>-<first index>.wal`, both as 16 hex digits, so
//! that a directory listing sorts in log order. The first index is the index
//! the log expected next when the segment was created; it is informational
//! (a later conflict may write lower indices into the same segment).
//!
//! A segment is a sequence of records, each
//! `magic u32 | payload length u32 | CRC32C u32 | type u8 | payload`,
//! little-endian, the checksum covering type and payload, followed by zero
//! bytes when the file was preallocated (see `segment_prealloc.rs`): the
//! records end where the zeros start. Records are only ever appended (written
//! at that logical end); an entry record with index `I` supersedes every entry
//! `>= I` recorded before it, and a snapshot marker discards every entry
//! recorded before it. Every segment starts with the hard state current when
//! it was created, so older segments are never needed for it.
//!
//! See `docs/design/wal.md` for the recovery rules (torn tail vs corruption).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use protobuf::Message;

use super::file::{sync_dir, FileStoreOptions};
use super::segment_prealloc::{NextSegment, TEMP_FILE_NAME};
use super::{Entry, HardState, StorageError};

/// "SWAL" as little-endian bytes.
const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"SWAL");
/// magic + length + checksum + type.
pub(crate) const RECORD_HEADER_LEN: usize = 13;

const RECORD_ENTRY: u8 = 1;
const RECORD_HARD_STATE: u8 = 2;
const RECORD_SNAPSHOT_MARKER: u8 = 3;
const SNAPSHOT_MARKER_LEN: usize = 16;

/// A big batch grows the encode buffer; past this size it is not kept for the
/// next append, so one huge batch does not pin memory forever.
const MAX_RETAINED_BUFFER: usize = 16 << 20;

/// What replaying the log found: the state `recover` hands to Raft (before the
/// snapshot filter is applied).
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub hard_state: HardState,
    /// Surviving entries, in index order.
    pub entries: Vec<Entry>,
    /// Index of the last entry or marker recorded; names the next segment.
    last_index: u64,
}

impl Replay {
    fn push_entry(&mut self, entry: Entry) {
        // The common case is a plain append; only a conflict pays for a search.
        if self
            .entries
            .last()
            .is_some_and(|last| last.index >= entry.index)
        {
            let keep = self.entries.partition_point(|e| e.index < entry.index);
            self.entries.truncate(keep);
        }
        self.last_index = entry.index;
        self.entries.push(entry);
    }

    fn discard_before_marker(&mut self, index: u64) {
        self.entries.clear();
        self.last_index = index;
    }
}

/// What the log knows about one segment file, enough to decide whether
/// compaction may delete it without changing what replay returns.
#[derive(Debug)]
struct Segment {
    seq: u64,
    path: PathBuf,
    /// Bytes of records: where the next one is written.
    len: u64,
    /// Size of the file: `len` plus preallocated zeros not written yet.
    file_len: u64,
    /// The segment holds a snapshot marker: every entry of older segments is dead.
    has_marker: bool,
    /// Lowest and highest entry index recorded after the segment's last marker.
    min_index: Option<u64>,
    max_index: Option<u64>,
}

impl Segment {
    fn new(seq: u64, path: PathBuf) -> Self {
        Segment {
            seq,
            path,
            len: 0,
            file_len: 0,
            has_marker: false,
            min_index: None,
            max_index: None,
        }
    }

    fn note_entries(&mut self, first: u64, last: u64) {
        self.min_index = Some(self.min_index.map_or(first, |m| m.min(first)));
        self.max_index = Some(self.max_index.map_or(last, |m| m.max(last)));
    }

    fn note_marker(&mut self) {
        self.has_marker = true;
        self.min_index = None;
        self.max_index = None;
    }
}

/// Counters for tests and operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WalStats {
    pub segments: usize,
    /// Bytes of records in all segments.
    pub bytes: u64,
    /// Size of all segment files, preallocated space included.
    pub file_bytes: u64,
    pub truncated_tail_bytes: u64,
}

/// An open log, writing at the end of the records of its last (active)
/// segment.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    segment_size: u64,
    sync: bool,
    /// Oldest first; never empty; the last one is `active`.
    segments: Vec<Segment>,
    active: File,
    /// With preallocation, the segment that comes after the active one,
    /// being zero-filled in the background.
    next_segment: Option<NextSegment>,
    hard_state: HardState,
    last_index: u64,
    /// Reused encode buffer: one append is one write of this buffer.
    buf: Vec<u8>,
    /// Set when a write or sync failed: the tail of the active segment is then
    /// unknown, and appending after it could bury a torn record mid-log.
    failed: Option<String>,
    truncated_tail_bytes: u64,
}

impl Wal {
    /// Opens the log in `dir` (which must exist), replaying every segment.
    /// A torn tail of the last segment is zeroed (with preallocation) or
    /// truncated away; any other damage is `StorageError::Corrupt`.
    pub fn open(dir: &Path, options: &FileStoreOptions) -> Result<(Wal, Replay), StorageError> {
        let sync = options.sync;
        remove_unfinished_preallocation(dir)?;
        let mut segments = list_segments(dir)?;
        let mut replay = Replay::default();
        let mut truncated_tail_bytes = 0;
        let count = segments.len();
        for (position, segment) in segments.iter_mut().enumerate() {
            let is_last = position + 1 == count;
            let data = read_segment(&segment.path)?;
            let end = replay_segment(&data, is_last, segment, &mut replay)?;
            segment.file_len = data.len() as u64;
            if !is_last {
                continue;
            }
            if options.preallocate {
                // Zeros after the records are free space; torn bytes become
                // free space too, and the file keeps its size.
                if let SegmentEnd::Torn { damaged } = end {
                    zero_torn_tail(&segment.path, &damaged)?;
                    truncated_tail_bytes = damaged.end - damaged.start;
                }
            } else if segment.file_len > segment.len {
                truncate_tail(&segment.path, segment.len)?;
                truncated_tail_bytes = segment.file_len - segment.len;
                segment.file_len = segment.len;
            }
        }

        let mut next_segment = options
            .preallocate
            .then(|| NextSegment::new(dir, options.segment_size, sync));
        let active = match segments.last() {
            Some(last) => OpenOptions::new()
                .write(true)
                .open(&last.path)
                .map_err(|e| {
                    StorageError::io(format!("opening WAL segment {}", last.path.display()), e)
                })?,
            None => {
                if let Some(next) = &mut next_segment {
                    next.start();
                }
                let (segment, file) =
                    create_segment(dir, 1, replay.last_index + 1, sync, next_segment.as_mut())?;
                segments.push(segment);
                file
            }
        };
        if let Some(next) = &mut next_segment {
            next.start();
        }

        let mut wal = Wal {
            dir: dir.to_path_buf(),
            segment_size: options.segment_size,
            sync,
            segments,
            active,
            next_segment,
            hard_state: replay.hard_state.clone(),
            last_index: replay.last_index,
            buf: Vec::new(),
            failed: None,
            truncated_tail_bytes,
        };
        // A segment left empty (a crash right after creating it, or a torn
        // first write) gets its hard-state header now: compaction may delete
        // every older segment before the next append comes.
        if wal.active_segment().len == 0 {
            wal.buf.clear();
            encode_message(&mut wal.buf, RECORD_HARD_STATE, &wal.hard_state)?;
            wal.write_buffer()?;
        }
        Ok((wal, replay))
    }

    /// Re-reads the whole log without repairing anything. The store keeps no
    /// entries in memory, so this is how a second `recover` is answered.
    pub fn read_all(&self) -> Result<Replay, StorageError> {
        let mut replay = Replay::default();
        let count = self.segments.len();
        for (position, segment) in self.segments.iter().enumerate() {
            let data = read_segment(&segment.path)?;
            // Replaying into a scratch descriptor: what we know is already current.
            let mut scratch = Segment::new(segment.seq, segment.path.clone());
            replay_segment(&data, position + 1 == count, &mut scratch, &mut replay)?;
        }
        Ok(replay)
    }

    /// Appends `entries` and then `hard_state` with one write and one sync.
    pub fn append(
        &mut self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), StorageError> {
        if entries.is_empty() && hard_state.is_none() {
            return Ok(());
        }
        self.ensure_usable()?;
        self.buf.clear();
        let next_index = entries.first().map_or(self.last_index + 1, |e| e.index);
        self.roll_if_full(next_index)?;
        for entry in entries {
            encode_message(&mut self.buf, RECORD_ENTRY, entry)?;
        }
        if let Some(hard_state) = hard_state {
            encode_message(&mut self.buf, RECORD_HARD_STATE, hard_state)?;
        }
        self.write_buffer()?;

        if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            self.active_segment_mut()
                .note_entries(first.index, last.index);
            self.last_index = last.index;
        }
        if let Some(hard_state) = hard_state {
            self.hard_state = hard_state.clone();
        }
        Ok(())
    }

    /// Records that every entry written so far is dropped (a snapshot at
    /// `index`/`term` installed from the leader replaces the whole log).
    pub fn append_snapshot_marker(&mut self, index: u64, term: u64) -> Result<(), StorageError> {
        self.ensure_usable()?;
        self.buf.clear();
        self.roll_if_full(index + 1)?;
        let start = begin_record(&mut self.buf, RECORD_SNAPSHOT_MARKER);
        self.buf.extend_from_slice(&index.to_le_bytes());
        self.buf.extend_from_slice(&term.to_le_bytes());
        finish_record(&mut self.buf, start)?;
        self.write_buffer()?;
        self.active_segment_mut().note_marker();
        self.last_index = index;
        Ok(())
    }

    /// Deletes the oldest segments whose surviving entries are all below
    /// `first_index`. Only a prefix of segments is ever deleted, and never the
    /// active one, so replay of what remains returns the same log minus a
    /// prefix of entries below `first_index`.
    pub fn compact(&mut self, first_index: u64) -> Result<(), StorageError> {
        let deletable = self.deletable_prefix(first_index);
        if deletable == 0 {
            return Ok(());
        }
        // Oldest first: a crash midway leaves a consecutive run of segments.
        let mut deleted = 0;
        let mut result = Ok(());
        for segment in &self.segments[..deletable] {
            if let Err(e) = fs::remove_file(&segment.path) {
                result = Err(StorageError::io(
                    format!("deleting compacted WAL segment {}", segment.path.display()),
                    e,
                ));
                break;
            }
            deleted += 1;
        }
        self.segments.drain(..deleted);
        result?;
        if self.sync {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    pub fn stats(&self) -> WalStats {
        WalStats {
            segments: self.segments.len(),
            bytes: self.segments.iter().map(|s| s.len).sum(),
            file_bytes: self.segments.iter().map(|s| s.file_len).sum(),
            truncated_tail_bytes: self.truncated_tail_bytes,
        }
    }

    /// How many of the oldest segments hold no entry at or above `first_index`
    /// that replay would still return.
    fn deletable_prefix(&self, first_index: u64) -> usize {
        // Walking from the newest segment back: an entry of segment k survives
        // only if it is below every entry index recorded later (`floor`) and no
        // later segment holds a snapshot marker.
        let mut later_floor = u64::MAX;
        let mut later_marker = false;
        let mut survivors_above = vec![false; self.segments.len()];
        for (k, segment) in self.segments.iter().enumerate().rev() {
            survivors_above[k] = !later_marker
                && match (segment.min_index, segment.max_index) {
                    (Some(low), Some(high)) => {
                        // Highest index that may survive (an over-estimate when
                        // the segment superseded its own entries: conservative).
                        let top = high.min(later_floor.saturating_sub(1));
                        later_floor > low && top >= low && top >= first_index
                    }
                    _ => false,
                };
            later_floor = later_floor.min(segment.min_index.unwrap_or(u64::MAX));
            later_marker |= segment.has_marker;
        }
        let inactive = self.segments.len() - 1;
        survivors_above[..inactive]
            .iter()
            .position(|&keep| keep)
            .unwrap_or(inactive)
    }

    fn ensure_usable(&self) -> Result<(), StorageError> {
        match &self.failed {
            Some(cause) => Err(StorageError::Failed {
                dir: self.dir.clone(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Starts a new segment when the active one has reached the size limit
    /// (with preallocation: the prepared one, and the one after it starts
    /// being prepared). A segment's first write begins with the current hard
    /// state, so that compaction may delete every segment before it.
    fn roll_if_full(&mut self, next_index: u64) -> Result<(), StorageError> {
        if self.active_segment().len >= self.segment_size {
            let seq = self.active_segment().seq + 1;
            let (segment, file) = create_segment(
                &self.dir,
                seq,
                next_index,
                self.sync,
                self.next_segment.as_mut(),
            )
            .inspect_err(|e| self.failed = Some(e.to_string()))?;
            self.segments.push(segment);
            self.active = file;
            if let Some(next) = &mut self.next_segment {
                next.start();
            }
        }
        if self.active_segment().len == 0 {
            encode_message(&mut self.buf, RECORD_HARD_STATE, &self.hard_state)?;
        }
        Ok(())
    }

    /// Writes `self.buf` at the end of the active segment's records with one
    /// positional write and (unless syncing is off) one `fdatasync`. Any
    /// failure disables the log.
    fn write_buffer(&mut self) -> Result<(), StorageError> {
        let segment = self.segments.last().expect("a WAL always has a segment");
        let path = &segment.path;
        let written = self
            .active
            .write_all_at(&self.buf, segment.len)
            .map_err(|e| {
                StorageError::io(
                    format!(
                        "writing {} bytes to WAL segment {}",
                        self.buf.len(),
                        path.display()
                    ),
                    e,
                )
            });
        let synced = written.and_then(|()| {
            if self.sync {
                self.active.sync_data().map_err(|e| {
                    StorageError::io(format!("syncing WAL segment {}", path.display()), e)
                })
            } else {
                Ok(())
            }
        });
        if let Err(e) = synced {
            self.failed = Some(e.to_string());
            return Err(e);
        }
        let written_len = self.buf.len() as u64;
        let segment = self.active_segment_mut();
        segment.len += written_len;
        segment.file_len = segment.file_len.max(segment.len);
        if self.buf.capacity() > MAX_RETAINED_BUFFER {
            self.buf = Vec::new();
        }
        Ok(())
    }

    fn active_segment(&self) -> &Segment {
        self.segments.last().expect("a WAL always has a segment")
    }

    fn active_segment_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a WAL always has a segment")
    }
}

fn segment_file_name(seq: u64, first_index: u64) -> String {
    format!("{seq:016x}-{first_index:016x}.wal")
}

/// Parses `<seq>-<first index>.wal`; `None` for any other file name.
fn parse_segment_file_name(name: &str) -> Option<(u64, u64)> {
    let (seq, first_index) = name.strip_suffix(".wal")?.split_once('-')?;
    let parse = |hex: &str| {
        (hex.len() == 16)
            .then(|| u64::from_str_radix(hex, 16).ok())
            .flatten()
    };
    Some((parse(seq)?, parse(first_index)?))
}

/// The segments in `dir`, oldest first. Their sequence numbers must be
/// consecutive: compaction only deletes the oldest, so a gap means a segment
/// went missing and the log after it cannot be trusted.
fn list_segments(dir: &Path) -> Result<Vec<Segment>, StorageError> {
    let listing = fs::read_dir(dir)
        .map_err(|e| StorageError::io(format!("listing WAL directory {}", dir.display()), e))?;
    let mut segments = Vec::new();
    for dir_entry in listing {
        let dir_entry = dir_entry
            .map_err(|e| StorageError::io(format!("listing WAL directory {}", dir.display()), e))?;
        let name = dir_entry.file_name();
        if let Some((seq, _)) = name.to_str().and_then(parse_segment_file_name) {
            segments.push(Segment::new(seq, dir_entry.path()));
        }
    }
    segments.sort_by_key(|s| s.seq);
    for pair in segments.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(StorageError::Corrupt {
                file: pair[1].path.clone(),
                offset: 0,
                reason: format!(
                    "WAL segment sequence jumps from {} to {}: a segment file is missing",
                    pair[0].seq, pair[1].seq
                ),
            });
        }
    }
    Ok(segments)
}

/// Creates segment `seq` (it must not exist) and makes its directory entry
/// durable before anything is written to it. With `preallocated`, the segment
/// is the file it prepared (waiting for it if need be), renamed into place;
/// otherwise it starts empty.
fn create_segment(
    dir: &Path,
    seq: u64,
    first_index: u64,
    sync: bool,
    preallocated: Option<&mut NextSegment>,
) -> Result<(Segment, File), StorageError> {
    let path = dir.join(segment_file_name(seq, first_index));
    let (file, file_len) = match preallocated {
        Some(next) => {
            let file = next.finish()?;
            fs::rename(next.path(), &path).map_err(|e| {
                StorageError::io(
                    format!(
                        "renaming preallocated WAL segment {} to {}",
                        next.path().display(),
                        path.display()
                    ),
                    e,
                )
            })?;
            (file, next.size())
        }
        None => {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| {
                    StorageError::io(format!("creating WAL segment {}", path.display()), e)
                })?;
            (file, 0)
        }
    };
    if sync {
        sync_dir(dir)?;
    }
    let mut segment = Segment::new(seq, path);
    segment.file_len = file_len;
    Ok((segment, file))
}

/// Deletes a segment a crash left half-prepared: whether its zeros reached
/// the disk is unknown, so it is not worth checking; it is prepared again.
fn remove_unfinished_preallocation(dir: &Path) -> Result<(), StorageError> {
    let path = dir.join(TEMP_FILE_NAME);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(
            format!(
                "removing unfinished preallocated segment {}",
                path.display()
            ),
            e,
        )),
    }
}

fn read_segment(path: &Path) -> Result<Vec<u8>, StorageError> {
    fs::read(path)
        .map_err(|e| StorageError::io(format!("reading WAL segment {}", path.display()), e))
}

/// Cuts the last segment at the end of its records (a torn tail, or zeros).
fn truncate_tail(path: &Path, offset: u64) -> Result<(), StorageError> {
    let context = || {
        format!(
            "truncating the torn tail of WAL segment {} at byte {offset}",
            path.display()
        )
    };
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io(context(), e))?;
    file.set_len(offset)
        .map_err(|e| StorageError::io(context(), e))?;
    file.sync_all().map_err(|e| StorageError::io(context(), e))
}

/// Overwrites the `damaged` bytes of a preallocated last segment with zeros,
/// so they are free space again and the file keeps its size.
fn zero_torn_tail(path: &Path, damaged: &Range<u64>) -> Result<(), StorageError> {
    let context = || {
        format!(
            "zeroing the torn tail of WAL segment {} (bytes {}..{})",
            path.display(),
            damaged.start,
            damaged.end
        )
    };
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| StorageError::io(context(), e))?;
    let zeros = vec![0; (damaged.end - damaged.start) as usize];
    file.write_all_at(&zeros, damaged.start)
        .map_err(|e| StorageError::io(context(), e))?;
    file.sync_data().map_err(|e| StorageError::io(context(), e))
}

/// Reserves a record header in `buf` and writes the type; returns where the
/// record starts. The payload is appended next, then `finish_record`.
fn begin_record(buf: &mut Vec<u8>, record_type: u8) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; RECORD_HEADER_LEN - 1]);
    buf.push(record_type);
    start
}

/// Fills in magic, length and checksum of the record starting at `start`.
fn finish_record(buf: &mut [u8], start: usize) -> Result<(), StorageError> {
    let payload_len = buf.len() - start - RECORD_HEADER_LEN;
    let payload_len = u32::try_from(payload_len).map_err(|_| {
        StorageError::io(
            "encoding a WAL record",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("record of {payload_len} bytes exceeds 4 GiB"),
            ),
        )
    })?;
    let checksum = crc32c::crc32c(&buf[start + RECORD_HEADER_LEN - 1..]);
    buf[start..start + 4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&payload_len.to_le_bytes());
    buf[start + 8..start + 12].copy_from_slice(&checksum.to_le_bytes());
    Ok(())
}

/// Encodes `message` as one record straight into `buf` (no per-record buffer).
fn encode_message(
    buf: &mut Vec<u8>,
    record_type: u8,
    message: &impl Message,
) -> Result<(), StorageError> {
    let start = begin_record(buf, record_type);
    message.write_to_vec(buf).map_err(|e| {
        StorageError::io(
            "encoding a WAL record",
            io::Error::new(io::ErrorKind::InvalidInput, e.to_string()),
        )
    })?;
    finish_record(buf, start)
}

/// A record whose framing and checksum are valid.
struct RawRecord<'a> {
    record_type: u8,
    payload: &'a [u8],
    end: usize,
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

/// Decodes the record at `offset`: `Ok(None)` at the exact end of `data`,
/// `Err(reason)` when the bytes there are not a whole, intact record.
fn decode_record(data: &[u8], offset: usize) -> Result<Option<RawRecord<'_>>, String> {
    let rest = &data[offset..];
    if rest.is_empty() {
        return Ok(None);
    }
    if rest.len() < RECORD_HEADER_LEN {
        return Err(format!(
            "record header cut short ({} of {RECORD_HEADER_LEN} bytes)",
            rest.len()
        ));
    }
    let magic = read_u32(rest, 0);
    if magic != RECORD_MAGIC {
        return Err(format!(
            "bad record magic {magic:#010x} (expected {RECORD_MAGIC:#010x})"
        ));
    }
    let payload_len = read_u32(rest, 4) as usize;
    let available = rest.len() - RECORD_HEADER_LEN;
    if payload_len > available {
        return Err(format!(
            "record length {payload_len} runs past the end of the file ({available} bytes left)"
        ));
    }
    let stored = read_u32(rest, 8);
    let body = &rest[RECORD_HEADER_LEN - 1..RECORD_HEADER_LEN + payload_len];
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(format!(
            "record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        ));
    }
    Ok(Some(RawRecord {
        record_type: body[0],
        payload: &body[1..],
        end: offset + RECORD_HEADER_LEN + payload_len,
    }))
}

/// The offset of the first intact record starting in `starts`, if any.
fn find_intact_record(data: &[u8], starts: Range<usize>) -> Option<usize> {
    let magic = RECORD_MAGIC.to_le_bytes();
    let last_start = data.len().checked_sub(RECORD_HEADER_LEN)?;
    (starts.start..starts.end.min(last_start + 1))
        .find(|&at| data[at..at + 4] == magic && matches!(decode_record(data, at), Ok(Some(_))))
}

/// The length of `bytes` without its trailing zero bytes. Compares whole
/// blocks (`memcmp`) first: a preallocated segment is mostly zeros.
fn len_without_trailing_zeros(bytes: &[u8]) -> usize {
    static ZEROS: [u8; 4096] = [0; 4096];
    let mut end = bytes.len();
    while end >= ZEROS.len() && bytes[end - ZEROS.len()..end] == ZEROS {
        end -= ZEROS.len();
    }
    bytes[..end]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1)
}

enum SegmentEnd {
    /// The records end at the end of the file or are followed by zeros only
    /// (free space); `Segment::len` says where.
    Clean,
    /// The last segment ends in an interrupted write: `damaged` holds a
    /// record that fails, up to the last non-zero byte; only zeros follow.
    Torn { damaged: Range<u64> },
}

/// Applies every record of one segment to `replay` and `segment`.
fn replay_segment(
    data: &[u8],
    is_last: bool,
    segment: &mut Segment,
    replay: &mut Replay,
) -> Result<SegmentEnd, StorageError> {
    let path = segment.path.clone();
    let corrupt = |offset: usize, reason: String| StorageError::Corrupt {
        file: path.clone(),
        offset: offset as u64,
        reason,
    };
    let mut offset = 0;
    loop {
        let record = match decode_record(data, offset) {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(SegmentEnd::Clean),
            Err(reason) => {
                let damaged_end = offset + len_without_trailing_zeros(&data[offset..]);
                if damaged_end == offset {
                    // Zeros to the end of the file: preallocated free space.
                    return Ok(SegmentEnd::Clean);
                }
                if !is_last {
                    // Appends are synced before the next segment is created, so
                    // an older segment never legitimately ends in a partial write.
                    return Err(corrupt(
                        offset,
                        format!("{reason}, in a segment that is not the newest"),
                    ));
                }
                // No record can start in the zeros: a record starts with its magic.
                return match find_intact_record(data, offset + 1..damaged_end) {
                    Some(next) => Err(corrupt(
                        offset,
                        format!("{reason}, yet an intact record follows at byte offset {next}"),
                    )),
                    None => Ok(SegmentEnd::Torn {
                        damaged: offset as u64..damaged_end as u64,
                    }),
                };
            }
        };
        // From here the checksum matched, so a payload that does not decode
        // is not a torn write: it is corruption or a format this build lacks.
        match record.record_type {
            RECORD_ENTRY => {
                let entry = Entry::parse_from_bytes(record.payload)
                    .map_err(|e| corrupt(offset, format!("entry record does not decode: {e}")))?;
                segment.note_entries(entry.index, entry.index);
                replay.push_entry(entry);
            }
            RECORD_HARD_STATE => {
                replay.hard_state = HardState::parse_from_bytes(record.payload).map_err(|e| {
                    corrupt(offset, format!("hard state record does not decode: {e}"))
                })?;
            }
            RECORD_SNAPSHOT_MARKER if record.payload.len() == SNAPSHOT_MARKER_LEN => {
                segment.note_marker();
                replay.discard_before_marker(read_u64(record.payload, 0));
            }
            RECORD_SNAPSHOT_MARKER => {
                return Err(corrupt(
                    offset,
                    format!(
                        "snapshot marker of {} bytes, expected {SNAPSHOT_MARKER_LEN}",
                        record.payload.len()
                    ),
                ));
            }
            unknown => return Err(corrupt(offset, format!("unknown record type {unknown}"))),
        }
        segment.len = record.end as u64;
        offset = record.end;
    }
}

/// The byte ranges of the intact records at the start of `data`, for tests
/// that damage a chosen record.
#[cfg(test)]
pub(crate) fn record_spans(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut offset = 0;
    while let Ok(Some(record)) = decode_record(data, offset) {
        spans.push(offset..record.end);
        offset = record.end;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry {
            index,
            term,
            data: data.to_vec().into(),
            ..Entry::default()
        }
    }

    #[test]
    fn segment_names_sort_in_log_order_and_parse_back() {
        let name = segment_file_name(10, 0x1234);
        assert_eq!(name, "000000000000000a-0000000000001234.wal");
        assert_eq!(parse_segment_file_name(&name), Some((10, 0x1234)));
        assert!(segment_file_name(9, 99) < segment_file_name(10, 1));
        assert_eq!(parse_segment_file_name("a-b.wal"), None);
        assert_eq!(
            parse_segment_file_name("000000000000000a-0000000000001234.tmp"),
            None
        );
    }

    #[test]
    fn encoded_records_decode_back() {
        let mut buf = Vec::new();
        encode_message(&mut buf, RECORD_ENTRY, &entry(7, 2, b"payload")).unwrap();
        encode_message(&mut buf, RECORD_HARD_STATE, &HardState::default()).unwrap();
        let spans = record_spans(&buf);
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].end, buf.len());
        let first = decode_record(&buf, 0).unwrap().unwrap();
        assert_eq!(first.record_type, RECORD_ENTRY);
        assert_eq!(
            Entry::parse_from_bytes(first.payload).unwrap(),
            entry(7, 2, b"payload")
        );
    }

    #[test]
    fn every_damaged_byte_of_a_record_is_detected() {
        let mut buf = Vec::new();
        encode_message(&mut buf, RECORD_ENTRY, &entry(1, 1, b"some entry data")).unwrap();
        for at in 0..buf.len() {
            let mut damaged = buf.clone();
            damaged[at] ^= 0x40;
            assert!(
                decode_record(&damaged, 0).is_err(),
                "flip at byte {at} went unnoticed"
            );
        }
    }

    #[test]
    fn trailing_zeros_are_found_across_blocks() {
        let mut data = vec![0u8; 3 * 4096 + 17];
        assert_eq!(len_without_trailing_zeros(&data), 0);
        for at in [0, 5, 4095, 4096, 8191, 3 * 4096 + 16] {
            data[at] = 1;
            assert_eq!(len_without_trailing_zeros(&data), at + 1, "byte {at}");
        }
    }

    #[test]
    fn a_failed_preallocation_is_an_error_at_rollover_and_stops_the_log() {
        let temp = tempfile::tempdir().unwrap();
        let options = FileStoreOptions {
            segment_size: 256,
            sync: false,
            preallocate: true,
        };
        let (mut wal, _) = Wal::open(temp.path(), &options).unwrap();
        // The next segment cannot be prepared: its directory does not exist.
        let mut doomed = NextSegment::new(&temp.path().join("gone"), 256, false);
        doomed.start();
        wal.next_segment = Some(doomed);

        let error = (1..100)
            .find_map(|index| wal.append(&[entry(index, 1, &[7; 40])], None).err())
            .expect("the segment fills up and the log rolls over");
        assert!(
            error
                .to_string()
                .contains("preallocating the next WAL segment"),
            "{error}"
        );
        assert_eq!(wal.stats().segments, 1);
        assert!(matches!(
            wal.append(&[entry(100, 1, b"")], None),
            Err(StorageError::Failed { .. })
        ));
    }

    #[test]
    fn replay_lets_later_entries_supersede_and_markers_discard() {
        let mut replay = Replay::default();
        for index in 1..=5 {
            replay.push_entry(entry(index, 1, b""));
        }
        replay.push_entry(entry(3, 2, b""));
        let kept: Vec<(u64, u64)> = replay.entries.iter().map(|e| (e.index, e.term)).collect();
        assert_eq!(kept, vec![(1, 1), (2, 1), (3, 2)]);
        replay.discard_before_marker(10);
        assert!(replay.entries.is_empty());
        assert_eq!(replay.last_index, 10);
    }
}
