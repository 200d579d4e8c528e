use super::{EmitCtx, EmitOnnx};
use crate::ir::ops::BatchNorm;
use crate::ir::Node;
use crate::onnx::proto::{attr_float, node};
use crate::onnx::OnnxError;

impl EmitOnnx for BatchNorm {
    fn emit(&self, n: &Node, inputs: &[String], output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError> {
        let p = EmitCtx::params(n, 4)?;
        let names: Vec<String> = ["scale", "shift", "mean", "var"]
            .iter()
            .zip(p)
            .map(|(suffix, t)| ctx.initializer(format!("{}.{suffix}", n.name), t))
            .collect();
        let args = [inputs[0].as_str(), &names[0], &names[1], &names[2], &names[3]];
        ctx.push(node("BatchNormalization", &n.name, &args, output, vec![attr_float("epsilon", self.epsilon)]));
        Ok(())
    }
}
