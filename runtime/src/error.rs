use std::path::PathBuf;

/// Everything that can go wrong at the boundary of this crate.
///
/// Messages are meant to be shown to a user as is: they name the file, the shape or the tract
/// failure involved.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Reading or writing `path` failed.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `path` is not an NPY file this crate can read (only little-endian `<f4`, C order).
    #[error("{}: not a usable .npy file: {reason}", path.display())]
    Npy { path: PathBuf, reason: String },

    /// tract could not parse, type or optimize the model; `reason` carries tract's whole error
    /// chain, so the name of an unsupported operator shows up in it.
    #[error("failed to load model {path}: {reason}")]
    Load { path: String, reason: String },

    /// tract cannot write the model as NNEF (an operator without an NNEF serializer, such as
    /// QuantizeLinear); `0` carries tract's explanation.
    #[error("cannot save the model as NNEF: {0}")]
    NnefSave(String),

    /// The input tensor's shape is not the one the model was compiled for.
    #[error("input shape {got:?} does not match the model's input {expected:?}")]
    InputShape { expected: Vec<usize>, got: Vec<usize> },

    /// A tensor's shape and its number of values disagree.
    #[error("shape {shape:?} does not hold {got} values")]
    TensorData { shape: Vec<usize>, got: usize },

    /// Inference itself failed.
    #[error("inference failed: {0}")]
    Run(String),

    /// The requested thread count cannot be honoured.
    #[error("threads: {0}")]
    Threads(String),

    /// A benchmark setting is out of range.
    #[error("invalid benchmark configuration: {0}")]
    BenchConfig(String),
}

/// An error and its chain of sources on one line: `error: cause: cause`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The message of a caught panic (`&str` or `String` payload), "unknown panic" otherwise.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}
