use super::{EmitCtx, EmitOnnx};
use crate::ir::ops::Conv;
use crate::ir::Node;
use crate::onnx::proto::{attr_int, attr_ints, node};
use crate::onnx::OnnxError;

impl EmitOnnx for Conv {
    fn emit(&self, n: &Node, inputs: &[String], output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError> {
        let params = EmitCtx::params(n, if self.bias { 2 } else { 1 })?;
        let mut args = vec![inputs[0].clone(), ctx.initializer(format!("{}.weight", n.name), &params[0])];
        if self.bias {
            args.push(ctx.initializer(format!("{}.bias", n.name), &params[1]));
        }
        let (k, s, p) = (self.kernel as i64, self.stride as i64, self.padding as i64);
        let attrs = vec![
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("strides", &[s, s]),
            attr_ints("pads", &[p, p, p, p]),
            attr_ints("dilations", &[1, 1]),
            attr_int("group", self.groups as i64),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ctx.push(node("Conv", &n.name, &args, output, attrs));
        Ok(())
    }
}
