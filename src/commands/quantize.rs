use anyhow::{bail, ensure, Context, Result};
use edgenas_compiler::quantize::{CalibrationMethod, Precision};
use edgenas_deploy::quantization::{
    auto_format, integer_only_for, quantize_model, CalibrationSource, FormatChoice, QuantizeReport, QuantizeRequest,
    RewriteReport,
};
use edgenas_targets::Target;

use super::write_file;
use crate::cli::QuantizeArgs;

/// Synthetic calibration inputs when none are given.
const DEFAULT_SYNTHETIC_INPUTS: usize = 100;

pub fn quantize(args: &QuantizeArgs) -> Result<()> {
    let precision = match (args.to.as_str(), args.mixed) {
        ("fp16", false) => Precision::F16,
        ("fp16", true) => Precision::F16Mixed,
        ("int8", false) => Precision::Int8,
        ("int8", true) => Precision::Int8Mixed,
        (other, _) => bail!("unknown precision `{other}`"),
    };
    let method: CalibrationMethod = args.method.parse().map_err(anyhow::Error::msg).context("--method")?;
    let target = Target::resolve(&args.target).context("--target")?;
    let format = match args.format.parse().map_err(anyhow::Error::msg).context("--format")? {
        FormatChoice::Fixed(f) => f,
        FormatChoice::Auto => auto_format(&target)?,
    };
    let integer_only = args.integer_only || integer_only_for(&target);
    if let Some(p) = args.min_top1_agreement {
        ensure!((0.0..=100.0).contains(&p), "--min-top1-agreement {p} is not a percentage in [0, 100]");
    }
    let calibration = match (&args.calib, &args.calib_shape) {
        (Some(path), None) => CalibrationSource::Npy(path.clone()),
        (Some(path), Some(shape)) => CalibrationSource::Raw { path: path.clone(), shape: shape.clone() },
        (None, _) => CalibrationSource::Synthetic {
            count: args.calib_synthetic.unwrap_or(DEFAULT_SYNTHETIC_INPUTS),
            seed: args.calib_seed,
        },
    };
    let path = &args.model;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let request = QuantizeRequest {
        precision,
        keep_io_f32: !args.f16_io,
        format,
        reduce_range: args.reduce_range,
        integer_only,
        method,
        calibration,
        fidelity: true,
    };
    let quantized = quantize_model(&bytes, &request, &mut |line| eprintln!("{line}"))
        .with_context(|| format!("quantizing {} to {precision}", path.display()))?;
    let report = &quantized.report;
    if let Some(r) = &args.report {
        write_file(r, serde_json::to_string_pretty(report)?.as_bytes())?;
    }
    print_summary(report);
    if let (Some(min), Some(f)) = (args.min_top1_agreement, &report.fidelity) {
        let got = 100.0 * f.held_out.top1_agreement;
        if got < min {
            bail!(
                "held-out top-1 agreement {got:.2}% is below --min-top1-agreement {min}%: {} not written",
                args.out.display()
            );
        }
    }
    write_file(&args.out, &quantized.onnx)?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn print_summary(report: &QuantizeReport) {
    if let RewriteReport::Fp16(r) = &report.rewrite {
        if r.clamped_values > 0 {
            eprintln!("warning: {} weight values outside the f16 range were clamped to ±65504", r.clamped_values);
        }
    }
    if let RewriteReport::Int8(r) = &report.rewrite {
        eprintln!(
            "int8 ({}): {} layers quantized, {} kept f32{}",
            r.format,
            r.layers.len(),
            r.kept_f32.len(),
            if r.clamped_bias_values > 0 {
                format!(", {} bias values clamped", r.clamped_bias_values)
            } else {
                String::new()
            }
        );
    }
    let s = &report.size;
    eprintln!(
        "size: file {} -> {} bytes, weights {} -> {} bytes",
        s.file_bytes_before, s.file_bytes_after, s.weight_bytes_before, s.weight_bytes_after
    );
    if let Some(f) = &report.fidelity {
        for (label, x) in [("calibration", &f.calibration), ("held-out", &f.held_out)] {
            eprintln!(
                "fidelity on {label} ({} inputs): SQNR {} dB, cosine {:.6}, max abs error {:.3e}, top-1 agreement {:.2}%",
                x.inputs,
                x.sqnr_db.map_or("inf".to_string(), |d| format!("{d:.1}")),
                x.cosine,
                x.max_abs_error,
                100.0 * x.top1_agreement
            );
        }
        if let Some(worst) =
            f.layers.iter().filter_map(|l| l.sqnr_db.map(|d| (d, l))).min_by(|a, b| a.0.total_cmp(&b.0))
        {
            eprintln!("lowest layer SQNR: {:.1} dB at `{}`", worst.0, worst.1.layer);
        }
    }
}
