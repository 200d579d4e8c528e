use serde::{Deserialize, Serialize};

/// Element type of a tensor, and the precision a layer is stored or computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F16,
    I8,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => std::mem::size_of::<f32>(),
            DType::F16 => std::mem::size_of::<half::f16>(),
            DType::I8 => std::mem::size_of::<i8>(),
        }
    }

    /// Bytes per element of a bias stored at this precision (int8 layers keep int32 biases).
    pub fn bias_size(self) -> usize {
        match self {
            DType::I8 => std::mem::size_of::<i32>(),
            other => other.size(),
        }
    }

    pub const ALL: [DType; 3] = [DType::F32, DType::F16, DType::I8];
}

/// Shape (NCHW for images, NC for features) and element type of a tensor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TensorType {
    pub shape: Vec<usize>,
    pub dtype: DType,
}

impl TensorType {
    pub fn f32(shape: impl Into<Vec<usize>>) -> Self {
        TensorType { shape: shape.into(), dtype: DType::F32 }
    }

    /// Number of elements, `None` when the product of the dimensions overflows.
    pub fn checked_numel(&self) -> Option<usize> {
        element_count(&self.shape)
    }

    /// Number of elements. Types of a graph that passed [`crate::ir::Graph::infer_types`]
    /// hold at most [`MAX_TENSOR_ELEMENTS`]; for others the count saturates instead of
    /// wrapping.
    pub fn numel(&self) -> usize {
        self.checked_numel().unwrap_or(usize::MAX)
    }

    /// Bytes of the tensor at its element type (saturating, as [`TensorType::numel`]).
    pub fn bytes(&self) -> usize {
        self.numel().saturating_mul(self.dtype.size())
    }
}

/// Most elements one tensor of a valid graph may have (2^40: a 4 TiB f32 tensor, far past
/// any edge model). [`crate::ir::Graph::infer_types`] rejects larger activations and
/// parameters, so element, byte and MAC counts of a validated graph cannot overflow.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 40;

/// The product of `shape`'s dimensions, `None` on overflow (1 for the scalar shape `[]`).
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// A constant parameter (weights, bias, batch-norm statistics), row-major f32.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl ParamTensor {
    /// A parameter holding `data` in `shape`; the caller guarantees that `data` has exactly
    /// [`element_count`]`(shape)` values (checked in debug builds).
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(element_count(&shape), Some(data.len()));
        ParamTensor { shape, data }
    }

    /// All zeros, for a shape of a validated graph (at most [`MAX_TENSOR_ELEMENTS`]).
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = element_count(&shape).unwrap_or(0);
        ParamTensor { shape, data: vec![0.0; n] }
    }
}
