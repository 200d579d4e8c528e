use std::time::Duration;

use edgenas_runtime::{benchmark, BenchConfig, CompiledModel, LatencyUnit, RunOptions, RuntimeError, TensorF32};
use prost::Message;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::{
    attribute_proto, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};

const FLOAT: i32 = 1;
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
