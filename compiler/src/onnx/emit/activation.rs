use super::{EmitCtx, EmitOnnx};
use crate::ir::ops::Activation;
use crate::ir::{Node, ParamTensor};
use crate::onnx::proto::node;
use crate::onnx::OnnxError;

const RELU6_MIN: &str = "relu6.min";
const RELU6_MAX: &str = "relu6.max";

impl EmitOnnx for Activation {
    fn emit(&self, n: &Node, inputs: &[String], output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError> {
        match self {
            Activation::Relu => ctx.push(node("Relu", &n.name, &[&inputs[0]], output, vec![])),
            Activation::Relu6 => {
                if !ctx.has_relu6_bounds {
                    ctx.initializer(RELU6_MIN.into(), &ParamTensor::new(vec![], vec![0.0]));
                    ctx.initializer(RELU6_MAX.into(), &ParamTensor::new(vec![], vec![6.0]));
                    ctx.has_relu6_bounds = true;
                }
                ctx.push(node("Clip", &n.name, &[&inputs[0], RELU6_MIN, RELU6_MAX], output, vec![]));
            }
        }
        Ok(())
    }
}
