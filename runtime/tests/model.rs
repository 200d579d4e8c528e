use std::time::Duration;

use edgenas_runtime::{
    benchmark, nnef_registries, save_nnef, BenchConfig, CompiledModel, LatencyUnit, RunOptions, RuntimeError, TensorF32,
};
use prost::Message;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::{
    attribute_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const DOUBLE: i32 = 11;

#[derive(Clone, Copy)]
enum Dim {
    Fixed(i64),
    Named(&'static str),
}

fn value_info(name: &str, elem_type: i32, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(v) => dimension::Value::DimValue(*v),
                Dim::Named(s) => dimension::Value::DimParam(s.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn output(name: &str, elem_type: i32) -> ValueInfoProto {
    let mut info = value_info(name, elem_type, &[]);
    if let Some(TypeProto { value: Some(type_proto::Value::TensorType(t)), .. }) = &mut info.r#type {
        t.shape = None;
    }
    info
}

fn node(op_type: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: op_type.to_string(),
        name: format!("{op_type}_{output}"),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        ..Default::default()
    }
}

fn model_bytes(
    nodes: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: "edgenas-runtime-tests".to_string(),
        graph: Some(GraphProto {
            name: "g".to_string(),
            node: nodes,
            initializer,
            input: inputs,
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// `relu = Relu(x)`, `sum = x + [1, 2, 3, 4]`, `wide = Cast<double>(x)`, for `x: f32[1, 4]`
/// (or `[batch, 4]` with `batch` symbolic).
fn three_output_model(batch: Dim) -> Vec<u8> {
    let c = TensorProto {
        name: "c".to_string(),
        dims: vec![4],
        data_type: FLOAT,
        raw_data: [1f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    };
    let mut cast = node("Cast", &["x"], "wide");
    cast.attribute.push(AttributeProto {
        name: "to".to_string(),
        r#type: attribute_proto::AttributeType::Int as i32,
        i: DOUBLE as i64,
        ..Default::default()
    });
    model_bytes(
        vec![node("Relu", &["x"], "relu"), node("Add", &["x", "c"], "sum"), cast],
        vec![c],
        vec![value_info("x", FLOAT, &[batch, Dim::Fixed(4)])],
        vec![output("relu", FLOAT), output("sum", FLOAT), value_info("wide", DOUBLE, &[batch, Dim::Fixed(4)])],
    )
}

fn input(shape: &[usize], data: &[f32]) -> TensorF32 {
    TensorF32::new(shape.to_vec(), data.to_vec()).unwrap()
}

#[test]
fn runs_a_tiny_model_exactly() {
    for optimize in [true, false] {
        let opts = RunOptions { optimize, ..RunOptions::default() };
        let model = CompiledModel::from_onnx_bytes(&three_output_model(Dim::Fixed(1)), "tiny", &opts).unwrap();
        assert_eq!(model.input_shape(), &[1, 4]);
        assert_eq!(model.output_shapes(), &[Some(vec![1, 4]), Some(vec![1, 4]), Some(vec![1, 4])]);
        let outputs = model.run(&input(&[1, 4], &[-1.0, 0.0, 2.5, -3.5])).unwrap();
        assert_eq!(
            outputs,
            vec![
                input(&[1, 4], &[0.0, 0.0, 2.5, 0.0]),
                input(&[1, 4], &[0.0, 2.0, 5.5, 0.5]),
                input(&[1, 4], &[-1.0, 0.0, 2.5, -3.5]),
            ],
            "optimize: {optimize}"
        );
        let t = model.timings();
        assert!(t.parse > Duration::ZERO && t.optimize > Duration::ZERO, "{t:?}");
    }
}

#[test]
fn symbolic_input_needs_an_explicit_shape() {
    let bytes = three_output_model(Dim::Named("batch"));
    let err = CompiledModel::from_onnx_bytes(&bytes, "sym.onnx", &RunOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, RuntimeError::Load { .. }), "{msg}");
    assert!(msg.contains("sym.onnx") && msg.contains("'x'") && msg.contains("input_shape"), "{msg}");
    assert!(msg.contains("batch"), "{msg}");

    let opts = RunOptions { input_shape: Some(vec![2, 4]), ..RunOptions::default() };
    let model = CompiledModel::from_onnx_bytes(&bytes, "sym.onnx", &opts).unwrap();
    assert_eq!(model.input_shape(), &[2, 4]);
    let outputs = model.run(&input(&[2, 4], &[1.0, -1.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0])).unwrap();
    assert_eq!(outputs[1], input(&[2, 4], &[2.0, 1.0, 4.0, 3.0, 1.0, 2.0, 3.0, 4.0]));
}

#[test]
fn wrong_input_shape_is_reported() {
    let model =
        CompiledModel::from_onnx_bytes(&three_output_model(Dim::Fixed(1)), "tiny", &RunOptions::default()).unwrap();
    let err = model.run(&input(&[1, 2, 2], &[0.0; 4])).unwrap_err();
    assert!(matches!(err, RuntimeError::InputShape { .. }));
    assert_eq!(err.to_string(), "input shape [1, 2, 2] does not match the model's input [1, 4]");

    let inconsistent = TensorF32 { shape: vec![1, 4], data: vec![0.0; 3] };
    assert!(matches!(model.run(&inconsistent), Err(RuntimeError::TensorData { .. })));
    assert!(matches!(model.runner_with_input(&inconsistent), Err(RuntimeError::TensorData { .. })));
}

#[test]
fn garbage_and_unsupported_models_are_load_errors() {
    for bytes in [&b""[..], b"definitely not a protobuf \xff\xff\xff\xff", &[0x0a, 0xff, 0x01]] {
        let err = CompiledModel::from_onnx_bytes(bytes, "junk", &RunOptions::default()).unwrap_err();
        assert!(matches!(err, RuntimeError::Load { .. }), "{err}");
    }

    let bytes = model_bytes(
        vec![node("FooBarOp", &["x"], "y")],
        vec![],
        vec![value_info("x", FLOAT, &[Dim::Fixed(1), Dim::Fixed(4)])],
        vec![output("y", FLOAT)],
    );
    let err = CompiledModel::from_onnx_bytes(&bytes, "odd.onnx", &RunOptions::default()).unwrap_err();
    assert!(matches!(err, RuntimeError::Load { .. }));
    assert!(err.to_string().contains("FooBarOp"), "{err}");

    let two_inputs = model_bytes(
        vec![node("Add", &["a", "b"], "y")],
        vec![],
        vec![value_info("a", FLOAT, &[Dim::Fixed(4)]), value_info("b", FLOAT, &[Dim::Fixed(4)])],
        vec![output("y", FLOAT)],
    );
    let err = CompiledModel::from_onnx_bytes(&two_inputs, "two", &RunOptions::default()).unwrap_err();
    assert!(err.to_string().contains("2 inputs"), "{err}");
}

#[test]
fn missing_file_is_an_io_error() {
    let path = std::path::Path::new("/nonexistent/edgenas/model.onnx");
    let err = CompiledModel::from_onnx_path(path, &RunOptions::default()).unwrap_err();
    assert!(matches!(err, RuntimeError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/edgenas/model.onnx"), "{err}");
}

#[test]
fn loads_from_a_file() {
    let path = std::env::temp_dir().join(format!("edgenas-model-{}.onnx", std::process::id()));
    std::fs::write(&path, three_output_model(Dim::Fixed(1))).unwrap();
    let model = CompiledModel::from_onnx_path(&path, &RunOptions::default());
    std::fs::remove_file(&path).unwrap();
    assert_eq!(model.unwrap().input_shape(), &[1, 4]);
}

#[test]
fn benchmark_reports_ordered_percentiles() {
    let model =
        CompiledModel::from_onnx_bytes(&three_output_model(Dim::Fixed(1)), "tiny", &RunOptions::default()).unwrap();
    let cfg = BenchConfig { min_runs: 20, max_runs: 200, ..BenchConfig::default() };
    let stats = benchmark(&model, &cfg).unwrap();
    assert_eq!(stats.unit, LatencyUnit::Ms);
    assert!(stats.n >= cfg.min_runs && stats.n <= cfg.max_runs, "{stats:?}");
    assert!(stats.min <= stats.p10 && stats.p10 <= stats.median, "{stats:?}");
    assert!(stats.median <= stats.p90 && stats.p90 <= stats.max, "{stats:?}");
    assert_eq!(stats.warmup, cfg.warmup);
    assert!(stats.min > 0.0);

    let capped = BenchConfig {
        min_runs: 3,
        max_runs: 1_000_000,
        spread_target: 0.0,
        time_cap: Duration::ZERO,
        ..BenchConfig::default()
    };
    let stats = benchmark(&model, &capped).unwrap();
    assert_eq!(stats.n, 3, "{stats:?}");

    let zero = BenchConfig { threads: 0, ..BenchConfig::default() };
    assert!(matches!(benchmark(&model, &zero), Err(RuntimeError::Threads(_))));
}

#[cfg(feature = "multithread")]
#[test]
fn benchmark_runs_multithreaded() {
    let model =
        CompiledModel::from_onnx_bytes(&three_output_model(Dim::Fixed(1)), "tiny", &RunOptions::default()).unwrap();
    let cfg = BenchConfig { threads: 2, min_runs: 5, max_runs: 20, ..BenchConfig::default() };
    assert!(benchmark(&model, &cfg).unwrap().n >= 5);
}

#[test]
fn nnef_round_trip_is_bit_exact_and_deterministic() {
    let onnx = three_output_model(Dim::Fixed(1));
    let nnef = save_nnef(&onnx, None).unwrap();
    assert_eq!(nnef[..2], [0x1f, 0x8b], "gzip");
    assert_eq!(save_nnef(&onnx, None).unwrap(), nnef, "same model, same bytes");
    assert_eq!(nnef_registries(&nnef).unwrap(), ["tract_core"]);

    let reference = CompiledModel::from_onnx_bytes(&onnx, "tiny", &RunOptions::default()).unwrap();
    let x = input(&[1, 4], &[-1.5, 0.25, 2.5, -3.5]);
    for optimize in [true, false] {
        let opts = RunOptions { optimize, ..RunOptions::default() };
        let reloaded = CompiledModel::from_nnef_bytes(&nnef, "tiny.nnef.tgz", &opts).unwrap();
        assert_eq!(reloaded.input_shape(), &[1, 4]);
        assert_eq!(reloaded.run(&x).unwrap(), reference.run(&x).unwrap(), "optimize: {optimize}");
        assert_eq!(reloaded.input_facts(), reference.input_facts());
        let types: Vec<&str> = reloaded.output_facts().iter().map(|f| f.datum_type.as_str()).collect();
        assert_eq!(types, ["F32", "F32", "F64"]);
    }
    let names: Vec<&str> = reference.output_facts().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["relu", "sum", "wide"]);

    let path = std::env::temp_dir().join(format!("edgenas-model-{}.nnef.tgz", std::process::id()));
    std::fs::write(&path, &nnef).unwrap();
    let from_file = CompiledModel::from_nnef_path(&path, &RunOptions::default());
    std::fs::remove_file(&path).unwrap();
    assert_eq!(from_file.unwrap().run(&x).unwrap(), reference.run(&x).unwrap());
}

#[test]
fn nnef_fixes_the_input_shape_given_at_save_time() {
    let onnx = three_output_model(Dim::Named("batch"));
    let err = save_nnef(&onnx, None).unwrap_err();
    assert!(matches!(err, RuntimeError::Load { .. }) && err.to_string().contains("batch"), "{err}");
    let nnef = save_nnef(&onnx, Some(&[2, 4])).unwrap();
    let same = RunOptions { input_shape: Some(vec![2, 4]), ..RunOptions::default() };
    assert_eq!(CompiledModel::from_nnef_bytes(&nnef, "b2", &same).unwrap().input_shape(), &[2, 4]);
    let other = RunOptions { input_shape: Some(vec![3, 4]), ..RunOptions::default() };
    let err = CompiledModel::from_nnef_bytes(&nnef, "b2", &other).unwrap_err();
    assert!(err.to_string().contains("fixed to input shape"), "{err}");
}

#[test]
fn unserializable_and_garbage_nnef_are_typed_errors() {
    let scale = TensorProto {
        name: "scale".to_string(),
        data_type: FLOAT,
        raw_data: 0.1f32.to_le_bytes().to_vec(),
        ..Default::default()
    };
    let zero_point = TensorProto { name: "zp".to_string(), data_type: UINT8, raw_data: vec![0], ..Default::default() };
    let qdq = model_bytes(
        vec![node("QuantizeLinear", &["x", "scale", "zp"], "q"), node("DequantizeLinear", &["q", "scale", "zp"], "y")],
        vec![scale, zero_point],
        vec![value_info("x", FLOAT, &[Dim::Fixed(1), Dim::Fixed(4)])],
        vec![output("y", FLOAT)],
    );
    CompiledModel::from_onnx_bytes(&qdq, "qdq", &RunOptions::default()).unwrap();
    let err = save_nnef(&qdq, None).unwrap_err();
    assert!(matches!(err, RuntimeError::NnefSave(_)), "{err}");
    assert!(err.to_string().contains("Quantize"), "{err}");

    for bytes in [&b""[..], b"\x1f\x8b not gzip at all", b"plain text, not a tar archive"] {
        let err = CompiledModel::from_nnef_bytes(bytes, "junk", &RunOptions::default()).unwrap_err();
        assert!(matches!(err, RuntimeError::Load { .. }) && err.to_string().contains("junk"), "{err}");
        assert!(nnef_registries(bytes).is_err());
    }
    let missing = std::path::Path::new("/nonexistent/edgenas/model.nnef.tgz");
    let err = CompiledModel::from_nnef_path(missing, &RunOptions::default()).unwrap_err();
    assert!(matches!(err, RuntimeError::Io { .. }) && err.to_string().contains("model.nnef.tgz"), "{err}");
}
