//! The run journal: one JSON line per candidate, appended and flushed as soon as the
//! candidate is decided, so killing the process loses at most the candidate in flight.
//! [`Journal`] serves other long commands the same way (`latency-corr`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use edgenas_compiler::space::Genome;
use edgenas_runtime::LatencyStats;

use crate::quantization::Precision;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What happened to a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateStatus {
    /// Measured and scored; `feasible` says whether it met every constraint.
    Evaluated,
    /// Rejected by a cost-model constraint before compiling; does not use budget.
    Rejected,
    /// Building, compiling, measuring or scoring failed; uses budget.
    Failed,
}

/// Wall time of each stage of one candidate, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimes {
    pub build_emit_ms: f64,
    pub compile_ms: f64,
    pub measure_ms: f64,
    pub evaluate_ms: f64,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// Position in proposal order, from 0.
    pub seq: usize,
    pub hash: String,
    pub genome: Genome,
    /// Deployment precision; absent (f32) in journals written before precision search.
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
    pub status: CandidateStatus,
    pub feasible: bool,
    pub macs: u64,
    pub params: u64,
    pub peak_activation_bytes: u64,
    pub latency: Option<LatencyStats>,
    pub accuracy: Option<f64>,
    /// Minimized objective vector, when evaluated.
    pub objectives: Option<Vec<f64>>,
    /// SHA-256 of the emitted ONNX (the latency cache key).
    pub model_sha256: Option<String>,
    pub error: Option<String>,
    pub times: StageTimes,
}

/// Append-only JSON-lines file of records (the search's [`CandidateRecord`]s by default).
pub struct Journal<R = CandidateRecord> {
    path: PathBuf,
    file: File,
    records: PhantomData<fn(R)>,
}

impl<R: Serialize + DeserializeOwned> Journal<R> {
    /// Opens (creating if needed) the journal at `path` and returns the records already in
    /// it. A torn last line (the process was killed while writing it) is dropped and
    /// truncated away; any other unreadable line is an error naming its line number.
    pub fn open(path: &Path) -> Result<(Self, Vec<R>)> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading journal {}", path.display())),
        };
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let text = std::str::from_utf8(&bytes[..complete])
            .with_context(|| format!("journal {} is not UTF-8", path.display()))?;
        let records = text
            .lines()
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str::<R>(line).with_context(|| format!("journal {} line {}", path.display(), i + 1))
            })
            .collect::<Result<Vec<_>>>()?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening journal {}", path.display()))?;
        file.set_len(complete as u64).with_context(|| format!("truncating the torn end of {}", path.display()))?;
        Ok((Journal { path: path.to_path_buf(), file, records: PhantomData }, records))
    }

    /// Appends one record and flushes it to the OS.
    pub fn append(&mut self, record: &R) -> Result<()> {
        let mut line = serde_json::to_string(record).context("serializing a journal record")?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).with_context(|| format!("appending to {}", self.path.display()))?;
        self.file.flush().with_context(|| format!("flushing {}", self.path.display()))
    }
}
