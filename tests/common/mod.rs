//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `edgenas` binary built for this test run, as a user runs it: without
/// `RUST_BACKTRACE` (which asks it to print the panics it catches).
pub fn edgenas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("spawning edgenas")
}

/// `edgenas search` arguments for a quick NB201 search scored by parameter count on
/// `target` (a built-in name or a descriptor file) with `budget` candidates into `out`;
/// `extra` goes before `--out`.
pub fn params_search_args<'a>(target: &'a str, budget: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["search", "--quiet", "--space", "nb201", "--evaluator", "proxy", "--proxy", "params"];
    args.extend(["--target", target, "--budget", budget]);
    args.extend_from_slice(extra);
    args.extend(["--out", out]);
    args
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The Python of the peer-check venv: `$EDGENAS_PYTHON`, else `.venv/bin/python` in the
/// workspace (made by `.ci/run`). Missing is a failure, never a skip.
pub fn peer_python() -> PathBuf {
    let path = std::env::var_os("EDGENAS_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "peer-check Python not found at {}: run `bash .ci/run`, or `python3 -m venv .venv && .venv/bin/pip install -r tests/peer/requirements.txt`",
        path.display()
    );
    path
}

/// Runs a peer script from tests/peer with the venv's Python; panics with its stderr on failure.
pub fn run_peer(script: &str, args: &[&Path]) -> String {
    let out = Command::new(peer_python())
        .arg(root().join("tests/peer").join(script))
        .args(args)
        .output()
        .expect("spawning python");
    assert!(out.status.success(), "{script} failed:\n{}", stderr(&out));
    stdout(&out)
}

/// A seed for randomized tests: `$EDGENAS_TEST_SEED` or the clock, printed so a failure
/// can be replayed.
pub fn test_seed(name: &str) -> u64 {
    let seed = std::env::var("EDGENAS_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64 % 1_000_000)
    });
    eprintln!("{name}: seed {seed} (replay with EDGENAS_TEST_SEED={seed})");
    seed
}

/// A one-node model whose op no runtime knows, built with the same protobuf crate.
pub fn model_with_unknown_op() -> Vec<u8> {
    use onnx_protobuf::{GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto};
    let mut node = NodeProto::new();
    node.op_type = "NoSuchOp".into();
    node.name = "n0".into();
    node.input = vec!["x".into()];
    node.output = vec!["y".into()];
    let mut graph = GraphProto::new();
    graph.name = "g".into();
    graph.node = vec![node];
    graph.input = vec![value_info("x")];
    graph.output = vec![value_info("y")];
    let mut model = ModelProto::new();
    model.ir_version = 8;
    let mut opset = OperatorSetIdProto::new();
    opset.version = 17;
    model.opset_import = vec![opset];
    model.graph = Some(graph).into();
    model.write_to_bytes().unwrap()
}

pub fn value_info(name: &str) -> onnx_protobuf::ValueInfoProto {
    use onnx_protobuf::{tensor_shape_proto, type_proto, TensorShapeProto, TypeProto, ValueInfoProto};
    let mut shape = TensorShapeProto::new();
    for d in [1, 4] {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.value = Some(tensor_shape_proto::dimension::Value::DimValue(d));
        shape.dim.push(dim);
    }
    let mut t = type_proto::Tensor::new();
    t.elem_type = 1;
    t.shape = Some(shape).into();
    let mut ty = TypeProto::new();
    ty.value = Some(type_proto::Value::TensorType(t));
    let mut vi = ValueInfoProto::new();
    vi.name = name.into();
    vi.type_ = Some(ty).into();
    vi
}
