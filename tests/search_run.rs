//! `edgenas search` end to end: resume after a kill, constraints on the front, failing
//! trainers, and the files a run leaves.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{edgenas, stderr};

mod common;

fn search(args: &[&str]) -> std::process::Output {
    let mut all = vec!["search", "--quiet"];
    all.extend_from_slice(args);
    let out = edgenas(&all);
    assert!(out.status.success(), "search {args:?} failed:\n{}", stderr(&out));
    out
}

/// The records of the run journal in `dir`.
fn journal(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).expect("journal");
    text.lines().map(|l| serde_json::from_str(l).expect("journal line")).collect()
}

fn journal_without_times(dir: &Path) -> Vec<serde_json::Value> {
    let mut records = journal(dir);
    for v in &mut records {
        v.as_object_mut().expect("record").remove("times");
    }
    records
}

/// The data rows of a CSV report, read with the `csv` crate (quoted fields such as the
/// genome JSON keep their commas).
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect()
}

/// Uses the NB201 table's pixel3 column as a deterministic latency source.
const TABLE_RUN: &[&str] = &[
    "--space",
    "nb201",
    "--evaluator",
    "nb201-table",
    "--strategy",
    "nsga2",
    "--target",
    "nb201-table:pixel3",
    "--seed",
    "3",
];

#[test]
fn killed_run_resumes_to_the_same_front_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let (full, cut) = (dir.path().join("full"), dir.path().join("cut"));
    let budget = "150";
    let mut args: Vec<&str> = TABLE_RUN.to_vec();
    args.extend(["--budget", budget, "--max-latency-ms", "25"]);
    let full_args: Vec<&str> = args.iter().copied().chain(["--out", full.to_str().unwrap()]).collect();
    search(&full_args);

    let mut child = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(["search", "--quiet"])
        .args(&args)
        .args(["--out", cut.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let journal = cut.join("journal.jsonl");
    let start = Instant::now();
    loop {
        let lines = std::fs::read_to_string(&journal).map(|t| t.lines().count()).unwrap_or(0);
        if lines >= 40 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run finished before it could be killed");
        assert!(start.elapsed() < Duration::from_secs(120), "the run made no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = journal_without_times(&cut);
    assert!(before.len() < 150, "killed mid-run ({} records)", before.len());
    assert!(!cut.join("pareto.csv").exists(), "reports are written only at the end");

    let resumed = search(&["--resume", cut.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&resumed.stdout);
    assert!(text.contains("replayed from the journal"), "{text}");
    let after = journal_without_times(&cut);
    assert_eq!(after[..before.len()], before[..], "resume keeps the journal's records");
    let uninterrupted = journal_without_times(&full);
    assert_eq!(after.len(), uninterrupted.len());
    for (i, (a, b)) in after.iter().zip(&uninterrupted).enumerate() {
        assert!(a == b, "record {i} differs after resume:\n{a}\n{b}");
    }
    assert_eq!(
        std::fs::read_to_string(cut.join("pareto.csv")).unwrap(),
        std::fs::read_to_string(full.join("pareto.csv")).unwrap(),
        "same front"
    );
}

#[test]
fn no_front_row_violates_a_constraint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut args: Vec<&str> = TABLE_RUN.to_vec();
    args.extend(["--budget", "80", "--max-latency-ms", "15", "--max-params", "600000", "--max-macs", "80000000"]);
    args.extend(["--out", out.to_str().unwrap()]);
    search(&args);
    let front = csv_rows(&out.join("pareto.csv"));
    assert!(!front.is_empty());
    // pareto.csv columns: hash,accuracy,latency_median,latency_p10,latency_p90,latency_unit,macs,params,...
    for row in &front {
        let (latency, macs, params): (f64, u64, u64) =
            (row[2].parse().unwrap(), row[6].parse().unwrap(), row[7].parse().unwrap());
        assert!(latency <= 15.0 && params <= 600_000 && macs <= 80_000_000, "{row:?}");
        assert!(out.join(&row[9]).exists(), "front model {} written", row[9]);
    }
    let candidates = csv_rows(&out.join("candidates.csv"));
    let rejected: Vec<_> = candidates.iter().filter(|r| r[2] == "rejected").collect();
    assert!(!rejected.is_empty(), "the params/MACs limits reject some NB201 archs");
    assert!(rejected.iter().all(|r| r[5].is_empty()), "rejected candidates are never measured");
    let evaluated = candidates.iter().filter(|r| r[2] != "rejected").count();
    assert_eq!(evaluated, 80, "the budget counts evaluated candidates only");
    let svg = std::fs::read_to_string(out.join("pareto.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<path"), "front drawn");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("pareto.json")).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), front.len());
}

#[test]
fn host_latency_search_measures_and_respects_the_latency_limit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cache = dir.path().join("cache.jsonl");
    let args = [
        "--space",
        "nb201",
        "--evaluator",
        "nb201-table",
        "--strategy",
        "evolution",
        "--budget",
        "12",
        "--seed",
        "1",
        "--max-latency-ms",
        "4",
        "--time-cap-ms",
        "200",
        "--latency-cache",
        cache.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    search(&args);
    for row in csv_rows(&out.join("pareto.csv")) {
        assert!(row[2].parse::<f64>().unwrap() <= 4.0, "{row:?}");
        assert_eq!(row[5], "ms");
    }
    let measured = csv_rows(&out.join("candidates.csv")).iter().filter(|r| r[14].parse::<f64>().unwrap() > 0.0).count();
    assert!(measured > 0, "latency measured on the host");
    let front: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("pareto.json")).unwrap()).unwrap();
    for member in front.as_array().unwrap() {
        let profile = member["profile"].as_str().unwrap_or_else(|| panic!("front member without a profile: {member}"));
        let table = std::fs::read_to_string(out.join(profile)).unwrap();
        assert!(table.contains("OptMatMul") && table.contains("coverage"), "{table}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(profile.replace(".txt", ".json"))).unwrap())
                .unwrap();
        assert_eq!(json["profile"]["unit"], "ms");
        assert!(json["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["onnx_op"] == "Conv" && l["macs"].as_u64() > Some(0)));
    }
    let cached = std::fs::read_to_string(&cache).unwrap().lines().count();

    let again = dir.path().join("again");
    let mut args2 = args.to_vec();
    let last = args2.len() - 1;
    args2[last] = again.to_str().unwrap();
    search(&args2);
    assert_eq!(
        std::fs::read_to_string(&cache).unwrap().lines().count(),
        cached,
        "a repeated search re-measures nothing"
    );
    let remeasured =
        csv_rows(&again.join("candidates.csv")).iter().filter(|r| r[14].parse::<f64>().unwrap() > 0.0).count();
    assert_eq!(remeasured, 0);
}

#[test]
fn failing_trainer_marks_candidates_failed_and_the_search_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("trainer.sh");
    // Fails for genomes whose arch has an avg_pool edge, prints garbage for those with a
    // skip edge and no pool, succeeds otherwise.
    std::fs::write(
        &script,
        "#!/bin/sh\nif grep -q avg_pool \"$1\"; then echo 'diverged: loss is nan' >&2; exit 3; fi\n\
         if grep -q skip_connect \"$1\"; then echo 'not json'; exit 0; fi\necho '{\"accuracy\": 42.5}'\n",
    )
    .unwrap();
    make_executable(&script);
    let out = dir.path().join("run");
    let command = format!("{} {{arch_json}}", script.display());
    search(&[
        "--space",
        "nb201",
        "--evaluator",
        "command",
        "--command",
        &command,
        "--command-timeout-s",
        "10",
        "--strategy",
        "random",
        "--budget",
        "12",
        "--seed",
        "5",
        "--target",
        "nb201-table:pixel3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let rows = csv_rows(&out.join("candidates.csv"));
    assert_eq!(rows.len(), 12);
    let text = std::fs::read_to_string(out.join("candidates.csv")).unwrap();
    assert!(text.contains("diverged: loss is nan"), "stderr tail recorded:\n{text}");
    assert!(rows.iter().any(|r| r[2] == "failed") && rows.iter().any(|r| r[2] == "evaluated"), "{text}");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut p = std::fs::metadata(path).unwrap().permissions();
    p.set_mode(0o755);
    std::fs::set_permissions(path, p).unwrap();
}

#[test]
fn bad_search_settings_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fails = |args: &[&str], expected: &str| {
        let mut all = vec!["search", "--quiet", "--out"];
        let out_dir = dir.path().join("x");
        all.push(out_dir.to_str().unwrap());
        all.extend_from_slice(args);
        let out = edgenas(&all);
        let err = stderr(&out);
        assert!(!out.status.success() && err.contains(expected) && !err.contains("panicked"), "{args:?}: {err}");
    };
    fails(&["--strategy", "annealing"], "unknown strategy `annealing`");
    fails(&["--evaluator", "oracle"], "unknown evaluator `oracle`");
    fails(&["--target", "nb201-table:toaster"], "no device `toaster`");
    fails(&["--target", "mars"], "unknown target `mars`");
    fails(&["--budget", "0"], "budget must be at least 1");
    fails(&["--space", "nowhere.toml"], "unknown search space");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "space = \"nb201\"\nstrategy = \"nsga2\"\nbudget = 5\nseed = 0\nbudgte = 3\n").unwrap();
    fails(&["--config", config.to_str().unwrap()], "bad.toml");
    let out = edgenas(&["search", "--resume", dir.path().to_str().unwrap()]);
    assert!(!out.status.success() && stderr(&out).contains("not a search run directory"), "{}", stderr(&out));
    let out = edgenas(&["search", "--resume", dir.path().to_str().unwrap(), "--budget", "5"]);
    assert!(!out.status.success() && stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
}

#[test]
fn precision_is_a_search_dimension_measured_as_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    search(&[
        "--space",
        "nb201",
        "--evaluator",
        "nb201-table",
        "--strategy",
        "random",
        "--budget",
        "6",
        "--seed",
        "2",
        "--precisions",
        "f32,int8",
        "--time-cap-ms",
        "150",
        "--out",
        out.to_str().unwrap(),
    ]);
    let records = journal(&out);
    let int8: Vec<&serde_json::Value> = records.iter().filter(|r| r["precision"] == "int8").collect();
    let f32: Vec<&serde_json::Value> = records.iter().filter(|r| r.get("precision").is_none()).collect();
    assert!(!int8.is_empty() && !f32.is_empty(), "seed 2 draws both precisions: {records:?}");
    for r in &int8 {
        assert_eq!(r["status"], "evaluated", "{r}");
        assert!(r["latency"]["median"].as_f64().unwrap() > 0.0, "int8 candidates are measured: {r}");
    }
    let cache = std::fs::read_to_string(out.join("latency_cache.jsonl")).unwrap();
    assert!(cache.lines().any(|l| l.contains("\"precision\":\"int8\"")), "{cache}");
    assert!(cache.lines().any(|l| l.contains("\"precision\":\"f32\"")), "{cache}");
    for row in csv_rows(&out.join("pareto.csv")) {
        let precision = row.last().unwrap();
        let file = &row[9];
        assert!(out.join(file).exists(), "{row:?}");
        if precision == "int8" {
            assert!(file.ends_with("-int8.onnx"), "{row:?}");
            let bytes = std::fs::read(out.join(file)).unwrap();
            let op = b"QuantizeLinear";
            assert!(bytes.windows(op.len()).any(|w| w == op), "the front file is the quantized model");
        }
    }

    let bad = edgenas(&[
        "search",
        "--quiet",
        "--precisions",
        "f32,int4",
        "--budget",
        "2",
        "--out",
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert!(!bad.status.success() && stderr(&bad).contains("int4"), "{}", stderr(&bad));
    let table = edgenas(&[
        "search",
        "--quiet",
        "--precisions",
        "int8",
        "--target",
        "nb201-table:pixel3",
        "--budget",
        "2",
        "--out",
        dir.path().join("table").to_str().unwrap(),
    ]);
    assert!(!table.status.success() && stderr(&table).contains("f32 latencies"), "{}", stderr(&table));
}

#[test]
fn search_on_aarch64_counts_instructions_in_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    search(&[
        "--space",
        "nb201",
        "--evaluator",
        "nb201-table",
        "--strategy",
        "random",
        "--budget",
        "4",
        "--seed",
        "4",
        "--precisions",
        "int8,f32",
        "--target",
        "aarch64-linux",
        "--out",
        out.to_str().unwrap(),
    ]);
    let records = journal(&out);
    assert_eq!(records.len(), 4);
    // Seed 4 draws both precisions. int8 candidates run as ONNX in the ONNX-capable runner,
    // f32 ones as NNEF in the default one; the ONNX-capable runner is built first here, so
    // a default build replacing it would fail every int8 candidate.
    let int8 = records.iter().filter(|r| r["precision"] == "int8").count();
    assert!(0 < int8 && int8 < records.len(), "{records:?}");
    for r in &records {
        assert_eq!(r["status"], "evaluated", "{r}");
        let l = &r["latency"];
        assert_eq!(l["unit"], "instructions", "{r}");
        // Exact counts: the few repeats of one model differ by at most a few dozen
        // instructions (first-inference effects), out of millions.
        assert!(l["median"].as_f64().unwrap() > 1e6, "{r}");
        assert!(l["relative_spread"].as_f64().unwrap() < 1e-4, "{r}");
    }
    for row in csv_rows(&out.join("pareto.csv")) {
        assert_eq!(row[5], "instructions", "{row:?}");
    }
    let front: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("pareto.json")).unwrap()).unwrap();
    for member in front.as_array().unwrap() {
        let profile = member["profile"].as_str().unwrap_or_else(|| panic!("front member without a profile: {member}"));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join(profile.replace(".txt", ".json"))).unwrap())
                .unwrap();
        assert_eq!(json["profile"]["unit"], "instructions", "{member}");
        let whole = json["profile"]["whole"].as_f64().unwrap();
        let latency = member["latency"]["median"].as_f64().unwrap();
        // The profile's whole run and the search's measurement count the same model in the
        // same runner; the profile's whole runs alternate with node-by-node runs, which
        // leave tract's buffers in another state (measured: 8,200 of 28.7 M, 0.03%).
        assert!((whole - latency).abs() <= 1e-3 * latency, "profile {whole} vs measured {latency}");
    }
    let bad = edgenas(&[
        "search",
        "--quiet",
        "--target",
        "aarch64-linux",
        "--max-latency-ms",
        "5",
        "--budget",
        "2",
        "--out",
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert!(!bad.status.success() && stderr(&bad).contains("counts instructions"), "{}", stderr(&bad));
}
