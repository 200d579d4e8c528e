//! The predictor file: a fitted latency predictor with what it predicts and from what,
//! stored as JSON with a format version, so a file from another version is refused rather
//! than misread.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ensemble::LatencyEnsemble;
use super::PredictorError;

/// Bumped whenever the meaning of a stored field changes.
pub const PREDICTOR_FORMAT_VERSION: u32 = 1;

/// A latency predictor for one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorFile {
    pub version: u32,
    /// The latency source it predicts (`nb201-table:pixel3`, `host`, a target name).
    pub target: String,
    /// What the predicted numbers count (`ms` or `instructions`).
    pub unit: String,
    /// Names of the input columns, in order.
    pub inputs: Vec<String>,
    /// How many measured architectures it was fitted on.
    pub samples: usize,
    pub model: LatencyEnsemble,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

impl PredictorFile {
    /// Writes the file (atomically: a failed write keeps the old one).
    pub fn save(&self, path: &Path) -> Result<(), PredictorError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| PredictorError::Config(e.to_string()))?;
        edgenas_runtime::write_atomic(path, text.as_bytes()).map_err(|e| PredictorError::Io {
            what: "writing predictor",
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// Reads a file written by [`PredictorFile::save`]; a damaged file or one of another
    /// format version is an error naming the file.
    pub fn load(path: &Path) -> Result<Self, PredictorError> {
        let text = std::fs::read_to_string(path).map_err(|source| PredictorError::Io {
            what: "reading predictor",
            path: path.to_path_buf(),
            source,
        })?;
        let corrupt = |reason: String| PredictorError::Corrupt { path: path.to_path_buf(), reason };
        let version: VersionOnly = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if version.version != PREDICTOR_FORMAT_VERSION {
            return Err(PredictorError::Version {
                path: path.to_path_buf(),
                found: version.version,
                expected: PREDICTOR_FORMAT_VERSION,
            });
        }
        let file: PredictorFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.model.inputs != file.inputs.len() {
            return Err(corrupt(format!(
                "{} input names for a model of {} inputs",
                file.inputs.len(),
                file.model.inputs
            )));
        }
        if let Some(m) = file.model.members.iter().find(|m| m.columns.iter().any(|&c| c >= file.model.inputs)) {
            return Err(corrupt(format!("member `{}` reads a column beyond the {} inputs", m.name, file.model.inputs)));
        }
        Ok(file)
    }
}
