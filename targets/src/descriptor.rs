use serde::{Deserialize, Serialize};

/// How a target is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// This machine, measured by wall clock with tract.
    Host,
}

/// A device models are compiled for and measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    /// Rust target triple of the runner.
    pub triple: String,
}

impl Target {
    /// This machine.
    pub fn host() -> Self {
        Target { name: "host".into(), kind: TargetKind::Host, triple: host_triple().into() }
    }
}

fn host_triple() -> &'static str {
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        "x86_64-unknown-linux-gnu"
    } else if cfg!(all(target_arch = "aarch64", target_os = "linux")) {
        "aarch64-unknown-linux-gnu"
    } else {
        "unknown"
    }
}
