//! The device farm: a search's measurements as jobs on Redis Streams, measured by workers
//! wherever a device is reachable (a laptop with `adb`, a board over ssh, the board
//! itself), so one search uses many devices at once.
//!
//! - [`FarmQueue`] is the coordinator's side, a [`edgenas_search::MeasureQueue`]: the
//!   search keeps proposing, telling and journaling; the queue sends each measurement to
//!   the stream of its target, reclaims jobs whose worker went silent (`XAUTOCLAIM`),
//!   retries failed ones and dead-letters a job that failed every delivery.
//! - [`Worker`] reads its target's jobs through a consumer group, measures with an
//!   [`edgenas_search::LatencySource`] of its own configuration (a job carries a model and
//!   its precision, never a command), heartbeats while it measures, and answers.
//! - [`FarmStatus`] reads workers, queues and dead letters.
//!
//! Delivery is at least once: a job may be measured twice (a worker lost after answering),
//! and the coordinator takes the first answer of each job only.
//!
//! Architecture invariant: this crate is the only one that talks to Redis, and nothing it
//! reads from Redis is ever run as a command. It is an API boundary: errors are
//! [`FarmError`].

pub mod bench;
mod connection;
mod coordinator;
mod status;
mod wire;
mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use connection::{redact, FarmConnection};
pub use coordinator::{FarmEvent, FarmQueue, FarmSettings};
pub use status::{DeadLetter, FarmStatus, TargetStatus, WorkerStatus};
pub use worker::{Worker, WorkerEvent, WorkerSettings, WorkerSummary};

/// Why the farm cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum FarmError {
    #[error("`{url}` is not a Redis URL (redis://[:password@]host:port[/db]): {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("cannot reach Redis at {url}")]
    Unreachable { url: String, source: redis::RedisError },
    #[error("lost Redis at {url} and could not reconnect within {after:?}")]
    Lost { url: String, after: Duration, source: redis::RedisError },
    #[error("Redis refused {what}")]
    Redis { what: &'static str, source: redis::RedisError },
    /// An entry or a key of the farm is not what edgenas writes.
    #[error("malformed farm data: {what}")]
    Protocol { what: String },
    #[error("{what} {}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("no {need} workers for target `{target}` within {waited:?} (found {have})")]
    NoWorkers { target: String, need: usize, have: usize, waited: Duration },
}

/// The file in a run directory that names the run on the farm.
pub const RUN_ID_FILE: &str = "farm.id";

/// The farm id of the run in `run_dir`: read from its [`RUN_ID_FILE`], or made (from the
/// directory's path and the time) and written there, so a resumed run finds the results
/// of its jobs again.
pub fn run_id(run_dir: &Path) -> Result<String, FarmError> {
    let path = run_dir.join(RUN_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(FarmError::Io { what: "reading", path, source }),
    }
    use sha2::{Digest, Sha256};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seed = format!("{}:{}:{}", run_dir.display(), now.as_nanos(), std::process::id());
    let id: String = Sha256::digest(seed.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(run_dir).map_err(|source| FarmError::Io {
        what: "creating",
        path: run_dir.into(),
        source,
    })?;
    std::fs::write(&path, format!("{id}\n")).map_err(|source| FarmError::Io { what: "writing", path, source })?;
    Ok(id)
}
