//! fp16 and int8 of PyTorch-style exports (MobileNetV2/V3-like and ResNet-like graphs built
//! by tests/peer/torchvision_style.py: BatchNorm, depthwise convs, Clip, HardSwish,
//! squeeze-excitation, Reshape by shape initializers and by a Shape/Gather/Concat chain,
//! Pad, Slice, Concat, Transpose, ReduceMean, Softmax, Gemm), checked against onnxruntime:
//! every converted model passes the ONNX checker, and tract and onnxruntime (graph as
//! written) compute the same outputs on it.

use std::path::Path;

use edgenas_compiler::rng::SeededRng;
use edgenas_runtime::{write_npy_f32, CompiledModel, RunOptions, TensorF32};

use common::{edgenas, stderr};

mod common;

/// tract against onnxruntime on the f32 model: the same f32 ops in different summation
/// orders, over ~10 layers: ~1e-6 relative seen; 1e-4 catches any semantic difference.
const F32_TRACT_VS_ORT: f64 = 1e-4;
/// The same on the fp16 model: each engine rounds to f16 at its own points (tract emulates
/// f16 on x86, onnxruntime's CPU provider computes some ops in f32 between casts), 2^-11
/// relative per rounding over ~10 layers; as in tests/peer_fp16.rs, 5e-2, while a wrong
/// conversion (a lost bias, an f32 constant left in an f16 op) is off by more than 1e-1.
const F16_TRACT_VS_ORT: f64 = 5e-2;
/// fp16 against f32, both in tract: the same rounding argument; these nets are shallow
/// and BatchNorm keeps activations near 1, so 2e-2.
const F16_VS_F32: f64 = 2e-2;
/// tract against onnxruntime on the int8 QDQ model: f32 compute between fake-quantization
/// nodes in both, summed in different orders, so a value next to a rounding tie lands one
/// step (1/255 of the tensor's range) apart and later layers carry it; as in
/// tests/peer_int8.rs, 0.1 of the largest output, while a wrong scale or axis is off by
/// more than 30%.
const INT8_TRACT_VS_ORT: f64 = 0.1;

fn max_rel(a: &[f32], b: &[f32]) -> f64 {
    let scale = a.iter().fold(1e-6f32, |m, v| m.max(v.abs())) as f64;
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs() as f64)) / scale
}

fn quantize(model: &Path, to: &str, out: &Path) {
    let args =
        ["quantize", model.to_str().unwrap(), "--to", to, "--calib-synthetic", "20", "--out", out.to_str().unwrap()];
    let o = edgenas(&args);
    assert!(o.status.success(), "{args:?}:\n{}", stderr(&o));
}

#[test]
fn fp16_and_int8_of_pytorch_style_exports_agree_with_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let sources = dir.path().join("sources");
    let names = common::run_peer("torchvision_style.py", &[&sources]);
    let cases = dir.path().join("cases");
    let mut tolerances = Vec::new();
    for name in names.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let f32_model = sources.join(format!("{name}.onnx"));
        let f32_compiled = CompiledModel::from_onnx_path(&f32_model, &RunOptions::default()).unwrap();
        let shape = f32_compiled.input_shape().to_vec();
        let mut rng = SeededRng::derive(3, name);
        let x = TensorF32::new(shape.clone(), (0..shape.iter().product()).map(|_| rng.normal()).collect()).unwrap();
        let reference = f32_compiled.run(&x).unwrap().remove(0);
        for (precision, tolerance) in
            [("f32", F32_TRACT_VS_ORT), ("fp16", F16_TRACT_VS_ORT), ("int8", INT8_TRACT_VS_ORT)]
        {
            let case = cases.join(format!("{name}-{precision}"));
            std::fs::create_dir_all(&case).unwrap();
            let model = case.join("model.onnx");
            match precision {
                "f32" => {
                    std::fs::copy(&f32_model, &model).unwrap();
                }
                to => quantize(&f32_model, to, &model),
            }
            let y = CompiledModel::from_onnx_path(&model, &RunOptions::default()).unwrap().run(&x).unwrap().remove(0);
            assert_eq!(y.shape, reference.shape, "{name} {precision}");
            if precision == "fp16" {
                let err = max_rel(&reference.data, &y.data);
                eprintln!("{name}: fp16 vs f32 in tract {err:.2e}");
                assert!(err <= F16_VS_F32, "{name}: fp16 vs f32 {err}");
            }
            write_npy_f32(&case.join("input.npy"), &x).unwrap();
            write_npy_f32(&case.join("tract.npy"), &y).unwrap();
            tolerances.push((format!("{name}-{precision}"), tolerance));
        }
    }
    assert_eq!(tolerances.len(), 9, "three models, three precisions");
    let lines = common::run_peer("check_onnx.py", &[&cases]);
    for line in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let case = v["case"].as_str().unwrap();
        let (_, tolerance) = tolerances.iter().find(|(c, _)| c == case).unwrap();
        assert_eq!(v["checker"], "ok", "{v}");
        let rel = v["max_abs_diff"].as_f64().unwrap() / v["max_abs_ref"].as_f64().unwrap().max(1e-6);
        eprintln!("{case}: tract vs onnxruntime {rel:.2e} (bound {tolerance:e})");
        assert!(rel <= *tolerance, "{v}");
    }
    assert_eq!(lines.lines().count(), 9);
}
