//! A Python `LogBackend` (see `swarmkit_py.storage.types`) as a Rust
//! `RecordBackend`: conversions of records to and from Python, with the GIL
//! taken on the calling thread (the Raft thread) for each call.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use swarmkit_core::storage::{
    HardStateRecord, LogRecord, RecordBackend, RecoveredRecords, SnapshotRecord,
};

/// Where the record types of the protocol live.
const TYPES_MODULE: &str = "swarmkit_py.storage.types";

pub struct PyLogBackend {
    backend: Py<PyAny>,
    /// The NamedTuple classes handed to the backend.
    log_record: Py<PyAny>,
    hard_state: Py<PyAny>,
    snapshot_record: Py<PyAny>,
}

impl PyLogBackend {
    pub fn new(backend: Bound<'_, PyAny>) -> PyResult<Self> {
        let types = backend.py().import(TYPES_MODULE)?;
        Ok(PyLogBackend {
            log_record: types.getattr("LogRecord")?.unbind(),
            hard_state: types.getattr("HardState")?.unbind(),
            snapshot_record: types.getattr("SnapshotRecord")?.unbind(),
            backend: backend.unbind(),
        })
    }

    /// Calls `method` with the GIL taken; a Python exception becomes its
    /// type name and message.
    fn call<T>(
        &self,
        method: &str,
        call: impl for<'py> FnOnce(Python<'py>, &Bound<'py, PyAny>) -> PyResult<T>,
    ) -> Result<T, String> {
        Python::try_attach(|py| {
            call(py, self.backend.bind(py)).map_err(|e| describe(py, method, &e))
        })
        .unwrap_or_else(|| Err(shutting_down(method)))
    }
}

fn shutting_down(method: &str) -> String {
    format!("{method}() not called: the Python interpreter is shutting down")
}

fn describe(py: Python<'_>, method: &str, err: &PyErr) -> String {
    let kind = err
        .get_type(py)
        .name()
        .map_or_else(|_| "Exception".to_owned(), |n| n.to_string());
    let message = err.value(py).to_string();
    if message.is_empty() {
        format!("{method}() raised {kind}")
    } else {
        format!("{method}() raised {kind}: {message}")
    }
}

fn bytes_of(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    Ok(obj.extract::<Cow<'_, [u8]>>()?.into_owned())
}

/// `(index, term, data)` of a `LogRecord` or `SnapshotRecord` (any 3-tuple).
fn record_of(obj: &Bound<'_, PyAny>) -> PyResult<(u64, u64, Vec<u8>)> {
    let t = obj.cast::<PyTuple>()?;
    if t.len() != 3 {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "expected (index, term, data), got a tuple of {}",
            t.len()
        )));
    }
    Ok((
        t.get_item(0)?.extract()?,
        t.get_item(1)?.extract()?,
        bytes_of(&t.get_item(2)?)?,
    ))
}

fn recovered_of(obj: &Bound<'_, PyAny>) -> PyResult<RecoveredRecords> {
    let (hard_state, snapshot, entries): (Bound<PyAny>, Bound<PyAny>, Bound<PyAny>) =
        obj.extract()?;
    let hard_state = if hard_state.is_none() {
        None
    } else {
        let (term, vote, commit) = hard_state.extract()?;
        Some(HardStateRecord { term, vote, commit })
    };
    let snapshot = if snapshot.is_none() {
        None
    } else {
        let (index, term, data) = record_of(&snapshot)?;
        Some(SnapshotRecord { index, term, data })
    };
    let entries = entries
        .try_iter()?
        .map(|item| {
            let (index, term, data) = record_of(&item?)?;
            Ok(LogRecord { index, term, data })
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(RecoveredRecords {
        hard_state,
        snapshot,
        entries,
    })
}

impl RecordBackend for PyLogBackend {
    fn recover(&mut self) -> Result<RecoveredRecords, String> {
        let recovered = Python::try_attach(|py| {
            let recovered = self
                .backend
                .bind(py)
                .call_method0("recover")
                .map_err(|e| describe(py, "recover", &e))?;
            recovered_of(&recovered).map_err(|e| {
                format!("recover() returned something that is not a RecoveredLog: {e}")
            })
        });
        recovered.unwrap_or_else(|| Err(shutting_down("recover")))
    }

    fn append(
        &mut self,
        entries: &[LogRecord],
        hard_state: Option<HardStateRecord>,
    ) -> Result<(), String> {
        self.call("append", |py, backend| {
            let records = PyList::empty(py);
            let log_record = self.log_record.bind(py);
            for e in entries {
                records.append(log_record.call1((
                    e.index,
                    e.term,
                    PyBytes::new(py, &e.data),
                ))?)?;
            }
            let hard_state = hard_state
                .map(|hs| {
                    self.hard_state
                        .bind(py)
                        .call1((hs.term, hs.vote, hs.commit))
                })
                .transpose()?;
            backend.call_method1("append", (records, hard_state))?;
            Ok(())
        })
    }

    fn save_snapshot(
        &mut self,
        snapshot: &SnapshotRecord,
        discard_log: bool,
    ) -> Result<(), String> {
        self.call("save_snapshot", |py, backend| {
            let record = self.snapshot_record.bind(py).call1((
                snapshot.index,
                snapshot.term,
                PyBytes::new(py, &snapshot.data),
            ))?;
            backend.call_method1("save_snapshot", (record, discard_log))?;
            Ok(())
        })
    }

    fn compact(&mut self, first_index: u64) -> Result<(), String> {
        self.call("compact", |_, backend| {
            backend.call_method1("compact", (first_index,))?;
            Ok(())
        })
    }
}
