//! One test per bug of issue 11, each written to fail before its fix: a descriptor file's
//! int8 layout, fp16 of an opset-11 model, unbounded timeouts, tract panics at run time,
//! sizes that overflow, and a binary installed away from its source tree.

use std::path::Path;
use std::process::Command;

use common::{edgenas, model_with_unknown_op, params_search_args, stderr, stdout, value_info};
use onnx_protobuf::{
    tensor_proto::DataType, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
};

mod common;

fn ok(args: &[&str]) -> String {
    let out = edgenas(args);
    assert!(out.status.success(), "{args:?} failed:\n{}", stderr(&out));
    stdout(&out)
}

fn fails_with(args: &[&str], needles: &[&str]) -> String {
    let out = edgenas(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail with exit 1:\n{err}");
    assert!(err.lines().any(|l| l.starts_with("error: ")) && !err.contains("panicked at"), "{args:?}:\n{err}");
    for needle in needles {
        assert!(err.contains(needle), "{args:?}: expected `{needle}` in:\n{err}");
    }
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A copy of the built-in host descriptor under another name, as a user would make it.
fn my_box(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(common::root().join("targets/builtin/host.toml")).unwrap();
    let path = dir.join("my-box.toml");
    std::fs::write(&path, text.replace("name = \"host\"", "name = \"my-box\"")).unwrap();
    path
}

/// `auto_format` used to resolve the target's *name* again, so a descriptor file failed
/// with "unknown target `my-box`" and every int8 candidate on it was journaled as failed.
#[test]
fn int8_on_a_descriptor_file_is_laid_out_for_its_triple() {
    let dir = tempfile::tempdir().unwrap();
    let target = my_box(dir.path());
    let model = dir.path().join("m.onnx");
    ok(&["export", "--nb201-index", "6111", "--out", s(&model)]);
    let json =
        ok(&["bench", s(&model), "--target", s(&target), "--precision", "int8", "--time-cap-ms", "100", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!((report["target"].as_str(), report["precision"].as_str()), (Some("my-box"), Some("int8")), "{report}");

    let run = dir.path().join("run");
    let args = params_search_args(s(&target), "4", s(&run), &["--precisions", "f32,int8", "--time-cap-ms", "50"]);
    ok(&args);
    let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = journal.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(records.iter().any(|r| r["precision"] == "int8"), "an int8 candidate was proposed");
    for r in &records {
        assert_eq!(r["status"], "evaluated", "{r}");
    }
}

/// A Conv + Relu model at `opset`, built with the protobuf crate as an exporter writes it.
fn conv_relu(opset: i64) -> Vec<u8> {
    let mut w = TensorProto::new();
    w.name = "w".into();
    w.dims = vec![4, 4, 1, 1];
    w.data_type = DataType::FLOAT as i32;
    w.raw_data = (0..16).flat_map(|i| (i as f32 * 0.1 - 0.8).to_le_bytes()).collect();
    let node = |op: &str, inputs: &[&str], output: &str| {
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.name = format!("{op}_0");
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = vec![output.into()];
        n
    };
    let mut graph = GraphProto::new();
    graph.name = "g".into();
    graph.node = vec![node("Conv", &["x", "w"], "c"), node("Relu", &["c"], "y")];
    graph.initializer = vec![w];
    let four_d = |name: &str| {
        let mut vi = value_info(name);
        if let Some(onnx_protobuf::type_proto::Value::TensorType(t)) = vi.type_.as_mut().and_then(|t| t.value.as_mut())
        {
            let mut dims = onnx_protobuf::TensorShapeProto::new();
            for d in [1, 4, 3, 3] {
                let mut dim = onnx_protobuf::tensor_shape_proto::Dimension::new();
                dim.value = Some(onnx_protobuf::tensor_shape_proto::dimension::Value::DimValue(d));
                dims.dim.push(dim);
            }
            t.shape = Some(dims).into();
        }
        vi
    };
    graph.input = vec![four_d("x")];
    graph.output = vec![four_d("y")];
    let mut model = ModelProto::new();
    model.ir_version = 6;
    let mut set = OperatorSetIdProto::new();
    set.version = opset;
    model.opset_import = vec![set];
    model.graph = Some(graph).into();
    model.write_to_bytes().unwrap()
}

/// fp16 used to plan an int8 rewrite for its per-layer report, and int8 needs opset 13.
#[test]
fn fp16_of_an_opset_11_model_works_and_int8_says_why_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("opset11.onnx");
    std::fs::write(&model, conv_relu(11)).unwrap();
    let out = dir.path().join("m16.onnx");
    ok(&["quantize", s(&model), "--to", "fp16", "--calib-synthetic", "4", "--out", s(&out)]);
    assert!(out.is_file());
    let out8 = dir.path().join("m8.onnx");
    fails_with(&["quantize", s(&model), "--to", "int8", "--out", s(&out8)], &["opset 11", "opset 13 or newer"]);
    assert!(!out8.exists());
}

/// `start + timeout` used to overflow and panic (exit 101) for `timeout_s = 1e19`.
#[test]
fn timeouts_beyond_seven_days_are_refused_where_they_enter() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let args = [
        "search",
        "--quiet",
        "--evaluator",
        "command",
        "--command",
        "true {onnx}",
        "--command-timeout-s",
        "1e19",
        "--target",
        "nb201-table:pixel3",
        "--budget",
        "2",
        "--out",
        s(&run),
    ];
    fails_with(&args, &["evaluator.timeout_s", "604800"]);
    let text = std::fs::read_to_string(common::root().join("targets/builtin/host.toml")).unwrap().replace(
        "# [remote]\n",
        "[remote]\npush = [\"cp\", \"{local}\", \"{remote}\"]\nrun = [\"sh\", \"{runner}\", \"{args}\"]\nworkdir = \"/tmp\"\ntimeout_s = 1e19\n",
    );
    let target = dir.path().join("slow.toml");
    std::fs::write(&target, text).unwrap();
    fails_with(&["targets", "--target", s(&target)], &["slow.toml", "remote.timeout_s", "604800"]);
}

/// A Gather whose indices come from the input: tract indexes past the data and panics
/// while running (not while loading), which used to escape as exit code 101.
pub fn model_gathering_by_input() -> Vec<u8> {
    let mut data = TensorProto::new();
    data.name = "table".into();
    data.dims = vec![4];
    data.data_type = DataType::FLOAT as i32;
    data.raw_data = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut cast = NodeProto::new();
    cast.op_type = "Cast".into();
    cast.name = "to_index".into();
    cast.input = vec!["x".into()];
    cast.output = vec!["i".into()];
    let mut to = onnx_protobuf::AttributeProto::new();
    to.name = "to".into();
    to.type_ = onnx_protobuf::attribute_proto::AttributeType::INT.into();
    to.i = DataType::INT64 as i64;
    cast.attribute = vec![to];
    let mut gather = NodeProto::new();
    gather.op_type = "Gather".into();
    gather.name = "lookup".into();
    gather.input = vec!["table".into(), "i".into()];
    gather.output = vec!["y".into()];
    let mut graph = GraphProto::new();
    graph.name = "g".into();
    graph.node = vec![cast, gather];
    graph.initializer = vec![data];
    graph.input = vec![value_info("x")];
    graph.output = vec![value_info("y")];
    let mut model = ModelProto::new();
    model.ir_version = 8;
    let mut set = OperatorSetIdProto::new();
    set.version = 17;
    model.opset_import = vec![set];
    model.graph = Some(graph).into();
    model.write_to_bytes().unwrap()
}

#[test]
fn a_tract_panic_while_running_is_an_error_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("gather.onnx");
    std::fs::write(&model, model_gathering_by_input()).unwrap();
    let input = dir.path().join("x.npy");
    let far = edgenas_runtime::TensorF32::new(vec![1, 4], vec![1000.0; 4]).unwrap();
    edgenas_runtime::write_npy_f32(&input, &far).unwrap();
    let output = dir.path().join("y.npy");
    fails_with(&["run", s(&model), "--input", s(&input), "--output", s(&output)], &["tract panicked", "gather.onnx"]);
    assert!(!output.exists());
    let inside = edgenas_runtime::TensorF32::new(vec![1, 4], vec![0.0, 1.0, 2.0, 3.0]).unwrap();
    edgenas_runtime::write_npy_f32(&input, &inside).unwrap();
    ok(&["run", s(&model), "--input", s(&input), "--output", s(&output)]);
    assert_eq!(edgenas_runtime::read_npy_f32(&output).unwrap().data, [1.0, 2.0, 3.0, 4.0]);
}

/// Element counts from a file used to be multiplied unchecked, so a crafted shape wrapped
/// to a small number in release builds and was accepted.
#[test]
fn sizes_that_overflow_are_rejected_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = ModelProto::parse_from_bytes(&conv_relu(17)).unwrap();
    let graph = model.graph.as_mut().unwrap();
    graph.initializer[0].dims = vec![1 << 32, 1 << 32, 1, 1];
    graph.initializer[0].raw_data.clear();
    let huge = dir.path().join("huge.onnx");
    std::fs::write(&huge, model.write_to_bytes().unwrap()).unwrap();
    fails_with(&["info", s(&huge)], &["huge.onnx", "more than 2^40 values"]);

    let mut model = ModelProto::parse_from_bytes(&conv_relu(17)).unwrap();
    let mut group = onnx_protobuf::AttributeProto::new();
    group.name = "group".into();
    group.type_ = onnx_protobuf::attribute_proto::AttributeType::INT.into();
    group.i = i64::MAX;
    model.graph.as_mut().unwrap().node[0].attribute = vec![group];
    let grouped = dir.path().join("grouped.onnx");
    std::fs::write(&grouped, model.write_to_bytes().unwrap()).unwrap();
    fails_with(&["info", s(&grouped)], &["grouped.onnx", "overflows"]);

    let exported = dir.path().join("m.onnx");
    ok(&["export", "--nb201-index", "6111", "--out", s(&exported)]);
    let raw = dir.path().join("calib.bin");
    std::fs::write(&raw, [0u8; 16]).unwrap();
    let out = dir.path().join("q.onnx");
    let args = [
        "quantize",
        s(&exported),
        "--to",
        "int8",
        "--calib",
        s(&raw),
        "--calib-shape",
        "4294967296,4294967296,3,32,32",
        "--out",
        s(&out),
    ];
    fails_with(&args, &["calib.bin", "too large"]);
    let args =
        ["quantize", s(&exported), "--to", "int8", "--calib", s(&raw), "--calib-shape", "2,3,32,32", "--out", s(&out)];
    fails_with(&args, &["calib.bin", "truncated"]);
    assert!(!out.exists());

    let genome = dir.path().join("wide.json");
    let text = ok(&["space", "sample", "--space", "mbconv-mcu", "--seed", "1"]);
    let mut wide: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    wide["head_channels"] = serde_json::json!(1u64 << 62);
    std::fs::write(&genome, wide.to_string()).unwrap();
    fails_with(&["info", "--arch", s(&genome)], &["head_channels", "exceeds the limit"]);
}

/// An unknown op still fails by name through every precision (the pass-through list did
/// not open the gate to everything).
#[test]
fn ops_outside_the_supported_set_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("custom.onnx");
    std::fs::write(&model, model_with_unknown_op()).unwrap();
    for to in ["fp16", "int8"] {
        let out = dir.path().join(format!("{to}.onnx"));
        fails_with(&["quantize", s(&model), "--to", to, "--out", s(&out)], &["NoSuchOp"]);
    }
}

/// The runner's sources used to be found through the build machine's source tree
/// (`CARGO_MANIFEST_DIR`): an installed binary could not build a runner. A copy of the
/// binary, run from an empty directory with an empty cache, unpacks the sources it carries
/// and builds the runner from them (the runner's cargo target directory is shared, so only
/// the two small crates are compiled again).
#[test]
fn an_installed_binary_builds_the_runner_from_the_sources_it_carries() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let installed = bin.join("edgenas");
    std::fs::copy(env!("CARGO_BIN_EXE_edgenas"), &installed).unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let shared = edgenas_targets::cache_dir().join("runner-target");
    std::fs::create_dir_all(&shared).unwrap();
    std::os::unix::fs::symlink(&shared, cache.join("runner-target")).unwrap();
    let work = dir.path().join("elsewhere");
    std::fs::create_dir(&work).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&installed)
            .args(args)
            .current_dir(&work)
            .env(edgenas_targets::CACHE_DIR_ENV, &cache)
            .env_remove("CARGO_MANIFEST_DIR")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}:\n{}", stderr(&out));
        out
    };
    run(&["export", "--nb201-index", "6111", "--out", "m.onnx"]);
    run(&["compile", "m.onnx", "--target", "host", "--out", "bundle"]);
    let sources: Vec<_> = std::fs::read_dir(cache.join("runner-src")).unwrap().collect();
    assert_eq!(sources.len(), 1, "one unpacked source tree");
    let tree = sources[0].as_ref().unwrap().path();
    assert!(tree.join("runtime/runner/src/main.rs").is_file() && tree.join("Cargo.lock").is_file());
    let runner = work.join("bundle/edgenas-runner");
    let bench = Command::new(&runner)
        .args(["bench", s(&work.join("bundle/model.nnef.tgz")), "--repeat", "2", "--json"])
        .output()
        .unwrap();
    assert!(bench.status.success(), "{}", stderr(&bench));
}

/// A search whose every measurement fails on the device used to exit 0 with an empty
/// front; it now says so on stderr and exits 1, with the journal and report written.
#[test]
fn a_search_whose_every_measurement_fails_says_so_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let device = dir.path().join("device");
    std::fs::create_dir(&device).unwrap();
    let host = std::fs::read_to_string(common::root().join("targets/builtin/host.toml")).unwrap();
    let remote = format!(
        "[remote]\npush = [\"cp\", \"{{local}}\", \"{{remote}}\"]\nrun = [\"false\", \"{{runner}}\", \"{{args}}\"]\n\
         workdir = \"{}\"\nretries = 0\n",
        device.display()
    );
    let target = dir.path().join("broken.toml");
    std::fs::write(&target, host.replace("name = \"host\"", "name = \"broken\"").replace("# [remote]\n", &remote))
        .unwrap();
    let run = dir.path().join("run");
    let args = params_search_args(s(&target), "2", s(&run), &[]);
    let err = fails_with(&args, &["every candidate failed"]);
    assert!(err.contains("warning: 2 of 2 candidates failed (2 at measure)"), "{err}");
    assert!(err.contains("`false` exited with status 1"), "{err}");
    assert!(run.join("journal.jsonl").is_file() && run.join("candidates.csv").is_file());
}

/// The runner turns a tract panic while running into `error: …` and exit code 1, too
/// (the Gather model above, shipped as NNEF to the host runner).
#[test]
fn the_runner_reports_a_tract_panic_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("gather.onnx");
    std::fs::write(&model, model_gathering_by_input()).unwrap();
    let bundle = dir.path().join("bundle");
    ok(&["compile", s(&model), "--target", "host", "--out", s(&bundle)]);
    let input = dir.path().join("x.npy");
    edgenas_runtime::write_npy_f32(&input, &edgenas_runtime::TensorF32::new(vec![1, 4], vec![1000.0; 4]).unwrap())
        .unwrap();
    let shipped = std::fs::read_dir(&bundle)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("model."))
        .unwrap();
    let out = Command::new(bundle.join("edgenas-runner"))
        .args(["run", s(&shipped), "--input", s(&input), "--output", s(&dir.path().join("y.npy"))])
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: ") && err.contains("panicked") && err.contains("index out of bounds"), "{err}");
}
