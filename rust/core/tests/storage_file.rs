//! Behaviour of the `file` storage backend: durability across reopen, log
//! truncation on conflict, segment rollover and compaction, snapshot markers,
//! torn tails versus corruption, and agreement with `MemoryLogStore` over
//! random operation sequences.
//!
//! The tests live in a module named `storage` so that `cargo test storage`
//! selects them along with the unit tests.

mod storage {
    use std::fs::{self, OpenOptions};
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use protobuf::Message;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use swarmkit_core::storage::memory::MemoryLogStore;
    use swarmkit_core::storage::{
        Entry, FileLogStore, FileStoreOptions, HardState, LogStore, Recovered, Snapshot,
        StorageError,
    };

    /// Header bytes of every WAL record (magic, length, checksum, type).
    const RECORD_HEADER_LEN: u64 = 13;

    /// Where the next segment is prepared, in `<dir>/wal/`.
    const PREPARED_SEGMENT: &str = "next-segment.prealloc";

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: format!("entry {index} of term {term}").into_bytes().into(),
            ..Entry::default()
        }
    }

    fn entries(indexes: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
        indexes.map(|index| entry(index, term)).collect()
    }

    fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
        HardState {
            term,
            vote,
            commit,
            ..HardState::default()
        }
    }

    fn snapshot(index: u64, term: u64) -> Snapshot {
        let mut snapshot = Snapshot::default();
        snapshot.mut_metadata().index = index;
        snapshot.mut_metadata().term = term;
        snapshot.data = format!("state machine at {index}").into_bytes().into();
        snapshot
    }

    fn ids(entries: &[Entry]) -> Vec<(u64, u64)> {
        entries.iter().map(|e| (e.index, e.term)).collect()
    }

    fn small_segments() -> FileStoreOptions {
        FileStoreOptions {
            segment_size: 128,
            ..FileStoreOptions::default()
        }
    }

    fn unsynced() -> FileStoreOptions {
        FileStoreOptions {
            sync: false,
            ..FileStoreOptions::default()
        }
    }

    /// Unsynced, without preallocation: files hold exactly what was written.
    fn unsynced_unpreallocated() -> FileStoreOptions {
        FileStoreOptions {
            preallocate: false,
            ..unsynced()
        }
    }

    /// Unsynced, preallocating segments small enough to copy around.
    fn unsynced_preallocated() -> FileStoreOptions {
        FileStoreOptions {
            segment_size: PREALLOCATED_SEGMENT_SIZE,
            ..unsynced()
        }
    }

    const PREALLOCATED_SEGMENT_SIZE: u64 = 64 << 10;

    /// Both ways of writing segments, for tests whose point holds for both.
    fn with_and_without_preallocation() -> [FileStoreOptions; 2] {
        [unsynced_unpreallocated(), unsynced_preallocated()]
    }

    fn reopen(dir: &Path, options: &FileStoreOptions) -> (FileLogStore, Recovered) {
        let mut store = FileLogStore::open(dir, options.clone()).expect("open store");
        let recovered = store.recover().expect("recover");
        (store, recovered)
    }

    fn segment_files(dir: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir.join("wal"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|ext| ext == "wal"))
            .collect();
        files.sort();
        files
    }

    fn copy_dir(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for item in fs::read_dir(from).unwrap() {
            let item = item.unwrap();
            let target = to.join(item.file_name());
            if item.file_type().unwrap().is_dir() {
                copy_dir(&item.path(), &target);
            } else {
                fs::copy(item.path(), target).unwrap();
            }
        }
    }

    fn expect_corrupt(result: Result<FileLogStore, StorageError>) -> (PathBuf, u64, String) {
        match result {
            Err(StorageError::Corrupt {
                file,
                offset,
                reason,
            }) => (file, offset, reason),
            Err(other) => panic!("expected Corrupt, got {other}"),
            Ok(_) => panic!("expected Corrupt, the store opened"),
        }
    }

    #[test]
    fn entries_hard_state_and_snapshot_survive_reopen() {
        let temp = tempfile::tempdir().unwrap();
        let options = FileStoreOptions::default();
        {
            let (mut store, recovered) = reopen(temp.path(), &options);
            assert!(recovered.entries.is_empty());
            assert_eq!(recovered.hard_state, HardState::default());
            assert!(recovered.snapshot.is_none());
            store
                .append(&entries(1..=5, 1), Some(&hard_state(1, 1, 3)))
                .unwrap();
            store.append(&entries(6..=8, 2), None).unwrap();
            store.append(&[], Some(&hard_state(2, 3, 7))).unwrap();
            store.save_snapshot(&snapshot(4, 1), false).unwrap();
        }
        let (store, recovered) = reopen(temp.path(), &options);
        assert_eq!(store.dir(), temp.path());
        assert_eq!(recovered.hard_state, hard_state(2, 3, 7));
        assert_eq!(recovered.snapshot, Some(snapshot(4, 1)));
        let mut expected = entries(5..=5, 1);
        expected.extend(entries(6..=8, 2));
        assert_eq!(recovered.entries, expected);
    }

    #[test]
    fn recover_called_again_rereads_the_current_state() {
        let temp = tempfile::tempdir().unwrap();
        let (mut store, _) = reopen(temp.path(), &FileStoreOptions::default());
        store
            .append(&entries(1..=3, 1), Some(&hard_state(1, 0, 2)))
            .unwrap();
        let again = store.recover().unwrap();
        assert_eq!(again.entries, entries(1..=3, 1));
        assert_eq!(again.hard_state, hard_state(1, 0, 2));
    }

    #[test]
    fn conflicting_append_replaces_the_tail_across_segments_and_reopen() {
        let temp = tempfile::tempdir().unwrap();
        let options = small_segments();
        {
            let (mut store, _) = reopen(temp.path(), &options);
            for index in 1..=20 {
                store.append(&[entry(index, 1)], None).unwrap();
            }
            assert!(store.stats().segments > 3, "{:?}", store.stats());
            // A new leader overwrites from 6, which lives several segments back.
            store
                .append(&entries(6..=8, 2), Some(&hard_state(2, 2, 5)))
                .unwrap();
        }
        let (mut store, recovered) = reopen(temp.path(), &options);
        let mut expected = entries(1..=5, 1);
        expected.extend(entries(6..=8, 2));
        assert_eq!(ids(&recovered.entries), ids(&expected));
        assert_eq!(recovered.entries, expected);

        // And again, after reopening, from inside the newest segment.
        store.append(&entries(8..=9, 3), None).unwrap();
        drop(store);
        let (_, recovered) = reopen(temp.path(), &options);
        let mut expected = entries(1..=5, 1);
        expected.extend(entries(6..=7, 2));
        expected.extend(entries(8..=9, 3));
        assert_eq!(ids(&recovered.entries), ids(&expected));
    }

    #[test]
    fn segments_roll_over_and_compaction_deletes_only_dead_segments() {
        let temp = tempfile::tempdir().unwrap();
        let options = small_segments();
        let (mut store, _) = reopen(temp.path(), &options);
        for index in 1..=40 {
            store
                .append(&[entry(index, 1)], Some(&hard_state(1, 1, index)))
                .unwrap();
        }
        let before = store.stats();
        assert!(before.segments >= 8, "{before:?}");
        assert_eq!(segment_files(temp.path()).len(), before.segments);
        let on_disk: u64 = segment_files(temp.path())
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(on_disk, before.wal_file_bytes);
        assert!(before.wal_bytes <= before.wal_file_bytes, "{before:?}");

        store.save_snapshot(&snapshot(30, 1), false).unwrap();
        store.compact(31).unwrap();
        let after = store.stats();
        assert!(after.segments < before.segments, "{after:?}");
        assert!(after.wal_bytes < before.wal_bytes);
        drop(store);

        // Whatever was deleted, every entry from 31 on is still there, the
        // hard state came from a segment header, and nothing below the snapshot
        // is returned.
        let (_, recovered) = reopen(temp.path(), &options);
        assert_eq!(ids(&recovered.entries), ids(&entries(31..=40, 1)));
        assert_eq!(recovered.hard_state, hard_state(1, 1, 40));
    }

    #[test]
    fn compaction_respects_entries_superseded_by_later_segments() {
        let temp = tempfile::tempdir().unwrap();
        let options = small_segments();
        let (mut store, _) = reopen(temp.path(), &options);
        // Term 1 writes 1..=30 over many segments; term 2 rewrites from 11 on.
        for index in 1..=30 {
            store.append(&[entry(index, 1)], None).unwrap();
        }
        for index in 11..=30 {
            store.append(&[entry(index, 2)], None).unwrap();
        }
        let segments_before = store.stats().segments;
        // Old segments holding term-1 entries 11..=30 are dead: everything in them
        // at or above 11 was superseded. Compacting to 11 may drop all of them.
        store.compact(11).unwrap();
        assert!(store.stats().segments < segments_before);
        drop(store);
        let (mut store, recovered) = reopen(temp.path(), &options);
        let returned = ids(&recovered.entries);
        let expected = ids(&entries(11..=30, 2));
        assert!(returned.ends_with(&expected), "{returned:?}");
        assert!(returned
            .iter()
            .all(|&(index, term)| index >= 11 || term == 1));
        // Entries below 11 that survive must be a contiguous run ending at 10.
        let prefix = &returned[..returned.len() - expected.len()];
        assert_eq!(
            prefix,
            &ids(&entries((11 - prefix.len() as u64)..=10, 1))[..]
        );

        // Compacting past the end keeps the active segment, and later appends
        // continue the log.
        store.compact(1000).unwrap();
        assert_eq!(store.stats().segments, 1);
        store.append(&entries(31..=32, 2), None).unwrap();
        drop(store);
        let (_, recovered) = reopen(temp.path(), &options);
        let returned = ids(&recovered.entries);
        assert!(
            returned.ends_with(&ids(&entries(31..=32, 2))),
            "{returned:?}"
        );
    }

    #[test]
    fn hard_state_survives_compaction_after_a_crash_left_an_empty_segment() {
        let temp = tempfile::tempdir().unwrap();
        let options = small_segments();
        {
            let (mut store, _) = reopen(temp.path(), &options);
            store
                .append(&entries(1..=10, 1), Some(&hard_state(1, 2, 10)))
                .unwrap();
        }
        // A crash right after the next segment was created, before its first write.
        let segments = segment_files(temp.path());
        assert_eq!(segments.len(), 1);
        let name = segments[0].file_name().unwrap().to_str().unwrap();
        let next = name.replacen("0000000000000001-", "0000000000000002-", 1);
        fs::File::create(temp.path().join("wal").join(next)).unwrap();

        let (mut store, recovered) = reopen(temp.path(), &options);
        assert_eq!(recovered.hard_state, hard_state(1, 2, 10));
        store.save_snapshot(&snapshot(10, 1), false).unwrap();
        store.compact(11).unwrap();
        assert_eq!(store.stats().segments, 1);
        drop(store);
        let (_, recovered) = reopen(temp.path(), &options);
        assert_eq!(recovered.hard_state, hard_state(1, 2, 10));
        assert!(recovered.entries.is_empty());
    }

    #[test]
    fn discard_log_snapshot_drops_every_earlier_entry_across_reopen() {
        let temp = tempfile::tempdir().unwrap();
        let options = small_segments();
        {
            let (mut store, _) = reopen(temp.path(), &options);
            for index in 1..=20 {
                store.append(&[entry(index, 1)], None).unwrap();
            }
            // The leader's snapshot is below our (divergent) log: still, all goes.
            store.save_snapshot(&snapshot(12, 2), true).unwrap();
        }
        let (mut store, recovered) = reopen(temp.path(), &options);
        assert!(
            recovered.entries.is_empty(),
            "{:?}",
            ids(&recovered.entries)
        );
        assert_eq!(recovered.snapshot, Some(snapshot(12, 2)));
        store.append(&entries(13..=15, 2), None).unwrap();
        store.compact(13).unwrap();
        drop(store);
        let (_, recovered) = reopen(temp.path(), &options);
        assert_eq!(ids(&recovered.entries), ids(&entries(13..=15, 2)));
    }

    #[test]
    fn only_the_newest_two_snapshots_are_kept() {
        let temp = tempfile::tempdir().unwrap();
        let (mut store, _) = reopen(temp.path(), &unsynced());
        for index in [5, 10, 15, 20] {
            store.save_snapshot(&snapshot(index, 1), false).unwrap();
        }
        assert_eq!(store.stats().snapshots, 2);
        assert_eq!(fs::read_dir(temp.path().join("snap")).unwrap().count(), 2);
        drop(store);
        let (_, recovered) = reopen(temp.path(), &unsynced());
        assert_eq!(recovered.snapshot, Some(snapshot(20, 1)));
    }

    /// Writes entries 1..=3 one append each, then a batch of 4..=6 plus a hard
    /// state; returns the segment, where the batch starts, and each record end
    /// inside the batch.
    fn log_ending_in_a_batch(dir: &Path, options: &FileStoreOptions) -> (PathBuf, u64, Vec<u64>) {
        let (mut store, _) = reopen(dir, options);
        for index in 1..=3 {
            store.append(&[entry(index, 1)], None).unwrap();
        }
        let batch_start = store.stats().wal_bytes;
        let batch = entries(4..=6, 1);
        let batch_hard_state = hard_state(1, 1, 6);
        store.append(&batch, Some(&batch_hard_state)).unwrap();
        let mut ends = Vec::new();
        let mut end = batch_start;
        for record in &batch {
            end += RECORD_HEADER_LEN + u64::from(record.compute_size());
            ends.push(end);
        }
        end += RECORD_HEADER_LEN + u64::from(batch_hard_state.compute_size());
        ends.push(end);
        assert_eq!(end, store.stats().wal_bytes);
        let segments = segment_files(dir);
        assert_eq!(segments.len(), 1);
        (segments[0].clone(), batch_start, ends)
    }

    /// Simulates a crash in the middle of the last append of
    /// `log_ending_in_a_batch`, at every byte: only the batch's bytes before
    /// `cut` reached the disk (without preallocation the file ends there; with
    /// it, the rest of the preallocated zeros is still in place). Checks what
    /// reopening recovers, what it leaves on disk, and that the log goes on.
    fn check_torn_tail_at_every_byte(options: &FileStoreOptions) {
        let original = tempfile::tempdir().unwrap();
        let (segment, batch_start, ends) = log_ending_in_a_batch(original.path(), options);
        let segment_name = segment.file_name().unwrap().to_owned();
        let written = fs::read(&segment).unwrap();
        let batch_end = *ends.last().unwrap();

        for cut in batch_start..=batch_end {
            let temp = tempfile::tempdir().unwrap();
            copy_dir(original.path(), temp.path());
            let copy = temp.path().join("wal").join(&segment_name);
            if options.preallocate {
                let mut data = written.clone();
                data[cut as usize..batch_end as usize].fill(0);
                fs::write(&copy, &data).unwrap();
            } else {
                OpenOptions::new()
                    .write(true)
                    .open(&copy)
                    .unwrap()
                    .set_len(cut)
                    .unwrap();
            }

            let (mut store, recovered) = reopen(temp.path(), options);
            let complete = ends.iter().take_while(|&&end| end <= cut).count();
            let intact_entries = complete.min(3) as u64;
            assert_eq!(
                ids(&recovered.entries),
                ids(&entries(1..=3 + intact_entries, 1)),
                "cut at byte {cut}"
            );
            let expected_hard_state = if complete == 4 {
                hard_state(1, 1, 6)
            } else {
                HardState::default()
            };
            assert_eq!(
                recovered.hard_state, expected_hard_state,
                "cut at byte {cut}"
            );
            let kept = ends[..complete].last().copied().unwrap_or(batch_start);
            assert_eq!(store.stats().wal_bytes, kept, "cut at byte {cut}");
            let repaired = fs::read(&copy).unwrap();
            if options.preallocate {
                // The torn bytes, up to the last non-zero one, are zeroed; the
                // file keeps its preallocated size.
                let torn = written[kept as usize..cut as usize]
                    .iter()
                    .rposition(|&b| b != 0)
                    .map_or(0, |last| last as u64 + 1);
                assert_eq!(
                    store.stats().truncated_tail_bytes,
                    torn,
                    "cut at byte {cut}"
                );
                assert_eq!(repaired.len(), written.len(), "cut at byte {cut}");
                assert_eq!(repaired[..kept as usize], written[..kept as usize]);
                assert!(
                    repaired[kept as usize..].iter().all(|&b| b == 0),
                    "cut at byte {cut}"
                );
            } else {
                assert_eq!(
                    store.stats().truncated_tail_bytes,
                    cut - kept,
                    "cut at byte {cut}"
                );
                assert_eq!(repaired, written[..kept as usize], "cut at byte {cut}");
            }

            // The repaired log takes new writes that survive the next reopen.
            store.append(&[entry(4 + intact_entries, 2)], None).unwrap();
            drop(store);
            let (_, recovered) = reopen(temp.path(), options);
            assert_eq!(
                recovered.entries.len() as u64,
                4 + intact_entries,
                "cut at byte {cut}"
            );
            assert_eq!(recovered.entries.last().unwrap().term, 2);
        }
    }

    #[test]
    fn torn_tail_at_every_byte_of_the_last_write_recovers_every_complete_record() {
        check_torn_tail_at_every_byte(&unsynced_unpreallocated());
    }

    #[test]
    fn torn_tail_in_a_preallocated_segment_is_zeroed_keeping_the_file_size() {
        check_torn_tail_at_every_byte(&unsynced_preallocated());
    }

    #[test]
    fn zero_filled_tail_is_a_torn_write() {
        let temp = tempfile::tempdir().unwrap();
        let options = unsynced_unpreallocated();
        let (segment, _, ends) = log_ending_in_a_batch(temp.path(), &options);
        let mut data = fs::read(&segment).unwrap();
        let full = data.len() as u64;
        data.extend_from_slice(&[0; 4096]);
        fs::write(&segment, &data).unwrap();

        let (_, recovered) = reopen(temp.path(), &options);
        assert_eq!(ids(&recovered.entries), ids(&entries(1..=6, 1)));
        assert_eq!(fs::metadata(&segment).unwrap().len(), full);
        assert_eq!(*ends.last().unwrap(), full);

        // Zeros over the last record's end (a write whose pages never landed).
        let mut data = fs::read(&segment).unwrap();
        let second_last = ends[ends.len() - 2] as usize;
        data[second_last + 2..].fill(0);
        fs::write(&segment, &data).unwrap();
        let (store, recovered) = reopen(temp.path(), &options);
        assert_eq!(ids(&recovered.entries), ids(&entries(1..=6, 1)));
        assert_eq!(recovered.hard_state, HardState::default());
        assert_eq!(
            store.stats().truncated_tail_bytes,
            full - second_last as u64
        );
    }

    #[test]
    fn zeros_after_the_records_of_a_preallocated_segment_are_free_space() {
        let temp = tempfile::tempdir().unwrap();
        let options = unsynced_preallocated();
        let (segment, _, ends) = log_ending_in_a_batch(temp.path(), &options);
        let written = fs::read(&segment).unwrap();
        let end = *ends.last().unwrap();
        assert_eq!(written.len() as u64, PREALLOCATED_SEGMENT_SIZE);
        assert!(written[end as usize..].iter().all(|&b| b == 0));

        let (store, recovered) = reopen(temp.path(), &options);
        assert_eq!(ids(&recovered.entries), ids(&entries(1..=6, 1)));
        assert_eq!(recovered.hard_state, hard_state(1, 1, 6));
        assert_eq!(store.stats().truncated_tail_bytes, 0);
        assert_eq!(store.stats().wal_bytes, end);
        assert_eq!(store.stats().wal_file_bytes, PREALLOCATED_SEGMENT_SIZE);
        drop(store);
        assert_eq!(fs::read(&segment).unwrap(), written, "nothing to repair");

        // Zeros over the last record's end (a write whose pages never landed):
        // only the two bytes that did land are torn.
        let mut data = written.clone();
        let second_last = ends[ends.len() - 2] as usize;
        data[second_last + 2..].fill(0);
        fs::write(&segment, &data).unwrap();
        let (store, recovered) = reopen(temp.path(), &options);
        assert_eq!(ids(&recovered.entries), ids(&entries(1..=6, 1)));
        assert_eq!(recovered.hard_state, HardState::default());
        assert_eq!(store.stats().truncated_tail_bytes, 2);
        assert_eq!(
            fs::metadata(&segment).unwrap().len(),
            PREALLOCATED_SEGMENT_SIZE
        );
    }

    #[test]
    fn a_damaged_record_followed_by_intact_ones_is_corruption_at_its_offset() {
        for options in with_and_without_preallocation() {
            let temp = tempfile::tempdir().unwrap();
            let (segment, batch_start, ends) = log_ending_in_a_batch(temp.path(), &options);
            // Damage the second entry of the batch: a checksum failure, a bad
            // length and a bad magic must all be reported where that record starts.
            let damaged_record = ends[0];
            for (byte, what) in [
                (RECORD_HEADER_LEN + 2, "checksum"),
                (5, "length"),
                (0, "magic"),
            ] {
                let what = format!("{what}, {options:?}");
                let original = fs::read(&segment).unwrap();
                let mut data = original.clone();
                data[(damaged_record + byte) as usize] ^= 0xff;
                fs::write(&segment, &data).unwrap();

                let (file, offset, reason) =
                    expect_corrupt(FileLogStore::open(temp.path(), options.clone()));
                assert_eq!(file, segment, "{what}");
                assert_eq!(offset, damaged_record, "{what}: {reason}");
                assert!(reason.contains("intact record follows"), "{what}: {reason}");
                // Nothing was truncated or zeroed: the operator still has every byte.
                assert_eq!(fs::read(&segment).unwrap(), data, "{what}");
                fs::write(&segment, &original).unwrap();
            }
            assert!(batch_start < damaged_record);
            let (_, recovered) = reopen(temp.path(), &options);
            assert_eq!(recovered.entries.len(), 6);
        }
    }

    #[test]
    fn damage_at_the_end_of_an_older_segment_is_corruption() {
        for preallocate in [false, true] {
            let temp = tempfile::tempdir().unwrap();
            let options = FileStoreOptions {
                sync: false,
                preallocate,
                ..small_segments()
            };
            {
                let (mut store, _) = reopen(temp.path(), &options);
                for index in 1..=20 {
                    store.append(&[entry(index, 1)], None).unwrap();
                }
            }
            let segments = segment_files(temp.path());
            assert!(segments.len() >= 3);
            let older = &segments[1];
            let len = fs::metadata(older).unwrap().len();
            OpenOptions::new()
                .write(true)
                .open(older)
                .unwrap()
                .set_len(len - 1)
                .unwrap();
            let (file, offset, reason) =
                expect_corrupt(FileLogStore::open(temp.path(), options.clone()));
            assert_eq!(&file, older);
            assert!(offset < len - 1, "{offset}");
            assert!(reason.contains("not the newest"), "{reason}");

            // A missing segment in the middle is corruption too.
            fs::remove_file(older).unwrap();
            let (file, _, reason) = expect_corrupt(FileLogStore::open(temp.path(), options));
            assert_eq!(file, segments[2]);
            assert!(reason.contains("missing"), "{reason}");
        }
    }

    #[test]
    fn zeros_after_the_records_of_an_older_segment_are_free_space_but_garbage_is_corruption() {
        let temp = tempfile::tempdir().unwrap();
        let large = unsynced_preallocated();
        let records_end = {
            let (mut store, _) = reopen(temp.path(), &large);
            for index in 1..=5 {
                store
                    .append(&[entry(index, 1)], Some(&hard_state(1, 1, index)))
                    .unwrap();
            }
            store.stats().wal_bytes
        };
        // Reopened with smaller segments, the next append rolls over and the
        // first segment, now an older one, keeps its unused zeros.
        let small = FileStoreOptions {
            segment_size: 128,
            ..unsynced_preallocated()
        };
        {
            let (mut store, _) = reopen(temp.path(), &small);
            for index in 6..=10 {
                store.append(&[entry(index, 1)], None).unwrap();
            }
        }
        let segments = segment_files(temp.path());
        assert!(segments.len() >= 2, "{segments:?}");
        let first = &segments[0];
        assert_eq!(
            fs::metadata(first).unwrap().len(),
            PREALLOCATED_SEGMENT_SIZE
        );
        for options in [&small, &large, &unsynced_unpreallocated()] {
            let (_, recovered) = reopen(temp.path(), options);
            assert_eq!(ids(&recovered.entries), ids(&entries(1..=10, 1)));
        }

        let mut data = fs::read(first).unwrap();
        data[records_end as usize + 100] = 0x5a;
        fs::write(first, &data).unwrap();
        let (file, offset, reason) = expect_corrupt(FileLogStore::open(temp.path(), small));
        assert_eq!(&file, first);
        assert_eq!(offset, records_end);
        assert!(reason.contains("not the newest"), "{reason}");
    }

    /// Polls `probe` until it returns something (a background thread's work).
    fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = probe() {
                return found;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn preallocated_segments_keep_their_size_and_appends_continue_after_the_records() {
        let temp = tempfile::tempdir().unwrap();
        let options = FileStoreOptions {
            segment_size: 1 << 20,
            ..FileStoreOptions::default()
        };
        {
            let (mut store, _) = reopen(temp.path(), &options);
            store
                .append(&entries(1..=3, 1), Some(&hard_state(1, 1, 3)))
                .unwrap();
            let stats = store.stats();
            assert_eq!(stats.segments, 1);
            assert_eq!(stats.wal_file_bytes, 1 << 20);
            assert!(stats.wal_bytes < 200, "{stats:?}");
        }
        let segment = &segment_files(temp.path())[0];
        assert_eq!(fs::metadata(segment).unwrap().len(), 1 << 20);
        {
            let (mut store, recovered) = reopen(temp.path(), &options);
            assert_eq!(recovered.entries, entries(1..=3, 1));
            store.append(&entries(4..=6, 1), None).unwrap();
        }
        let (store, recovered) = reopen(temp.path(), &options);
        assert_eq!(recovered.entries, entries(1..=6, 1));
        assert_eq!(recovered.hard_state, hard_state(1, 1, 3));
        assert_eq!(fs::metadata(segment).unwrap().len(), 1 << 20);
        let written = store.stats().wal_bytes;
        drop(store);

        // Opened without preallocation the active segment is cut to its
        // records; opened with it again, it is simply written on.
        let plain = FileStoreOptions {
            preallocate: false,
            ..options.clone()
        };
        let (store, recovered) = reopen(temp.path(), &plain);
        assert_eq!(recovered.entries, entries(1..=6, 1));
        assert_eq!(fs::metadata(segment).unwrap().len(), written);
        assert_eq!(store.stats().wal_file_bytes, written);
        drop(store);
        let (mut store, _) = reopen(temp.path(), &options);
        store.append(&entries(7..=7, 1), None).unwrap();
        drop(store);
        let (_, recovered) = reopen(temp.path(), &options);
        assert_eq!(recovered.entries, entries(1..=7, 1));
    }

    #[test]
    fn rollover_renames_the_segment_prepared_in_the_background() {
        let temp = tempfile::tempdir().unwrap();
        let options = FileStoreOptions {
            segment_size: 4096,
            ..FileStoreOptions::default()
        };
        let (mut store, _) = reopen(temp.path(), &options);
        let prepared_path = temp.path().join("wal").join(PREPARED_SEGMENT);
        let prepared = wait_for("the next segment to be prepared", || {
            fs::metadata(&prepared_path)
                .ok()
                .filter(|m| m.len() == 4096)
        });

        let mut index = 0;
        while store.stats().segments == 1 {
            index += 1;
            store.append(&[entry(index, 1)], None).unwrap();
        }
        let segments = segment_files(temp.path());
        assert_eq!(segments.len(), 2);
        let second = fs::metadata(&segments[1]).unwrap();
        assert_eq!(second.ino(), prepared.ino(), "the prepared file was used");
        assert_eq!(second.len(), 4096);
        let name = segments[1].file_name().unwrap().to_str().unwrap();
        assert!(name.ends_with(&format!("-{index:016x}.wal")), "{name}");

        // The segment after it is being prepared already.
        wait_for("the following segment to be prepared", || {
            fs::metadata(&prepared_path)
                .ok()
                .filter(|m| m.ino() != prepared.ino())
        });
        drop(store);
        let (_, recovered) = reopen(temp.path(), &options);
        assert_eq!(ids(&recovered.entries), ids(&entries(1..=index, 1)));
    }

    #[test]
    fn an_unfinished_preallocation_left_by_a_crash_is_discarded_on_open() {
        let temp = tempfile::tempdir().unwrap();
        let options = FileStoreOptions {
            segment_size: 4096,
            ..unsynced()
        };
        drop(reopen(temp.path(), &options));
        // A crash while the next segment was being prepared: what is there is
        // not (known to be) zeros.
        let prepared_path = temp.path().join("wal").join(PREPARED_SEGMENT);
        fs::write(&prepared_path, vec![0xab; 4096]).unwrap();
        let unpreallocated = FileStoreOptions {
            preallocate: false,
            ..options.clone()
        };
        drop(reopen(temp.path(), &unpreallocated));
        assert!(
            !prepared_path.exists(),
            "removed even without preallocation"
        );
        fs::write(&prepared_path, vec![0xab; 4096]).unwrap();

        let mut index = 0;
        {
            let (mut store, _) = reopen(temp.path(), &options);
            while store.stats().segments < 3 {
                index += 1;
                store.append(&[entry(index, 1)], None).unwrap();
            }
        }
        // Had the leftover been renamed into the log, the records of an older
        // segment would be followed by garbage: corruption.
        let (_, recovered) = reopen(temp.path(), &options);
        assert_eq!(ids(&recovered.entries), ids(&entries(1..=index, 1)));
        for segment in segment_files(temp.path()) {
            let data = fs::read(&segment).unwrap();
            assert!(
                !data.windows(64).any(|w| w.iter().all(|&b| b == 0xab)),
                "{segment:?}"
            );
        }
    }

    #[test]
    fn corrupt_newest_snapshot_is_reported_not_skipped() {
        let temp = tempfile::tempdir().unwrap();
        {
            let (mut store, _) = reopen(temp.path(), &unsynced());
            store.save_snapshot(&snapshot(5, 1), false).unwrap();
            store.save_snapshot(&snapshot(9, 1), false).unwrap();
        }
        let mut snaps: Vec<PathBuf> = fs::read_dir(temp.path().join("snap"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        snaps.sort();
        let newest = snaps.last().unwrap();
        let mut data = fs::read(newest).unwrap();
        let middle = data.len() / 2;
        data[middle] ^= 0x10;
        fs::write(newest, &data).unwrap();

        let (file, _, reason) = expect_corrupt(FileLogStore::open(temp.path(), unsynced()));
        assert_eq!(&file, newest);
        assert!(reason.contains("checksum"), "{reason}");
    }

    #[test]
    fn unknown_format_version_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        drop(FileLogStore::open(temp.path(), unsynced()).unwrap());
        assert_eq!(
            fs::read_to_string(temp.path().join("VERSION"))
                .unwrap()
                .trim(),
            "1"
        );

        fs::write(temp.path().join("VERSION"), "2\n").unwrap();
        match FileLogStore::open(temp.path(), unsynced()) {
            Err(StorageError::UnknownVersion {
                found, supported, ..
            }) => {
                assert_eq!(found, "\"2\"");
                assert_eq!(supported, 1);
            }
            other => panic!("expected UnknownVersion, got {:?}", other.map(|_| ())),
        }

        // Data without a VERSION file was not written by this backend.
        fs::remove_file(temp.path().join("VERSION")).unwrap();
        assert!(matches!(
            FileLogStore::open(temp.path(), unsynced()),
            Err(StorageError::UnknownVersion { .. })
        ));
    }

    #[test]
    fn second_open_of_the_same_directory_is_locked() {
        let temp = tempfile::tempdir().unwrap();
        let store = FileLogStore::open(temp.path(), unsynced()).unwrap();
        match FileLogStore::open(temp.path(), unsynced()) {
            Err(StorageError::Locked { dir, lock }) => {
                assert_eq!(dir, temp.path());
                assert_eq!(lock, temp.path().join("LOCK"));
            }
            other => panic!("expected Locked, got {:?}", other.map(|_| ())),
        }
        drop(store);
        FileLogStore::open(temp.path(), unsynced()).expect("the lock is released on drop");
    }

    /// What a `MemoryLogStore` that never compacts would return, next to one that
    /// compacts exactly like the caller asked: the file store must return a suffix
    /// of the former that covers the latter (it compacts whole segments only).
    struct Model {
        exact: MemoryLogStore,
        uncompacted: MemoryLogStore,
        last_index: u64,
        snapshot_index: u64,
    }

    impl Model {
        fn check(&mut self, store: &mut FileLogStore, context: &str) {
            let got = store.recover().unwrap();
            let exact = self.exact.recover().unwrap();
            let full = self.uncompacted.recover().unwrap();
            assert_eq!(got.hard_state, exact.hard_state, "{context}");
            assert_eq!(got.snapshot, exact.snapshot, "{context}");
            assert!(
                full.entries.ends_with(&got.entries) && got.entries.len() >= exact.entries.len(),
                "{context}: file store has {:?}, exact model {:?}, uncompacted model {:?}",
                ids(&got.entries),
                ids(&exact.entries),
                ids(&full.entries)
            );
        }
    }

    fn check_random_operations_against_the_memory_store(preallocate: bool) {
        for seed in 0..12u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let temp = tempfile::tempdir().unwrap();
            let options = FileStoreOptions {
                segment_size: rng.gen_range(64..1024),
                sync: false,
                preallocate,
            };
            let mut store = FileLogStore::open(temp.path(), options.clone()).unwrap();
            store.recover().unwrap();
            let mut model = Model {
                exact: MemoryLogStore::new(),
                uncompacted: MemoryLogStore::new(),
                last_index: 0,
                snapshot_index: 0,
            };
            let mut term = 1;
            for step in 0..250 {
                let context = format!("seed {seed}, step {step}, preallocate {preallocate}");
                match rng.gen_range(0..100) {
                    0..=54 => {
                        // Append, sometimes overwriting a few entries back.
                        let next = model.last_index.max(model.snapshot_index) + 1;
                        let start = rng.gen_range(next.saturating_sub(4).max(1)..=next);
                        if start < next {
                            term += 1;
                        }
                        let batch: Vec<Entry> = (start..start + rng.gen_range(0..5))
                            .map(|index| {
                                let mut e = entry(index, term);
                                e.data = vec![b'x'; rng.gen_range(0..80)].into();
                                e
                            })
                            .collect();
                        let hs = rng
                            .gen_bool(0.4)
                            .then(|| hard_state(term, rng.gen_range(0..4), start));
                        store.append(&batch, hs.as_ref()).unwrap();
                        model.exact.append(&batch, hs.as_ref()).unwrap();
                        model.uncompacted.append(&batch, hs.as_ref()).unwrap();
                        if let Some(last) = batch.last() {
                            model.last_index = last.index;
                        }
                    }
                    55..=64 => {
                        let index = rng.gen_range(
                            model.snapshot_index..=model.last_index.max(model.snapshot_index) + 2,
                        );
                        let discard = rng.gen_bool(0.3);
                        let snap = snapshot(index, term);
                        store.save_snapshot(&snap, discard).unwrap();
                        model.exact.save_snapshot(&snap, discard).unwrap();
                        model.uncompacted.save_snapshot(&snap, discard).unwrap();
                        model.snapshot_index = index;
                        if discard {
                            model.last_index = index;
                        }
                    }
                    65..=79 => {
                        let first_index = rng.gen_range(1..=model.last_index + 2);
                        store.compact(first_index).unwrap();
                        model.exact.compact(first_index).unwrap();
                    }
                    80..=89 => {
                        drop(store);
                        store = FileLogStore::open(temp.path(), options.clone()).unwrap();
                    }
                    _ => {}
                }
                model.check(&mut store, &context);
            }
        }
    }

    #[test]
    fn random_operations_match_the_memory_store_across_reopens() {
        check_random_operations_against_the_memory_store(false);
    }

    #[test]
    fn random_operations_on_preallocated_segments_match_the_memory_store() {
        check_random_operations_against_the_memory_store(true);
    }
}
