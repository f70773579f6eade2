//! Runs a [`Node`] on its own thread: ticks it, feeds it inputs in batches
//! and persists each batch with one sync (group commit). Outputs accumulate
//! in a shared [`Output`]; a byte on a pipe tells the embedding program there
//! is something to take, so its event loop can wait on a file descriptor.
//!
//! Nothing the embedding program calls waits for the node thread except
//! [`Driver::stop`]: the thread may be stuck for minutes in a storage backend
//! waiting for its database, so the latest [`Status`] is published after each
//! batch instead of being asked for.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};

use super::config::RaftConfig;
use super::node::{MembershipChange, Node};
use super::output::{Output, ProposalError};
use super::status::Status;
use crate::storage::{
    ExternalLogStore, FileLogStore, FileStoreOptions, LogStore, MemoryLogStore, RecordBackend,
    StorageError,
};

/// Most inputs folded into one batch before the node persists.
const MAX_INPUTS_PER_BATCH: usize = 4096;

/// Work for the node thread.
pub enum Input {
    Step(Vec<Vec<u8>>),
    Propose(Vec<(u64, Vec<u8>)>),
    ChangeMembership {
        proposal: u64,
        change: MembershipChange,
    },
    ReadIndex(u64),
    TransferLeader(u64),
    Campaign,
    SaveSnapshot {
        index: u64,
        data: Vec<u8>,
    },
    /// See [`Node::force_new_cluster`]; the outcome comes back as a proposal's.
    ForceNewCluster {
        proposal: u64,
        data: Vec<u8>,
    },
    ReportUnreachable(u64),
    ReportSnapshot {
        to: u64,
        delivered: bool,
    },
    Stop,
}

struct Shared {
    output: Mutex<Output>,
    /// The node's status after its latest batch; `None` once the thread ended.
    status: Mutex<Option<Status>>,
    signaled: AtomicBool,
    wake_write: OwnedFd,
}

impl Shared {
    fn publish(&self, out: Output) {
        if out.is_empty() {
            return;
        }
        self.output.lock().expect("output lock").merge(out);
        if !self.signaled.swap(true, Ordering::AcqRel) {
            let byte = [1u8];
            // SAFETY: writing one byte from a valid buffer to a pipe we own.
            // A full pipe (EAGAIN) already means the reader will wake.
            unsafe { libc::write(self.wake_write.as_raw_fd(), byte.as_ptr().cast(), 1) };
        }
    }

    fn publish_status(&self, status: Option<Status>) {
        *self.status.lock().expect("status lock") = status;
    }
}

/// Handle to a node running on its own thread.
pub struct Driver {
    inputs: Sender<Input>,
    shared: Arc<Shared>,
    wake_read: OwnedFd,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Driver {
    /// Opens (or creates) a node whose log lives in `dir` on the `file`
    /// backend and starts it.
    pub fn start_file_node(
        config: RaftConfig,
        dir: &std::path::Path,
        options: FileStoreOptions,
        bootstrap: Option<&[(u64, String)]>,
    ) -> Result<Driver, StorageError> {
        let store = FileLogStore::open(dir, options)?;
        Driver::start(Node::open(config, store, bootstrap)?)
    }

    /// Starts a node that keeps its log in memory (tests and simulations).
    pub fn start_memory_node(
        config: RaftConfig,
        bootstrap: Option<&[(u64, String)]>,
    ) -> Result<Driver, StorageError> {
        Driver::start(Node::open(config, MemoryLogStore::new(), bootstrap)?)
    }

    /// Opens (or creates) a node whose log lives in `backend` and starts it.
    /// Opening calls the backend's `recover` on the calling thread.
    pub fn start_external_node<B: RecordBackend + 'static>(
        config: RaftConfig,
        backend: B,
        bootstrap: Option<&[(u64, String)]>,
    ) -> Result<Driver, StorageError> {
        Driver::start(Node::open(
            config,
            ExternalLogStore::new(backend),
            bootstrap,
        )?)
    }

    /// Starts the thread. The node's first output (the snapshot to restore, if
    /// any) is published at once.
    pub fn start<S: LogStore + 'static>(mut node: Node<S>) -> Result<Driver, StorageError> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 fills two descriptors that we then own.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(StorageError::io(
                "creating the wake-up pipe",
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: both descriptors were just created and are owned by nobody else.
        let (wake_read, wake_write) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let shared = Arc::new(Shared {
            output: Mutex::new(Output::default()),
            status: Mutex::new(Some(node.status())),
            signaled: AtomicBool::new(false),
            wake_write,
        });
        let (tx, rx) = unbounded();
        shared.publish(node.take_output());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("raft-{}", node.id()))
            .spawn(move || run(node, rx, thread_shared))
            .map_err(|e| StorageError::io("starting the raft thread", e))?;
        Ok(Driver {
            inputs: tx,
            shared,
            wake_read,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The descriptor that becomes readable when output is waiting.
    pub fn wake_fd(&self) -> RawFd {
        self.wake_read.as_raw_fd()
    }

    /// Sends work to the node. Fails once the node has stopped.
    pub fn send(&self, input: Input) -> Result<(), String> {
        self.inputs
            .send(input)
            .map_err(|_| "the raft node has stopped".to_string())
    }

    /// Takes everything published since the last call, and clears the wake-up.
    pub fn take_output(&self) -> Output {
        let mut buf = [0u8; 256];
        // SAFETY: reading into a valid buffer from our non-blocking pipe.
        while unsafe {
            libc::read(
                self.wake_read.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        } > 0
        {}
        self.shared.signaled.store(false, Ordering::Release);
        std::mem::take(&mut *self.shared.output.lock().expect("output lock"))
    }

    /// The node's status as of its latest batch. Never waits for the node
    /// thread (which may be busy writing a batch, or stuck in its store).
    pub fn status(&self) -> Result<Status, String> {
        self.shared
            .status
            .lock()
            .expect("status lock")
            .clone()
            .ok_or_else(|| "the raft node has stopped".to_string())
    }

    /// Stops the thread and waits for it; the store is closed when it returns.
    pub fn stop(&self) {
        let _ = self.inputs.send(Input::Stop);
        let thread = self.thread.lock().expect("thread lock").take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<S: LogStore>(mut node: Node<S>, rx: Receiver<Input>, shared: Arc<Shared>) {
    let tick = node.config().tick_interval;
    let mut next_tick = Instant::now() + tick;
    let reason = loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        let mut flow = Flow::Continue;
        match rx.recv_timeout(wait) {
            Ok(input) => flow = handle(&mut node, input),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break None,
        }
        // Everything that queued up while we were busy goes into this batch.
        for _ in 0..MAX_INPUTS_PER_BATCH {
            if !matches!(flow, Flow::Continue) {
                break;
            }
            match rx.try_recv() {
                Ok(input) => flow = handle(&mut node, input),
                Err(_) => break,
            }
        }
        match flow {
            Flow::Continue => {}
            Flow::Stop => break None,
            Flow::Fatal(reason) => break Some(reason),
        }
        let now = Instant::now();
        if now >= next_tick {
            node.tick();
            next_tick += tick;
            if next_tick < now {
                next_tick = now + tick;
            }
        }
        // The status goes out before the output it reflects: whoever takes
        // an output and then asks for the status sees at least that state.
        let result = node.process_ready_with(|node| {
            shared.publish_status(Some(node.status()));
            shared.publish(node.take_output());
        });
        if let Err(e) = result {
            break Some(e.to_string());
        }
        shared.publish_status(Some(node.status()));
        shared.publish(node.take_output());
    };
    shared.publish_status(None);
    if let Some(reason) = reason {
        let mut out = node.take_output();
        out.fatal = Some(reason.clone());
        shared.publish(out);
        // Anything still queued will never be served.
        fail_queued(&rx, &shared, &reason);
    }
}

fn fail_queued(rx: &Receiver<Input>, shared: &Shared, reason: &str) {
    let mut out = Output::default();
    let err = ProposalError::Stopped(reason.to_string());
    while let Ok(input) = rx.try_recv() {
        match input {
            Input::Propose(batch) => {
                out.proposals
                    .extend(batch.into_iter().map(|(p, _)| (p, Err(err.clone()))));
            }
            Input::ChangeMembership { proposal, .. } => {
                out.proposals.push((proposal, Err(err.clone())))
            }
            Input::ReadIndex(r) => out.reads.push((r, Err(err.clone()))),
            _ => {}
        }
    }
    shared.publish(out);
}

/// What the node thread does after an input.
enum Flow {
    Continue,
    Stop,
    /// The node cannot go on; the reason is reported as the output's `fatal`.
    Fatal(String),
}

/// Applies one input.
fn handle<S: LogStore>(node: &mut Node<S>, input: Input) -> Flow {
    match input {
        Input::Step(msgs) => msgs.iter().for_each(|m| node.step_bytes(m)),
        Input::Propose(batch) => node.propose(batch),
        Input::ChangeMembership { proposal, change } => node.propose_membership(proposal, change),
        Input::ReadIndex(request) => node.read_index(request),
        Input::TransferLeader(to) => node.transfer_leader(to),
        Input::Campaign => node.campaign(),
        Input::SaveSnapshot { index, data } => {
            match node.save_snapshot(index, &data) {
                Ok(()) => {}
                // A storage backend raises only once it has given up (its
                // contract): the node stops, as for a failed append.
                Err(e @ (StorageError::Backend { .. } | StorageError::BackendFailed { .. })) => {
                    return Flow::Fatal(e.to_string())
                }
                // A failed snapshot leaves the log intact: report it and go on.
                Err(e) => {
                    node_log_error(node, format!("saving the snapshot at {index} failed: {e}"))
                }
            }
        }
        Input::ForceNewCluster { proposal, data } => {
            let outcome = node
                .force_new_cluster(&data)
                .map(|()| node.status().commit_index)
                .map_err(ProposalError::Rejected);
            node.push_proposal_outcome(proposal, outcome);
        }
        Input::ReportUnreachable(id) => node.report_unreachable(id),
        Input::ReportSnapshot { to, delivered } => node.report_snapshot(to, delivered),
        Input::Stop => return Flow::Stop,
    }
    Flow::Continue
}

fn node_log_error<S: LogStore>(node: &mut Node<S>, message: String) {
    node.push_log(super::log_sink::LogLevel::Error, message);
}
