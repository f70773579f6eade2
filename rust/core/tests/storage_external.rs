//! `ExternalLogStore` over an in-memory `RecordBackend`: what is written comes
//! back, what a backend returns is checked before a node trusts it, backend
//! failures surface with their text, a Raft group runs on such stores across
//! a full restart, and a driver whose backend is stuck still answers `status`.
//!
//! The tests live in a module named `storage` so that `cargo test storage`
//! selects them along with the unit tests.

mod storage {
    use std::collections::BTreeMap;
    use std::sync::mpsc;
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::{Duration, Instant};

    use protobuf::Message;
    use swarmkit_core::consensus::{Applied, Driver, Input, Node, RaftConfig, Role};
    use swarmkit_core::storage::{
        Entry, ExternalLogStore, HardState, HardStateRecord, LogRecord, LogStore, RecordBackend,
        RecoveredRecords, Snapshot, SnapshotRecord, StorageError,
    };

    /// What the backend holds, shared so that a reopened store sees it.
    #[derive(Debug, Default)]
    struct Records {
        hard_state: Option<HardStateRecord>,
        snapshot: Option<SnapshotRecord>,
        entries: Vec<LogRecord>,
        /// The next call fails with this message.
        fail_next: Option<String>,
    }

    #[derive(Debug, Clone, Default)]
    struct MemoryBackend(Arc<Mutex<Records>>);

    impl MemoryBackend {
        fn records(&self) -> std::sync::MutexGuard<'_, Records> {
            self.0.lock().unwrap()
        }

        fn take_failure(&self) -> Result<(), String> {
            self.records().fail_next.take().map_or(Ok(()), Err)
        }
    }

    impl RecordBackend for MemoryBackend {
        fn recover(&mut self) -> Result<RecoveredRecords, String> {
            self.take_failure()?;
            let r = self.records();
            Ok(RecoveredRecords {
                hard_state: r.hard_state,
                snapshot: r.snapshot.clone(),
                entries: r.entries.clone(),
            })
        }

        fn append(
            &mut self,
            entries: &[LogRecord],
            hard_state: Option<HardStateRecord>,
        ) -> Result<(), String> {
            self.take_failure()?;
            let mut r = self.records();
            if let Some(first) = entries.first() {
                r.entries.retain(|e| e.index < first.index);
                r.entries.extend_from_slice(entries);
            }
            if hard_state.is_some() {
                r.hard_state = hard_state;
            }
            Ok(())
        }

        fn save_snapshot(
            &mut self,
            snapshot: &SnapshotRecord,
            discard_log: bool,
        ) -> Result<(), String> {
            self.take_failure()?;
            let mut r = self.records();
            if discard_log {
                r.entries.clear();
            }
            r.snapshot = Some(snapshot.clone());
            Ok(())
        }

        fn compact(&mut self, first_index: u64) -> Result<(), String> {
            self.take_failure()?;
            self.records().entries.retain(|e| e.index >= first_index);
            Ok(())
        }
    }

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

    fn record(index: u64, term: u64) -> LogRecord {
        LogRecord {
            index,
            term,
            data: entry(index, term).write_to_bytes().unwrap(),
        }
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

    /// A new store on the same records: what a restarted node sees.
    fn reopen(backend: &MemoryBackend) -> ExternalLogStore<MemoryBackend> {
        ExternalLogStore::new(backend.clone())
    }

    /// What `recover` says about records put straight into the backend.
    fn recover_error(records: Records) -> String {
        let backend = MemoryBackend(Arc::new(Mutex::new(records)));
        match reopen(&backend).recover() {
            Err(e @ StorageError::InvalidRecords { .. }) => e.to_string(),
            other => panic!("expected InvalidRecords, got {other:?}"),
        }
    }

    #[test]
    fn entries_hard_state_and_snapshot_survive_reopen() {
        let backend = MemoryBackend::default();
        let mut store = reopen(&backend);
        store
            .append(&entries(1..=5, 1), Some(&hard_state(1, 2, 4)))
            .unwrap();
        store.save_snapshot(&snapshot(3, 1), false).unwrap();

        let recovered = reopen(&backend).recover().unwrap();
        assert_eq!(recovered.hard_state, hard_state(1, 2, 4));
        assert_eq!(recovered.snapshot, Some(snapshot(3, 1)));
        assert_eq!(recovered.entries, entries(4..=5, 1));
    }

    #[test]
    fn an_append_at_a_stored_index_replaces_the_tail() {
        let backend = MemoryBackend::default();
        let mut store = reopen(&backend);
        store.append(&entries(1..=5, 1), None).unwrap();
        store
            .append(&entries(3..=4, 2), Some(&hard_state(2, 1, 2)))
            .unwrap();

        let recovered = reopen(&backend).recover().unwrap();
        assert_eq!(ids(&recovered.entries), [(1, 1), (2, 1), (3, 2), (4, 2)]);
        assert_eq!(recovered.hard_state, hard_state(2, 1, 2));
    }

    #[test]
    fn a_snapshot_from_the_leader_discards_the_log() {
        let backend = MemoryBackend::default();
        let mut store = reopen(&backend);
        store.append(&entries(1..=10, 1), None).unwrap();
        store.save_snapshot(&snapshot(7, 2), true).unwrap();
        assert!(reopen(&backend).recover().unwrap().entries.is_empty());

        store.append(&entries(8..=9, 2), None).unwrap();
        let recovered = reopen(&backend).recover().unwrap();
        assert_eq!(recovered.snapshot, Some(snapshot(7, 2)));
        assert_eq!(ids(&recovered.entries), [(8, 2), (9, 2)]);
    }

    #[test]
    fn compaction_drops_records_the_snapshot_covers() {
        let backend = MemoryBackend::default();
        let mut store = reopen(&backend);
        store.append(&entries(1..=10, 1), None).unwrap();
        store.save_snapshot(&snapshot(8, 1), false).unwrap();
        store.compact(6).unwrap();

        let stored: Vec<u64> = backend.records().entries.iter().map(|e| e.index).collect();
        assert_eq!(stored, (6..=10).collect::<Vec<_>>());
        assert_eq!(
            ids(&reopen(&backend).recover().unwrap().entries),
            [(9, 1), (10, 1)]
        );
    }

    #[test]
    fn records_the_snapshot_covers_are_not_checked_for_content() {
        let mut covered = record(2, 1);
        covered.data = b"\xff\xff".to_vec();
        let backend = MemoryBackend(Arc::new(Mutex::new(Records {
            snapshot: Some(SnapshotRecord {
                index: 2,
                term: 1,
                data: snapshot(2, 1).write_to_bytes().unwrap(),
            }),
            entries: vec![record(1, 1), covered, record(3, 1)],
            ..Records::default()
        })));
        let recovered = reopen(&backend).recover().unwrap();
        assert_eq!(ids(&recovered.entries), [(3, 1)]);
    }

    #[test]
    fn recover_rejects_records_that_are_not_contiguous() {
        let message = recover_error(Records {
            entries: vec![record(1, 1), record(2, 1), record(4, 1)],
            ..Records::default()
        });
        assert!(
            message.contains("log records are not contiguous: 4 follows 2"),
            "{message}"
        );
    }

    #[test]
    fn recover_rejects_a_record_holding_another_entry() {
        let mut wrong = record(2, 1);
        wrong.data = entry(3, 1).write_to_bytes().unwrap();
        let message = recover_error(Records {
            entries: vec![record(1, 1), wrong],
            ..Records::default()
        });
        assert!(
            message.contains("entry record 2 of term 1 holds entry 3 of term 1"),
            "{message}"
        );

        let mut wrong_term = record(2, 3);
        wrong_term.data = entry(2, 1).write_to_bytes().unwrap();
        let message = recover_error(Records {
            entries: vec![record(1, 1), wrong_term],
            ..Records::default()
        });
        assert!(
            message.contains("entry record 2 of term 3 holds entry 2 of term 1"),
            "{message}"
        );
    }

    #[test]
    fn recover_rejects_bytes_that_do_not_decode() {
        let mut garbage = record(2, 1);
        garbage.data = b"\xff\xff\xff".to_vec();
        let message = recover_error(Records {
            entries: vec![record(1, 1), garbage],
            ..Records::default()
        });
        assert!(
            message.contains("entry record 2 does not decode"),
            "{message}"
        );
        assert!(
            message.contains("Restore the backend's data from a backup"),
            "{message}"
        );

        let message = recover_error(Records {
            snapshot: Some(SnapshotRecord {
                index: 5,
                term: 1,
                data: b"\xff\xff\xff".to_vec(),
            }),
            ..Records::default()
        });
        assert!(
            message.contains("snapshot record at index 5 does not decode"),
            "{message}"
        );
    }

    #[test]
    fn recover_rejects_a_snapshot_record_holding_another_snapshot() {
        let message = recover_error(Records {
            snapshot: Some(SnapshotRecord {
                index: 5,
                term: 1,
                data: snapshot(6, 2).write_to_bytes().unwrap(),
            }),
            ..Records::default()
        });
        assert!(
            message.contains(
                "snapshot record at index 5 of term 1 holds a snapshot at index 6 of term 2"
            ),
            "{message}"
        );
    }

    #[test]
    fn recover_rejects_entries_missing_after_the_snapshot() {
        let message = recover_error(Records {
            snapshot: Some(SnapshotRecord {
                index: 3,
                term: 1,
                data: snapshot(3, 1).write_to_bytes().unwrap(),
            }),
            entries: vec![record(6, 1), record(7, 1)],
            ..Records::default()
        });
        assert!(
            message.contains(
                "log records start at 6 but the snapshot ends at 3: entries 4 to 5 are missing"
            ),
            "{message}"
        );

        let message = recover_error(Records {
            entries: vec![record(2, 1)],
            ..Records::default()
        });
        assert!(
            message.contains("log records start at 2 with no snapshot before them"),
            "{message}"
        );
    }

    #[test]
    fn a_backend_error_surfaces_with_its_text_and_stops_further_writes() {
        let backend = MemoryBackend::default();
        let mut store = reopen(&backend);
        store.append(&entries(1..=2, 1), None).unwrap();
        backend.records().fail_next = Some("OperationalError: MySQL server has gone away".into());

        let err = store
            .append(&entries(3..=4, 1), Some(&hard_state(1, 1, 2)))
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StorageError::Backend { .. }), "{err:?}");
        assert!(
            message.contains("failed to store entries 3 to 4 and the hard state"),
            "{message}"
        );
        assert!(
            message.contains("OperationalError: MySQL server has gone away"),
            "{message}"
        );

        // What the failed call left is unknown: nothing more is written.
        let err = store.compact(2).unwrap_err();
        assert!(matches!(err, StorageError::BackendFailed { .. }), "{err:?}");
        assert!(err.to_string().contains("MySQL server has gone away"));
        assert_eq!(backend.records().entries.len(), 2);

        backend.records().fail_next = Some("ConnectionRefusedError: [Errno 111]".into());
        let err = reopen(&backend).recover().unwrap_err();
        assert!(
            err.to_string()
                .contains("failed to load the raft log: ConnectionRefusedError: [Errno 111]"),
            "{err}"
        );
    }

    // -- a Raft group on external stores ----------------------------------

    type ExternalNode = Node<ExternalLogStore<MemoryBackend>>;

    fn config(id: u64) -> RaftConfig {
        let mut c = RaftConfig::new(id);
        c.tick_interval = Duration::from_millis(10);
        c.keep_entries_after_snapshot = 2;
        c
    }

    /// Three nodes delivering messages to each other synchronously; each
    /// node's state is the data of the entries it applied.
    struct Group {
        nodes: BTreeMap<u64, ExternalNode>,
        state: BTreeMap<u64, Vec<Vec<u8>>>,
        in_flight: Vec<(u64, Vec<u8>)>,
        last_snapshot: BTreeMap<u64, u64>,
        snapshot_every: u64,
    }

    impl Group {
        fn open(backends: &BTreeMap<u64, MemoryBackend>, bootstrap: bool) -> Group {
            let peers: Vec<(u64, String)> =
                backends.keys().map(|i| (*i, format!("node-{i}"))).collect();
            let nodes = backends
                .iter()
                .map(|(id, b)| {
                    let store = ExternalLogStore::new(b.clone());
                    let peers = bootstrap.then_some(&peers[..]);
                    (*id, Node::open(config(*id), store, peers).unwrap())
                })
                .collect();
            let state = backends.keys().map(|id| (*id, Vec::new())).collect();
            Group {
                nodes,
                state,
                in_flight: Vec::new(),
                last_snapshot: BTreeMap::new(),
                snapshot_every: 8,
            }
        }

        /// Runs every node until no message is left in flight.
        fn settle(&mut self) {
            for _ in 0..1000 {
                let ids: Vec<u64> = self.nodes.keys().copied().collect();
                for id in ids {
                    self.collect(id);
                }
                if self.in_flight.is_empty() {
                    return;
                }
                for (to, bytes) in std::mem::take(&mut self.in_flight) {
                    self.nodes.get_mut(&to).unwrap().step_bytes(&bytes);
                }
            }
            panic!("the group did not settle");
        }

        fn collect(&mut self, id: u64) {
            let node = self.nodes.get_mut(&id).unwrap();
            let mut outputs = Vec::new();
            node.process_ready(|o| outputs.push(o)).unwrap();
            outputs.push(node.take_output());
            for out in outputs {
                assert!(out.fatal.is_none());
                self.in_flight
                    .extend(out.messages.into_iter().map(|m| (m.to, m.bytes)));
                let state = self.state.get_mut(&id).unwrap();
                for applied in out.applied {
                    match applied {
                        Applied::Entry { data, .. } => state.push(data),
                        Applied::Restore { data, .. } => {
                            *state = data
                                .split(|b| *b == b'\n')
                                .filter(|d| !d.is_empty())
                                .map(<[u8]>::to_vec)
                                .collect()
                        }
                        Applied::Membership { .. } => {}
                    }
                }
                let applied = out.applied_index;
                let last = self.last_snapshot.entry(id).or_insert(applied);
                if applied >= *last + self.snapshot_every {
                    *last = applied;
                    let data = self.state[&id].join(&b'\n');
                    self.nodes
                        .get_mut(&id)
                        .unwrap()
                        .save_snapshot(applied, &data)
                        .unwrap();
                }
            }
        }

        fn leader(&self) -> u64 {
            let leaders: Vec<u64> = self
                .nodes
                .values()
                .filter(|n| n.status().role == Role::Leader)
                .map(|n| n.id())
                .collect();
            assert_eq!(leaders.len(), 1, "leaders: {leaders:?}");
            leaders[0]
        }
    }

    #[test]
    fn a_group_on_external_stores_commits_and_recovers_after_a_full_restart() {
        let backends: BTreeMap<u64, MemoryBackend> =
            (1..=3).map(|i| (i, MemoryBackend::default())).collect();
        let mut group = Group::open(&backends, true);
        group.nodes.get_mut(&1).unwrap().campaign();
        group.settle();
        let leader = group.leader();
        let proposed: Vec<Vec<u8>> = (0..20).map(|i| format!("item-{i}").into_bytes()).collect();
        for (p, data) in proposed.iter().enumerate() {
            group
                .nodes
                .get_mut(&leader)
                .unwrap()
                .propose(vec![(p as u64 + 1, data.clone())]);
            group.settle();
        }
        for (id, state) in &group.state {
            assert_eq!(state, &proposed, "node {id}");
        }
        for (id, backend) in &backends {
            let r = backend.records();
            let snapshot = r.snapshot.as_ref().expect("a snapshot was saved");
            assert!(
                snapshot.index >= 16,
                "node {id}: snapshot at {}",
                snapshot.index
            );
            assert!(
                r.entries.first().unwrap().index > 2,
                "node {id}: the log was not compacted"
            );
        }

        drop(group);
        let mut group = Group::open(&backends, false);
        group.nodes.get_mut(&2).unwrap().campaign();
        group.settle();
        group.leader();
        for (id, state) in &group.state {
            assert_eq!(state, &proposed, "node {id} after the restart");
        }
    }

    // -- the driver while its backend is stuck ----------------------------

    /// A backend whose appends wait while the gate is closed, like one
    /// retrying against a database that is down.
    #[derive(Clone, Default)]
    struct StuckBackend {
        inner: MemoryBackend,
        /// (closed, appends waiting) and its condition variable.
        gate: Arc<(Mutex<(bool, usize)>, Condvar)>,
    }

    impl StuckBackend {
        fn set_closed(&self, closed: bool) {
            self.gate.0.lock().unwrap().0 = closed;
            self.gate.1.notify_all();
        }

        fn wait_for_a_stuck_append(&self) {
            let (lock, cvar) = &*self.gate;
            let guard = lock.lock().unwrap();
            let (_guard, timeout) = cvar
                .wait_timeout_while(guard, Duration::from_secs(10), |(_, waiting)| *waiting == 0)
                .unwrap();
            assert!(!timeout.timed_out(), "no append got stuck");
        }
    }

    impl RecordBackend for StuckBackend {
        fn recover(&mut self) -> Result<RecoveredRecords, String> {
            self.inner.recover()
        }

        fn append(
            &mut self,
            entries: &[LogRecord],
            hard_state: Option<HardStateRecord>,
        ) -> Result<(), String> {
            let (lock, cvar) = &*self.gate;
            let mut guard = lock.lock().unwrap();
            guard.1 += 1;
            cvar.notify_all();
            let mut guard = cvar.wait_while(guard, |(closed, _)| *closed).unwrap();
            guard.1 -= 1;
            drop(guard);
            self.inner.append(entries, hard_state)
        }

        fn save_snapshot(
            &mut self,
            snapshot: &SnapshotRecord,
            discard_log: bool,
        ) -> Result<(), String> {
            self.inner.save_snapshot(snapshot, discard_log)
        }

        fn compact(&mut self, first_index: u64) -> Result<(), String> {
            self.inner.compact(first_index)
        }
    }

    #[test]
    fn status_answers_while_the_backend_is_stuck() {
        let backend = StuckBackend::default();
        let driver = Arc::new(
            Driver::start_external_node(config(1), backend.clone(), Some(&[(1, "n1".into())]))
                .unwrap(),
        );
        assert_eq!(driver.status().unwrap().id, 1);
        backend.set_closed(true);
        driver.send(Input::Campaign).unwrap();
        backend.wait_for_a_stuck_append();

        let (tx, rx) = mpsc::channel();
        let asker = driver.clone();
        std::thread::spawn(move || tx.send(asker.status()).unwrap());
        let status = rx
            .recv_timeout(Duration::from_secs(2))
            .expect("status() waited for the stuck node thread")
            .unwrap();
        assert_eq!(status.id, 1);

        backend.set_closed(false);
        let deadline = Instant::now() + Duration::from_secs(10);
        while driver.status().unwrap().role != Role::Leader {
            assert!(Instant::now() < deadline, "the node never became leader");
            std::thread::sleep(Duration::from_millis(5));
        }
        driver.stop();
        assert!(driver.status().is_err(), "a stopped node has no status");
    }

    #[test]
    fn a_failing_backend_stops_the_driver_with_its_message() {
        let backend = MemoryBackend::default();
        let driver =
            Driver::start_external_node(config(1), backend.clone(), Some(&[(1, "n1".into())]))
                .unwrap();
        backend.records().fail_next = Some("OperationalError: disk quota exceeded".into());
        driver.send(Input::Campaign).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let fatal = loop {
            if let Some(fatal) = driver.take_output().fatal {
                break fatal;
            }
            assert!(Instant::now() < deadline, "the node did not fail");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(
            fatal.contains("OperationalError: disk quota exceeded"),
            "{fatal}"
        );
        driver.stop();
    }
}
