use super::{EmitCtx, EmitOnnx};
use crate::ir::ops::{GlobalAvgPool, Pool, PoolKind};
use crate::ir::Node;
use crate::onnx::proto::{attr_int, attr_ints, node};
use crate::onnx::OnnxError;

impl EmitOnnx for Pool {
    fn emit(&self, n: &Node, inputs: &[String], output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError> {
        let (k, s, p) = (self.kernel as i64, self.stride as i64, self.padding as i64);
        let mut attrs =
            vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[s, s]), attr_ints("pads", &[p, p, p, p])];
        let op_type = match self.kind {
            PoolKind::Avg { count_include_pad } => {
                attrs.push(attr_int("count_include_pad", count_include_pad as i64));
                "AveragePool"
            }
            PoolKind::Max => "MaxPool",
        };
        ctx.push(node(op_type, &n.name, &[&inputs[0]], output, attrs));
        Ok(())
    }
}

impl EmitOnnx for GlobalAvgPool {
    fn emit(&self, n: &Node, inputs: &[String], output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError> {
        ctx.push(node("GlobalAveragePool", &n.name, &[&inputs[0]], output, vec![]));
        Ok(())
    }
}
