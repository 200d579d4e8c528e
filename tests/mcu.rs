//! The microcontroller backend against things nobody here wrote: onnxruntime on the
//! equivalent QDQ model, gcc with AddressSanitizer/UBSan on the host, `arm-none-eabi-gcc`
//! builds run under QEMU's mps2-an386 (Cortex-M4) and mps2-an500 (Cortex-M7) boards, and
//! `arm-none-eabi-size` / `arm-none-eabi-nm` of the built ELF.

mod common;

use std::path::Path;
use std::process::Command;

use common::{edgenas, run_peer, stderr, test_seed};
use edgenas_compiler::mcu::{eval_op, import_qdq_bytes, run_reference, verify_plan, Int8Program, Kernel, McuModel};
use edgenas_compiler::quantize::Precision;
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::nb201::Nb201Genome;
use edgenas_compiler::space::{Genome, SearchSpace};
use edgenas_deploy::firmware::{build_in, check_fits, lower_for_mcu, write_sources};
use edgenas_deploy::{emit_genome, quantize_for_target, BatchNormInit};
use edgenas_runtime::{read_npy_f32, write_npy_f32, TensorF32};
use edgenas_targets::{FirmwareOptions, McuBackend, Target};

/// Random mbconv-mcu architectures checked end to end (the issue asks for at least 20).
const MBCONV_SAMPLES: usize = 20;
/// NB201 indices drawn; those whose weights fit the Cortex-M4's flash are checked.
const NB201_DRAWS: usize = 12;

struct Case {
    label: String,
    onnx: Vec<u8>,
    program: Int8Program,
}

fn m4() -> Target {
    Target::builtin("cortex-m4").expect("built-in cortex-m4")
}

fn m7() -> Target {
    Target::builtin("cortex-m7").expect("built-in cortex-m7")
}

fn int8_case(genome: &Genome, target: &Target) -> Case {
    let emitted = emit_genome(genome, 0, BatchNormInit::Calibrated).expect("emits");
    let onnx = quantize_for_target(&emitted.onnx, Precision::Int8, target).expect("quantizes integer-only");
    let program = import_qdq_bytes(&onnx).expect("imports as an integer program");
    Case { label: format!("{} {}", genome.space_name(), genome.content_hash()), onnx, program }
}

fn cases(seed: u64) -> Vec<Case> {
    let target = m4();
    let space = SearchSpace::resolve("mbconv-mcu").expect("space");
    let mut rng = SeededRng::new(seed);
    let mut out: Vec<Case> = (0..MBCONV_SAMPLES).map(|_| int8_case(&space.sample(&mut rng), &target)).collect();
    let (mut nb201, mut constant_cells) = (0, 0);
    for _ in 0..NB201_DRAWS {
        let index = (rng.next_u64() % 15625) as i64;
        let genome = Genome::Nb201(Nb201Genome::from_index(index).expect("index in range"));
        let emitted = emit_genome(&genome, 0, BatchNormInit::Calibrated).expect("emits");
        let onnx = quantize_for_target(&emitted.onnx, Precision::Int8, &target).expect("quantizes integer-only");
        // A cell node whose inputs are all `none` is a constant zero map, and the edges
        // leaving it fold to constant activations (or, when every path from the input is
        // cut, the whole network is a constant), which integer programs do not hold: the
        // importer refuses those cells with a clear error (checked here), the rest run.
        let program = match import_qdq_bytes(&onnx) {
            Ok(program) => program,
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains("constant activation") || e.contains("constant network"), "nb201 {index}: {e}");
                constant_cells += 1;
                continue;
            }
        };
        let case = Case { label: format!("nb201 {index}"), onnx, program };
        let lowered = McuModel::lower(case.program.clone(), true).expect("lowers");
        if check_fits(&lowered, &target).is_ok() {
            out.push(case);
            nb201 += 1;
        }
    }
    eprintln!(
        "{} cases: {MBCONV_SAMPLES} mbconv-mcu, {nb201} nb201 of {NB201_DRAWS} drawn that fit flash \
         ({constant_cells} with a constant cell node)",
        out.len()
    );
    out
}

fn to_bytes(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}

/// onnxruntime's value of every quantized tensor of `case`, by tensor id, on one input.
fn peer_tensors(case: &Case, dir: &Path) -> Vec<Vec<i8>> {
    let s = case.program.input_tensor().shape;
    let x: Vec<f32> = (0..s.len()).map(|i| ((i * 7919) % 1000) as f32 / 400.0 - 1.25).collect();
    let model = dir.join("model.onnx");
    std::fs::write(&model, &case.onnx).expect("writes");
    let input = dir.join("x.npy");
    write_npy_f32(&input, &TensorF32::new(vec![1, s.c, s.h, s.w], x).expect("shape")).expect("writes");
    let names: Vec<String> = case.program.tensors.iter().map(|t| t.quantized.clone()).collect();
    let names_path = dir.join("names.txt");
    std::fs::write(&names_path, names.join("\n")).expect("writes");
    let out = dir.join("peer");
    run_peer("mcu_tensors.py", &[&model, &input, &names_path, &out]);
    (0..names.len())
        .map(|i| {
            let t = read_npy_f32(&out.join(format!("t{i}.npy"))).expect("peer tensor");
            t.data.iter().map(|&v| v as i8).collect()
        })
        .collect()
}

/// Builds the generated C with the host gcc under AddressSanitizer and UBSan (portable
/// kernels) and runs it on `input`.
fn host_output(model_dir: &Path, input: &[i8]) -> Vec<i8> {
    let exe = model_dir.join("host");
    let out = Command::new("gcc")
        .args(["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined"])
        .args(["-fno-sanitize-recover=all", "-DEDGENAS_USE_DSP=0", "-I"])
        .arg(model_dir)
        .arg(model_dir.join("model.c"))
        .arg(common::root().join("tests/mcu/host_main.c"))
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("runs gcc");
    assert!(out.status.success(), "host gcc failed:\n{}", stderr(&out));
    let (input_path, output_path) = (model_dir.join("host-in.bin"), model_dir.join("host-out.bin"));
    std::fs::write(&input_path, to_bytes(input)).expect("writes");
    let run = Command::new(&exe).arg(&input_path).arg(&output_path).output().expect("runs the host build");
    assert!(run.status.success(), "host build failed (sanitizers?):\n{}", stderr(&run));
    std::fs::read(&output_path).expect("output").into_iter().map(|b| b as i8).collect()
}

/// `arm-none-eabi-size -A`: the sum of the allocated sections in flash (loaded) and RAM.
fn size_sysv(elf: &Path) -> (u64, u64) {
    let out = Command::new("arm-none-eabi-size").arg("-A").arg(elf).output().expect("runs size");
    assert!(out.status.success());
    let (mut flash, mut ram) = (0u64, 0u64);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, size, addr] = f[..] else { continue };
        let (Ok(size), Ok(addr)) = (size.parse::<u64>(), addr.parse::<u64>()) else { continue };
        match name {
            ".text" | ".ARM.exidx" => flash += size,
            ".data" => {
                flash += size;
                ram += size
            }
            ".bss" | ".stack" => ram += size,
            _ if addr != 0 => panic!("unexpected allocated section {name}"),
            _ => {}
        }
    }
    (flash, ram)
}

/// Size of symbol `name` in `elf` (`arm-none-eabi-nm -S`).
fn symbol_size(elf: &Path, name: &str) -> u64 {
    let out = Command::new("arm-none-eabi-nm").arg("-S").arg(elf).output().expect("runs nm");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.ends_with(&format!(" {name}"))).unwrap_or_else(|| panic!("no {name} in nm"));
    u64::from_str_radix(line.split_whitespace().nth(1).expect("size column"), 16).expect("hex size")
}

struct Agreement {
    values: usize,
    exact: usize,
    within_one: usize,
    max_diff: i32,
}

fn agreement(ours: &[i8], theirs: &[i8]) -> Agreement {
    assert_eq!(ours.len(), theirs.len());
    let d: Vec<i32> = ours.iter().zip(theirs).map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs()).collect();
    Agreement {
        values: d.len(),
        exact: d.iter().filter(|&&v| v == 0).count(),
        within_one: d.iter().filter(|&&v| v <= 1).count(),
        max_diff: d.into_iter().max().unwrap_or(0),
    }
}

/// What a lowering chose: fused expand-depthwise pairs and convolutions with pre-widened
/// weights.
struct Lowering {
    fused: usize,
    wide: usize,
}

/// Checks one case everywhere; returns the per-op and end-to-end agreement with onnxruntime
/// and what its lowering chose.
fn check_case(case: &Case, backend4: &McuBackend, backend7: &McuBackend) -> (Agreement, Agreement, Lowering) {
    let dir = tempfile::tempdir().expect("tempdir");
    let peer = peer_tensors(case, dir.path());
    let program = &case.program;
    let input = &peer[program.input.0];

    let mut per_op = Agreement { values: 0, exact: 0, within_one: 0, max_diff: 0 };
    for (i, op) in program.ops.iter().enumerate() {
        let inputs: Vec<&[i8]> = op.inputs().iter().map(|t| peer[t.0].as_slice()).collect();
        let a = agreement(&eval_op(program, i, &inputs).expect("evaluates"), &peer[op.output().0]);
        per_op.exact += a.exact;
        per_op.values += a.values;
        per_op.within_one += a.within_one;
        per_op.max_diff = per_op.max_diff.max(a.max_diff);
    }

    let reference = run_reference(program, input).expect("runs");
    let end_to_end = agreement(&reference, &peer[program.output.0]);

    let lowered = lower_for_mcu(&case.onnx, &m4()).expect("lowers for the M4");
    verify_plan(&lowered.program, &lowered.schedule, &lowered.plan).expect("no two live buffers overlap");
    assert!(lowered.memory.arena_bytes <= lowered.memory.greedy_by_size_bytes, "{}: worse than greedy", case.label);
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    write_sources(&lowered, &src).expect("writes sources");
    let header = std::fs::read_to_string(src.join("model.h")).expect("model.h");
    assert!(header.contains(&format!("#define EDGENAS_ARENA_BYTES {}\n", lowered.memory.arena_bytes)));

    assert_eq!(host_output(&src, input), reference, "{}: host C (ASan/UBSan) differs from the reference", case.label);

    for (name, target, backend, options) in [
        ("M4 DSP", m4(), backend4, FirmwareOptions::default()),
        ("M4 portable", m4(), backend4, FirmwareOptions { dsp: Some(false), ..FirmwareOptions::default() }),
        ("M7 DSP", m7(), backend7, FirmwareOptions::default()),
    ] {
        let build = dir.path().join(name.replace(' ', "-"));
        let firmware = build_in(&lowered, &target, &src, &build, options).expect("builds the firmware");
        let run = backend.run(&firmware.elf, &to_bytes(input), 0, 2).expect("runs under QEMU");
        let output: Vec<i8> = run.output.iter().map(|&b| b as i8).collect();
        assert_eq!(output, reference, "{}: {name} under QEMU differs from the reference", case.label);
        assert_eq!(run.windows.len(), 2);
        assert_eq!(
            run.windows[0], run.windows[1],
            "{}: {name}: instruction counts differ between inferences",
            case.label
        );
        let again = backend.run(&firmware.elf, &to_bytes(input), 0, 1).expect("runs again");
        assert_eq!(again.windows[0], run.windows[0], "{}: {name}: counts differ between runs", case.label);
        let (flash, ram) = size_sysv(&firmware.elf);
        assert_eq!((flash, ram), (firmware.sizes.flash_bytes(), firmware.sizes.sram_bytes()), "{}: {name}", case.label);
        assert_eq!(symbol_size(&firmware.elf, "edgenas_arena"), lowered.memory.arena_bytes as u64);
    }
    let fused: Vec<usize> = (0..lowered.schedule.ops.len())
        .filter(|&i| lowered.schedule.ops[i].kernel == Kernel::ExpandDepthwise)
        .collect();
    if let Some(&head) = fused.first() {
        // A fused pair reads its input while it writes the depthwise's output: the
        // verifier must refuse a plan that lays one over the other.
        let mut bad = lowered.plan.clone();
        let (input, output) = (lowered.program.ops[head].inputs()[0], lowered.program.ops[head + 1].output());
        bad.tensor_offsets[output.0] = bad.tensor_offsets[input.0];
        assert!(verify_plan(&lowered.program, &lowered.schedule, &bad).is_err(), "{}: overlap not found", case.label);
    }
    let wide = lowered.schedule.ops.iter().filter(|s| s.wide_weights).count();
    (per_op, end_to_end, Lowering { fused: fused.len(), wide })
}

/// Reference, host C and QEMU M4/M7 (DSP and portable) agree bit for bit on ≥ 20 random
/// mbconv-mcu architectures and the NB201 ones that fit flash; each op agrees with
/// onnxruntime within one quantization step.
#[test]
fn random_architectures_run_bit_identically_everywhere_and_agree_with_onnxruntime() {
    let seed = test_seed("mcu");
    let cases = cases(seed);
    assert!(cases.len() > MBCONV_SAMPLES, "no NB201 architecture of {NB201_DRAWS} fit the flash");
    let backend4 = McuBackend::new(m4()).expect("M4 backend");
    let backend7 = McuBackend::new(m7()).expect("M7 backend");
    let results: Vec<(String, Agreement, Agreement, Lowering)> = std::thread::scope(|scope| {
        let halves: Vec<_> = [0, 1]
            .map(|half| {
                let (cases, b4, b7) = (&cases, &backend4, &backend7);
                scope.spawn(move || {
                    cases
                        .iter()
                        .skip(half)
                        .step_by(2)
                        .map(|c| {
                            let (per_op, e2e, fused) = check_case(c, b4, b7);
                            (c.label.clone(), per_op, e2e, fused)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .into_iter()
            .collect();
        halves.into_iter().flat_map(|h| h.join().expect("a case panicked")).collect()
    });
    // The fused expand-depthwise kernel is among what the bit-for-bit checks cover: the
    // planner fuses the pair at the arena's peak of most mbconv-mcu architectures.
    // So are the DSP kernels' pre-widened weights, which every architecture whose int8
    // constants take under half of the M4's flash has for its largest output maps.
    let fused_cases = results.iter().filter(|r| r.3.fused > 0).count();
    assert!(fused_cases * 2 >= MBCONV_SAMPLES, "only {fused_cases} architectures have a fused expand-depthwise");
    let wide_cases = results.iter().filter(|r| r.3.wide > 0).count();
    assert!(wide_cases * 2 >= MBCONV_SAMPLES, "only {wide_cases} architectures have pre-widened weights");
    let (mut values, mut exact, mut e2e_values, mut e2e_within, mut e2e_all_within) = (0, 0, 0, 0, 0);
    for (label, per_op, e2e, _) in &results {
        eprintln!(
            "{label}: per op {}/{} equal, max difference {}; output {}/{} within one step (max {})",
            per_op.exact, per_op.values, per_op.max_diff, e2e.within_one, e2e.values, e2e.max_diff
        );
        values += per_op.values;
        exact += per_op.exact;
        e2e_values += e2e.values;
        e2e_within += e2e.within_one;
        e2e_all_within += usize::from(e2e.within_one == e2e.values);
        // Each op fed onnxruntime's own int8 inputs: ≥ 99% of its values within one step.
        assert!(per_op.within_one as f64 >= 0.99 * per_op.values as f64, "{label}: per-op agreement below 99%");
    }
    eprintln!(
        "all: per op {exact}/{values} equal; outputs {e2e_within}/{e2e_values} within one step end to end, \
         {e2e_all_within}/{} architectures with every output within one step",
        results.len()
    );
    // Per op the integer program and onnxruntime's float-between-QDQ evaluation differ
    // only where onnxruntime's float32 accumulation of a convolution (sums of up to 576
    // products, beyond float32's 24 bits) or the Q31 multiplier's 2^-31 error moves a
    // value across a rounding boundary: measured, about 4 values in 10^6 (19.7 M values,
    // 31 architectures), so ≥ 99.99% must be equal.
    assert!(exact as f64 >= 0.9999 * values as f64, "per-op exact agreement below 99.99%");
    // End to end, one such value is enough to move the outputs by several steps: a
    // one-step change of one input of the 10-class head moves each logit by
    // |w| · s_in / s_out steps, several for these untrained heads over 64-320 channels
    // (measured: one differing value in 197 130 put an output 8 steps off). Where no op
    // differed, the chain must give onnxruntime's outputs exactly; the rest is reported.
    for (label, per_op, e2e, _) in &results {
        if per_op.exact == per_op.values {
            assert_eq!(e2e.exact, e2e.values, "{label}: every op agrees exactly, the output does not");
        }
    }
}

fn write_target(dir: &Path, name: &str, edit: &dyn Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(common::root().join("targets/builtin/cortex-m4.toml")).expect("reads");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, edit(text.replace("name = \"cortex-m4\"", &format!("name = \"{name}\"")))).expect("writes");
    path.display().to_string()
}

fn assert_no_firmware_left(out: &Path) {
    assert!(!out.exists(), "{} was left behind", out.display());
    let parent = out.parent().expect("parent");
    let partial: Vec<_> = std::fs::read_dir(parent)
        .expect("lists")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(partial.is_empty(), "staging directories left: {partial:?}");
}

/// Unsupported op, float model, model over the limits, missing compiler: each a clear
/// error naming the problem, exit 1, no firmware directory.
#[test]
fn bad_inputs_give_clear_errors_and_leave_no_firmware() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("fw");
    let out_s = out.display().to_string();
    let target = m4();
    let genome = Genome::Nb201(Nb201Genome::from_index(6111).expect("index"));
    let emitted = emit_genome(&genome, 0, BatchNormInit::Calibrated).expect("emits");
    let float_path = dir.path().join("float.onnx");
    std::fs::write(&float_path, &emitted.onnx).expect("writes");
    let case = int8_case(
        &Genome::Mbconv(match SearchSpace::resolve("mbconv-mcu").expect("space") {
            SearchSpace::Mbconv(s) => s.sample(&mut SeededRng::new(5)),
            SearchSpace::Nb201(_) => unreachable!(),
        }),
        &target,
    );
    let int8_path = dir.path().join("int8.onnx");
    std::fs::write(&int8_path, &case.onnx).expect("writes");

    let mut model =
        <onnx_protobuf::ModelProto as onnx_protobuf::Message>::parse_from_bytes(&case.onnx).expect("parses");
    let graph = model.graph.as_mut().expect("graph");
    let conv = graph.node.iter_mut().find(|n| n.op_type == "Conv").expect("a Conv");
    conv.op_type = "Softmax".into();
    conv.attribute.clear();
    let bad_op_path = dir.path().join("softmax.onnx");
    std::fs::write(&bad_op_path, onnx_protobuf::Message::write_to_bytes(&model).expect("serializes")).expect("writes");

    let tiny = write_target(dir.path(), "tiny-m4", &|t| t.replace("sram_kib = 256", "sram_kib = 8"));
    let no_gcc = write_target(dir.path(), "no-gcc-m4", &|t| {
        t.replace("linker = \"arm-none-eabi-gcc\"", "linker = \"arm-none-eabi-gcc-not-installed\"")
    });
    let m4_name = "cortex-m4".to_string();
    let int8_s = int8_path.display().to_string();
    for (args, expected) in [
        (vec![float_path.display().to_string(), m4_name.clone()], vec!["the model is float", "--integer-only"]),
        (vec![bad_op_path.display().to_string(), m4_name.clone()], vec!["unsupported op `Softmax`"]),
        (vec![int8_s.clone(), tiny], vec!["does not fit `tiny-m4`", "SRAM", "8192 B", "largest tensors"]),
        (vec![int8_s.clone(), no_gcc], vec!["arm-none-eabi-gcc-not-installed", "gcc-arm-none-eabi"]),
    ] {
        let o = edgenas(&["compile", &args[0], "--target", &args[1], "--out", &out_s]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        for e in expected {
            assert!(err.contains(e), "{args:?}: expected `{e}` in:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert_no_firmware_left(&out);
    }

    let o = edgenas(&["compile", &int8_s, "--target", "cortex-m4", "--out", &out_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["model.h", "model.c", "edgenas_kernels.h", "board/main.c", "board/link.ld", "firmware.elf", "report.json"]
    {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let o = edgenas(&["compile", &int8_s, "--target", "cortex-m4", "--out", &out_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"));

    // examples/mcu-stm32 builds the same sources for real boards, as its README says.
    for board in ["stm32f4", "stm32f7"] {
        let build = dir.path().join(format!("build-{board}"));
        let o = Command::new("make")
            .arg("-f")
            .arg(common::root().join("examples/mcu-stm32/Makefile"))
            .arg(format!("MODEL_DIR={out_s}"))
            .arg(format!("BOARD={board}"))
            .arg(format!("OUT={}", build.display()))
            .output()
            .expect("runs make");
        assert!(o.status.success(), "{board}: {}", stderr(&o));
        let nm = Command::new("arm-none-eabi-nm").arg(build.join("app.elf")).output().expect("runs nm");
        let symbols = String::from_utf8_lossy(&nm.stdout).into_owned();
        assert!(symbols.contains("08000000 t edgenas_vectors"), "{board}: vectors not at the flash base");
        assert!(build.join("app.bin").metadata().expect("app.bin").len() > 1000);
    }
}

/// `bench` and `info` on a microcontroller: instructions per inference that repeat, and
/// the firmware's SRAM and flash as `arm-none-eabi-size` reports them.
#[test]
fn bench_and_info_report_instructions_and_memory() {
    let o = edgenas(&["bench", "--target", "cortex-m7", "--nb201-index", "1", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(report["latency"]["unit"], "instructions");
    assert!(report["latency"]["median"].as_f64().expect("median") > 1000.0);
    assert_eq!(report["latency"]["min"], report["latency"]["max"], "counts repeat exactly");

    let o = edgenas(&["info", "--target", "cortex-m4", "--nb201-index", "1", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let elf = &info["elf"];
    let sram = elf["data"].as_u64().expect("data") + elf["bss"].as_u64().expect("bss");
    assert_eq!(info["sram_bytes"].as_u64(), Some(sram));
    assert!(info["sram_bytes"].as_u64() >= info["memory"]["arena_bytes"].as_u64());
    assert_eq!(info["sram_limit_bytes"].as_u64(), Some(256 * 1024));
    let o = edgenas(&["info", "--target", "cortex-m4", "--nb201-index", "1"]);
    let text = common::stdout(&o);
    assert!(text.contains("peak SRAM:") && text.contains("of 256.0 KiB") && text.contains("greedy-by-size"), "{text}");
}

fn journal_without_times(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).expect("journal");
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("record");
            v.as_object_mut().expect("record").remove("times");
            v
        })
        .collect()
}

/// A search with the Cortex-M4 in the loop: int8 implied, candidates over a small SRAM
/// limit rejected before any build (journaled, no budget used), instructions as the
/// latency, each front member written as a firmware directory within the limits, and a
/// run killed with SIGKILL resumes to the uninterrupted run's journal and front.
#[test]
fn mcu_search_respects_memory_limits_and_resumes_after_kill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = write_target(dir.path(), "small-m4", &|t| t.replace("sram_kib = 256", "sram_kib = 64"));
    let args = |out: &Path| -> Vec<String> {
        ["search", "--quiet", "--target", &small, "--space", "mbconv-mcu", "--evaluator", "proxy", "--proxy"]
            .iter()
            .map(|s| s.to_string())
            .chain(["params", "--budget", "5", "--seed", "2", "--out"].map(String::from))
            .chain([out.display().to_string()])
            .collect()
    };
    let full = dir.path().join("full");
    let full_args = args(&full);
    let o = edgenas(&full_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    let records = journal_without_times(&full);
    let rejected: Vec<_> = records.iter().filter(|r| r["status"] == "rejected").collect();
    assert!(!rejected.is_empty(), "no candidate was over 64 KiB of SRAM; pick a smaller limit");
    for r in &rejected {
        let error = r["error"].as_str().expect("a reason");
        assert!(error.contains("does not fit `small-m4`: SRAM") && error.contains("largest tensors"), "{error}");
        assert!(r["latency"].is_null(), "a rejected candidate was measured");
    }
    let evaluated: Vec<_> = records.iter().filter(|r| r["status"] == "evaluated").collect();
    assert_eq!(evaluated.len(), 5);
    for r in &evaluated {
        assert_eq!(r["precision"], "int8");
        assert_eq!(r["latency"]["unit"], "instructions");
    }
    let front: Vec<_> = std::fs::read_dir(full.join("front"))
        .expect("front")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "firmware"))
        .collect();
    assert!(!front.is_empty());
    for fw in &front {
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fw.join("report.json")).expect("report")).expect("json");
        assert!(report["sram_bytes"].as_u64() <= Some(64 * 1024), "{}", fw.display());
        assert!(report["flash_bytes"].as_u64() <= Some(1024 * 1024), "{}", fw.display());
        assert!(fw.join("firmware.elf").is_file() && fw.join("model.c").is_file());
    }

    let cut = dir.path().join("cut");
    let cut_args = args(&cut);
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(&cut_args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawns");
    let start = std::time::Instant::now();
    loop {
        let lines = std::fs::read_to_string(cut.join("journal.jsonl")).map(|t| t.lines().count()).unwrap_or(0);
        if lines >= 2 {
            break;
        }
        assert!(child.try_wait().expect("waits").is_none(), "the run finished before it could be killed");
        assert!(start.elapsed() < std::time::Duration::from_secs(300), "the run made no progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let before = journal_without_times(&cut);
    assert!(before.len() < records.len(), "killed mid-run");
    let o = edgenas(&["search", "--resume", &cut.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = journal_without_times(&cut);
    assert_eq!(after[..before.len()], before[..], "resume keeps the journal's records");
    assert_eq!(after, records, "the resumed run equals the uninterrupted one");
    assert_eq!(
        std::fs::read_to_string(cut.join("pareto.csv")).expect("pareto"),
        std::fs::read_to_string(full.join("pareto.csv")).expect("pareto")
    );
}
