//! Multi-node Raft on a simulated network: messages are delivered, dropped,
//! reordered or cut by the test, nodes crash and restart on their stores.
//! The checker verifies after every step that all nodes applied the same
//! entries in the same order (each node's state is a prefix of the longest),
//! and at the end that every acknowledged proposal is on every node.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use swarmkit_core::consensus::{
    Applied, MembershipChange, Node, Output, ProposalError, RaftConfig, Role,
};
use swarmkit_core::storage::MemoryLogStore;

type State = Vec<(u64, Vec<u8>)>;

fn encode_state(state: &State) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, d) in state {
        out.extend_from_slice(&i.to_le_bytes());
        out.extend_from_slice(&(d.len() as u32).to_le_bytes());
        out.extend_from_slice(d);
    }
    out
}

fn decode_state(mut b: &[u8]) -> State {
    let mut s = Vec::new();
    while !b.is_empty() {
        let i = u64::from_le_bytes(b[..8].try_into().unwrap());
        let n = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
        s.push((i, b[12..12 + n].to_vec()));
        b = &b[12 + n..];
    }
    s
}

struct Sim {
    rng: StdRng,
    nodes: BTreeMap<u64, Node<MemoryLogStore>>,
    crashed: BTreeMap<u64, MemoryLogStore>,
    /// Application state of each node: applied entries in order.
    state: BTreeMap<u64, State>,
    last_snapshot: BTreeMap<u64, u64>,
    restores: BTreeMap<u64, usize>,
    in_flight: Vec<(u64, u64, bool, Vec<u8>)>,
    /// Directed links that drop everything.
    cut: BTreeSet<(u64, u64)>,
    drop_rate: f64,
    reorder: bool,
    snapshot_interval: u64,
    next_proposal: u64,
    acked: BTreeMap<u64, (u64, Vec<u8>)>,
    acked_membership: BTreeMap<u64, u64>,
    reads: BTreeMap<u64, Result<u64, ProposalError>>,
    failed: BTreeMap<u64, ProposalError>,
    /// Longest applied sequence ever seen, for the prefix check.
    longest: State,
}

fn config(id: u64) -> RaftConfig {
    let mut c = RaftConfig::new(id);
    c.tick_interval = Duration::from_millis(10);
    c.election_ticks = 10;
    c.heartbeat_ticks = 2;
    c.keep_entries_after_snapshot = 5;
    c
}

impl Sim {
    fn new(ids: &[u64], seed: u64) -> Sim {
        let peers: Vec<(u64, String)> = ids.iter().map(|i| (*i, format!("node-{i}"))).collect();
        let mut sim = Sim {
            rng: StdRng::seed_from_u64(seed),
            nodes: BTreeMap::new(),
            crashed: BTreeMap::new(),
            state: BTreeMap::new(),
            last_snapshot: BTreeMap::new(),
            restores: BTreeMap::new(),
            in_flight: Vec::new(),
            cut: BTreeSet::new(),
            drop_rate: 0.0,
            reorder: false,
            snapshot_interval: 1_000_000,
            next_proposal: 1,
            acked: BTreeMap::new(),
            acked_membership: BTreeMap::new(),
            reads: BTreeMap::new(),
            failed: BTreeMap::new(),
            longest: Vec::new(),
        };
        for &id in ids {
            let node = Node::open(config(id), MemoryLogStore::new(), Some(&peers)).unwrap();
            sim.nodes.insert(id, node);
            sim.state.insert(id, Vec::new());
        }
        sim.collect_all();
        sim
    }

    /// Starts a node that is not yet a member (it waits to be added).
    fn add_empty_node(&mut self, id: u64) {
        let node = Node::open(config(id), MemoryLogStore::new(), None).unwrap();
        self.nodes.insert(id, node);
        self.state.insert(id, Vec::new());
    }

    fn crash(&mut self, id: u64) {
        if let Some(node) = self.nodes.remove(&id) {
            self.crashed.insert(id, node.into_store());
            self.in_flight.retain(|(_, to, _, _)| *to != id);
            self.state.insert(id, Vec::new());
        }
    }

    fn restart(&mut self, id: u64) {
        if let Some(store) = self.crashed.remove(&id) {
            let node = Node::open(config(id), store, None).unwrap();
            self.nodes.insert(id, node);
            self.collect(id);
        }
    }

    fn isolate(&mut self, id: u64) {
        let all: Vec<u64> = self.all_ids();
        for other in all {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    fn partition(&mut self, a: &[u64], b: &[u64]) {
        for x in a {
            for y in b {
                self.cut.insert((*x, *y));
                self.cut.insert((*y, *x));
            }
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
    }

    fn all_ids(&self) -> Vec<u64> {
        self.nodes
            .keys()
            .chain(self.crashed.keys())
            .copied()
            .collect()
    }

    fn leader(&self) -> Option<u64> {
        // The leader of the highest term wins: a stale leader may linger in a minority.
        self.nodes
            .values()
            .filter(|n| n.is_leader())
            .max_by_key(|n| n.status().term)
            .map(|n| n.id())
    }

    fn propose_to(&mut self, id: u64, data: Vec<u8>) -> u64 {
        let p = self.next_proposal;
        self.next_proposal += 1;
        if let Some(n) = self.nodes.get_mut(&id) {
            n.propose(vec![(p, data)]);
        }
        self.collect(id);
        p
    }

    fn step_once(&mut self, tick: bool) {
        if tick {
            for n in self.nodes.values_mut() {
                n.tick();
            }
        }
        let mut msgs = std::mem::take(&mut self.in_flight);
        if self.reorder {
            msgs.shuffle(&mut self.rng);
        }
        for (from, to, snapshot, bytes) in msgs {
            let lost = self.cut.contains(&(from, to))
                || (self.drop_rate > 0.0 && self.rng.gen_bool(self.drop_rate))
                || !self.nodes.contains_key(&to);
            if !lost {
                self.nodes.get_mut(&to).unwrap().step_bytes(&bytes);
            }
            // Like the real transport: the sender learns whether a snapshot got through.
            if snapshot {
                if let Some(n) = self.nodes.get_mut(&from) {
                    n.report_snapshot(to, !lost);
                }
            }
        }
        self.collect_all();
    }

    fn collect_all(&mut self) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            self.collect(id);
        }
    }

    fn collect(&mut self, id: u64) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        let mut out = Output::default();
        node.process_ready(|early| out.merge(early)).unwrap();
        out.merge(node.take_output());
        for m in std::mem::take(&mut out.messages) {
            self.in_flight.push((id, m.to, m.snapshot, m.bytes));
        }
        let state = self.state.get_mut(&id).unwrap();
        for a in out.applied {
            match a {
                Applied::Entry { index, data, .. } => {
                    assert!(
                        state.last().is_none_or(|(i, _)| *i < index),
                        "applied out of order"
                    );
                    state.push((index, data));
                }
                Applied::Restore { data, .. } => {
                    *state = decode_state(&data);
                    *self.restores.entry(id).or_default() += 1;
                }
                Applied::Membership { .. } => {}
            }
        }
        self.reads.extend(out.reads);
        for (p, r) in out.proposals {
            match r {
                Ok(index) => {
                    if let Some((_, d)) = state.iter().find(|(i, _)| *i == index) {
                        self.acked.insert(p, (index, d.clone()));
                    } else {
                        // Membership changes are not application entries.
                        self.acked_membership.insert(p, index);
                    }
                }
                Err(e) => {
                    self.failed.insert(p, e);
                }
            }
        }
        // The application snapshots on its own schedule.
        let applied = out.applied_index;
        let last = self.last_snapshot.entry(id).or_insert(0);
        if applied >= *last + self.snapshot_interval || out.snapshot_wanted {
            let data = encode_state(state);
            node.save_snapshot(applied, &data).unwrap();
            *last = applied;
            let out = node.take_output();
            assert!(out.applied.is_empty());
        }
        self.check_prefix(id);
    }

    fn check_prefix(&mut self, id: u64) {
        let state = &self.state[&id];
        let n = state.len().min(self.longest.len());
        assert_eq!(
            &state[..n],
            &self.longest[..n],
            "node {id} applied entries that differ from another node's"
        );
        if state.len() > self.longest.len() {
            self.longest = state.clone();
        }
    }

    fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            self.step_once(true);
        }
    }

    fn run_until(&mut self, steps: usize, mut cond: impl FnMut(&Sim) -> bool) -> bool {
        for _ in 0..steps {
            if cond(self) {
                return true;
            }
            self.step_once(true);
        }
        cond(self)
    }

    /// Waits until there is a leader and every live node knows it.
    fn wait_leader(&mut self) -> u64 {
        let known = |s: &Sim| {
            s.leader()
                .is_some_and(|l| s.nodes.values().all(|n| n.leader_id() == l))
        };
        assert!(self.run_until(3000, known), "no leader elected");
        self.leader().unwrap()
    }

    /// Every acknowledged proposal is applied, at its index, on every live node.
    fn check_acked_everywhere(&self) {
        for (id, state) in &self.state {
            if !self.nodes.contains_key(id) {
                continue;
            }
            let have: BTreeMap<u64, &Vec<u8>> = state.iter().map(|(i, d)| (*i, d)).collect();
            for (p, (index, data)) in &self.acked {
                assert_eq!(
                    have.get(index),
                    Some(&data),
                    "node {id} lacks acknowledged proposal {p} at index {index}"
                );
            }
        }
    }

    fn converge(&mut self) {
        let ok = self.run_until(5000, |s| {
            let target = s.longest.len();
            s.nodes.keys().all(|id| s.state[id].len() == target) && s.leader().is_some()
        });
        if !ok {
            for n in self.nodes.values() {
                eprintln!("{:?} applied={}", n.status(), self.state[&n.id()].len());
            }
            panic!("nodes did not converge (longest {})", self.longest.len());
        }
    }
}

#[test]
fn three_nodes_elect_a_leader_and_apply_the_same_entries() {
    let mut sim = Sim::new(&[1, 2, 3], 1);
    let leader = sim.wait_leader();
    for i in 0..100u32 {
        sim.propose_to(leader, i.to_le_bytes().to_vec());
        sim.step_once(false);
    }
    sim.run(50);
    assert_eq!(sim.acked.len(), 100);
    sim.converge();
    sim.check_acked_everywhere();
    assert!(sim.state.values().all(|s| s.len() == 100));
}

#[test]
fn a_follower_refuses_proposals_and_names_the_leader() {
    let mut sim = Sim::new(&[1, 2, 3], 2);
    let leader = sim.wait_leader();
    let follower = *sim.nodes.keys().find(|&&i| i != leader).unwrap();
    let p = sim.propose_to(follower, b"x".to_vec());
    assert_eq!(sim.failed[&p], ProposalError::NotLeader { leader });
}

#[test]
fn oversized_proposal_is_refused_with_a_clear_error() {
    let mut sim = Sim::new(&[1, 2, 3], 3);
    let leader = sim.wait_leader();
    let p = sim.propose_to(leader, vec![0; 1536 * 1024 + 1]);
    let err = &sim.failed[&p];
    assert!(matches!(err, ProposalError::TooLarge { .. }));
    assert!(err
        .to_string()
        .contains("exceeds the limit of 1572864 bytes"));
}

#[test]
fn isolated_leader_is_replaced_and_its_uncommitted_proposals_fail() {
    let mut sim = Sim::new(&[1, 2, 3], 4);
    let old = sim.wait_leader();
    sim.isolate(old);
    // Proposals to the stranded leader cannot commit.
    let stranded: Vec<u64> = (0..5).map(|i| sim.propose_to(old, vec![b's', i])).collect();
    let new = {
        assert!(sim.run_until(3000, |s| s.leader().is_some_and(|l| l != old)));
        sim.leader().unwrap()
    };
    // check-quorum: the old leader steps down on its own.
    assert!(sim.run_until(3000, |s| !s.nodes[&old].is_leader()));
    for i in 0..10u8 {
        sim.propose_to(new, vec![b'n', i]);
        sim.step_once(false);
    }
    sim.heal();
    sim.converge();
    for p in stranded {
        assert!(
            !sim.acked.contains_key(&p),
            "a stranded proposal was acknowledged"
        );
        assert_eq!(sim.failed.get(&p), Some(&ProposalError::Dropped));
    }
    sim.check_acked_everywhere();
    assert_eq!(sim.acked.len(), 10);
}

#[test]
fn symmetric_partition_minority_cannot_elect_majority_can() {
    let mut sim = Sim::new(&[1, 2, 3, 4, 5], 5);
    sim.wait_leader();
    sim.partition(&[1, 2], &[3, 4, 5]);
    sim.run(500);
    let leaders: Vec<(u64, u64)> = sim
        .nodes
        .values()
        .filter(|n| n.status().role == Role::Leader)
        .map(|n| (n.id(), n.status().term))
        .collect();
    // Only the majority side can hold a leader (check-quorum demotes a minority one).
    assert_eq!(leaders.len(), 1, "leaders: {leaders:?}");
    assert!([3, 4, 5].contains(&leaders[0].0));
    // Pre-vote: the minority did not inflate its terms while cut off.
    let majority_term = leaders[0].1;
    for id in [1, 2] {
        assert!(sim.nodes[&id].status().term <= majority_term);
    }
    sim.heal();
    sim.converge();
}

#[test]
fn random_faults_never_break_agreement() {
    for seed in 0..16u64 {
        let mut sim = Sim::new(&[1, 2, 3, 4, 5], 100 + seed);
        sim.drop_rate = 0.05;
        sim.reorder = true;
        sim.snapshot_interval = 40;
        let ids = [1u64, 2, 3, 4, 5];
        for round in 0..60 {
            let r = sim.rng.gen_range(0..10);
            match r {
                0 => {
                    let id = *ids.choose(&mut sim.rng).unwrap();
                    if sim.crashed.len() < 2 {
                        sim.crash(id);
                    }
                }
                1 => {
                    let down: Vec<u64> = sim.crashed.keys().copied().collect();
                    if let Some(id) = down.choose(&mut sim.rng) {
                        sim.restart(*id);
                    }
                }
                2 => {
                    let mut shuffled = ids.to_vec();
                    shuffled.shuffle(&mut sim.rng);
                    let (a, b) = shuffled.split_at(sim.rng.gen_range(1..3));
                    sim.heal();
                    sim.partition(a, b);
                }
                3 => sim.heal(),
                _ => {}
            }
            let target = sim
                .leader()
                .unwrap_or_else(|| *sim.nodes.keys().next().unwrap());
            for i in 0..5u8 {
                sim.propose_to(target, vec![round as u8, i, seed as u8]);
            }
            sim.run(20);
        }
        sim.heal();
        for id in sim.crashed.keys().copied().collect::<Vec<_>>() {
            sim.restart(id);
        }
        sim.drop_rate = 0.0;
        sim.converge();
        sim.check_acked_everywhere();
        assert!(
            !sim.acked.is_empty(),
            "seed {seed}: nothing was acknowledged"
        );
    }
}

#[test]
fn membership_add_learner_promote_and_remove() {
    let mut sim = Sim::new(&[1, 2, 3], 6);
    let leader = sim.wait_leader();
    for i in 0..20u8 {
        sim.propose_to(leader, vec![i]);
    }
    sim.run(20);
    sim.add_empty_node(4);
    let p = sim.next_proposal;
    sim.next_proposal += 1;
    let change = MembershipChange::AddLearner {
        id: 4,
        address: "node-4".into(),
    };
    sim.nodes
        .get_mut(&leader)
        .unwrap()
        .propose_membership(p, change);
    sim.run(200);
    assert!(
        sim.acked_membership.contains_key(&p),
        "learner add not acknowledged: {:?}",
        sim.failed.get(&p)
    );
    let m = sim.nodes[&leader].membership().clone();
    assert!(m.members[&4].learner);
    assert_eq!(m.members[&4].address, "node-4");
    // The learner catches up with the log.
    sim.converge();
    assert_eq!(sim.state[&4].len(), 20);

    let p = sim.next_proposal;
    sim.next_proposal += 1;
    let leader = sim.leader().unwrap();
    sim.nodes
        .get_mut(&leader)
        .unwrap()
        .propose_membership(p, MembershipChange::PromoteLearner { id: 4 });
    sim.run(100);
    assert!(sim.acked_membership.contains_key(&p));
    assert!(!sim.nodes[&4].membership().members[&4].learner);

    // Remove a follower; its ID can never come back.
    let leader = sim.leader().unwrap();
    let victim = [1u64, 2, 3].into_iter().find(|i| *i != leader).unwrap();
    let p = sim.next_proposal;
    sim.next_proposal += 1;
    sim.nodes
        .get_mut(&leader)
        .unwrap()
        .propose_membership(p, MembershipChange::Remove { id: victim });
    sim.run(100);
    assert!(sim.acked_membership.contains_key(&p));
    assert!(sim.nodes[&leader].membership().removed.contains(&victim));
    let p = sim.next_proposal;
    sim.next_proposal += 1;
    let change = MembershipChange::AddVoter {
        id: victim,
        address: "again".into(),
    };
    sim.nodes
        .get_mut(&leader)
        .unwrap()
        .propose_membership(p, change);
    sim.collect(leader);
    match &sim.failed[&p] {
        ProposalError::Rejected(reason) => assert!(reason.contains("never be used again")),
        other => panic!("unexpected {other:?}"),
    }
    // The group (now 1 removed, 3 voters) still commits.
    sim.crash(victim);
    let leader = sim.wait_leader();
    let before = sim.acked.len();
    sim.propose_to(leader, b"after".to_vec());
    sim.run(50);
    assert_eq!(sim.acked.len(), before + 1);
}

#[test]
fn a_lagging_follower_catches_up_from_a_snapshot() {
    let mut sim = Sim::new(&[1, 2, 3], 7);
    sim.snapshot_interval = 50;
    let leader = sim.wait_leader();
    let lagger = *sim.nodes.keys().find(|&&i| i != leader).unwrap();
    sim.isolate(lagger);
    for i in 0..300u32 {
        sim.propose_to(leader, i.to_le_bytes().to_vec());
        if i % 10 == 0 {
            sim.step_once(false);
        }
    }
    sim.run(100);
    let st = sim.nodes[&leader].status();
    assert!(
        st.first_index > 2,
        "the leader compacted its log (first index {})",
        st.first_index
    );
    assert!(st.snapshot_index >= 250);
    sim.heal();
    sim.converge();
    assert!(
        sim.restores.get(&lagger).copied().unwrap_or(0) >= 1,
        "no snapshot was installed"
    );
    sim.check_acked_everywhere();
    assert_eq!(sim.state[&lagger].len(), 300);
}

#[test]
fn a_crashed_node_restarts_from_snapshot_and_log() {
    let mut sim = Sim::new(&[1, 2, 3], 8);
    sim.snapshot_interval = 30;
    let leader = sim.wait_leader();
    for i in 0..100u32 {
        sim.propose_to(leader, i.to_le_bytes().to_vec());
        sim.step_once(false);
    }
    sim.run(20);
    let victim = *sim.nodes.keys().find(|&&i| i != leader).unwrap();
    sim.crash(victim);
    sim.restart(victim);
    // The restarted node replays its snapshot and log before hearing from anyone.
    assert!(
        sim.state[&victim].len() >= 90,
        "replayed {}",
        sim.state[&victim].len()
    );
    sim.converge();
    sim.check_acked_everywhere();
}

#[test]
fn leadership_transfer_and_read_index() {
    let mut sim = Sim::new(&[1, 2, 3], 9);
    let leader = sim.wait_leader();
    sim.propose_to(leader, b"a".to_vec());
    sim.run(10);
    let target = *sim.nodes.keys().find(|&&i| i != leader).unwrap();
    sim.nodes.get_mut(&leader).unwrap().transfer_leader(target);
    sim.collect(leader);
    assert!(
        sim.run_until(500, |s| s.leader() == Some(target)),
        "leadership did not move"
    );
    assert_eq!(sim.wait_leader(), target);
    // A read on a follower returns an index at least the commit of the write.
    let follower = leader;
    sim.nodes.get_mut(&follower).unwrap().read_index(42);
    assert!(
        sim.run_until(200, |s| s.reads.contains_key(&42)),
        "read not answered"
    );
    let index = sim.reads[&42].clone().expect("read succeeded");
    assert!(index >= 2);
}

#[test]
fn force_new_cluster_on_a_survivor_keeps_every_committed_entry() {
    let mut sim = Sim::new(&[1, 2, 3], 10);
    let leader = sim.wait_leader();
    for i in 0..50u32 {
        sim.propose_to(leader, i.to_le_bytes().to_vec());
        sim.step_once(false);
    }
    sim.run(30);
    let survivor = *sim.nodes.keys().find(|&&i| i != leader).unwrap();
    for id in [1u64, 2, 3] {
        if id != survivor {
            sim.crash(id);
        }
    }
    // Quorum is lost: nothing commits.
    sim.run(300);
    assert!(sim.leader().is_none());
    let data = encode_state(&sim.state[&survivor]);
    let node = sim.nodes.get_mut(&survivor).unwrap();
    node.force_new_cluster(&data).expect("forced a new cluster");
    sim.collect(survivor);
    assert!(sim.run_until(200, |s| s.leader() == Some(survivor)));
    let m = sim.nodes[&survivor].membership().clone();
    assert_eq!(
        m.members.keys().copied().collect::<Vec<_>>(),
        vec![survivor]
    );
    assert_eq!(m.removed.len(), 2);
    let before = sim.acked.len();
    sim.propose_to(survivor, b"after recovery".to_vec());
    sim.run(10);
    assert_eq!(sim.acked.len(), before + 1);
    sim.check_acked_everywhere();
    // It survives a restart as a one-node group, and can grow again.
    sim.crash(survivor);
    sim.restart(survivor);
    let leader = sim.wait_leader();
    assert_eq!(leader, survivor);
    assert_eq!(sim.state[&survivor].len(), 51);
    sim.add_empty_node(9);
    let p = sim.next_proposal;
    sim.next_proposal += 1;
    let change = MembershipChange::AddVoter {
        id: 9,
        address: "node-9".into(),
    };
    sim.nodes
        .get_mut(&survivor)
        .unwrap()
        .propose_membership(p, change);
    sim.run(200);
    assert!(sim.acked_membership.contains_key(&p));
    sim.converge();
    assert_eq!(sim.state[&9].len(), 51);
}
