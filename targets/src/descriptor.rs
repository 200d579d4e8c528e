//! Target descriptors: what a device is (triple, cores, clock, memory limits, ISA
//! features), how its binaries are built and run here (linker, emulator), and what its
//! measurements count. Built-ins ship as commented TOML in `targets/builtin/`; users add
//! their own files in the same format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edgenas_runtime::LatencyUnit;
use serde::{Deserialize, Serialize};

use crate::TargetError;

/// The built-in descriptors, by name, in listing order.
const BUILTINS: [(&str, &str); 6] = [
    ("host", include_str!("../builtin/host.toml")),
    ("aarch64-linux", include_str!("../builtin/aarch64-linux.toml")),
    ("aarch64-a76-linux", include_str!("../builtin/aarch64-a76-linux.toml")),
    ("armv7-linux", include_str!("../builtin/armv7-linux.toml")),
    ("cortex-m4", include_str!("../builtin/cortex-m4.toml")),
    ("cortex-m7", include_str!("../builtin/cortex-m7.toml")),
];

/// How a target is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[derive(strum::Display, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum TargetKind {
    /// This machine, measured by wall clock with tract.
    Host,
    /// A Linux device (phone, board): cross-compiled, run under a user-mode emulator here
    /// or on the device.
    LinuxCross,
    /// A bare-metal microcontroller with hard SRAM and flash limits.
    Mcu,
}

/// How a target's latency is measured: decided from its descriptor by
/// [`Target::measurement`], the one place that decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Measurement {
    /// tract in this process, wall-clock ms (kind `host` without `[remote]`).
    Local,
    /// The runner under the descriptor's user-mode emulator, in instructions (kind
    /// `linux-cross` without `[remote]`).
    Emulated,
    /// The runner on the device itself through the `[remote]` commands, wall-clock ms
    /// (kinds `host` and `linux-cross`).
    Remote,
    /// A microcontroller (kind `mcu`): firmware under its QEMU board, in instructions.
    Microcontroller,
}

impl Measurement {
    /// What this kind of measurement counts.
    pub fn unit(self) -> LatencyUnit {
        match self {
            Measurement::Local | Measurement::Remote => LatencyUnit::Ms,
            Measurement::Emulated | Measurement::Microcontroller => LatencyUnit::Instructions,
        }
    }
}

/// A device models are compiled for and measured on, as written in a descriptor TOML
/// (see `targets/builtin/host.toml` for the meaning of every field).
///
/// A `Target` obtained from [`Target::resolve`], [`Target::from_toml`] or
/// [`Target::builtins`] has passed [`Target::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub kind: TargetKind,
    /// Rust target triple of the runner; may be omitted in TOML for kind `host` only.
    #[serde(default)]
    pub triple: String,
    /// Linker program for `triple` (cargo's `CARGO_TARGET_<TRIPLE>_LINKER`).
    #[serde(default)]
    pub linker: Option<String>,
    /// argv prefix that runs a target binary here; the binary and its arguments follow.
    #[serde(default)]
    pub emulator: Option<Vec<String>>,
    /// Environment variables set for programs in the guest.
    #[serde(default)]
    pub guest_env: BTreeMap<String, String>,
    /// Cores used for measurement, >= 1; may be omitted in TOML for kind `host` only.
    #[serde(default)]
    pub cores: u32,
    #[serde(default)]
    pub clock_mhz: Option<u32>,
    /// SRAM a model may use, in KiB; required for kind `mcu`.
    #[serde(default)]
    pub sram_kib: Option<u64>,
    /// Flash a model may use, in KiB; required for kind `mcu`.
    #[serde(default)]
    pub flash_kib: Option<u64>,
    /// ISA features kernels may use (`neon`, `fp16`, `dotprod`, `dsp`, ...). For kind `mcu`,
    /// `dsp` selects the DSP-extension kernels and an `fpv*` entry the `-mfpu` of the build.
    #[serde(default)]
    pub features: Vec<String>,
    /// The C compiler's `-mcpu` for kind `mcu` (`cortex-m4`, `cortex-m7`, ...); when absent,
    /// [`Target::mcu_cpu`] takes it from the QEMU board in `emulator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// What a latency measurement on this target counts, as the descriptor states it;
    /// optional, and when given it must agree with [`Target::unit`] (the unit of the backend
    /// that measures), so a descriptor never labels milliseconds as instructions.
    #[serde(default, rename = "unit", skip_serializing_if = "Option::is_none")]
    pub declared_unit: Option<LatencyUnit>,
    /// Debian packages providing the linker, guest sysroot and emulator.
    #[serde(default)]
    pub apt_packages: Vec<String>,
    /// rustup target to add for `triple`; `None`: the toolchain's own.
    #[serde(default)]
    pub rustup_target: Option<String>,
    /// How the `remote` backend reaches the device (push, run, pull command templates);
    /// `None`: not reachable remotely. See [`crate::RemoteCommands`].
    #[serde(default)]
    pub remote: Option<crate::RemoteCommands>,
}

impl Target {
    /// This machine: the built-in `host` descriptor with this build's triple and this
    /// machine's core count.
    pub fn host() -> Self {
        Self::builtin("host").expect("the built-in host.toml is valid (unit-tested)")
    }

    /// Names of the built-in targets, in listing order.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTINS.iter().map(|(name, _)| *name).collect()
    }

    /// Every built-in target, in listing order.
    pub fn builtins() -> Vec<Target> {
        BUILTINS.iter().filter_map(|(name, _)| Self::builtin(name)).collect()
    }

    /// The built-in target called `name`, if there is one.
    pub fn builtin(name: &str) -> Option<Target> {
        let (_, text) = BUILTINS.iter().find(|(n, _)| *n == name)?;
        Self::from_toml(text, &format!("targets/builtin/{name}.toml")).ok()
    }

    /// A built-in target by name, else the descriptor TOML file at `name_or_path`.
    ///
    /// A string that is not a built-in name is taken as a path when it contains a path
    /// separator, ends in `.toml` or names an existing file; otherwise the error lists
    /// the built-in names.
    pub fn resolve(name_or_path: &str) -> Result<Target, TargetError> {
        if let Some(target) = Self::builtin(name_or_path) {
            return Ok(target);
        }
        let path = Path::new(name_or_path);
        let looks_like_path = name_or_path.contains(std::path::MAIN_SEPARATOR)
            || name_or_path.contains('/')
            || path.extension().is_some_and(|e| e == "toml")
            || path.is_file();
        if looks_like_path {
            Self::load(path)
        } else {
            Err(TargetError::Unknown { name: name_or_path.to_string(), builtins: Self::builtin_names().join(", ") })
        }
    }

    /// Reads and validates the descriptor TOML file at `path`.
    pub fn load(path: &Path) -> Result<Target, TargetError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TargetError::Read { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates a descriptor; `origin` (a file path or a description) names
    /// the source in errors. Defaults of kind `host` (triple, cores) are filled in from
    /// this machine.
    pub fn from_toml(text: &str, origin: &str) -> Result<Target, TargetError> {
        let mut target: Target = toml::from_str(text).map_err(|e| TargetError::Parse {
            origin: origin.to_string(),
            line: e.span().map(|span| line_of(text, span.start)),
            reason: e.message().trim().to_string(),
        })?;
        if target.kind == TargetKind::Host {
            if target.triple.is_empty() {
                target.triple = host_triple().to_string();
            }
            if target.cores == 0 {
                target.cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
            }
        }
        target.validate().map_err(|reason| TargetError::Invalid { origin: origin.to_string(), reason })?;
        Ok(target)
    }

    /// How latency on this target is measured: `[remote]` commands mean the device itself,
    /// for kinds `host` and `linux-cross`; otherwise the kind decides (tract here for
    /// `host`, the emulator for `linux-cross`).
    pub fn measurement(&self) -> Measurement {
        match (self.kind, self.remote.is_some()) {
            (TargetKind::Mcu, _) => Measurement::Microcontroller,
            (_, true) => Measurement::Remote,
            (TargetKind::Host, false) => Measurement::Local,
            (TargetKind::LinuxCross, false) => Measurement::Emulated,
        }
    }

    /// What a latency measurement on this target counts: the unit of the backend that
    /// measures it ([`Target::measurement`]).
    pub fn unit(&self) -> LatencyUnit {
        self.measurement().unit()
    }

    /// Checks the rules a descriptor must satisfy; the error says which field is wrong.
    ///
    /// Rules: `name` and `triple` non-empty; `cores` >= 1; `clock_mhz` > 0 when given;
    /// kind `mcu` has non-zero `sram_kib` and `flash_kib` and no `[remote]` table; kind
    /// `linux-cross` has a `linker`, and a non-empty `emulator` unless a `[remote]` table
    /// says where the device is; a given `unit` agrees with the measuring backend's; no
    /// empty program names.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("`name` is empty".into());
        }
        if self.triple.trim().is_empty() {
            return Err(format!("`triple` is required for kind `{}`", self.kind));
        }
        if self.cores == 0 {
            return Err(format!("`cores` must be at least 1 for kind `{}`", self.kind));
        }
        if self.clock_mhz == Some(0) {
            return Err("`clock_mhz` must be positive".into());
        }
        for (field, value) in [("sram_kib", self.sram_kib), ("flash_kib", self.flash_kib)] {
            match value {
                Some(0) => return Err(format!("`{field}` must be positive")),
                None if self.kind == TargetKind::Mcu => {
                    return Err(format!("`{field}` is required for kind `mcu` (the memory limit a model must fit)"))
                }
                _ => {}
            }
        }
        if self.kind == TargetKind::LinuxCross {
            if self.linker.is_none() {
                return Err("`linker` is required for kind `linux-cross`".into());
            }
            if self.emulator.is_none() && self.remote.is_none() {
                return Err(
                    "`emulator` is required for kind `linux-cross` unless a [remote] table names the device".into()
                );
            }
        }
        if self.cpu.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err("`cpu` is empty".into());
        }
        if self.kind == TargetKind::Mcu && self.remote.is_some() {
            return Err("a [remote] table is not supported for kind `mcu`: microcontrollers have no runner".into());
        }
        if let Some(declared) = self.declared_unit.filter(|&u| u != self.unit()) {
            let how = match self.measurement() {
                Measurement::Remote => "its [remote] commands measure wall-clock ms on the device",
                Measurement::Local => "kind `host` is measured by wall clock in ms",
                Measurement::Emulated | Measurement::Microcontroller => {
                    "the emulator counts instructions (never emulated wall time)"
                }
            };
            return Err(format!(
                "`unit = \"{declared}\"` contradicts how this target is measured: {how}; set `unit = \"{}\"` or \
                 remove the line",
                self.unit()
            ));
        }
        if self.linker.as_deref().is_some_and(|l| l.trim().is_empty()) {
            return Err("`linker` is empty".into());
        }
        if let Some(argv) = &self.emulator {
            if argv.first().map_or("", |p| p.trim()).is_empty() {
                return Err("`emulator` must start with a program name".into());
            }
        }
        Ok(())
    }

    /// The core a microcontroller's firmware is compiled for: `cpu`, else the core of the
    /// QEMU board after `-M` in `emulator` (`mps2-an385` Cortex-M3, `mps2-an386` M4,
    /// `mps2-an500` M7, `mps2-an505` M33); `None` when neither says.
    pub fn mcu_cpu(&self) -> Option<String> {
        if let Some(cpu) = &self.cpu {
            return Some(cpu.clone());
        }
        let argv = self.emulator.as_ref()?;
        let board = argv.iter().position(|a| a == "-M" || a == "-machine").and_then(|i| argv.get(i + 1))?;
        let cpu = match board.split(',').next().unwrap_or_default() {
            "mps2-an385" => "cortex-m3",
            "mps2-an386" => "cortex-m4",
            "mps2-an500" => "cortex-m7",
            "mps2-an505" | "mps2-an521" => "cortex-m33",
            _ => return None,
        };
        Some(cpu.to_string())
    }

    /// The guest sysroot: the directory after `-L` in the emulator argv, if any.
    pub fn emulator_sysroot(&self) -> Option<PathBuf> {
        let argv = self.emulator.as_ref()?;
        argv.windows(2).find(|w| w[0] == "-L").map(|w| PathBuf::from(&w[1]))
    }
}

/// 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

fn host_triple() -> &'static str {
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        "x86_64-unknown-linux-gnu"
    } else if cfg!(all(target_arch = "aarch64", target_os = "linux")) {
        "aarch64-unknown-linux-gnu"
    } else if cfg!(all(target_arch = "aarch64", target_os = "macos")) {
        "aarch64-apple-darwin"
    } else if cfg!(all(target_arch = "x86_64", target_os = "macos")) {
        "x86_64-apple-darwin"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUSTOM: &str = r#"
name = "pi-zero"
kind = "linux-cross"
triple = "arm-unknown-linux-gnueabihf"
linker = "arm-linux-gnueabihf-gcc"
emulator = ["qemu-arm", "-L", "/usr/arm-linux-gnueabihf"]
cores = 1
unit = "instructions"
"#;

    #[test]
    fn every_builtin_parses_and_is_valid() {
        for (name, text) in BUILTINS {
            let target = Target::from_toml(text, name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(target.name, name);
            assert!(!target.description.is_empty(), "{name}");
        }
        assert_eq!(Target::builtins().len(), BUILTINS.len());
    }

    #[test]
    fn builtins_carry_their_documented_values() {
        let host = Target::host();
        assert_eq!(
            (host.kind, host.unit(), host.measurement()),
            (TargetKind::Host, LatencyUnit::Ms, Measurement::Local)
        );
        assert_eq!(host.triple, host_triple());
        assert!(host.cores >= 1 && host.emulator.is_none());

        let a64 = Target::resolve("aarch64-linux").unwrap();
        assert_eq!(a64.triple, "aarch64-unknown-linux-gnu");
        assert_eq!((a64.cores, a64.clock_mhz, a64.unit()), (4, Some(1500), LatencyUnit::Instructions));
        assert_eq!(a64.features, ["neon"]);
        assert_eq!(a64.emulator_sysroot(), Some(PathBuf::from("/usr/aarch64-linux-gnu")));

        let a32 = Target::resolve("armv7-linux").unwrap();
        assert_eq!(a32.triple, "armv7-unknown-linux-gnueabihf");
        assert_eq!(a32.guest_env.get("TRACT_CPU_ARM32_NEON").map(String::as_str), Some("true"));
        assert_eq!(a32.emulator.as_ref().unwrap()[0], "qemu-arm");

        let m4 = Target::resolve("cortex-m4").unwrap();
        assert_eq!(
            (m4.kind, m4.sram_kib, m4.flash_kib, m4.clock_mhz),
            (TargetKind::Mcu, Some(256), Some(1024), Some(168))
        );
        assert!(m4.emulator.as_ref().unwrap().contains(&"mps2-an386".to_string()));
        let m7 = Target::resolve("cortex-m7").unwrap();
        assert_eq!((m7.sram_kib, m7.flash_kib, m7.clock_mhz), (Some(320), Some(1024), Some(216)));
        assert!(m7.emulator.as_ref().unwrap().contains(&"mps2-an500".to_string()));
        for t in [&m4, &m7] {
            assert_eq!(t.triple, "thumbv7em-none-eabihf");
            assert_eq!(t.emulator_sysroot(), None);
        }
    }

    #[test]
    fn custom_descriptor_parses_with_defaults() {
        let t = Target::from_toml(CUSTOM, "custom.toml").unwrap();
        assert_eq!(t.name, "pi-zero");
        assert!(t.features.is_empty() && t.guest_env.is_empty() && t.clock_mhz.is_none());
    }

    fn error(text: &str) -> String {
        Target::from_toml(text, "my.toml").unwrap_err().to_string()
    }

    #[test]
    fn parse_errors_name_the_origin_the_line_and_the_field() {
        let e = error(&format!("{CUSTOM}colour = \"red\"\n"));
        assert!(e.contains("my.toml") && e.contains("line 9") && e.contains("colour"), "{e}");
        let e = error(&CUSTOM.replace("cores = 1\n", "cores = \"one\"\n"));
        assert!(e.contains("my.toml") && e.contains("line 7"), "{e}");
        let e = error(&CUSTOM.replace("unit = \"instructions\"", "unit = \"ms\""));
        assert!(e.contains("my.toml") && e.contains("contradicts") && e.contains("instructions"), "{e}");
        let implied = Target::from_toml(&CUSTOM.replace("unit = \"instructions\"\n", ""), "my.toml").unwrap();
        assert_eq!(implied.unit(), LatencyUnit::Instructions, "the emulator's unit when none is declared");
        let e = error(&CUSTOM.replace("\"linux-cross\"", "\"phone\""));
        assert!(e.contains("my.toml") && e.contains("phone"), "{e}");
    }

    #[test]
    fn validation_rules_name_the_field() {
        for (text, field) in [
            (CUSTOM.replace("\"pi-zero\"", "\"\""), "`name`"),
            (CUSTOM.replace("cores = 1", "cores = 0"), "`cores`"),
            (CUSTOM.replace("triple = \"arm-unknown-linux-gnueabihf\"\n", ""), "`triple`"),
            (CUSTOM.replace("linker = \"arm-linux-gnueabihf-gcc\"\n", ""), "`linker`"),
            (CUSTOM.replace("emulator = [\"qemu-arm\", \"-L\", \"/usr/arm-linux-gnueabihf\"]\n", ""), "`emulator`"),
            (CUSTOM.replace("[\"qemu-arm\", \"-L\", \"/usr/arm-linux-gnueabihf\"]", "[]"), "`emulator`"),
            (CUSTOM.replace("\"linux-cross\"", "\"mcu\""), "`sram_kib`"),
            (CUSTOM.replace("\"linux-cross\"", "\"mcu\"") + "sram_kib = 64\n", "`flash_kib`"),
            (CUSTOM.to_string() + "clock_mhz = 0\n", "`clock_mhz`"),
        ] {
            let e = error(&text);
            assert!(e.contains("my.toml") && e.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn a_remote_table_means_the_device_measures_in_ms_for_any_kind_but_mcu() {
        let remote = "[remote]\npush = [\"scp\", \"{local}\", \"pi:{remote}\"]\nrun = [\"ssh\", \"pi\", \"{runner}\", \"{args}\"]\nworkdir = \"/tmp\"\n";
        let no_emulator = CUSTOM.replace("emulator = [\"qemu-arm\", \"-L\", \"/usr/arm-linux-gnueabihf\"]\n", "");
        let cross =
            Target::from_toml(&format!("{}{remote}", no_emulator.replace("unit = \"instructions\"\n", "")), "my.toml")
                .unwrap();
        assert_eq!((cross.measurement(), cross.unit()), (Measurement::Remote, LatencyUnit::Ms));
        let host = Target::from_toml(&format!("name = \"box\"\nkind = \"host\"\n{remote}"), "box.toml").unwrap();
        assert_eq!(host.measurement(), Measurement::Remote);
        let e = error(&format!("{CUSTOM}{remote}"));
        assert!(e.contains("contradicts") && e.contains("[remote]") && e.contains("wall-clock ms"), "{e}");
        let mcu = Target::builtin("cortex-m4").unwrap();
        assert_eq!(mcu.measurement(), Measurement::Microcontroller);
        let text = format!("{}{remote}", include_str!("../builtin/cortex-m4.toml"));
        let e = Target::from_toml(&text, "m4.toml").unwrap_err().to_string();
        assert!(e.contains("not supported for kind `mcu`"), "{e}");
    }

    #[test]
    fn unknown_names_list_the_builtins_and_paths_are_read() {
        let e = Target::resolve("pixel9").unwrap_err().to_string();
        assert!(e.contains("pixel9") && Target::builtin_names().iter().all(|n| e.contains(n)), "{e}");
        let e = Target::resolve("no/such/target.toml").unwrap_err();
        assert!(matches!(e, TargetError::Read { .. }), "{e}");
        assert!(e.to_string().contains("no/such/target.toml"));
    }

    #[test]
    fn microcontroller_cores_come_from_cpu_or_the_qemu_board() {
        assert_eq!(Target::builtin("cortex-m7").unwrap().mcu_cpu().as_deref(), Some("cortex-m7"));
        let mut m4 = Target::builtin("cortex-m4").unwrap();
        m4.cpu = None;
        assert_eq!(m4.mcu_cpu().as_deref(), Some("cortex-m4"), "from mps2-an386");
        m4.emulator = Some(vec!["qemu-system-arm".into(), "-M".into(), "mps2-an505".into()]);
        assert_eq!(m4.mcu_cpu().as_deref(), Some("cortex-m33"));
        m4.emulator = None;
        assert_eq!(m4.mcu_cpu(), None);
    }
}
