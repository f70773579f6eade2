//! `swarmkit_py._core`: thin PyO3 wrappers over swarmkit-core. Conversions
//! only; the logic lives in the `swarmkit-core` crate.

mod log_backend;
mod scheduler;

use std::path::PathBuf;
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use swarmkit_core::consensus::{
    Applied, Driver, Input, LogLevel, Membership, MembershipChange, Output, RaftConfig, Role,
};
use swarmkit_core::storage::{self, FileStoreOptions, StorageError};

use log_backend::PyLogBackend;

create_exception!(
    _core,
    RaftStorageError,
    PyException,
    "The node's durable storage failed."
);

fn storage_err(e: StorageError) -> PyErr {
    RaftStorageError::new_err(e.to_string())
}

fn stopped(e: String) -> PyErr {
    PyRuntimeError::new_err(e)
}

/// A Raft node running on its own thread (see `swarmkit_core::consensus::Driver`).
#[pyclass(module = "swarmkit_py._core", frozen)]
struct RaftCore {
    driver: Driver,
}

#[allow(clippy::too_many_arguments)]
#[pymethods]
impl RaftCore {
    #[new]
    #[pyo3(signature = (
        id, data_dir=None, bootstrap=None, *, log_backend=None, tick_interval=1.0,
        election_ticks=10, heartbeat_ticks=1, snapshot_interval=10_000,
        keep_entries_after_snapshot=500, max_proposal_bytes=1_572_864, fsync=true,
        wal_segment_bytes=64 * 1024 * 1024
    ))]
    fn new(
        py: Python<'_>,
        id: u64,
        data_dir: Option<PathBuf>,
        bootstrap: Option<Vec<(u64, String)>>,
        log_backend: Option<Bound<'_, PyAny>>,
        tick_interval: f64,
        election_ticks: usize,
        heartbeat_ticks: usize,
        snapshot_interval: u64,
        keep_entries_after_snapshot: u64,
        max_proposal_bytes: usize,
        fsync: bool,
        wal_segment_bytes: u64,
    ) -> PyResult<Self> {
        let mut config = RaftConfig::new(id);
        config.tick_interval = Duration::try_from_secs_f64(tick_interval)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("tick_interval: {e}")))?;
        config.election_ticks = election_ticks;
        config.heartbeat_ticks = heartbeat_ticks;
        config.snapshot_interval = snapshot_interval;
        config.keep_entries_after_snapshot = keep_entries_after_snapshot;
        config.max_proposal_bytes = max_proposal_bytes;
        config
            .validate()
            .map_err(pyo3::exceptions::PyValueError::new_err)?;
        if log_backend.is_some() && data_dir.is_some() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "give either data_dir (the file storage backend) or log_backend, not both",
            ));
        }
        let backend = log_backend.map(PyLogBackend::new).transpose()?;
        // Without the GIL: the backend takes it for each call, here (recover)
        // and on the node thread.
        let driver = py
            .detach(|| match (backend, &data_dir) {
                (Some(backend), _) => {
                    Driver::start_external_node(config, backend, bootstrap.as_deref())
                }
                (None, Some(dir)) => {
                    let options = FileStoreOptions {
                        sync: fsync,
                        segment_size: wal_segment_bytes,
                        ..Default::default()
                    };
                    Driver::start_file_node(config, dir, options, bootstrap.as_deref())
                }
                (None, None) => Driver::start_memory_node(config, bootstrap.as_deref()),
            })
            .map_err(storage_err)?;
        Ok(RaftCore { driver })
    }

    /// File descriptor that becomes readable when `take_output` has something.
    fn wake_fd(&self) -> i32 {
        self.driver.wake_fd()
    }

    fn step(&self, messages: Vec<Vec<u8>>) -> PyResult<()> {
        self.driver.send(Input::Step(messages)).map_err(stopped)
    }

    fn propose(&self, batch: Vec<(u64, Vec<u8>)>) -> PyResult<()> {
        self.driver.send(Input::Propose(batch)).map_err(stopped)
    }

    /// `kind` is one of add_voter, add_learner, promote_learner, remove.
    #[pyo3(signature = (proposal, kind, node_id, address=String::new()))]
    fn change_membership(
        &self,
        proposal: u64,
        kind: &str,
        node_id: u64,
        address: String,
    ) -> PyResult<()> {
        let change = match kind {
            "add_voter" => MembershipChange::AddVoter {
                id: node_id,
                address,
            },
            "add_learner" => MembershipChange::AddLearner {
                id: node_id,
                address,
            },
            "promote_learner" => MembershipChange::PromoteLearner { id: node_id },
            "remove" => MembershipChange::Remove { id: node_id },
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "unknown membership change {other:?}"
                )))
            }
        };
        self.driver
            .send(Input::ChangeMembership { proposal, change })
            .map_err(stopped)
    }

    fn read_index(&self, request: u64) -> PyResult<()> {
        self.driver.send(Input::ReadIndex(request)).map_err(stopped)
    }

    fn transfer_leader(&self, to: u64) -> PyResult<()> {
        self.driver.send(Input::TransferLeader(to)).map_err(stopped)
    }

    fn campaign(&self) -> PyResult<()> {
        self.driver.send(Input::Campaign).map_err(stopped)
    }

    fn save_snapshot(&self, index: u64, data: Vec<u8>) -> PyResult<()> {
        self.driver
            .send(Input::SaveSnapshot { index, data })
            .map_err(stopped)
    }

    /// See `Node::force_new_cluster`; the outcome comes back under `proposal`.
    fn force_new_cluster(&self, proposal: u64, data: Vec<u8>) -> PyResult<()> {
        self.driver
            .send(Input::ForceNewCluster { proposal, data })
            .map_err(stopped)
    }

    fn report_unreachable(&self, id: u64) -> PyResult<()> {
        self.driver
            .send(Input::ReportUnreachable(id))
            .map_err(stopped)
    }

    fn report_snapshot(&self, to: u64, delivered: bool) -> PyResult<()> {
        self.driver
            .send(Input::ReportSnapshot { to, delivered })
            .map_err(stopped)
    }

    /// Everything produced since the last call, as a dict (see `_core.pyi`).
    fn take_output<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = py.detach(|| self.driver.take_output());
        output_to_py(py, out)
    }

    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let st = py.detach(|| self.driver.status()).map_err(stopped)?;
        let d = PyDict::new(py);
        d.set_item("id", st.id)?;
        d.set_item("term", st.term)?;
        d.set_item("vote", st.vote)?;
        d.set_item("leader_id", st.leader_id)?;
        d.set_item("role", st.role.as_str())?;
        d.set_item("commit_index", st.commit_index)?;
        d.set_item("applied_index", st.applied_index)?;
        d.set_item("first_index", st.first_index)?;
        d.set_item("last_index", st.last_index)?;
        d.set_item("snapshot_index", st.snapshot_index)?;
        let (members, removed) = membership_to_py(&st.membership);
        d.set_item("members", members)?;
        d.set_item("removed", removed)?;
        let progress: Vec<(u64, u64, u64, String, bool)> = st
            .progress
            .into_iter()
            .map(|p| (p.id, p.matched, p.next_index, p.state, p.recent_active))
            .collect();
        d.set_item("progress", progress)?;
        Ok(d)
    }

    /// Stops the node thread and closes its storage.
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.driver.stop());
    }
}

impl Drop for RaftCore {
    fn drop(&mut self) {
        // Stopping joins the node thread, which may need the GIL to finish a
        // call into a Python log backend: wait for it without the GIL.
        Python::try_attach(|py| py.detach(|| self.driver.stop()));
    }
}

type MembersPy = (Vec<(u64, String, bool)>, Vec<u64>);

fn membership_to_py(m: &Membership) -> MembersPy {
    let members = m
        .members
        .values()
        .map(|m| (m.id, m.address.clone(), m.learner))
        .collect();
    (members, m.removed.iter().copied().collect())
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warning",
        LogLevel::Error => "error",
    }
}

fn role_name(role: Role) -> &'static str {
    role.as_str()
}

fn output_to_py(py: Python<'_>, out: Output) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    let messages = PyList::empty(py);
    for m in out.messages {
        messages.append((m.to, m.snapshot, PyBytes::new(py, &m.bytes)))?;
    }
    d.set_item("messages", messages)?;
    let applied = PyList::empty(py);
    for a in out.applied {
        match a {
            Applied::Entry { index, term, data } => {
                applied.append((0u8, index, term, PyBytes::new(py, &data)))?
            }
            Applied::Membership { index, term } => applied.append((1u8, index, term, py.None()))?,
            Applied::Restore { index, term, data } => {
                applied.append((2u8, index, term, PyBytes::new(py, &data)))?
            }
        }
    }
    d.set_item("applied", applied)?;
    d.set_item("applied_index", out.applied_index)?;
    let outcome = |(id, r): (u64, Result<u64, swarmkit_core::consensus::ProposalError>)| match r {
        Ok(index) => (id, index, None, None),
        Err(e) => (id, 0, Some(e.kind()), Some(e.to_string())),
    };
    let proposals: Vec<_> = out.proposals.into_iter().map(outcome).collect();
    d.set_item("proposals", proposals)?;
    let reads: Vec<_> = out.reads.into_iter().map(outcome).collect();
    d.set_item("reads", reads)?;
    d.set_item("membership", out.membership.as_ref().map(membership_to_py))?;
    d.set_item("leader_changed", out.leader_changed)?;
    d.set_item(
        "leader",
        out.leader
            .map(|(id, term, role)| (id, term, role_name(role))),
    )?;
    d.set_item("snapshots_saved", out.snapshots_saved)?;
    d.set_item("snapshot_wanted", out.snapshot_wanted)?;
    let logs: Vec<(&str, String)> = out
        .logs
        .into_iter()
        .map(|(l, m)| (level_name(l), m))
        .collect();
    d.set_item("logs", logs)?;
    d.set_item("fatal", out.fatal)?;
    Ok(d)
}

/// The `file` log store on its own, for benchmarks of the WAL.
#[pyclass(module = "swarmkit_py._core")]
struct FileLog {
    log: storage::PayloadLog<storage::FileLogStore>,
}

#[pymethods]
impl FileLog {
    #[new]
    #[pyo3(signature = (path, fsync=true))]
    fn new(py: Python<'_>, path: PathBuf, fsync: bool) -> PyResult<Self> {
        let log = py
            .detach(|| storage::PayloadLog::open_file(&path, fsync))
            .map_err(storage_err)?;
        Ok(FileLog { log })
    }

    /// Appends payloads as consecutive entries with one sync; returns the last index.
    fn append(&mut self, py: Python<'_>, payloads: Vec<Vec<u8>>) -> PyResult<u64> {
        py.detach(|| self.log.append(payloads)).map_err(storage_err)
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RaftCore>()?;
    m.add_class::<FileLog>()?;
    m.add_function(wrap_pyfunction!(scheduler::schedule, m)?)?;
    m.add("RaftStorageError", m.py().get_type::<RaftStorageError>())?;
    Ok(())
}
