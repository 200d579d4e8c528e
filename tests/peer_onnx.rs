//! Property check against peers nobody here wrote: random genomes from every built-in
//! space are emitted, pass `onnx.checker.check_model(full_check=True)`, and give the same
//! output in tract (our runtime) and onnxruntime. A fresh sample each run; the seed is
//! printed (replay with EDGENAS_TEST_SEED).

use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::SearchSpace;
use edgenas_deploy::pipeline::{emit_genome, BatchNormInit};
use edgenas_runtime::{write_npy_f32, CompiledModel, RunOptions, TensorF32};

mod common;

/// Allowed |tract - onnxruntime| relative to the largest output magnitude. Both compute in
/// f32 with different kernels and summation orders; over the 20 to 90 conv layers of these
/// networks rounding differences reach a few 1e-6 relative (seen: at most 4.6e-6, on
/// mbconv-phone samples), so 1e-4 leaves margin while still catching any real semantic
/// difference (a wrong pad, a missed bias or a misfolded BatchNorm is > 1e-2).
const REL_TOL: f64 = 1e-4;

#[test]
fn sampled_genomes_pass_the_checker_and_match_onnxruntime() {
    let seed = common::test_seed("peer_onnx");
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = [("nb201", 6), ("mbconv-mcu", 4), ("mbconv-phone", 2)];
    let mut cases = Vec::new();
    for (space_name, count) in plan {
        let space = SearchSpace::resolve(space_name).expect("built-in space");
        let mut rng = SeededRng::derive(seed, space_name);
        for i in 0..count {
            let genome = space.sample(&mut rng);
            let graph =
                genome.build().unwrap_or_else(|e| panic!("seed {seed}: {} does not build: {e}", genome.to_json()));
            assert!(graph.len() > 3);
            let model = emit_genome(&genome, seed, BatchNormInit::Seeded).expect("emit");
            let compiled = CompiledModel::from_onnx_bytes(&model.onnx, space_name, &RunOptions::default())
                .unwrap_or_else(|e| panic!("seed {seed}: tract cannot load {}: {e}", genome.to_json()));
            let shape = compiled.input_shape().to_vec();
            let mut data_rng = SeededRng::derive(seed, &genome.content_hash());
            let numel = shape.iter().product();
            let input = TensorF32::new(shape, (0..numel).map(|_| data_rng.normal()).collect()).expect("input");
            let output = compiled.run(&input).expect("tract run").remove(0);
            let case = dir.path().join(format!("{space_name}-{i}"));
            std::fs::create_dir_all(&case).expect("case dir");
            std::fs::write(case.join("model.onnx"), &model.onnx).expect("write model");
            write_npy_f32(&case.join("input.npy"), &input).expect("write input");
            write_npy_f32(&case.join("tract.npy"), &output).expect("write output");
            cases.push((format!("{space_name}-{i}"), genome.to_json()));
        }
    }
    let report = common::run_peer("check_onnx.py", &[dir.path()]);
    let lines: Vec<serde_json::Value> = report.lines().map(|l| serde_json::from_str(l).expect("peer JSON")).collect();
    assert_eq!(lines.len(), cases.len(), "peer checked every case");
    for line in lines {
        let case = line["case"].as_str().expect("case");
        let genome = &cases.iter().find(|(c, _)| c == case).expect("known case").1;
        let ctx = format!("seed {seed}, case {case}, genome {genome}");
        assert_eq!(line["checker"], "ok", "{ctx}");
        assert_eq!(line["ort_shape"], line["tract_shape"], "{ctx}");
        let diff = line["max_abs_diff"].as_f64().expect("diff");
        let scale = line["max_abs_ref"].as_f64().expect("scale").max(1.0);
        eprintln!("{case}: max |tract - ort| = {diff:.3e}, output scale {scale:.3e}, relative {:.3e}", diff / scale);
        assert!(diff <= REL_TOL * scale, "{ctx}: max |tract - ort| = {diff} (output scale {scale})");
    }
}
