//! Collects raft-rs's log records so the embedding program decides where they
//! go (the Python side hands them to `logging`). No output happens here.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use slog::{Drain, Level, OwnedKVList, Record, KV};

/// Severity of a collected record, in `logging`'s terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

pub type LogBuffer = Arc<Mutex<Vec<(LogLevel, String)>>>;

/// Most records kept between two drains; older ones are dropped first.
const MAX_BUFFERED: usize = 10_000;

pub struct BufferDrain {
    pub buffer: LogBuffer,
    pub min_level: Level,
}

impl Drain for BufferDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        if !record.level().is_at_least(self.min_level) {
            return Ok(());
        }
        let mut line = record.msg().to_string();
        let mut kv = KvLine(String::new());
        let _ = record.kv().serialize(record, &mut kv);
        let _ = values.serialize(record, &mut kv);
        line.push_str(&kv.0);
        let level = match record.level() {
            Level::Critical | Level::Error => LogLevel::Error,
            Level::Warning => LogLevel::Warning,
            Level::Info => LogLevel::Info,
            Level::Debug | Level::Trace => LogLevel::Debug,
        };
        if let Ok(mut buf) = self.buffer.lock() {
            if buf.len() >= MAX_BUFFERED {
                buf.remove(0);
            }
            buf.push((level, line));
        }
        Ok(())
    }
}

struct KvLine(String);

impl slog::Serializer for KvLine {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        let _ = write!(self.0, " {key}={val}");
        Ok(())
    }
}

pub fn logger(buffer: LogBuffer) -> slog::Logger {
    let drain = BufferDrain {
        buffer,
        min_level: Level::Info,
    };
    slog::Logger::root(drain.fuse(), slog::o!())
}
