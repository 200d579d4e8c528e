use super::OpDef;
use crate::ir::TensorType;

/// Element-wise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Relu,
    /// `min(max(x, 0), 6)`, lowered to ONNX `Clip(0, 6)`.
    Relu6,
}

impl OpDef for Activation {
    fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "Relu",
            Activation::Relu6 => "Relu6",
        }
    }
    fn arity(&self) -> usize {
        1
    }
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        Ok(inputs[0].clone())
    }
}
