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

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn bytes(&self) -> usize {
        self.numel() * self.dtype.size()
    }
}

/// A constant parameter (weights, bias, batch-norm statistics), row-major f32.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl ParamTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        ParamTensor { shape, data }
    }

    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        ParamTensor { shape, data: vec![0.0; n] }
    }
}
