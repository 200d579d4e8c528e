use super::OpDef;
use crate::ir::TensorType;

/// Element-wise sum of two tensors of identical type (no broadcasting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Add;

impl OpDef for Add {
    fn name(&self) -> &'static str {
        "Add"
    }
    fn arity(&self) -> usize {
        2
    }
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        if inputs[0] != inputs[1] {
            return Err(format!("Add of {:?} and {:?}", inputs[0].shape, inputs[1].shape));
        }
        Ok(inputs[0].clone())
    }
}
