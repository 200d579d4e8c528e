//! `edgenas targets`: built-in descriptors, user descriptor files and the toolchain check,
//! end to end through the binary.

use std::path::Path;
use std::process::{Command, Output};

use common::{edgenas, stderr, stdout};
use edgenas_targets::Target;
use serde_json::Value;

mod common;

const BUILTINS: [&str; 6] = ["host", "aarch64-linux", "aarch64-a76-linux", "armv7-linux", "cortex-m4", "cortex-m7"];

/// A valid user descriptor: a Cortex-M33 board.
const CUSTOM: &str = r#"
name = "my-m33"
description = "Cortex-M33 board"
kind = "mcu"
triple = "thumbv8m.main-none-eabihf"
linker = "arm-none-eabi-gcc"
emulator = ["qemu-system-arm", "-M", "mps2-an505", "-nographic", "-kernel"]
cores = 1
clock_mhz = 100
sram_kib = 128
flash_kib = 512
features = ["dsp"]
unit = "instructions"
apt_packages = ["gcc-arm-none-eabi", "qemu-system-arm"]
rustup_target = "thumbv8m.main-none-eabihf"
"#;

fn ok(args: &[&str]) -> String {
    let out = edgenas(args);
    assert!(out.status.success(), "{args:?} failed:\n{}", stderr(&out));
    stdout(&out)
}

/// Runs `edgenas` with `PATH` set to `path` only.
fn edgenas_with_path(args: &[&str], path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgenas")).args(args).env("PATH", path).output().expect("spawning edgenas")
}

/// The user error of a failed run: exit code 1, `error:` on stderr, no panic.
fn user_error(args: &[&str]) -> String {
    let out = edgenas(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}:\n{err}");
    assert!(err.starts_with("error:") && !err.contains("panicked"), "{args:?}:\n{err}");
    err
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn builtins_are_listed_with_their_limits() {
    let table = ok(&["targets"]);
    for name in BUILTINS {
        assert!(table.lines().any(|l| l.starts_with(name)), "{name} missing:\n{table}");
    }
    let row = |name: &str| table.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_default().to_string();
    let m4 = row("cortex-m4");
    for cell in ["mcu", "thumbv7em-none-eabihf", "168 MHz", "256 KiB", "1024 KiB", "instructions", "dsp"] {
        assert!(m4.contains(cell), "{cell} not in {m4}");
    }
    let m7 = row("cortex-m7");
    assert!(m7.contains("216 MHz") && m7.contains("320 KiB"), "{m7}");
    let a64 = row("aarch64-linux");
    assert!(a64.contains("aarch64-unknown-linux-gnu") && a64.contains("1500 MHz") && a64.contains("neon"), "{a64}");
    assert!(row("host").contains(" ms"), "{table}");

    let listed = json(&ok(&["targets", "--json"]));
    let listed = listed.as_array().expect("a JSON array");
    let names: Vec<_> = listed.iter().map(|t| t["name"].as_str().unwrap_or_default()).collect();
    assert_eq!(names, BUILTINS);
    let by_name = |name: &str| listed.iter().find(|t| t["name"] == name).expect("listed");
    let m4 = by_name("cortex-m4");
    assert_eq!(
        (m4["kind"].as_str(), m4["sram_kib"].as_u64(), m4["flash_kib"].as_u64()),
        (Some("mcu"), Some(256), Some(1024))
    );
    assert_eq!(by_name("armv7-linux")["guest_env"]["TRACT_CPU_ARM32_NEON"], "true");
    let a76 = by_name("aarch64-a76-linux");
    assert_eq!(a76["features"], serde_json::json!(["neon", "fp16", "dotprod"]));
    assert_eq!(a76["triple"], by_name("aarch64-linux")["triple"]);
    for (name, cpu) in [("aarch64-linux", "cortex-a72"), ("aarch64-a76-linux", "cortex-a76")] {
        let emulator = by_name(name)["emulator"].as_array().expect("an emulator argv").clone();
        assert!(emulator.windows(2).any(|w| w[0] == "-cpu" && w[1] == cpu), "{name}: {emulator:?}");
    }
    assert_eq!(listed[0]["unit"], "ms");
    assert!(listed[1..].iter().all(|t| t["unit"] == "instructions"));
}

#[test]
fn unknown_target_name_is_an_error_listing_the_builtins() {
    for args in [&["targets", "--target", "pixel9"][..], &["targets", "--check", "--target", "pixel9"]] {
        let err = user_error(args);
        assert!(err.contains("`pixel9`"), "{err}");
        assert!(BUILTINS.iter().all(|b| err.contains(b)), "built-ins not listed:\n{err}");
    }
}

#[test]
fn bad_target_files_are_errors_naming_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown-field.toml", format!("{CUSTOM}colour = \"red\"\n"), "colour"),
        ("missing-field.toml", CUSTOM.replace("kind = \"mcu\"\n", ""), "missing field `kind`"),
        ("mcu-without-sram.toml", CUSTOM.replace("sram_kib = 128\n", ""), "sram_kib"),
        (
            "cross-without-linker.toml",
            CUSTOM.replace("\"mcu\"", "\"linux-cross\"").replace("linker = \"arm-none-eabi-gcc\"\n", ""),
            "linker",
        ),
        ("zero-cores.toml", CUSTOM.replace("cores = 1", "cores = 0"), "cores"),
        ("not-toml.toml", "name = \n".to_string(), "line 1"),
    ];
    for (file, text, expected) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        for check in [false, true] {
            let mut args = vec!["targets", "--target", path.to_str().unwrap()];
            if check {
                args.push("--check");
            }
            let err = user_error(&args);
            assert!(err.contains(&path.display().to_string()) && err.contains(expected), "{file}:\n{err}");
        }
    }
    let err = user_error(&["targets", "--target", dir.path().join("absent.toml").to_str().unwrap()]);
    assert!(err.contains("absent.toml"), "{err}");
}

#[test]
fn a_user_target_file_is_listed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m33.toml");
    std::fs::write(&path, CUSTOM).unwrap();
    let file = path.to_str().unwrap();

    let table = ok(&["targets", "--target", file]);
    let row = table.lines().find(|l| l.starts_with("my-m33")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("128 KiB") && row.contains("512 KiB") && row.contains("100 MHz"), "{row}");
    assert!(!table.contains("cortex-m4"), "only the named target:\n{table}");

    let reports = json(&ok(&["targets", "--target", file, "--check", "--json"]));
    let reports = reports.as_array().expect("a JSON array");
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["target"], "my-m33");
    let names: Vec<_> = reports[0]["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["thumbv8m.main-none-eabihf", "arm-none-eabi-gcc", "qemu-system-arm"]);

    let human = ok(&["targets", "--target", file, "--check"]);
    assert!(human.contains("my-m33") && human.contains("arm-none-eabi-gcc"), "{human}");
}

#[test]
fn check_reports_missing_tools_without_failing_when_path_is_restricted() {
    let empty = tempfile::tempdir().unwrap();
    let out = edgenas_with_path(&["targets", "--check", "--json"], empty.path());
    assert!(out.status.success(), "a check is a report:\n{}", stderr(&out));
    let reports = json(&stdout(&out));
    let reports = reports.as_array().expect("a JSON array");
    assert_eq!(reports.len(), BUILTINS.len());
    let host = &reports[0];
    assert_eq!((host["target"].as_str(), host["ok"].as_bool()), (Some("host"), Some(true)));
    for report in &reports[1..] {
        assert_eq!(report["ok"], false, "{report}");
        let checks = report["checks"].as_array().unwrap();
        for check in checks {
            let keys = ["what", "name", "ok", "detail", "fix"];
            assert!(keys.iter().all(|k| check.get(k).is_some()), "{check}");
        }
        let rustup = checks.iter().find(|c| c["what"] == "rustup-target").expect("a rustup target check");
        assert_eq!(rustup["ok"], false);
        assert!(rustup["detail"].as_str().unwrap().contains("rustup"), "{rustup}");
        for check in checks.iter().filter(|c| c["what"] == "linker" || c["what"] == "emulator") {
            assert_eq!((check["ok"].as_bool(), check["detail"].as_str()), (Some(false), Some("not found on PATH")));
            assert!(check["fix"].as_str().unwrap().starts_with("apt-get install"), "{check}");
        }
    }

    let out = edgenas_with_path(&["targets", "--check", "--target", "aarch64-linux"], empty.path());
    let human = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(human.contains("MISSING") && human.contains("aarch64-linux-gnu-gcc"), "{human}");
    assert!(human.contains("scripts/setup-cross.sh"), "points at the installer:\n{human}");
}

#[test]
fn check_agrees_with_the_path_it_is_given() {
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("aarch64-linux-gnu-gcc");
    std::fs::write(&fake, "#!/bin/sh\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = edgenas_with_path(&["targets", "--check", "--json", "--target", "aarch64-linux"], bin.path());
    let report = &json(&stdout(&out))[0];
    let linker = report["checks"].as_array().unwrap().iter().find(|c| c["what"] == "linker").unwrap();
    assert_eq!(linker["ok"], true, "{linker}");
    assert!(linker["detail"].as_str().unwrap().contains(&fake.display().to_string()), "{linker}");
    assert!(linker["fix"].is_null());
}

#[test]
fn setup_script_installs_what_every_builtin_needs() {
    let script = std::fs::read_to_string(common::root().join("scripts/setup-cross.sh")).unwrap();
    for target in Target::builtins() {
        for package in &target.apt_packages {
            assert!(script.contains(package.as_str()), "{}: apt package {package} not in setup-cross.sh", target.name);
        }
        if let Some(rustup) = &target.rustup_target {
            assert!(script.contains(rustup.as_str()), "{}: rustup target {rustup} not in setup-cross.sh", target.name);
        }
    }
}
