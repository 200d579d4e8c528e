//! Valid inputs the mutations start from: small, so that a million executions take
//! minutes, and covering every construct the readers know.

use edgenas_compiler::lower;
use edgenas_compiler::onnx;
use edgenas_compiler::quantize::{
    to_fp16, to_int8, ActivationRange, ActivationRanges, Fp16Options, Int8Format, Int8Options,
};
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::mbconv::{BlockChoice, MbconvGenome, StageGenome};
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_runtime::{encode_npy_f32, TensorF32};
use onnx_protobuf::Message;

/// A network of every op the emitter writes, at 8x8 pixels and 8 channels.
fn tiny_genome() -> Genome {
    Genome::Mbconv(MbconvGenome {
        space: "fuzz".into(),
        resolution: 8,
        num_classes: 4,
        width_mult: 1.0,
        stem_channels: 8,
        head_channels: 16,
        stages: vec![
            StageGenome {
                channels: 8,
                stride: 1,
                blocks: vec![BlockChoice::Mbconv { kernel: 3, expansion: 2 }, BlockChoice::Skip],
            },
            StageGenome {
                channels: 8,
                stride: 1,
                blocks: vec![
                    BlockChoice::Mbconv { kernel: 3, expansion: 1 },
                    BlockChoice::Mbconv { kernel: 5, expansion: 2 },
                ],
            },
        ],
    })
}

/// The tiny network as emitted ONNX (f32), and converted to fp16 and to int8 (QDQ and
/// QOperator, ranges made up: the readers only look at structure).
pub fn onnx_models() -> Vec<Vec<u8>> {
    let mut models = Vec::new();
    let Ok(graph) = tiny_genome().build() else { return models };
    let Ok(deployed) = lower::lower(&graph, 1) else { return models };
    let Ok(model) = onnx::emit(&deployed, &Default::default()) else { return models };
    if let Ok(bytes) = onnx::to_bytes(&model) {
        models.push(bytes);
    }
    if let Ok((f16, _)) = to_fp16(&model, &Fp16Options::default()) {
        models.extend(onnx::to_bytes(&f16));
    }
    let mut ranges = ActivationRanges::new();
    for n in model.graph.as_ref().map(|g| g.node.as_slice()).unwrap_or_default() {
        for t in n.input.iter().chain(&n.output) {
            ranges.insert(t.clone(), ActivationRange { min: -1.0, max: 1.0 });
        }
    }
    for format in [Int8Format::Qdq, Int8Format::QOperator] {
        let opts = Int8Options { format, keep_first_last_f32: false, reduce_range: false, integer_only: false };
        if let Ok((q, _)) = to_int8(&model, &ranges, &opts) {
            models.extend(q.write_to_bytes());
        }
    }
    models
}

/// Integer-only QDQ models of the tiny genome (what the microcontroller backend reads),
/// with and without 7-bit weights, and the other ONNX seeds.
pub fn mcu_models() -> Vec<Vec<u8>> {
    let mut models = Vec::new();
    let Ok(graph) = tiny_genome().build() else { return models };
    let Ok(deployed) = lower::lower(&graph, 1) else { return models };
    let Ok(model) = onnx::emit(&deployed, &Default::default()) else { return models };
    let mut ranges = ActivationRanges::new();
    for n in model.graph.as_ref().map(|g| g.node.as_slice()).unwrap_or_default() {
        for t in n.input.iter().chain(&n.output) {
            ranges.insert(t.clone(), ActivationRange { min: -1.0, max: 1.0 });
        }
    }
    for reduce_range in [false, true] {
        let opts =
            Int8Options { format: Int8Format::Qdq, keep_first_last_f32: false, reduce_range, integer_only: true };
        if let Ok((q, _)) = to_int8(&model, &ranges, &opts) {
            models.extend(q.write_to_bytes());
        }
    }
    models.extend(onnx_models());
    models
}

/// Arrays of rank 0 to 4, in format versions 1 and 2.
pub fn npy_arrays() -> Vec<Vec<u8>> {
    let shapes: [&[usize]; 4] = [&[], &[3], &[2, 3], &[1, 3, 4, 4]];
    let mut arrays = Vec::new();
    for shape in shapes {
        let n = shape.iter().product();
        if let Ok(t) = TensorF32::new(shape.to_vec(), (0..n).map(|i| i as f32 * 0.5 - 1.0).collect()) {
            let bytes = encode_npy_f32(&t);
            let mut v2 = bytes.clone();
            if v2.len() > 10 {
                let header_len = u16::from_le_bytes([v2[8], v2[9]]) as u32;
                v2[6] = 2;
                v2.splice(8..10, (header_len - 2).to_le_bytes());
            }
            arrays.push(bytes);
            arrays.push(v2);
        }
    }
    arrays
}

/// Genomes sampled from every built-in space, and the tiny one.
pub fn genomes() -> Vec<Vec<u8>> {
    let mut genomes = vec![tiny_genome().to_json().into_bytes()];
    for name in ["nb201", "mbconv-mcu", "mbconv-phone"] {
        if let Ok(space) = SearchSpace::resolve(name) {
            let mut rng = SeededRng::new(7);
            genomes.extend((0..3).map(|_| space.sample(&mut rng).to_json().into_bytes()));
        }
    }
    genomes
}

/// Every built-in descriptor, and the host one with a `[remote]` table.
pub fn targets() -> Vec<Vec<u8>> {
    let mut texts: Vec<Vec<u8>> = [
        include_str!("../../targets/builtin/host.toml"),
        include_str!("../../targets/builtin/aarch64-linux.toml"),
        include_str!("../../targets/builtin/aarch64-a76-linux.toml"),
        include_str!("../../targets/builtin/armv7-linux.toml"),
        include_str!("../../targets/builtin/cortex-m4.toml"),
        include_str!("../../targets/builtin/cortex-m7.toml"),
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect();
    texts.push(
        b"name = \"board\"\nkind = \"linux-cross\"\ntriple = \"aarch64-unknown-linux-gnu\"\nlinker = \"cc\"\n\
          [remote]\npush = [\"scp\", \"{local}\", \"b:{remote}\"]\nrun = [\"ssh\", \"b\", \"{runner}\", \"{args}\"]\n\
          pull = [\"scp\", \"b:{remote}\", \"{local}\"]\nworkdir = \"/tmp/e\"\ntimeout_s = 10\nretries = 4\n\
          backoff_s = 1\nmax_backoff_s = 8\n"
            .to_vec(),
    );
    texts
}
