//! Which parts of a target's toolchain are installed on this machine: the rustup target,
//! the linker, the emulator and its guest sysroot (and for microcontrollers the bare-metal
//! C compiler and the system emulator), each reported present or missing with the command
//! that installs it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::{run_command, Measurement, ProcessError, Target, TargetKind};

const RUSTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// What every microcontroller target needs besides its descriptor's tools.
const MCU_TOOLS: [(Requirement, &str); 2] =
    [(Requirement::Tool, "arm-none-eabi-gcc"), (Requirement::Emulator, "qemu-system-arm")];

/// What kind of thing a [`ToolCheck`] looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Requirement {
    /// The target's standard library, as listed by `rustup target list --installed`.
    RustupTarget,
    /// The linker program, on `PATH`.
    Linker,
    /// The emulator program, on `PATH`.
    Emulator,
    /// The emulator's guest sysroot directory (its `-L DIR`).
    Sysroot,
    /// Another program the target's backend runs, on `PATH`.
    Tool,
}

/// One requirement of a target and whether this machine has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCheck {
    pub what: Requirement,
    /// The rustup target, program name or directory looked for.
    pub name: String,
    pub ok: bool,
    /// Where it was found, or why it counts as missing.
    pub detail: String,
    /// A command that installs it; `None` when present or when no command is known.
    pub fix: Option<String>,
}

/// Every requirement of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolchainReport {
    pub target: String,
    /// All checks passed.
    pub ok: bool,
    pub checks: Vec<ToolCheck>,
}

impl ToolchainReport {
    /// The checks that failed.
    pub fn missing(&self) -> impl Iterator<Item = &ToolCheck> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

/// Checks what `target` needs on this machine; see [`check_toolchains`].
pub fn check_toolchain(target: &Target) -> ToolchainReport {
    let mut probe = Probe::new();
    probe.report(target)
}

/// Checks what each target needs on this machine, looking programs up in this process's
/// `PATH` and asking rustup once for its installed targets.
///
/// Never fails: a missing rustup, linker or emulator, or a rustup that errors, is reported
/// as a failed check whose detail says why.
pub fn check_toolchains(targets: &[Target]) -> Vec<ToolchainReport> {
    let mut probe = Probe::new();
    targets.iter().map(|t| probe.report(t)).collect()
}

struct Probe {
    path: Option<OsString>,
    /// `rustup target list --installed`, or why it could not be had; asked at most once.
    rustup: Option<Result<Vec<String>, String>>,
}

impl Probe {
    fn new() -> Self {
        Probe { path: std::env::var_os("PATH"), rustup: None }
    }

    fn report(&mut self, target: &Target) -> ToolchainReport {
        let apt = (!target.apt_packages.is_empty())
            .then(|| format!("apt-get install -y --no-install-recommends {}", target.apt_packages.join(" ")));
        let mut checks = Vec::new();
        if let Some(triple) = &target.rustup_target {
            checks.push(self.rustup_target(triple));
        }
        let mut programs = Vec::new();
        if let Some(linker) = &target.linker {
            programs.push((Requirement::Linker, linker.as_str()));
        }
        let emulated = target.measurement() == Measurement::Emulated;
        if let Some(program) = target.emulator.as_ref().and_then(|argv| argv.first()).filter(|_| emulated) {
            programs.push((Requirement::Emulator, program.as_str()));
        }
        if target.kind == TargetKind::Mcu {
            programs.extend(MCU_TOOLS);
        }
        if let Some(remote) = &target.remote {
            for template in [Some(&remote.push), Some(&remote.run), remote.pull.as_ref()].into_iter().flatten() {
                if let Some(program) = template.first() {
                    programs.push((Requirement::Tool, program.as_str()));
                }
            }
        }
        let mut seen = Vec::new();
        for (what, program) in programs {
            if !seen.contains(&program) {
                seen.push(program);
                checks.push(self.program(what, program, &apt));
            }
        }
        if let Some(dir) = target.emulator_sysroot().filter(|_| emulated) {
            checks.push(sysroot(&dir, &apt));
        }
        ToolchainReport { target: target.name.clone(), ok: checks.iter().all(|c| c.ok), checks }
    }

    fn rustup_target(&mut self, triple: &str) -> ToolCheck {
        let installed = self.rustup.get_or_insert_with(rustup_installed_targets);
        let (ok, detail, fix) = match installed {
            Ok(list) if list.iter().any(|t| t == triple) => (true, "installed".to_string(), None),
            Ok(_) => (false, "not installed".to_string(), Some(format!("rustup target add {triple}"))),
            Err(why) => (false, why.clone(), Some(format!("install rustup, then: rustup target add {triple}"))),
        };
        ToolCheck { what: Requirement::RustupTarget, name: triple.to_string(), ok, detail, fix }
    }

    fn program(&self, what: Requirement, program: &str, apt: &Option<String>) -> ToolCheck {
        let (ok, detail) = match find_program(program, self.path.as_ref()) {
            Some(found) => (true, format!("found at {}", found.display())),
            None => (false, "not found on PATH".to_string()),
        };
        ToolCheck { what, name: program.to_string(), ok, detail, fix: if ok { None } else { apt.clone() } }
    }
}

fn sysroot(dir: &Path, apt: &Option<String>) -> ToolCheck {
    let ok = dir.is_dir();
    ToolCheck {
        what: Requirement::Sysroot,
        name: dir.display().to_string(),
        ok,
        detail: if ok { "directory exists" } else { "no such directory" }.to_string(),
        fix: if ok { None } else { apt.clone() },
    }
}

fn rustup_installed_targets() -> Result<Vec<String>, String> {
    let argv = ["rustup", "target", "list", "--installed"].map(String::from);
    match run_command(&argv, None, RUSTUP_TIMEOUT) {
        Err(ProcessError::Spawn { source, .. }) => Err(format!("cannot run rustup ({source}); is it on PATH?")),
        Err(e) => Err(format!("cannot run rustup: {e}")),
        Ok(out) if !out.success() => {
            let said = out.stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
            Err(format!("`rustup target list --installed` failed: {said}"))
        }
        Ok(out) => Ok(out.stdout.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()),
    }
}

/// Where `program` is: itself when it contains a path separator, else the first
/// executable file of that name in the directories of `path`.
fn find_program(program: &str, path: Option<&OsString>) -> Option<PathBuf> {
    if program.contains('/') || program.contains(std::path::MAIN_SEPARATOR) {
        let candidate = PathBuf::from(program);
        return is_executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path?).map(|dir| dir.join(program)).find(|c| is_executable(c))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_without_path() -> Probe {
        Probe { path: Some(OsString::new()), rustup: Some(Err("no rustup here".into())) }
    }

    #[test]
    fn every_requirement_of_a_cross_target_is_checked_and_missing_ones_say_how_to_install() {
        let target = Target::resolve("aarch64-linux").unwrap();
        let mut probe = probe_without_path();
        let mut report = probe.report(&target);
        report.checks.retain(|c| c.what != Requirement::Sysroot);
        let names: Vec<_> = report.checks.iter().map(|c| (c.what, c.name.as_str())).collect();
        assert_eq!(
            names,
            [
                (Requirement::RustupTarget, "aarch64-unknown-linux-gnu"),
                (Requirement::Linker, "aarch64-linux-gnu-gcc"),
                (Requirement::Emulator, "qemu-aarch64"),
            ]
        );
        assert!(report.checks.iter().all(|c| !c.ok && c.fix.is_some()), "{report:?}");
        assert!(report.checks[1].fix.as_ref().unwrap().contains("gcc-aarch64-linux-gnu"));
    }

    #[test]
    fn mcu_targets_need_the_bare_metal_compiler_and_qemu_system_once_each() {
        let report = probe_without_path().report(&Target::resolve("cortex-m4").unwrap());
        let names: Vec<_> = report.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["thumbv7em-none-eabihf", "arm-none-eabi-gcc", "qemu-system-arm"]);
        assert!(!report.ok);
    }

    #[test]
    fn host_needs_nothing() {
        let report = probe_without_path().report(&Target::host());
        assert!(report.ok && report.checks.is_empty(), "{report:?}");
    }

    #[test]
    fn programs_are_found_on_path_and_not_elsewhere() {
        let sh = find_program("sh", std::env::var_os("PATH").as_ref());
        assert!(sh.is_some(), "sh on PATH");
        assert_eq!(find_program("sh", Some(&OsString::new())), None);
        assert_eq!(find_program("sh", None), None);
        assert!(find_program(sh.unwrap().to_str().unwrap(), None).is_some(), "absolute paths need no PATH");
    }
}
