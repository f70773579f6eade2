//! The candidates of one group, ordered by the ranking key
//! `(c1, v1, c2, v2, ..., rank key)`.
//!
//! A tree with one level of branches per placement preference: the branches under a
//! parent are the distinct values `v` of that level's attribute among its nodes, in a
//! heap keyed `(c, v)` where `c` counts the service's tasks in the branch. Leaves
//! hold their nodes in a heap keyed by [`RankKey`]. Without preferences the tree is a
//! single leaf. The best node is found by descending through the heap tops; a
//! placement raises `c` along that path and the node's key, so only the tops change.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::cluster::RankKey;

#[derive(Default)]
struct Branch {
    /// (tasks of the service, rank of the value among its siblings, branch index).
    children: BinaryHeap<Reverse<(u64, u32, usize)>>,
    /// Leaves only: the candidate nodes.
    nodes: BinaryHeap<Reverse<RankKey>>,
}

pub(crate) struct Tree {
    branches: Vec<Branch>,
    depth: usize,
}

impl Tree {
    /// `candidates` pass the static filters; `levels[l][i]` is node `i`'s interned value
    /// at preference level `l`; `text` gives the string of an interned value.
    pub(crate) fn build<'s>(
        candidates: &[usize],
        levels: &[&[u32]],
        service_tasks: impl Fn(usize) -> u64,
        rank_key: impl Fn(usize) -> RankKey,
        text: impl Fn(u32) -> &'s str,
    ) -> Tree {
        let mut branches = vec![Branch::default()];
        let mut counts: Vec<u64> = vec![0];
        // Children of each branch as (value, child), and the lookup that builds them.
        let mut children: Vec<Vec<(u32, usize)>> = vec![Vec::new()];
        let mut child_of: HashMap<(usize, u32), usize> = HashMap::new();
        let mut leaf_nodes: Vec<Vec<Reverse<RankKey>>> = vec![Vec::new()];
        for &i in candidates {
            let tasks = service_tasks(i);
            let mut at = 0;
            for level in levels {
                let value = level[i];
                at = *child_of.entry((at, value)).or_insert_with(|| {
                    let child = branches.len();
                    branches.push(Branch::default());
                    counts.push(0);
                    children.push(Vec::new());
                    leaf_nodes.push(Vec::new());
                    children[at].push((value, child));
                    child
                });
                counts[at] = counts[at].saturating_add(tasks);
            }
            leaf_nodes[at].push(Reverse(rank_key(i)));
        }
        for (b, mut kids) in children.into_iter().enumerate() {
            kids.sort_by(|x, y| text(x.0).cmp(text(y.0)));
            let entries: Vec<_> = kids
                .iter()
                .enumerate()
                .map(|(rank, &(_, child))| {
                    let rank = u32::try_from(rank).expect("fewer than 2^32 values");
                    Reverse((counts[child], rank, child))
                })
                .collect();
            branches[b].children = BinaryHeap::from(entries);
        }
        for (b, nodes) in leaf_nodes.into_iter().enumerate() {
            branches[b].nodes = BinaryHeap::from(nodes);
        }
        Tree {
            branches,
            depth: levels.len(),
        }
    }

    /// The best candidate that `fits`; candidates that do not are dropped for good.
    /// Leaves the path to it at the top of every heap, for [`Tree::placed`].
    pub(crate) fn select(&mut self, fits: impl Fn(usize) -> bool) -> Option<usize> {
        self.select_in(0, 0, &fits)
    }

    fn select_in(
        &mut self,
        b: usize,
        level: usize,
        fits: &impl Fn(usize) -> bool,
    ) -> Option<usize> {
        if level == self.depth {
            let nodes = &mut self.branches[b].nodes;
            while let Some(&Reverse(key)) = nodes.peek() {
                if fits(key.position) {
                    return Some(key.position);
                }
                nodes.pop();
            }
            return None;
        }
        while let Some(&Reverse((_, _, child))) = self.branches[b].children.peek() {
            if let Some(i) = self.select_in(child, level + 1, fits) {
                return Some(i);
            }
            // Nothing in that branch fits any more.
            self.branches[b].children.pop();
        }
        None
    }

    /// Records a placement on the node [`Tree::select`] returned, whose key is now `key`.
    pub(crate) fn placed(&mut self, key: RankKey) {
        let mut b = 0;
        for _ in 0..self.depth {
            let mut top = self.branches[b].children.peek_mut().expect("selected path");
            top.0 .0 = top.0 .0.saturating_add(1);
            b = top.0 .2;
        }
        let mut top = self.branches[b].nodes.peek_mut().expect("selected node");
        debug_assert_eq!(top.0.position, key.position);
        *top = Reverse(key);
    }
}
