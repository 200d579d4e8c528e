//! int8 quantization through the CLI, checked against things nobody here wrote: every
//! quantized model passes `onnx.checker.check_model(full_check=True)`, onnxruntime and tract
//! agree on its outputs and, per channel, on the integers of its first layer; the fidelity
//! report is consistent; bad input fails clearly without leaving a file.

use std::path::{Path, PathBuf};

use edgenas_compiler::onnx;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::Nb201Genome;
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_deploy::pipeline::{emit_genome, BatchNormInit};
use edgenas_runtime::{write_npy_f32, CompiledModel, RunOptions, TensorF32};
use onnx_protobuf::{Message, ModelProto};

use common::{edgenas, stderr};

mod common;

/// First-layer integers: both engines compute the same per-channel requantization of the
/// same int32 sums, so they may differ only where a value lands on a rounding tie: at most
/// one step.
const FIRST_LAYER_STEPS: f64 = 1.0;

/// Bound on `max |ort - tract| / max |ort|` of the output of a QOperator model with 7-bit
/// weights: both engines run the same integer kernels end to end (seen: identical outputs),
/// so only float rounding of the final f32 rescale may differ.
const QOPERATOR_OUTPUT_REL: f64 = 1e-5;

/// The same bound for QDQ models, which tract runs as f32 convolutions between fake
/// quantization and onnxruntime (graph as written) too, but with a different summation
/// order: a sum that lands next to a rounding tie of the following QuantizeLinear goes one
/// step apart, and random networks with BatchNorm amplify such perturbations layer by layer
/// (docs/QUANTIZATION.md). Seen 1.9e-2 (NB201) and 3.7e-2 (mbconv-mcu); a wrong scale, zero
/// point or channel axis is off by > 30%.
const QDQ_OUTPUT_REL: f64 = 0.1;

fn models(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut genomes = vec![("nb201-6111".to_string(), Genome::Nb201(Nb201Genome::from_index(6111).unwrap()))];
    let space = SearchSpace::resolve("mbconv-mcu").unwrap();
    let mut rng = SeededRng::derive(5, "int8");
    genomes.push(("mbconv-mcu".to_string(), space.sample(&mut rng)));
    genomes
        .into_iter()
        .map(|(name, g)| {
            let path = dir.join(format!("{name}.onnx"));
            std::fs::write(&path, emit_genome(&g, 0, BatchNormInit::Calibrated).unwrap().onnx).unwrap();
            (name, path)
        })
        .collect()
}

fn quantize(model: &Path, out: &Path, report: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "quantize",
        model.to_str().unwrap(),
        "--to",
        "int8",
        "--calib-synthetic",
        "20",
        "--out",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = edgenas(&args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap()
}

#[test]
fn int8_models_pass_the_checker_and_agree_with_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases");
    // (format, extra flags, onnxruntime optimization level). QOperator with 7-bit weights:
    // onnxruntime's integer kernels on this x86 CPU (no VNNI) saturate full-range int8
    // weights (seen 37 steps off at NB201's stem), tract's do not. QDQ with full-range
    // weights: onnxruntime runs the graph as written, the reference semantics of QDQ.
    let variants: [(&str, &[&str], &str); 2] =
        [("qoperator", &["--format", "qoperator", "--reduce-range"], "all"), ("qdq", &["--format", "qdq"], "none")];
    for (name, model) in models(dir.path()) {
        for (format, flags, level) in variants {
            let q = dir.path().join(format!("{name}-{format}.onnx"));
            let report = quantize(&model, &q, &dir.path().join(format!("{name}-{format}.json")), flags);
            assert_eq!(report["format"], format);
            let first = report["rewrite"]["layers"][0]["output"].as_str().unwrap().to_string();
            let probe = expose(&q, &[format!("{first}.quantized")]);
            let case = cases.join(format!("{name}-{format}"));
            std::fs::create_dir_all(&case).unwrap();
            std::fs::copy(&q, case.join("model.onnx")).unwrap();
            std::fs::write(case.join("probe.onnx"), &probe).unwrap();
            std::fs::write(case.join("ort_level"), level).unwrap();
            let compiled = CompiledModel::from_onnx_bytes(&probe, "probe", &RunOptions::default()).unwrap();
            let shape = compiled.input_shape().to_vec();
            let mut rng = SeededRng::derive(1, &name);
            let x = TensorF32::new(shape.clone(), (0..shape.iter().product()).map(|_| rng.normal()).collect()).unwrap();
            write_npy_f32(&case.join("input.npy"), &x).unwrap();
            for (k, y) in compiled.run(&x).unwrap().iter().enumerate() {
                write_npy_f32(&case.join(format!("tract_{k}.npy")), y).unwrap();
            }
        }
    }
    for line in common::run_peer("check_int8.py", &[&cases]).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["checker"], "ok", "{v}");
        let diff = |k: usize| v["max_abs_diff"][k].as_f64().unwrap_or_else(|| panic!("shape mismatch: {v}"));
        let rel = diff(0) / v["max_abs_ref"][0].as_f64().unwrap().max(1e-6);
        eprintln!("{}: output relative {rel:.2e}, first layer {} steps", v["case"], diff(1));
        assert!(diff(1) <= FIRST_LAYER_STEPS, "first-layer integers differ: {v}");
        let bound =
            if v["case"].as_str().unwrap().ends_with("qoperator") { QOPERATOR_OUTPUT_REL } else { QDQ_OUTPUT_REL };
        assert!(rel <= bound, "outputs differ: {v}");
    }
}

/// The quantized model at `path` with `tensors` exposed as extra outputs.
fn expose(path: &Path, tensors: &[String]) -> Vec<u8> {
    let model = ModelProto::parse_from_bytes(&std::fs::read(path).unwrap()).unwrap();
    onnx::to_bytes(&onnx::expose_tensors(&model, tensors).unwrap()).unwrap()
}

#[test]
fn fidelity_report_and_the_top1_gate() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = models(dir.path()).remove(0);
    let q = dir.path().join("q.onnx");
    let r = quantize(&model, &q, &dir.path().join("r.json"), &["--format", "qdq"]);
    let f = &r["fidelity"];
    assert_eq!(r["calibration_inputs"], 16);
    assert_eq!(r["held_out_inputs"], 4);
    for part in ["calibration", "held_out"] {
        let x = &f[part];
        let sqnr = x["sqnr_db"].as_f64().unwrap();
        // NB201 6111 at int8 is seen at 26-27 dB output SQNR; a broken scale or a lost bias
        // gives < 5 dB.
        assert!(sqnr > 15.0, "{part}: {x}");
        assert!(x["cosine"].as_f64().unwrap() > 0.95, "{part}: {x}");
        let top1 = x["top1_agreement"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&top1), "{x}");
    }
    let layers = f["layers"].as_array().unwrap();
    assert_eq!(layers.len(), r["rewrite"]["layers"].as_array().unwrap().len() - 1, "every layer but the classifier");
    // One layer of int8 noise on unit-variance activations: ~38 dB expected; errors
    // accumulate with depth, so the first layer is the cleanest.
    let first = layers[0]["sqnr_db"].as_f64().unwrap();
    let last = layers[layers.len() - 1]["sqnr_db"].as_f64().unwrap();
    assert!(first > 30.0 && first > last, "first {first} dB, last {last} dB");
    let size = &r["size"];
    let (before, after) = (size["weight_bytes_before"].as_u64().unwrap(), size["weight_bytes_after"].as_u64().unwrap());
    assert!(after * 3 < before && after * 5 > before, "int8 weights are ~1/4 of f32: {size}");
    assert_eq!(size["file_bytes_after"].as_u64().unwrap(), std::fs::metadata(&q).unwrap().len());

    let gated = dir.path().join("gated.onnx");
    let held_out = 100.0 * f["held_out"]["top1_agreement"].as_f64().unwrap();
    let args = |p: &str| {
        vec![
            "quantize".to_string(),
            model.to_str().unwrap().to_string(),
            "--to=int8".into(),
            "--calib-synthetic=20".into(),
            "--format=qdq".into(),
            format!("--min-top1-agreement={p}"),
            format!("--out={}", gated.display()),
        ]
    };
    let run = |p: &str| {
        let a = args(p);
        edgenas(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    if held_out > 0.0 {
        let o = run(&format!("{}", held_out - 1.0));
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(gated.exists());
        std::fs::remove_file(&gated).unwrap();
    }
    if held_out < 100.0 {
        let o = run(&format!("{}", held_out + 1.0));
        let err = stderr(&o);
        assert!(!o.status.success() && err.contains("top-1 agreement") && !err.contains("panicked"), "{err}");
        assert!(!gated.exists(), "no model after a failed gate");
    }
}

#[test]
fn quantize_int8_rejects_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    let genome = Genome::Nb201(Nb201Genome::from_index(100).unwrap());
    let bytes = emit_genome(&genome, 0, BatchNormInit::Seeded).unwrap().onnx;
    std::fs::write(&model, &bytes).unwrap();

    let mut nan_model = ModelProto::parse_from_bytes(&bytes).unwrap();
    let w = &mut nan_model.graph.as_mut().unwrap().initializer[0];
    let name = w.name.clone();
    w.raw_data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let nan_path = dir.path().join("nan.onnx");
    std::fs::write(&nan_path, onnx::to_bytes(&nan_model).unwrap()).unwrap();

    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, &bytes[..bytes.len() / 3]).unwrap();

    let wrong_shape = dir.path().join("wrong.npy");
    write_npy_f32(&wrong_shape, &TensorF32::new(vec![4, 3, 16, 16], vec![0.5; 4 * 3 * 16 * 16]).unwrap()).unwrap();
    let truncated = dir.path().join("calib.f32");
    std::fs::write(&truncated, vec![0u8; 4 * 3 * 32 * 32 * 4 - 7]).unwrap();

    let out = dir.path().join("q.onnx");
    let m = model.to_str().unwrap();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec![nan_path.to_str().unwrap()], format!("`{name}`")),
        (vec![garbage.to_str().unwrap()], "garbage.onnx".into()),
        (vec![m, "--calib", wrong_shape.to_str().unwrap()], "[4, 3, 16, 16]".into()),
        (vec![m, "--calib", truncated.to_str().unwrap(), "--calib-shape", "4,3,32,32"], "truncated".into()),
        (vec![m, "--method", "entropy"], "entropy".into()),
        (vec![m, "--format", "qlinear"], "qlinear".into()),
        (vec![m, "--calib-synthetic", "1"], "at least 2".into()),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["quantize", "--to", "int8", "--out", out.to_str().unwrap()];
        args.extend(extra);
        let o = edgenas(&args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains(&expected) && !err.contains("panicked"), "{args:?}: expected `{expected}` in: {err}");
        assert!(!out.exists(), "{args:?} left an output file");
    }
}
