//! `edgenas-fuzz TARGET [--runs N] [--seconds S] [--seed K] [--crashes DIR]`: fuzzes one
//! reader (`onnx`, `npy`, `genome`, `target`, or `all`), prints the executions per target,
//! and exits 1 on a panic (the input is written to DIR) or 70 on an allocation over 1 GiB.
//! `edgenas-fuzz --replay TARGET FILE` runs one input with panics shown (and a backtrace
//! with `RUST_BACKTRACE=1`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use edgenas_fuzz::limit::{largest_allocation, set_crash_file, LimitedAllocator};
use edgenas_fuzz::{fuzz, TARGETS};

#[global_allocator]
static ALLOCATOR: LimitedAllocator = LimitedAllocator;

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|_| {}));
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!(
                "usage: edgenas-fuzz (onnx|npy|genome|target|mcu|all) [--runs N] [--seconds S] [--seed K] [--crashes DIR]"
            );
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    if let [flag, which, file] = args {
        if flag == "--replay" {
            let target = TARGETS.iter().find(|t| t.name == which).ok_or(format!("unknown target `{which}`"))?;
            let input = std::fs::read(file).map_err(|e| format!("reading {file}: {e}"))?;
            let _ = std::panic::take_hook();
            println!("accepted: {}", (target.run)(&input));
            return Ok(ExitCode::SUCCESS);
        }
    }
    let (which, rest) = args.split_first().ok_or("no target")?;
    let (mut runs, mut seconds, mut seed, mut crashes) = (u64::MAX, None, 0u64, PathBuf::from("fuzz/crashes"));
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--runs" => runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--seconds" => seconds = Some(value()?.parse::<f64>().map_err(|e| format!("--seconds: {e}"))?),
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--crashes" => crashes = PathBuf::from(value()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if runs == u64::MAX && seconds.is_none() {
        return Err("give --runs or --seconds".into());
    }
    let targets: Vec<_> = TARGETS.iter().filter(|t| which == "all" || t.name == which).collect();
    if targets.is_empty() {
        return Err(format!("unknown target `{which}`"));
    }
    std::fs::create_dir_all(&crashes).map_err(|e| format!("creating {}: {e}", crashes.display()))?;
    let share = seconds.map(|s| Duration::from_secs_f64(s / targets.len() as f64));
    for target in targets {
        let oversized = crashes.join(format!("{}-oversized-allocation.bin", target.name));
        set_crash_file(&oversized).map_err(|e| format!("creating {}: {e}", oversized.display()))?;
        let started = Instant::now();
        let report = fuzz(target, runs, seed, &mut |n| n % 256 == 0 && share.is_some_and(|s| started.elapsed() >= s));
        let _ = std::fs::remove_file(&oversized);
        let rate = report.executions as f64 / started.elapsed().as_secs_f64().max(1e-9);
        println!(
            "{:<7} {:>10} executions ({:.0}/s), {} accepted, largest allocation {} bytes, {}",
            report.target,
            report.executions,
            rate,
            report.accepted,
            largest_allocation(),
            if report.crash.is_some() { "CRASH" } else { "no panic" }
        );
        if let Some((input, message)) = report.crash {
            let path = crashes.join(format!("{}-panic-{:016x}.bin", target.name, hash(&input)));
            std::fs::write(&path, &input).map_err(|e| format!("writing {}: {e}", path.display()))?;
            eprintln!("panic: {message}\ninput written to {}", path.display());
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn hash(bytes: &[u8]) -> u64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    u64::from_le_bytes([digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7]])
}
