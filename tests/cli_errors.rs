//! Bad input through the CLI: a clear error naming the problem, a non-zero exit, no panic.

use common::{edgenas, model_with_unknown_op, stderr};

mod common;

fn fails_with(args: &[&str], expected: &str) {
    let out = edgenas(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    assert!(err.contains(expected), "{args:?}: expected `{expected}` in:\n{err}");
}

#[test]
fn nonexistent_files() {
    fails_with(&["info", "/nonexistent/m.onnx"], "/nonexistent/m.onnx");
    fails_with(&["bench", "/nonexistent/m.onnx"], "/nonexistent/m.onnx");
    fails_with(&["run", "/nonexistent/m.onnx", "--input", "x.npy", "--output", "y.npy"], "/nonexistent/m.onnx");
    fails_with(&["export", "--arch", "/nonexistent/a.json", "--out", "m.onnx"], "/nonexistent/a.json");
}

#[test]
fn garbage_bytes_as_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.onnx");
    std::fs::write(&path, b"\x08\xff\xff\xff this is not a protobuf \x00\x13\x37").unwrap();
    let p = path.to_str().unwrap();
    fails_with(&["info", p], "garbage.onnx");
    fails_with(&["bench", p], "garbage.onnx");
    let input = dir.path().join("x.npy");
    fails_with(&["run", p, "--input", input.to_str().unwrap(), "--output", "y.npy"], "garbage.onnx");
}

#[test]
fn unsupported_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custom.onnx");
    std::fs::write(&path, model_with_unknown_op()).unwrap();
    let p = path.to_str().unwrap();
    fails_with(&["info", p], "unsupported ONNX op `NoSuchOp`");
    fails_with(&["bench", p], "NoSuchOp");
}

#[test]
fn invalid_arch_strings_and_indices() {
    fails_with(
        &["info", "--nb201-arch", "|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|"],
        "unknown op `bogus`",
    );
    fails_with(&["info", "--nb201-arch", "|nor_conv_3x3~0|"], "expected 3 node groups");
    fails_with(&["export", "--nb201-index", "15625", "--out", "m.onnx"], "NB201 index 15625 out of range");
    fails_with(&["info", "--nb201-index", "-1"], "NB201 index -1 out of range");
    fails_with(&["space", "sample", "--space", "no-such-space"], "unknown search space `no-such-space`");
}

#[test]
fn genome_file_with_mismatched_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arch.json");
    let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
    std::fs::write(&path, format!(r#"{{"kind":"nb201","arch":"{arch}","index":5}}"#)).unwrap();
    fails_with(&["info", "--arch", path.to_str().unwrap()], "has index 6111");
}

#[test]
fn wrong_input_shape_and_truncated_npy() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    let out = edgenas(&["export", "--nb201-index", "6111", "--out", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let input = dir.path().join("x.npy");
    let wrong = edgenas_runtime::TensorF32::new(vec![1, 3, 64, 64], vec![0.0; 3 * 64 * 64]).unwrap();
    edgenas_runtime::write_npy_f32(&input, &wrong).unwrap();
    let output = dir.path().join("y.npy");
    let (m, i, o) = (model.to_str().unwrap(), input.to_str().unwrap(), output.to_str().unwrap());
    fails_with(&["run", m, "--input", i, "--output", o], "does not match");
    assert!(!output.exists(), "no output file after a failed run");

    let bytes = std::fs::read(&input).unwrap();
    std::fs::write(&input, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&["run", m, "--input", i, "--output", o], "x.npy");
    assert!(!output.exists());
}

#[test]
fn farm_flags_and_stand_in_targets() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = out.to_str().unwrap();
    let search =
        |flag: &'static str, value: &'static str| ["search", "--quiet", flag, value, "--budget", "2", "--out", o];
    let bad_searches = [
        (search("--parallel", "0"), "parallel must be between 1 and 1024"),
        (search("--target", "stand-in:fast:nb201-table:pixel3"), "needs a whole number of milliseconds, got `fast`"),
        (search("--target", "stand-in:10"), "needs the target whose latencies"),
        (search("--target", "stand-in:10:no-such-device"), "no-such-device"),
    ];
    for (args, expected) in &bad_searches {
        fails_with(args, expected);
    }
    fails_with(
        &["worker", "--queue", "redis://127.0.0.1:1", "--target", "stand-in:x:host"],
        "whole number of milliseconds",
    );
    fails_with(
        &["worker", "--queue", "redis://127.0.0.1:1", "--target", "host"],
        "cannot reach Redis at redis://127.0.0.1:1",
    );
    fails_with(
        &["farm", "status", "--queue", "redis://:pw@127.0.0.1:1"],
        "cannot reach Redis at redis://:***@127.0.0.1:1",
    );
}
