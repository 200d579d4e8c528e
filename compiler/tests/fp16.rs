//! f32 → f16 conversion of emitted models: the result is a valid protobuf, every weight is
//! FLOAT16 in raw_data, Gemm is gone, the report adds up, bad weights are refused and the
//! interface follows `keep_io_f32`.

use edgenas_compiler::lower;
use edgenas_compiler::onnx;
use edgenas_compiler::quantize::{to_fp16, Fp16Options, QuantizeError};
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::Nb201Genome;
use edgenas_compiler::space::{Genome, SearchSpace};
use half::f16;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{type_proto, Message, ModelProto, TensorProto, ValueInfoProto};

const SEED: u64 = 7;

fn emitted(genome: &Genome) -> ModelProto {
    let graph = genome.build().unwrap();
    let deployed = lower::lower(&graph, SEED).unwrap();
    onnx::emit(&deployed, &Default::default()).unwrap()
}

fn models() -> Vec<(&'static str, ModelProto)> {
    let mcu = SearchSpace::resolve("mbconv-mcu").unwrap().sample(&mut SeededRng::new(SEED));
    vec![
        ("nb201 #6111", emitted(&Genome::Nb201(Nb201Genome::from_index(6111).unwrap()))),
        ("mbconv-mcu sample", emitted(&mcu)),
    ]
}

fn numel(t: &TensorProto) -> usize {
    t.dims.iter().map(|&d| d as usize).product()
}

fn elem_type(vi: &ValueInfoProto) -> i32 {
    match vi.type_.as_ref().unwrap().value.as_ref().unwrap() {
        type_proto::Value::TensorType(t) => t.elem_type,
        _ => panic!("not a tensor"),
    }
}

fn f32_values(t: &TensorProto) -> Vec<f32> {
    t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn f16_values(t: &TensorProto) -> Vec<f16> {
    t.raw_data.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect()
}

fn reencode(model: &ModelProto) -> ModelProto {
    ModelProto::parse_from_bytes(&onnx::to_bytes(model).unwrap()).unwrap()
}

fn set_f32(t: &mut TensorProto, index: usize, value: f32) {
    t.raw_data[4 * index..4 * index + 4].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn converted_models_are_f16_throughout() {
    for (what, model) in models() {
        let before = model.graph.as_ref().unwrap();
        // The emitter writes only FLOAT initializers, all through raw_data.
        assert!(before.initializer.iter().all(|t| t.data_type == DataType::FLOAT as i32), "{what}");
        let gemms = before.node.iter().filter(|n| n.op_type == "Gemm").count();
        // Both classifiers are Linear with bias (emitted as Gemm).
        assert!(gemms > 0, "{what}");
        // Clip bounds (mbconv's ReLU6) and BatchNormalization params (NB201's stem/head)
        // are initializers too, so the FLOAT16 check below covers them.
        let covered = before.node.iter().any(|n| n.op_type == "Clip" || n.op_type == "BatchNormalization");
        assert!(covered, "{what}");

        let (converted, report) = to_fp16(&model, &Fp16Options::default()).unwrap();
        let converted = reencode(&converted);
        let g = converted.graph.as_ref().unwrap();
        for t in &g.initializer {
            assert_eq!(t.data_type, DataType::FLOAT16 as i32, "{what}: {}", t.name);
            assert_eq!(t.raw_data.len(), 2 * numel(t), "{what}: {}", t.name);
            assert!(t.float_data.is_empty(), "{what}: {}", t.name);
        }
        assert!(g.node.iter().all(|n| n.op_type != "Gemm"), "{what}");
        // Each Gemm with bias becomes MatMul + Add: one more node each, plus the two Casts.
        let gemm_adds = g.node.iter().filter(|n| n.op_type == "Add" && n.name.ends_with(".add_bias")).count();
        assert_eq!(gemm_adds, gemms, "{what}");
        assert_eq!(g.node.len(), before.node.len() + gemms + 2, "{what}");

        // Transposing B keeps its size, so the tensor count is unchanged.
        assert_eq!(report.converted_tensors, before.initializer.len(), "{what}");
        assert_eq!(report.clamped_values, 0, "{what}: lowered weights are small");
        let bytes_before: usize = before.initializer.iter().map(|t| 4 * numel(t)).sum();
        assert_eq!(report.weight_bytes_before, bytes_before, "{what}");
        // Every initializer was FLOAT, so f16 halves the payload exactly.
        assert_eq!(report.weight_bytes_after * 2, report.weight_bytes_before, "{what}");
    }
}

#[test]
fn gemm_becomes_matmul_with_transposed_weight() {
    let (_, model) = models().remove(0);
    let before = model.graph.as_ref().unwrap();
    let gemm = before.node.iter().find(|n| n.op_type == "Gemm").expect("the NB201 classifier is a Gemm with bias");
    let w = before.initializer.iter().find(|t| t.name == gemm.input[1]).unwrap();
    let (out, inn) = (w.dims[0] as usize, w.dims[1] as usize);
    let w = f32_values(w);

    // Without the boundary Casts the Add writes the graph output itself.
    let (converted, _) = to_fp16(&model, &Fp16Options { keep_io_f32: false, ..Fp16Options::default() }).unwrap();
    let g = converted.graph.as_ref().unwrap();
    let matmul = g.node.iter().find(|n| n.name == gemm.name).unwrap();
    assert_eq!(matmul.op_type, "MatMul");
    assert_eq!(matmul.input[0], gemm.input[0]);
    let wt = g.initializer.iter().find(|t| t.name == matmul.input[1]).unwrap();
    assert_eq!(wt.dims, vec![inn as i64, out as i64]);
    let wt = f16_values(wt);
    for i in 0..inn {
        for o in 0..out {
            assert_eq!(wt[i * out + o], f16::from_f32(w[o * inn + i]));
        }
    }
    assert!(g.initializer.iter().all(|t| t.name != gemm.input[1]), "the untransposed weight is dropped");
    let add = g.node.iter().find(|n| n.input.first() == matmul.output.first()).unwrap();
    assert_eq!((add.op_type.as_str(), &add.input[1], &add.output[0]), ("Add", &gemm.input[2], &gemm.output[0]));
}

#[test]
fn keep_io_f32_decides_the_interface_type() {
    for (what, model) in models() {
        let (kept, _) = to_fp16(&model, &Fp16Options { keep_io_f32: true, ..Fp16Options::default() }).unwrap();
        let g = kept.graph.as_ref().unwrap();
        let input = &model.graph.as_ref().unwrap().input[0].name;
        assert_eq!(&g.input[0].name, input, "{what}");
        assert_eq!(elem_type(&g.input[0]), DataType::FLOAT as i32, "{what}");
        assert_eq!(elem_type(&g.output[0]), DataType::FLOAT as i32, "{what}");
        let first = &g.node[0];
        assert_eq!((first.op_type.as_str(), &first.input[0]), ("Cast", input), "{what}");
        assert_eq!(first.attribute[0].i, DataType::FLOAT16 as i64, "{what}");
        assert!(g.node[1..].iter().all(|n| !n.input.contains(input)), "{what}: only the Cast reads the f32 input");
        let last = g.node.last().unwrap();
        assert_eq!((last.op_type.as_str(), &last.output[0]), ("Cast", &g.output[0].name), "{what}");
        assert_eq!(last.attribute[0].i, DataType::FLOAT as i64, "{what}");
        let producers = g.node.iter().filter(|n| n.output.contains(&g.output[0].name)).count();
        assert_eq!(producers, 1, "{what}: only the Cast writes the graph output");

        let (bare, _) = to_fp16(&model, &Fp16Options { keep_io_f32: false, ..Fp16Options::default() }).unwrap();
        let g = bare.graph.as_ref().unwrap();
        assert_eq!(elem_type(&g.input[0]), DataType::FLOAT16 as i32, "{what}");
        assert_eq!(elem_type(&g.output[0]), DataType::FLOAT16 as i32, "{what}");
        assert!(g.node.iter().all(|n| n.op_type != "Cast"), "{what}");
    }
}

#[test]
fn non_finite_weights_are_refused() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let (_, mut model) = models().remove(0);
        let t = &mut model.graph.as_mut().unwrap().initializer[0];
        let name = t.name.clone();
        set_f32(t, 0, bad);
        match to_fp16(&model, &Fp16Options::default()) {
            Err(QuantizeError::NonFinite { tensor }) => assert_eq!(tensor, name),
            other => panic!("{bad}: expected NonFinite, got {other:?}"),
        }
    }
}

#[test]
fn out_of_range_weights_are_clamped_and_counted() {
    let (_, mut model) = models().remove(0);
    let t = &mut model.graph.as_mut().unwrap().initializer[0];
    let name = t.name.clone();
    set_f32(t, 0, 1e6);
    set_f32(t, 1, -1e6);
    let (converted, report) = to_fp16(&model, &Fp16Options::default()).unwrap();
    // The two values set above; lowered weights are otherwise far inside ±65504.
    assert_eq!(report.clamped_values, 2);
    let t = converted.graph.as_ref().unwrap().initializer.iter().find(|t| t.name == name).unwrap();
    let v = f16_values(t);
    // 65504 is the largest finite f16.
    assert_eq!((v[0], v[1]), (f16::MAX, f16::MIN));
    assert_eq!(f16::MAX.to_f32(), 65504.0);
}

#[test]
fn ops_outside_the_vocabulary_are_refused() {
    let (_, mut model) = models().remove(0);
    let n = &mut model.graph.as_mut().unwrap().node[0];
    n.op_type = "Resize".into();
    let node = n.name.clone();
    match to_fp16(&model, &Fp16Options::default()) {
        Err(QuantizeError::UnsupportedOp { op, node: at }) => assert_eq!((op.as_str(), at), ("Resize", node)),
        other => panic!("expected UnsupportedOp, got {other:?}"),
    }
}

#[test]
fn gemm_without_bias_or_transpose_is_a_plain_matmul() {
    use onnx_protobuf::attribute_proto::AttributeType;
    use onnx_protobuf::{AttributeProto, GraphProto, NodeProto};
    let mut w = TensorProto::new();
    w.name = "w".into();
    w.dims = vec![2, 3];
    w.data_type = DataType::FLOAT as i32;
    w.float_data = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let mut trans_b = AttributeProto::new();
    trans_b.name = "transB".into();
    trans_b.type_ = AttributeType::INT.into();
    trans_b.i = 0;
    let mut gemm = NodeProto::new();
    gemm.op_type = "Gemm".into();
    gemm.name = "fc".into();
    gemm.input = vec!["x".into(), "w".into()];
    gemm.output = vec!["y".into()];
    gemm.attribute = vec![trans_b];
    let mut graph = GraphProto::new();
    graph.node = vec![gemm];
    graph.initializer = vec![w];
    let mut model = ModelProto::new();
    model.graph = Some(graph).into();

    let (converted, report) = to_fp16(&model, &Fp16Options::default()).unwrap();
    let g = converted.graph.as_ref().unwrap();
    assert_eq!(g.node.len(), 1);
    assert_eq!(
        (g.node[0].op_type.as_str(), &g.node[0].input[1], &g.node[0].output[0]),
        ("MatMul", &"w".to_string(), &"y".to_string())
    );
    // float_data input is rewritten into raw_data, same layout (no transpose).
    let expected: Vec<f16> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().map(|&v| f16::from_f32(v)).collect();
    assert_eq!(f16_values(&g.initializer[0]), expected);
    // 6 values: 24 bytes as f32, 12 as f16.
    assert_eq!((report.weight_bytes_before, report.weight_bytes_after), (24, 12));
}

#[test]
fn mixed_precision_keeps_the_first_and_last_layer_f32() {
    for (what, model) in models() {
        let opts = Fp16Options { keep_first_last_f32: true, ..Fp16Options::default() };
        let (mixed, report) = to_fp16(&model, &opts).unwrap();
        let mixed = reencode(&mixed);
        let g = mixed.graph.as_ref().unwrap();
        let weighted: Vec<_> =
            g.node.iter().filter(|n| matches!(n.op_type.as_str(), "Conv" | "Gemm" | "MatMul")).collect();
        let (first, last) = (weighted[0], weighted[weighted.len() - 1]);
        assert_eq!(report.f32_nodes, 2, "{what}");
        assert_eq!(first.op_type, "Conv", "{what}");
        assert_eq!(last.op_type, "Gemm", "{what}: the kept classifier is not split");
        let type_of = |name: &str| g.initializer.iter().find(|t| t.name == name).map(|t| t.data_type);
        for n in [first, last] {
            assert_eq!(type_of(&n.input[1]), Some(DataType::FLOAT as i32), "{what}: {}", n.name);
        }
        for n in &weighted[1..weighted.len() - 1] {
            assert_eq!(type_of(&n.input[1]), Some(DataType::FLOAT16 as i32), "{what}: {}", n.name);
        }
        assert_eq!(first.input[0], g.input[0].name, "{what}: the first layer reads the f32 input directly");
        assert_eq!(last.output[0], g.output[0].name, "{what}: the last layer writes the f32 output directly");
        let casts = g.node.iter().filter(|n| n.op_type == "Cast").count();
        assert_eq!(casts, 2, "{what}: one Cast after the first layer, one before the last");
    }
}
