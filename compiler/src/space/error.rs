use thiserror::Error;

use crate::ir::IrError;

/// Why a space or genome cannot be used.
#[derive(Debug, Error)]
pub enum SpaceError {
    #[error("unknown search space `{0}`: use nb201, mbconv-phone, mbconv-mcu or the path of a space TOML file")]
    UnknownSpace(String),
    #[error("invalid NB201 arch string `{arch}`: {reason}")]
    InvalidArch { arch: String, reason: String },
    #[error("NB201 index {0} out of range (0..=15624)")]
    IndexOutOfRange(i64),
    #[error("NB201 genome says index {index} but arch `{arch}` has index {expected}")]
    IndexMismatch { arch: String, index: usize, expected: usize },
    #[error("genome of space `{genome}` given to space `{space}`")]
    WrongSpace { space: String, genome: String },
    #[error("invalid space definition `{name}`: {reason}")]
    InvalidSpace { name: String, reason: String },
    #[error("genome not in space `{space}`: {reason}")]
    NotInSpace { space: String, reason: String },
    #[error("invalid genome: {0}")]
    InvalidGenome(String),
    #[error("reading space file {path}")]
    Io { path: String, source: std::io::Error },
    #[error("parsing space file {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error(transparent)]
    Ir(#[from] IrError),
}
