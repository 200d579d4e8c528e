//! The run journal: one JSON line per candidate, appended and flushed as soon as the
//! candidate is decided, so killing the process loses at most the candidate in flight.
//! [`Journal`] serves other long commands the same way (`latency-corr`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use edgenas_compiler::quantize::Precision;
use edgenas_compiler::space::Genome;
use edgenas_runtime::LatencyStats;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::SearchError;

/// What happened to a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
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
    /// Why it failed or was rejected, as one line (`stage failed: cause: ...`).
    pub error: Option<String>,
    /// The stage a failed candidate failed in; absent in journals written before stages
    /// were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_stage: Option<crate::Stage>,
    /// The latency predictor's verdict (`predict-then-measure` runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_prediction: Option<LatencyPrediction>,
    pub times: StageTimes,
}

/// What the latency predictor said about a candidate of a `predict-then-measure` run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyPrediction {
    /// Predicted median latency, in the source's unit.
    pub median: f64,
    /// Standard deviation of the natural-log prediction.
    pub log_std: f64,
    /// Whether the candidate was then measured (its `latency` is the measurement). An
    /// unmeasured candidate carries the predicted latency in its objectives and never
    /// enters the front.
    pub measured: bool,
    /// Why it was not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
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
    pub fn open(path: &Path) -> Result<(Self, Vec<R>), SearchError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(SearchError::Io { what: "reading journal", path: path.to_path_buf(), source: e }),
        };
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let bad = |line: usize, reason: String| SearchError::Journal { path: path.to_path_buf(), line, reason };
        let text = std::str::from_utf8(&bytes[..complete]).map_err(|e| bad(0, format!("not UTF-8 ({e})")))?;
        let records = text
            .lines()
            .enumerate()
            .map(|(i, line)| serde_json::from_str::<R>(line).map_err(|e| bad(i + 1, e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(SearchError::io("opening journal", path))?;
        file.set_len(complete as u64).map_err(SearchError::io("truncating the torn end of", path))?;
        Ok((Journal { path: path.to_path_buf(), file, records: PhantomData }, records))
    }

    /// Appends one record and flushes it to the OS.
    pub fn append(&mut self, record: &R) -> Result<(), SearchError> {
        let mut line = serde_json::to_string(record).map_err(|e| SearchError::Journal {
            path: self.path.clone(),
            line: 0,
            reason: e.to_string(),
        })?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(SearchError::io("appending to", &self.path))?;
        self.file.flush().map_err(SearchError::io("flushing", &self.path))
    }
}
