//! The project's int8 ops inside tract: a model quantized integer-only by edgenas runs as
//! a plan of `Edgenas*` ops that computes exactly what the integer reference
//! (`edgenas_kernels::run_reference`) computes, with no standalone (de)quantization pass
//! but at the plan's two ends.

use edgenas_compiler::mcu::{import_qdq_bytes, run_reference, Int8Program};
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_deploy::pipeline::default_genome;
use edgenas_deploy::{emit_genome, quantize_for_target, BatchNormInit};
use edgenas_runtime::int8::INT8_OP_NAMES;
use edgenas_runtime::{CompiledModel, TensorF32};
use edgenas_targets::Target;

/// The genome emitted (BatchNorm calibrated) and quantized integer-only (as for a
/// microcontroller), imported as an integer program.
fn program_of(genome: &Genome) -> Int8Program {
    let f32_onnx = emit_genome(genome, 0, BatchNormInit::Calibrated).expect("emit").onnx;
    let target = Target::resolve("cortex-m7").expect("built-in");
    let int8 = quantize_for_target(&f32_onnx, edgenas_compiler::quantize::Precision::Int8, &target).expect("quantize");
    import_qdq_bytes(&int8).expect("integer-only import")
}

fn input_for(program: &Int8Program, seed: u64) -> TensorF32 {
    let s = program.input_tensor().shape;
    let mut state = seed | 1;
    let data = (0..s.len())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 * 2.0 - 1.0
        })
        .collect();
    TensorF32 { shape: vec![1, s.c, s.h, s.w], data }
}

/// The reference: quantize the NCHW input to HWC, interpret, dequantize.
fn reference(program: &Int8Program, input: &TensorF32) -> Vec<f32> {
    let t = program.input_tensor();
    let s = t.shape;
    let mut q = vec![0i8; s.len()];
    for ch in 0..s.c {
        for p in 0..s.h * s.w {
            q[p * s.c + ch] = t.quant.quantize(input.data[ch * s.h * s.w + p]);
        }
    }
    let y = run_reference(program, &q).expect("reference runs");
    let out = program.output_tensor();
    let os = out.shape;
    let mut f = vec![0f32; y.len()];
    for p in 0..os.h * os.w {
        for ch in 0..os.c {
            f[ch * os.h * os.w + p] = out.quant.dequantize(y[p * os.c + ch]);
        }
    }
    f
}

fn genomes() -> Vec<(String, Genome)> {
    let mut all = vec![("nb201-6111".to_string(), default_genome())];
    for space in ["mbconv-mcu", "mbconv-phone"] {
        let space = SearchSpace::resolve(space).expect("built-in space");
        for seed in 0..2 {
            all.push((format!("{}-{seed}", space.name()), space.sample(&mut SeededRng::new(seed))));
        }
    }
    all
}

#[test]
fn int8_plans_are_bit_exact_against_the_integer_reference() {
    for (name, genome) in genomes() {
        let program = program_of(&genome);
        let model = CompiledModel::from_int8_program(&program, &name).expect("plans");
        let nodes = model.plan_nodes().expect("plan");
        let ops: Vec<&str> = nodes.iter().map(|n| n.op.as_str()).collect();
        assert!(ops.iter().all(|op| *op == "Source" || INT8_OP_NAMES.contains(op)), "{name}: {ops:?}");
        assert_eq!(ops.iter().filter(|op| **op == "EdgenasQuantize").count(), 1, "{name}");
        assert_eq!(ops.iter().filter(|op| **op == "EdgenasDequantize").count(), 1, "{name}");
        let convs = program.ops.iter().filter(|o| matches!(o, edgenas_compiler::mcu::Int8Op::Conv(_))).count();
        assert_eq!(ops.iter().filter(|op| **op == "EdgenasInt8Conv").count(), convs, "{name}");
        let macs: u64 = nodes.iter().map(|n| n.macs).sum();
        assert_eq!(macs, program.macs(), "{name}: the plan's MACs are the program's");
        for seed in 0..3 {
            let input = input_for(&program, seed);
            let got = model.run(&input).expect("runs");
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].data, reference(&program, &input), "{name}, input {seed}");
        }
    }
}

#[test]
fn bad_programs_are_refused_by_name() {
    let mut program = program_of(&default_genome());
    program.ops.truncate(3);
    let err = CompiledModel::from_int8_program(&program, "cut-program").unwrap_err().to_string();
    assert!(err.contains("cut-program"), "{err}");
}

/// Which engine runs what on this host: integer-only int8 on the project's ops; f32 and an
/// int8 model with float layers left (QDQ for tract, as `quantize --format qdq` writes it)
/// through tract.
#[test]
fn the_host_picks_the_engine_by_what_the_model_is() {
    use edgenas_deploy::{compile_on_host, Int8Engine};
    let f32_onnx = emit_genome(&default_genome(), 0, BatchNormInit::Calibrated).expect("emit").onnx;
    let host = Target::host();
    let int8 = quantize_for_target(&f32_onnx, edgenas_compiler::quantize::Precision::Int8, &host).expect("quantize");
    assert_eq!(compile_on_host("int8", &int8).expect("loads").1, Int8Engine::EdgenasOps);
    assert_eq!(compile_on_host("f32", &f32_onnx).expect("loads").1, Int8Engine::Tract);
    let request = edgenas_deploy::QuantizeRequest {
        precision: edgenas_compiler::quantize::Precision::Int8,
        keep_io_f32: true,
        format: edgenas_compiler::quantize::Int8Format::Qdq,
        reduce_range: false,
        integer_only: false,
        method: edgenas_compiler::quantize::CalibrationMethod::MinMax,
        calibration: edgenas_deploy::quantization::CalibrationSource::Synthetic { count: 4, seed: 0 },
        fidelity: false,
    };
    let qdq = edgenas_deploy::quantize_model(&f32_onnx, &request, &mut |_| {}).expect("quantize").onnx;
    assert_eq!(compile_on_host("qdq", &qdq).expect("loads").1, Int8Engine::Tract);
    let err = compile_on_host("garbage.onnx", b"not a model").unwrap_err();
    assert!(edgenas_runtime::error_chain(&err).contains("garbage.onnx"), "{err}");
}

/// On the emulated Cortex-A76 (dot product) the project's int8 ops run NB201 6111 in fewer
/// instructions than f32 and f16 (the ordering `search --precisions f32,f16,int8` measures
/// and the front keeps); exact counts, so the comparison is deterministic.
#[test]
fn int8_takes_fewer_instructions_than_f32_and_f16_on_the_a76() {
    let f32_onnx = emit_genome(&default_genome(), 0, BatchNormInit::Calibrated).expect("emit").onnx;
    let target = Target::resolve("aarch64-a76-linux").expect("built-in");
    let bench = edgenas_runtime::BenchConfig { min_runs: 1, ..Default::default() };
    let count = |precision| {
        let onnx = quantize_for_target(&f32_onnx, precision, &target).expect("quantize");
        let report = edgenas_deploy::bench_model("nb201-6111", &onnx, &target, Some(precision), &bench, &mut |_| {})
            .expect("measures");
        report.latency.median
    };
    use edgenas_compiler::quantize::Precision;
    let (f32, f16, int8) = (count(Precision::F32), count(Precision::F16), count(Precision::Int8));
    eprintln!("A76 instructions: f32 {f32}, f16 {f16}, int8 {int8}");
    assert!(int8 < f16 && f16 < f32, "f32 {f32}, f16 {f16}, int8 {int8}");
}
