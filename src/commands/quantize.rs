use anyhow::{Context, Result};
use edgenas_compiler::onnx;
use edgenas_compiler::quantize::{to_fp16, Fp16Options};
use onnx_protobuf::{Message, ModelProto};

use crate::cli::QuantizeArgs;
use crate::pipeline::write_atomic;

pub fn quantize(args: &QuantizeArgs) -> Result<()> {
    let path = &args.model;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let model = ModelProto::parse_from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("{} is not a valid ONNX model ({e})", path.display()))?;
    let (converted, report) = to_fp16(&model, &Fp16Options { keep_io_f32: !args.f16_io })
        .with_context(|| format!("converting {} to fp16", path.display()))?;
    write_atomic(&args.out, &onnx::to_bytes(&converted)?)?;
    if let Some(r) = &args.report {
        write_atomic(r, serde_json::to_string_pretty(&report)?.as_bytes())?;
    }
    if report.clamped_values > 0 {
        eprintln!("warning: {} weight values outside the f16 range were clamped to ±65504", report.clamped_values);
    }
    eprintln!(
        "wrote {}: {} tensors to f16, weights {} -> {} bytes",
        args.out.display(),
        report.converted_tensors,
        report.weight_bytes_before,
        report.weight_bytes_after
    );
    Ok(())
}
