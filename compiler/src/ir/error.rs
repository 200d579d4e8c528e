use thiserror::Error;

/// Why a graph is not a valid model.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum IrError {
    #[error("graph has a cycle through node `{node}`")]
    Cycle { node: String },
    #[error("node `{node}` ({op}) expects {expected} input(s) but has {got}")]
    Arity { node: String, op: &'static str, expected: usize, got: usize },
    #[error("node `{node}` has no producer connected to input slot {slot}")]
    DanglingInput { node: String, slot: usize },
    #[error("shape mismatch at node `{node}`: {reason}")]
    ShapeMismatch { node: String, reason: String },
    #[error("invalid attribute at node `{node}`: {reason}")]
    Attribute { node: String, reason: String },
    #[error("graph has no output")]
    NoOutput,
    #[error("node `{node}` has {got} parameter tensor(s), expected {expected}")]
    Params { node: String, expected: usize, got: usize },
    #[error("duplicate node name `{0}`")]
    DuplicateName(String),
    #[error("node `{node}`: {what} of shape {shape:?} exceeds {max} elements", max = crate::ir::MAX_TENSOR_ELEMENTS)]
    TooLarge { node: String, what: &'static str, shape: Vec<usize> },
    #[error("the model has {values} parameter values, more than the {max} weights are initialized for")]
    TooManyParams { values: usize, max: usize },
}
