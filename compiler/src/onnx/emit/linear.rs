use super::{EmitCtx, EmitOnnx};
use crate::ir::ops::Linear;
use crate::ir::{Node, ParamTensor};
use crate::onnx::proto::{attr_int, node};
use crate::onnx::OnnxError;

impl EmitOnnx for Linear {
    /// With bias: `Gemm(x, W, b, transB = 1)`; without: `MatMul(x, W^T)` (weight stored
    /// transposed as `[in, out]`).
    fn emit(&self, n: &Node, inputs: &[String], output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError> {
        let params = EmitCtx::params(n, if self.bias { 2 } else { 1 })?;
        if self.bias {
            let w = ctx.initializer(format!("{}.weight", n.name), &params[0]);
            let b = ctx.initializer(format!("{}.bias", n.name), &params[1]);
            ctx.push(node("Gemm", &n.name, &[&inputs[0], &w, &b], output, vec![attr_int("transB", 1)]));
        } else {
            let (o, i) = (self.out_features, self.in_features);
            let w = &params[0].data;
            let t: Vec<f32> = (0..i * o).map(|k| w[(k % o) * i + k / o]).collect();
            let w = ctx.initializer(format!("{}.weight_t", n.name), &ParamTensor::new(vec![i, o], t));
            ctx.push(node("MatMul", &n.name, &[&inputs[0], &w], output, vec![]));
        }
        Ok(())
    }
}
