//! Latency cache keyed by (model hash, target, precision): a resumed or repeated search
//! never measures the same compiled model twice. One JSON line per measurement.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use edgenas_runtime::LatencyStats;
use serde::{Deserialize, Serialize};

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
}

pub struct LatencyCache {
    path: PathBuf,
    file: File,
    entries: HashMap<CacheKey, LatencyStats>,
}

impl LatencyCache {
    /// Opens the cache file at `path` (created with its directory if missing). Lines that
    /// do not parse (a torn last write) are skipped.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading latency cache {}", path.display())),
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
            .with_context(|| format!("opening latency cache {}", path.display()))?;
        if !text.is_empty() && !text.ends_with('\n') {
            file.write_all(b"\n")?;
        }
        Ok(LatencyCache { path: path.to_path_buf(), file, entries })
    }

    pub fn get(&self, key: &CacheKey) -> Option<&LatencyStats> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: CacheKey, latency: LatencyStats) -> Result<()> {
        let mut line = serde_json::to_string(&CacheLine { key: key.clone(), latency: latency.clone() })?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).with_context(|| format!("appending to {}", self.path.display()))?;
        self.file.flush()?;
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
