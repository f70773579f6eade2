//! Who is in the Raft group, at which address, and who was removed for good.
//!
//! The membership travels inside the log (the address is the conf change's
//! context) and inside snapshots (the [`SnapshotEnvelope`] wraps the
//! application's snapshot data with it), so every node derives the same view.

use std::collections::{BTreeMap, BTreeSet};

use raft::eraftpb::{ConfChange, ConfChangeType, ConfState};

/// One member of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// Where its Raft transport listens, `host:port`.
    pub address: String,
    /// A learner receives the log but does not vote.
    pub learner: bool,
}

/// The group's membership as of some log index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Membership {
    pub members: BTreeMap<u64, Member>,
    /// IDs removed from the group; they can never be used again.
    pub removed: BTreeSet<u64>,
}

impl Membership {
    pub fn bootstrap(peers: &[(u64, String)]) -> Self {
        let members = peers
            .iter()
            .map(|(id, address)| {
                let member = Member {
                    id: *id,
                    address: address.clone(),
                    learner: false,
                };
                (*id, member)
            })
            .collect();
        Membership {
            members,
            removed: BTreeSet::new(),
        }
    }

    pub fn conf_state(&self) -> ConfState {
        let mut cs = ConfState::default();
        for m in self.members.values() {
            if m.learner {
                cs.learners.push(m.id);
            } else {
                cs.voters.push(m.id);
            }
        }
        cs
    }

    /// Applies a committed conf change (already accepted by raft-rs).
    pub fn apply(&mut self, cc: &ConfChange) {
        let address = String::from_utf8_lossy(&cc.context).into_owned();
        match cc.get_change_type() {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                let learner = cc.get_change_type() == ConfChangeType::AddLearnerNode;
                let entry = self.members.entry(cc.node_id).or_insert_with(|| Member {
                    id: cc.node_id,
                    address: String::new(),
                    learner,
                });
                entry.learner = learner;
                if !address.is_empty() {
                    entry.address = address;
                }
            }
            ConfChangeType::RemoveNode => {
                self.members.remove(&cc.node_id);
                self.removed.insert(cc.node_id);
            }
        }
    }

    /// Why `cc` may not be proposed, if it may not.
    pub fn check(&self, cc: &ConfChange) -> Result<(), String> {
        let id = cc.node_id;
        if id == 0 {
            return Err("raft ID 0 is reserved".into());
        }
        if self.removed.contains(&id) {
            return Err(format!(
                "raft ID {id} was removed from the group and can never be used again"
            ));
        }
        let current = self.members.get(&id);
        match cc.get_change_type() {
            ConfChangeType::AddNode => match current {
                Some(m) if !m.learner => Err(format!("node {id} is already a voter")),
                _ => Ok(()),
            },
            ConfChangeType::AddLearnerNode => match current {
                Some(m) if m.learner => Err(format!("node {id} is already a learner")),
                Some(_) => Err(format!(
                    "node {id} is a voter; remove it to make it a learner"
                )),
                None => Ok(()),
            },
            ConfChangeType::RemoveNode => match current {
                None => Err(format!("node {id} is not a member")),
                Some(m) if !m.learner && self.voters() == 1 => {
                    Err(format!("node {id} is the last voter and cannot be removed"))
                }
                Some(_) => Ok(()),
            },
        }
    }

    pub fn voters(&self) -> usize {
        self.members.values().filter(|m| !m.learner).count()
    }
}

/// Snapshot data as stored and sent: the membership, then the application's bytes.
pub struct SnapshotEnvelope;

const ENVELOPE_MAGIC: &[u8; 8] = b"SKSNAP01";

impl SnapshotEnvelope {
    pub fn encode(membership: &Membership, app_data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + app_data.len());
        out.extend_from_slice(ENVELOPE_MAGIC);
        out.extend_from_slice(&(membership.members.len() as u32).to_le_bytes());
        for m in membership.members.values() {
            out.extend_from_slice(&m.id.to_le_bytes());
            out.push(u8::from(m.learner));
            out.extend_from_slice(&(m.address.len() as u32).to_le_bytes());
            out.extend_from_slice(m.address.as_bytes());
        }
        out.extend_from_slice(&(membership.removed.len() as u32).to_le_bytes());
        for id in &membership.removed {
            out.extend_from_slice(&id.to_le_bytes());
        }
        out.extend_from_slice(app_data);
        out
    }

    /// Splits snapshot data into membership and application bytes.
    pub fn decode(data: &[u8]) -> Result<(Membership, &[u8]), String> {
        let mut r = Reader { data, pos: 0 };
        if r.take(8)? != ENVELOPE_MAGIC {
            return Err("snapshot data does not start with the swarmkit envelope".into());
        }
        let mut membership = Membership::default();
        for _ in 0..r.u32()? {
            let id = r.u64()?;
            let learner = r.take(1)?[0] != 0;
            let len = r.u32()? as usize;
            let address = String::from_utf8(r.take(len)?.to_vec())
                .map_err(|_| "member address is not UTF-8".to_string())?;
            membership.members.insert(
                id,
                Member {
                    id,
                    address,
                    learner,
                },
            );
        }
        for _ in 0..r.u32()? {
            membership.removed.insert(r.u64()?);
        }
        Ok((membership, &data[r.pos..]))
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| "snapshot envelope is truncated".to_string())?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_membership_and_data() {
        let mut m = Membership::bootstrap(&[(1, "a:1".into()), (2, "b:2".into())]);
        m.removed.insert(7);
        let bytes = SnapshotEnvelope::encode(&m, b"app");
        let (back, data) = SnapshotEnvelope::decode(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(data, b"app");
    }

    #[test]
    fn truncated_envelope_is_an_error_not_a_panic() {
        let m = Membership::bootstrap(&[(1, "a:1".into())]);
        let bytes = SnapshotEnvelope::encode(&m, b"");
        for n in 0..bytes.len() - 1 {
            assert!(SnapshotEnvelope::decode(&bytes[..n]).is_err());
        }
    }

    #[test]
    fn removed_ids_are_never_reused() {
        let mut m = Membership::bootstrap(&[(1, "a:1".into()), (2, "b:2".into())]);
        let mut cc = ConfChange::default();
        cc.set_change_type(ConfChangeType::RemoveNode);
        cc.node_id = 2;
        m.apply(&cc);
        cc.set_change_type(ConfChangeType::AddNode);
        assert!(m.check(&cc).unwrap_err().contains("never be used again"));
    }
}
