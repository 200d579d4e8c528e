//! The CLI's happy paths, end to end through the binary.

use common::{edgenas, stderr, stdout};
use serde_json::Value;

mod common;

fn ok(args: &[&str]) -> String {
    let out = edgenas(args);
    assert!(out.status.success(), "{args:?} failed:\n{}", stderr(&out));
    stdout(&out)
}

#[test]
fn space_sample_is_reproducible_and_parses_back() {
    for space in ["nb201", "mbconv-phone", "mbconv-mcu"] {
        let a = ok(&["space", "sample", "--space", space, "--seed", "3", "--count", "4"]);
        assert_eq!(a, ok(&["space", "sample", "--space", space, "--seed", "3", "--count", "4"]));
        assert_ne!(a, ok(&["space", "sample", "--space", space, "--seed", "4", "--count", "4"]));
        assert_eq!(a.lines().count(), 4);
        for line in a.lines() {
            edgenas_compiler::space::Genome::from_json(line).expect("sampled genome parses");
        }
    }
}

#[test]
fn space_file_is_loaded_and_bad_space_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = common::root().join("compiler/spaces/mbconv-mcu.toml");
    let from_file = ok(&["space", "sample", "--space", good.to_str().unwrap(), "--seed", "1"]);
    let builtin = ok(&["space", "sample", "--space", "mbconv-mcu", "--seed", "1"]);
    assert_eq!(from_file, builtin);

    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(&good).unwrap().replace("kernels = [3, 5, 7]", "kernels = [3, 4]");
    std::fs::write(&bad, text).unwrap();
    let out = edgenas(&["space", "sample", "--space", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("kernels") && !err.contains("panicked"), "{err}");
}

#[test]
fn export_then_info_agrees_with_info_on_the_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    ok(&["export", "--nb201-index", "6111", "--out", model.to_str().unwrap(), "--seed", "7"]);
    let from_arch: Value = serde_json::from_str(&ok(&["info", "--nb201-index", "6111", "--json"])).unwrap();
    let from_onnx: Value = serde_json::from_str(&ok(&["info", model.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(from_arch["nb201_index"], 6111);
    assert_eq!(from_onnx["nb201_index"], 6111, "the genome travels in the ONNX metadata");
    for key in ["macs", "weight_bytes", "peak_activation_bytes", "input_shape", "output_shape"] {
        assert_eq!(from_arch["cost"][key], from_onnx["cost"][key], "{key}");
    }
    let human = ok(&["info", "--nb201-index", "6111"]);
    assert!(human.contains("nb201 index:          6111") && human.contains("stem.conv"), "{human}");
}

#[test]
fn export_is_deterministic_per_seed() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    for (name, seed) in [("a.onnx", "1"), ("b.onnx", "1"), ("c.onnx", "2")] {
        ok(&["export", "--nb201-index", "100", "--out", &path(name), "--seed", seed]);
    }
    let read = |n: &str| std::fs::read(path(n)).unwrap();
    assert_eq!(read("a.onnx"), read("b.onnx"));
    assert_ne!(read("a.onnx"), read("c.onnx"));
}

#[test]
fn run_writes_what_the_runtime_computes() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    let (input, output) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    let genome = ok(&["space", "sample", "--space", "mbconv-mcu", "--seed", "5"]);
    let arch = dir.path().join("arch.json");
    std::fs::write(&arch, genome).unwrap();
    ok(&["export", "--arch", arch.to_str().unwrap(), "--out", model.to_str().unwrap()]);
    let compiled = edgenas_runtime::CompiledModel::from_onnx_path(&model, &Default::default()).unwrap();
    let shape = compiled.input_shape().to_vec();
    let n: usize = shape.iter().product();
    let x = edgenas_runtime::TensorF32::new(shape, (0..n).map(|i| (i % 17) as f32 / 17.0 - 0.5).collect()).unwrap();
    edgenas_runtime::write_npy_f32(&input, &x).unwrap();
    ok(&["run", model.to_str().unwrap(), "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap()]);
    let y = edgenas_runtime::read_npy_f32(&output).unwrap();
    assert_eq!(y.shape, [1, 10]);
    assert_eq!(y, compiled.run(&x).unwrap()[0], "bit-identical to the in-process run");
}

#[test]
fn bench_reports_latency_stats() {
    let report: Value = serde_json::from_str(&ok(&["bench", "--json", "--time-cap-ms", "500"])).unwrap();
    let l = &report["latency"];
    assert_eq!(l["unit"], "ms");
    let (p10, median, p90) = (l["p10"].as_f64().unwrap(), l["median"].as_f64().unwrap(), l["p90"].as_f64().unwrap());
    assert!(0.0 < p10 && p10 <= median && median <= p90, "{l}");
    assert!(l["n"].as_u64().unwrap() >= 10, "at least min_runs samples: {l}");
    assert!(report["model"].as_str().unwrap().contains("nb201"), "default is the NB201 arch 6111: {report}");
    let pipeline: Value = serde_json::from_str(&ok(&["bench-pipeline", "--repeat", "2", "--json"])).unwrap();
    assert!(pipeline["total_ms"].as_f64().unwrap() > 0.0);
}

/// The test build has no `multithread` feature (scripts/test.sh passes none): two threads
/// must be refused for that reason, and zero threads by every build.
#[test]
fn threads_other_than_one_need_the_multithread_feature() {
    let out = edgenas(&["bench", "--threads", "2", "--time-cap-ms", "50"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("2 threads requested") && err.contains("`multithread` feature"), "{err}");
    let out = edgenas(&["bench", "--threads", "0"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the thread count must be at least 1"), "{err}");
}
