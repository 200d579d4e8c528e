//! The two parameter-free NAS-Bench-201 edge ops.

use super::OpDef;
use crate::ir::TensorType;

/// NB201 `none`: a tensor of zeros with the input's type. Its input is consumed only for
/// its type; lowering removes it from sums and otherwise emits a zero constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Zero;

impl OpDef for Zero {
    fn name(&self) -> &'static str {
        "Zero"
    }
    fn arity(&self) -> usize {
        1
    }
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        Ok(inputs[0].clone())
    }
}

/// NB201 `skip_connect` at stride 1: the input unchanged. Lowering rewires its consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Identity;

impl OpDef for Identity {
    fn name(&self) -> &'static str {
        "Identity"
    }
    fn arity(&self) -> usize {
        1
    }
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        Ok(inputs[0].clone())
    }
}
