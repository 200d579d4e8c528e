//! Latency cache keyed by (model hash, target, precision): a resumed or repeated search
//! never measures the same compiled model twice. One JSON line per measurement.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use edgenas_runtime::LatencyStats;
use serde::{Deserialize, Serialize};

use crate::candidate::Candidate;
use crate::SearchError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CacheKey {
    pub model_sha256: String,
    pub target: String,
    pub precision: String,
}

#[derive(Serialize, Deserialize)]
struct CacheLine {
    key: CacheKey,
    latency: LatencyStats,
    /// What was measured, so a predictor can be fitted from the cache; absent in caches
    /// written before predictors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    candidate: Option<Candidate>,
}

/// One measurement of a cache file, with the candidate it measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedMeasurement {
    pub key: CacheKey,
    pub latency: LatencyStats,
    pub candidate: Candidate,
}

/// The measurements of the cache file at `path` that name their candidate, read without
/// opening it for writing; lines that do not parse (a torn last write) are skipped.
pub fn read_cached_measurements(path: &Path) -> Result<Vec<CachedMeasurement>, SearchError> {
    let text = std::fs::read_to_string(path).map_err(SearchError::io("reading latency cache", path))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<CacheLine>(line).ok())
        .filter_map(|l| Some(CachedMeasurement { key: l.key, latency: l.latency, candidate: l.candidate? }))
        .collect())
}

pub struct LatencyCache {
    path: PathBuf,
    file: File,
    entries: HashMap<CacheKey, LatencyStats>,
}

impl LatencyCache {
    /// Opens the cache file at `path` (created with its directory if missing). Lines that
    /// do not parse (a torn last write) are skipped.
    pub fn open(path: &Path) -> Result<Self, SearchError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(SearchError::io("creating", dir))?;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(SearchError::Io { what: "reading latency cache", path: path.to_path_buf(), source: e })
            }
        };
        let entries = text
            .lines()
            .filter_map(|line| serde_json::from_str::<CacheLine>(line).ok())
            .map(|l| (l.key, l.latency))
            .collect();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(SearchError::io("opening latency cache", path))?;
        if !text.is_empty() && !text.ends_with('\n') {
            file.write_all(b"\n").map_err(SearchError::io("appending to", path))?;
        }
        Ok(LatencyCache { path: path.to_path_buf(), file, entries })
    }

    pub fn get(&self, key: &CacheKey) -> Option<&LatencyStats> {
        self.entries.get(key)
    }

    /// Records a measurement of `candidate` (appended to the file at once).
    pub fn insert(&mut self, key: CacheKey, latency: LatencyStats, candidate: &Candidate) -> Result<(), SearchError> {
        let line = CacheLine { key: key.clone(), latency: latency.clone(), candidate: Some(candidate.clone()) };
        let mut line = serde_json::to_string(&line).map_err(|e| SearchError::Journal {
            path: self.path.clone(),
            line: 0,
            reason: e.to_string(),
        })?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).map_err(SearchError::io("appending to", &self.path))?;
        self.file.flush().map_err(SearchError::io("flushing", &self.path))?;
        self.entries.insert(key, latency);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
