use edgenas_compiler::mcu::import_qdq_bytes;
use edgenas_deploy::{emit_genome, quantize_for_target, BatchNormInit};
use edgenas_runtime::{profile_host, CompiledModel, RunOptions};
use edgenas_targets::Target;
fn main() {
    let arch = std::env::args().nth(1);
    let genome = match arch {
        Some(p) => edgenas_compiler::space::Genome::from_json(std::fs::read_to_string(p).unwrap().trim()).unwrap(),
        None => edgenas_deploy::pipeline::default_genome(),
    };
    let f32_onnx = emit_genome(&genome, 0, BatchNormInit::Calibrated).unwrap().onnx;
    let m7 = Target::resolve("cortex-m7").unwrap();
    let int8 = quantize_for_target(&f32_onnx, edgenas_compiler::quantize::Precision::Int8, &m7).unwrap();
    let program = import_qdq_bytes(&int8).unwrap();
    let f32m = CompiledModel::from_onnx_bytes(&f32_onnx, "f32", &RunOptions::default()).unwrap();
    let host_int8 =
        quantize_for_target(&f32_onnx, edgenas_compiler::quantize::Precision::Int8, &Target::host()).unwrap();
    let qdq = CompiledModel::from_onnx_bytes(&host_int8, "qdq", &RunOptions::default()).unwrap();
    for isa in [edgenas_kernels::fast::Isa::detect(), edgenas_kernels::fast::Isa::Baseline] {
        let ours = CompiledModel::from_int8_program_for(&program, "int8", isa).unwrap();
        for round in 0..2 {
            let a = profile_host(&f32m, 5, 30).unwrap();
            let b = profile_host(&ours, 5, 30).unwrap();
            let c = profile_host(&qdq, 5, 30).unwrap();
            println!(
                "{isa:?} round {round}: f32 {:.3} ms, tract qdq {:.3} ms, ours {:.3} ms, ours/f32 {:.2}",
                a.whole,
                c.whole,
                b.whole,
                b.whole / a.whole
            );
            if round == 1 {
                let mut by = std::collections::BTreeMap::new();
                for n in &b.nodes {
                    *by.entry(n.node.op.clone()).or_insert(0.0) += n.cost;
                }
                println!("  {by:?}");
            }
        }
    }
}
