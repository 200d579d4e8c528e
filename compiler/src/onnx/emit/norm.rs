use super::{EmitCtx, EmitOnnx};
use crate::ir::ops::BatchNorm;
use crate::ir::{Node, ParamTensor};
use crate::onnx::proto::{attr_float, attr_int, attr_ints, node};
use crate::onnx::OnnxError;

impl EmitOnnx for BatchNorm {
    fn emit(&self, n: &Node, inputs: &[String], output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError> {
        if ctx.batch_statistics {
            return self.emit_batch_statistics(n, &inputs[0], output, ctx);
        }
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

impl BatchNorm {
    /// Training-mode normalization spelled in plain ops:
    /// `(x - mean) / sqrt(var + eps) * scale + shift` with the batch's mean and variance.
    fn emit_batch_statistics(&self, n: &Node, x: &str, output: &str, ctx: &mut EmitCtx) -> Result<(), OnnxError> {
        let p = EmitCtx::params(n, 4)?;
        let c = self.channels;
        let channel = |t: &ParamTensor| ParamTensor::new(vec![c, 1, 1], t.data.clone());
        let scale = ctx.initializer(format!("{}.scale", n.name), &channel(&p[0]));
        let shift = ctx.initializer(format!("{}.shift", n.name), &channel(&p[1]));
        let eps = ctx.initializer(format!("{}.epsilon", n.name), &ParamTensor::new(vec![], vec![self.epsilon]));
        let t = |suffix: &str| format!("{}.{suffix}", n.name);
        let reduce = || vec![attr_ints("axes", &[0, 2, 3]), attr_int("keepdims", 1)];
        let (mean, var) = (t("batch_mean"), t("batch_var"));
        ctx.push(node("ReduceMean", &t("reduce_mean"), &[x], &mean, reduce()));
        ctx.push(node("Sub", &t("center"), &[x, &mean], &t("centered"), vec![]));
        ctx.push(node("Mul", &t("square"), &[&t("centered"), &t("centered")], &t("squared"), vec![]));
        ctx.push(node("ReduceMean", &t("reduce_var"), &[&t("squared")], &var, reduce()));
        ctx.push(node("Add", &t("add_epsilon"), &[&var, &eps], &t("var_eps"), vec![]));
        ctx.push(node("Sqrt", &t("sqrt"), &[&t("var_eps")], &t("std"), vec![]));
        ctx.push(node("Div", &t("normalize"), &[&t("centered"), &t("std")], &t("normalized"), vec![]));
        ctx.push(node("Mul", &t("apply_scale"), &[&t("normalized"), &scale], &t("scaled"), vec![]));
        ctx.push(node("Add", &t("apply_shift"), &[&t("scaled"), &shift], output, vec![]));
        ctx.statistics_outputs.push((mean, vec![1, c, 1, 1]));
        ctx.statistics_outputs.push((var, vec![1, c, 1, 1]));
        Ok(())
    }
}
