//! Cost analysis of a hand-checked network; each expected number is derived in a comment.

use edgenas_compiler::cost::CostReport;
use edgenas_compiler::ir::ops::{Activation, BatchNorm, Conv, Flatten, GlobalAvgPool, Linear};
use edgenas_compiler::ir::{Graph, Op, TensorType};

/// input 1x3x8x8 → Conv 3→4 3x3 s1 → BN → ReLU → depthwise 3x3 s2 → GAP → Flatten → Linear 4→10.
fn small_net() -> Graph {
    let mut g = Graph::new();
    let x = g.add_input("input", TensorType::f32(vec![1, 3, 8, 8]));
    let c1 = g.add_node("conv1", Op::Conv(Conv::new(3, 4, 3, 1)), &[x]);
    let bn = g.add_node("bn1", Op::BatchNorm(BatchNorm::new(4)), &[c1]);
    let r = g.add_node("relu1", Op::Activation(Activation::Relu), &[bn]);
    let dw = g.add_node("dw", Op::Conv(Conv::depthwise(4, 3, 2)), &[r]);
    let gap = g.add_node("gap", Op::GlobalAvgPool(GlobalAvgPool), &[dw]);
    let f = g.add_node("flatten", Op::Flatten(Flatten), &[gap]);
    let fc = g.add_node("fc", Op::Linear(Linear { in_features: 4, out_features: 10, bias: true }), &[f]);
    g.set_outputs(vec![fc]);
    g
}

#[test]
fn small_network_costs_exactly() {
    let r = CostReport::analyze(&small_net()).expect("valid graph");
    // conv1: 4*8*8 outputs * 3*3*3 = 6912; dw: 4*4*4 outputs * 1*3*3 = 576; fc: 4*10 = 40.
    assert_eq!(r.macs, 6912 + 576 + 40);
    // conv1 weights 4*3*3*3 = 108, BN scale+shift 8, dw 4*1*3*3 = 36, fc 40 + 10.
    assert_eq!(r.params, 108 + 8 + 36 + 50);
    // Deployed: BN folded into conv1, which gains a 4-element bias.
    // f32: (108 + 4 + 36 + 40 + 10) * 4 = 792; f16: halves = 396;
    // int8: weights 108 + 36 + 40 bytes, int32 biases (4 + 10) * 4 = 56 → 240.
    assert_eq!((r.weight_bytes.f32, r.weight_bytes.f16, r.weight_bytes.int8), (792, 396, 240));
    // Live f32 bytes: input 3*64*4 = 768, conv1 out 4*64*4 = 1024, relu out 1024,
    // dw out 4*16*4 = 256. During relu1 the conv1 output and relu output are live: 2048,
    // the maximum (during conv1: 768 + 1024 = 1792; during dw: 1024 + 256 = 1280).
    assert_eq!(r.peak_activation_bytes, 2048);
    assert_eq!(r.peak_at, "relu1");
    let names: Vec<&str> = r.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["input", "conv1", "relu1", "dw", "gap", "flatten", "fc"]);
    assert_eq!(r.output_shape, [1, 10]);
}

#[test]
fn validation_errors_are_typed() {
    use edgenas_compiler::ir::IrError;

    let mut cyclic = Graph::new();
    let x = cyclic.add_input("x", TensorType::f32(vec![1, 4, 4, 4]));
    let a = cyclic.add_node("a", Op::Add(edgenas_compiler::ir::ops::Add), &[x]);
    let b = cyclic.add_node("b", Op::Activation(Activation::Relu), &[a]);
    cyclic.connect(b, a, 1);
    cyclic.set_outputs(vec![b]);
    assert!(matches!(cyclic.infer_types(), Err(IrError::Cycle { .. })));

    let mut dangling = Graph::new();
    let x = dangling.add_input("x", TensorType::f32(vec![1, 4, 4, 4]));
    let a = dangling.add_node("a", Op::Add(edgenas_compiler::ir::ops::Add), &[x]);
    dangling.set_outputs(vec![a]);
    assert_eq!(dangling.infer_types(), Err(IrError::DanglingInput { node: "a".into(), slot: 1 }));

    let mut mismatch = Graph::new();
    let x = mismatch.add_input("x", TensorType::f32(vec![1, 4, 4, 4]));
    let c = mismatch.add_node("c", Op::Conv(Conv::new(8, 8, 3, 1)), &[x]);
    mismatch.set_outputs(vec![c]);
    assert!(matches!(mismatch.infer_types(), Err(IrError::ShapeMismatch { ref node, .. }) if node == "c"));
}

mod common;
