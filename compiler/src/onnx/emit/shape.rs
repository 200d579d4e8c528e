use super::{EmitCtx, EmitOnnx};
use crate::ir::ops::Flatten;
use crate::ir::Node;
use crate::onnx::proto::{attr_int, node};
use crate::onnx::OnnxError;

impl EmitOnnx for Flatten {
    fn emit(&self, n: &Node, inputs: &[String], output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError> {
        ctx.push(node("Flatten", &n.name, &[&inputs[0]], output, vec![attr_int("axis", 1)]));
        Ok(())
    }
}
