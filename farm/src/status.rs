//! What `edgenas farm status` shows: live workers, each target's queue, dead letters.

use redis::Value;
use serde::{Deserialize, Serialize};

use crate::connection::FarmConnection;
use crate::wire::{dead_stream, entries_of, jobs_stream, worker_key, GROUP, TARGETS, WORKERS};
use crate::FarmError;

/// A worker's state as it heartbeats it (`edgenas:worker:<name>`, expiring).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub name: String,
    pub target: String,
    /// `idle` or `measuring`.
    pub state: String,
    /// The job being measured.
    pub job: Option<String>,
    pub measured: usize,
    pub failed: usize,
}

/// One target's queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetStatus {
    pub target: String,
    /// Entries in the jobs stream: waiting or being measured.
    pub queued: u64,
    /// Entries delivered to a worker and not yet answered.
    pub pending: u64,
    /// Jobs in the dead-letter stream.
    pub dead: u64,
}

/// A job that failed every delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub target: String,
    pub job: String,
    pub reason: String,
}

/// The farm at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FarmStatus {
    pub workers: Vec<WorkerStatus>,
    pub targets: Vec<TargetStatus>,
    /// The most recent dead letters of each target (at most 20 per target), newest first.
    pub dead_letters: Vec<DeadLetter>,
}

impl FarmStatus {
    /// Reads the farm at `url`.
    pub fn read(url: &str) -> Result<Self, FarmError> {
        let mut con = FarmConnection::open(url, std::time::Duration::from_secs(5))?;
        let workers = live_workers(&mut con)?;
        let mut names: Vec<String> = con.run("listing targets", |c| redis::cmd("SMEMBERS").arg(TARGETS).query(c))?;
        names.sort();
        let mut targets = Vec::new();
        let mut dead_letters = Vec::new();
        for target in names {
            let (jobs, dead) = (jobs_stream(&target), dead_stream(&target));
            let queued: u64 = con.run("counting jobs", |c| redis::cmd("XLEN").arg(&jobs).query(c))?;
            let dead_count: u64 = con.run("counting dead letters", |c| redis::cmd("XLEN").arg(&dead).query(c))?;
            let summary: Value = con.run("reading pending jobs", |c| {
                match redis::cmd("XPENDING").arg(&jobs).arg(GROUP).query::<Value>(c) {
                    Err(e) if e.code() == Some("NOGROUP") => Ok(Value::Nil),
                    other => other,
                }
            })?;
            let pending = match &summary {
                Value::Array(parts) => match parts.first() {
                    Some(Value::Int(n)) => *n as u64,
                    _ => 0,
                },
                _ => 0,
            };
            let recent: Value = con.run("reading dead letters", |c| {
                redis::cmd("XREVRANGE").arg(&dead).arg("+").arg("-").arg("COUNT").arg(20).query(c)
            })?;
            for entry in entries_of(&recent)? {
                dead_letters.push(DeadLetter {
                    target: target.clone(),
                    job: entry.text("job").unwrap_or("?").to_string(),
                    reason: entry.text("reason").unwrap_or("?").to_string(),
                });
            }
            targets.push(TargetStatus { target, queued, pending, dead: dead_count });
        }
        Ok(FarmStatus { workers, targets, dead_letters })
    }
}

/// The workers whose heartbeat has not expired, by name.
pub(crate) fn live_workers(con: &mut FarmConnection) -> Result<Vec<WorkerStatus>, FarmError> {
    let mut names: Vec<String> = con.run("listing workers", |c| redis::cmd("SMEMBERS").arg(WORKERS).query(c))?;
    names.sort();
    let mut live = Vec::new();
    for name in names {
        let key = worker_key(&name);
        let state: Option<String> = con.run("reading a worker", |c| redis::cmd("GET").arg(&key).query(c))?;
        if let Some(worker) = state.and_then(|s| serde_json::from_str::<WorkerStatus>(&s).ok()) {
            live.push(worker);
        }
    }
    Ok(live)
}
