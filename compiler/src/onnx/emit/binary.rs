use super::{EmitCtx, EmitOnnx};
use crate::ir::ops::Add;
use crate::ir::Node;
use crate::onnx::proto::node;
use crate::onnx::OnnxError;

impl EmitOnnx for Add {
    fn emit(&self, n: &Node, inputs: &[String], output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError> {
        ctx.push(node("Add", &n.name, &[&inputs[0], &inputs[1]], output, vec![]));
        Ok(())
    }
}
