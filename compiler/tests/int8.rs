//! int8 rewrite of emitted models: per-channel weights reproduce the f32 weights within half
//! a step, biases are int32 at input scale × weight scale, each layer's form follows the
//! format, and missing ranges or bad weights are refused.

use std::collections::HashMap;

use edgenas_compiler::lower;
use edgenas_compiler::onnx;
use edgenas_compiler::quantize::{
    to_int8, ActivationQuant, ActivationRange, ActivationRanges, Int8Format, Int8Options, Int8Plan, QuantizeError,
};
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::Nb201Genome;
use edgenas_compiler::space::{Genome, SearchSpace};
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{Message, ModelProto, TensorProto};

fn emitted(genome: &Genome) -> ModelProto {
    let deployed = lower::lower(&genome.build().unwrap(), 3).unwrap();
    onnx::emit(&deployed, &Default::default()).unwrap()
}

fn models() -> Vec<(&'static str, ModelProto)> {
    let mcu = SearchSpace::resolve("mbconv-mcu").unwrap().sample(&mut SeededRng::new(3));
    vec![
        ("nb201 #6111", emitted(&Genome::Nb201(Nb201Genome::from_index(6111).unwrap()))),
        ("mbconv-mcu", emitted(&mcu)),
    ]
}

fn opts(format: Int8Format) -> Int8Options {
    Int8Options { format, keep_first_last_f32: false, reduce_range: false, integer_only: false }
}

/// Made-up ranges: [-4, 4] everywhere, [0, 6] after absorbed activations.
fn ranges(plan: &Int8Plan) -> ActivationRanges {
    let fused: Vec<&str> =
        plan.layers().iter().filter(|l| l.fused_activation.is_some()).map(|l| l.output.as_str()).collect();
    plan.calibration_tensors()
        .into_iter()
        .map(|t| {
            let r = if fused.contains(&t.as_str()) {
                ActivationRange { min: 0.0, max: 6.0 }
            } else {
                ActivationRange { min: -4.0, max: 4.0 }
            };
            (t, r)
        })
        .collect()
}

fn tensors(model: &ModelProto) -> HashMap<String, TensorProto> {
    model.graph.as_ref().unwrap().initializer.iter().map(|t| (t.name.clone(), t.clone())).collect()
}

fn f32s(t: &TensorProto) -> Vec<f32> {
    t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[test]
fn per_channel_weights_and_int32_biases_reproduce_the_f32_layer() {
    for (what, model) in models() {
        let plan = Int8Plan::new(&model, &opts(Int8Format::QOperator)).unwrap();
        let (q, report) = to_int8(&model, &ranges(&plan), &opts(Int8Format::QOperator)).unwrap();
        let q = ModelProto::parse_from_bytes(&onnx::to_bytes(&q).unwrap()).unwrap();
        let (before, after) = (tensors(&model), tensors(&q));
        let g = q.graph.as_ref().unwrap();
        let convs: Vec<_> = g.node.iter().filter(|n| n.op_type == "QLinearConv").collect();
        assert_eq!(convs.len(), plan.layers().iter().filter(|l| l.weight.contains("conv")).count(), "{what}");
        assert!(!g.node.iter().any(|n| n.op_type == "Conv"), "{what}: every Conv became QLinearConv");
        assert!(g.node.iter().any(|n| n.op_type == "MatMulInteger"), "{what}: the classifier is integer");
        for layer in plan.layers().iter().filter(|l| l.weight.contains("conv")) {
            let node = convs.iter().find(|n| n.name == layer.node).unwrap();
            let w = f32s(&before[&layer.weight]);
            let wq: Vec<i8> = after[&node.input[3]].raw_data.iter().map(|&b| b as i8).collect();
            let scales = f32s(&after[&node.input[4]]);
            let channels = scales.len();
            assert_eq!(after[&node.input[3]].data_type, DataType::INT8 as i32);
            let per = w.len() / channels;
            for c in 0..channels {
                let absmax = w[c * per..(c + 1) * per].iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!((scales[c] - absmax / 127.0).abs() <= 1e-6 * absmax.max(1.0), "{what}: scale of channel {c}");
                for i in c * per..(c + 1) * per {
                    let back = f32::from(wq[i]) * scales[c];
                    assert!((back - w[i]).abs() <= 0.5 * scales[c] + 1e-7, "{what}: {} [{i}]", layer.weight);
                }
            }
            let x = ActivationQuant::from_range(ranges(&plan)[&layer.input]);
            let Some(bias) = &layer.bias else { continue };
            let bias = f32s(&before[bias]);
            let bq = &after[&node.input[8]];
            assert_eq!(bq.data_type, DataType::INT32 as i32);
            for (c, chunk) in bq.raw_data.chunks_exact(4).enumerate() {
                let q = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                let step = x.scale * scales[c];
                assert!((q as f32 * step - bias[c]).abs() <= 0.5 * step * 1.001, "{what}: bias {c}");
            }
        }
        assert!(report.weight_bytes_after * 3 < report.weight_bytes_before, "{what}");
    }
}

#[test]
fn qdq_keeps_the_float_ops_between_quantize_pairs() {
    for (what, model) in models() {
        let plan = Int8Plan::new(&model, &opts(Int8Format::Qdq)).unwrap();
        let (q, report) = to_int8(&model, &ranges(&plan), &opts(Int8Format::Qdq)).unwrap();
        let g = q.graph.as_ref().unwrap();
        assert_eq!(g.node.iter().filter(|n| n.op_type == "Conv").count(), plan.layers().len() - 1, "{what}");
        let dq_weights =
            g.node.iter().filter(|n| n.op_type == "DequantizeLinear" && n.input[0].contains("weight")).count();
        assert_eq!(dq_weights, plan.layers().len(), "{what}: one per-channel DequantizeLinear per weight");
        let fused = plan.layers().iter().filter(|l| l.fused_activation.is_some()).count();
        let acts = |m: &ModelProto| {
            m.graph.as_ref().unwrap().node.iter().filter(|n| matches!(n.op_type.as_str(), "Relu" | "Clip")).count()
        };
        assert_eq!(acts(&q), acts(&model) - fused, "{what}: absorbed activations are removed");
        assert_eq!(g.output[0].name, model.graph.as_ref().unwrap().output[0].name);
        assert_eq!(report.layers.len(), plan.layers().len());
    }
}

#[test]
fn mixed_precision_and_reduce_range() {
    let (_, model) = models().remove(1);
    let mixed = Int8Options { keep_first_last_f32: true, ..opts(Int8Format::QOperator) };
    let plan = Int8Plan::new(&model, &mixed).unwrap();
    let all = Int8Plan::new(&model, &opts(Int8Format::QOperator)).unwrap();
    assert_eq!(plan.layers().len(), all.layers().len() - 2);
    assert_eq!(plan.kept_f32(), [all.layers()[0].node.clone(), all.layers().last().unwrap().node.clone()]);
    let (q, _) = to_int8(&model, &ranges(&plan), &mixed).unwrap();
    let g = q.graph.as_ref().unwrap();
    assert!(g.node.iter().any(|n| n.op_type == "Conv" && n.name == plan.kept_f32()[0]));
    assert!(g.node.iter().any(|n| n.op_type == "Gemm" && n.name == plan.kept_f32()[1]));

    let reduced = Int8Options { reduce_range: true, ..opts(Int8Format::Qdq) };
    let (q, _) = to_int8(&model, &ranges(&all), &reduced).unwrap();
    let max = q
        .graph
        .as_ref()
        .unwrap()
        .initializer
        .iter()
        .filter(|t| t.data_type == DataType::INT8 as i32)
        .flat_map(|t| t.raw_data.iter().map(|&b| (b as i8).unsigned_abs()))
        .max();
    assert_eq!(max, Some(63), "7-bit weights reach but do not pass 63");
}

#[test]
fn missing_ranges_and_bad_models_are_refused() {
    let (_, model) = models().remove(0);
    let plan = Int8Plan::new(&model, &opts(Int8Format::Qdq)).unwrap();
    let mut partial = ranges(&plan);
    let dropped = plan.calibration_tensors()[3].clone();
    partial.remove(&dropped);
    let err = to_int8(&model, &partial, &opts(Int8Format::Qdq)).unwrap_err();
    assert!(matches!(&err, QuantizeError::MissingRange { tensor } if *tensor == dropped), "{err}");

    let mut old = model.clone();
    old.opset_import[0].version = 11;
    assert!(to_int8(&old, &ranges(&plan), &opts(Int8Format::Qdq)).unwrap_err().to_string().contains("opset 11"));

    let mut odd = model.clone();
    odd.graph.as_mut().unwrap().node[2].op_type = "Resize".into();
    let err = Int8Plan::new(&odd, &opts(Int8Format::Qdq)).unwrap_err();
    assert!(matches!(err, QuantizeError::UnsupportedOp { ref op, .. } if op == "Resize"), "{err}");
}
