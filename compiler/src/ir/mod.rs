//! Graph IR: a petgraph DAG of op nodes; each node produces one tensor, each edge carries
//! that tensor into an input slot of a consumer.

mod error;
mod graph;
pub mod ops;
mod patch;
mod tensor;

pub use error::IrError;
pub use graph::{Graph, Node, NodeId};
pub use ops::Op;
pub use patch::{GraphPatch, Rewrite};
pub use tensor::{element_count, DType, ParamTensor, TensorType, MAX_TENSOR_ELEMENTS};
