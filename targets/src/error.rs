use std::path::PathBuf;

use thiserror::Error;

/// Why a target descriptor cannot be used.
#[derive(Debug, Error)]
pub enum TargetError {
    /// Neither a built-in name nor a path.
    #[error("unknown target `{name}`: built-in targets are {builtins}; or give the path of a target TOML file")]
    Unknown { name: String, builtins: String },
    #[error("cannot read target file {}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// Not TOML, or not the descriptor schema (unknown or missing field, wrong type).
    #[error("target file {origin}{}: {reason}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Parse { origin: String, line: Option<usize>, reason: String },
    /// Well-formed but breaks a rule of [`crate::Target::validate`].
    #[error("target file {origin}: {reason}")]
    Invalid { origin: String, reason: String },
}
