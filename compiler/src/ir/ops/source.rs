use super::OpDef;
use crate::ir::TensorType;

/// A graph input of fixed type.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub ty: TensorType,
}

impl OpDef for Input {
    fn name(&self) -> &'static str {
        "Input"
    }
    fn arity(&self) -> usize {
        0
    }
    fn output_type(&self, _inputs: &[&TensorType]) -> Result<TensorType, String> {
        if self.ty.shape.is_empty() || self.ty.shape.contains(&0) {
            return Err(format!("input shape {:?} must be non-empty with positive dims", self.ty.shape));
        }
        Ok(self.ty.clone())
    }
}

/// A constant tensor of zeros (what an NB201 `none` edge becomes once lowered).
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroConst {
    pub ty: TensorType,
}

impl OpDef for ZeroConst {
    fn name(&self) -> &'static str {
        "ZeroConst"
    }
    fn arity(&self) -> usize {
        0
    }
    fn output_type(&self, _inputs: &[&TensorType]) -> Result<TensorType, String> {
        Ok(self.ty.clone())
    }
}
