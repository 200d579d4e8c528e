use super::OpDef;
use crate::ir::TensorType;

/// `[n, d1, d2, ...] -> [n, d1 * d2 * ...]` (ONNX Flatten with axis 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flatten;

impl OpDef for Flatten {
    fn name(&self) -> &'static str {
        "Flatten"
    }
    fn arity(&self) -> usize {
        1
    }
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        let x = inputs[0];
        if x.shape.is_empty() {
            return Err("Flatten of a scalar".into());
        }
        let features = crate::ir::element_count(&x.shape[1..]).ok_or("Flatten: the flattened size overflows")?;
        Ok(TensorType { shape: vec![x.shape[0], features], dtype: x.dtype })
    }
}
