//! The runner's sources, carried inside this crate (and so inside every binary built with
//! it): a cross build of the runner needs no edgenas source tree on the machine, only a
//! Rust toolchain. [`unpack`] writes them as a small cargo workspace of three crates
//! (`runtime`, `runtime/runner`) into the cache directory.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::BuildError;

/// Every file of the three crates the runner is built from, by path in the workspace.
const FILES: &[(&str, &str)] = &[
    ("Cargo.lock", include_str!("../../Cargo.lock")),
    ("runtime/Cargo.toml", include_str!("../../runtime/Cargo.toml")),
    ("runtime/src/bench.rs", include_str!("../../runtime/src/bench.rs")),
    ("runtime/src/error.rs", include_str!("../../runtime/src/error.rs")),
    ("runtime/src/fs.rs", include_str!("../../runtime/src/fs.rs")),
    ("runtime/src/int8/boundary.rs", include_str!("../../runtime/src/int8/boundary.rs")),
    ("runtime/src/int8/conv.rs", include_str!("../../runtime/src/int8/conv.rs")),
    ("runtime/src/int8/elementwise.rs", include_str!("../../runtime/src/int8/elementwise.rs")),
    ("runtime/src/int8/mod.rs", include_str!("../../runtime/src/int8/mod.rs")),
    ("runtime/src/int8/pool.rs", include_str!("../../runtime/src/int8/pool.rs")),
    ("runtime/src/int8/scratch.rs", include_str!("../../runtime/src/int8/scratch.rs")),
    ("runtime/src/lib.rs", include_str!("../../runtime/src/lib.rs")),
    ("runtime/src/model.rs", include_str!("../../runtime/src/model.rs")),
    ("runtime/src/nnef.rs", include_str!("../../runtime/src/nnef.rs")),
    ("runtime/src/npy.rs", include_str!("../../runtime/src/npy.rs")),
    ("runtime/src/profile.rs", include_str!("../../runtime/src/profile.rs")),
    ("runtime/src/stats.rs", include_str!("../../runtime/src/stats.rs")),
    ("runtime/runner/Cargo.toml", include_str!("../../runtime/runner/Cargo.toml")),
    ("runtime/runner/src/main.rs", include_str!("../../runtime/runner/src/main.rs")),
    ("kernels/Cargo.toml", include_str!("../../kernels/Cargo.toml")),
    ("kernels/src/fast/aarch64.rs", include_str!("../../kernels/src/fast/aarch64.rs")),
    ("kernels/src/fast/conv.rs", include_str!("../../kernels/src/fast/conv.rs")),
    ("kernels/src/fast/depthwise.rs", include_str!("../../kernels/src/fast/depthwise.rs")),
    ("kernels/src/fast/elementwise.rs", include_str!("../../kernels/src/fast/elementwise.rs")),
    ("kernels/src/fast/mod.rs", include_str!("../../kernels/src/fast/mod.rs")),
    ("kernels/src/fast/pool.rs", include_str!("../../kernels/src/fast/pool.rs")),
    ("kernels/src/fast/x86.rs", include_str!("../../kernels/src/fast/x86.rs")),
    ("kernels/src/lib.rs", include_str!("../../kernels/src/lib.rs")),
    ("kernels/src/ops/add.rs", include_str!("../../kernels/src/ops/add.rs")),
    ("kernels/src/ops/conv.rs", include_str!("../../kernels/src/ops/conv.rs")),
    ("kernels/src/ops/mod.rs", include_str!("../../kernels/src/ops/mod.rs")),
    ("kernels/src/ops/pool.rs", include_str!("../../kernels/src/ops/pool.rs")),
    ("kernels/src/ops/requantize.rs", include_str!("../../kernels/src/ops/requantize.rs")),
    ("kernels/src/program.rs", include_str!("../../kernels/src/program.rs")),
    ("kernels/src/reference.rs", include_str!("../../kernels/src/reference.rs")),
    ("kernels/src/requant.rs", include_str!("../../kernels/src/requant.rs")),
];

/// The edgenas workspace manifest: the shared package settings, dependency versions and
/// profiles the runner's crates name.
const WORKSPACE_MANIFEST: &str = include_str!("../../Cargo.toml");

/// The directories whose files [`FILES`] must list (checked by a test).
#[cfg(test)]
pub(crate) const SOURCE_DIRS: [&str; 6] =
    ["runtime/src", "runtime/src/int8", "runtime/runner/src", "kernels/src", "kernels/src/ops", "kernels/src/fast"];

/// The sources as cargo builds them: [`FILES`] with the workspace manifest reduced to
/// the three crates, and the runtime's and kernels' manifests without their test and dev-only sections.
fn tree() -> Result<Vec<(String, String)>, BuildError> {
    let mut files: Vec<(String, String)> = FILES.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
    for (path, text) in &mut files {
        if path == "runtime/Cargo.toml" || path == "kernels/Cargo.toml" {
            *text = without_keys(text, &["test", "dev-dependencies"])?;
        }
    }
    files.push(("Cargo.toml".to_string(), workspace_manifest()?));
    Ok(files)
}

/// The workspace manifest with only `[workspace]` (members `runtime`, `runtime/runner`;
/// package settings; registry dependencies) and the profiles.
fn workspace_manifest() -> Result<String, BuildError> {
    let invalid = |reason: String| BuildError::Source { reason };
    let mut root: toml::Table = WORKSPACE_MANIFEST.parse().map_err(|e| invalid(format!("Cargo.toml: {e}")))?;
    let mut workspace = match root.remove("workspace") {
        Some(toml::Value::Table(t)) => t,
        _ => return Err(invalid("Cargo.toml has no [workspace] table".into())),
    };
    workspace.insert(
        "members".into(),
        toml::Value::Array(vec!["kernels".into(), "runtime".into(), "runtime/runner".into()]),
    );
    if let Some(toml::Value::Table(deps)) = workspace.get_mut("dependencies") {
        deps.retain(|_, spec| !spec.as_table().is_some_and(|t| t.contains_key("path")));
    }
    let mut manifest = toml::Table::new();
    manifest.insert("workspace".into(), toml::Value::Table(workspace));
    if let Some(profile) = root.remove("profile") {
        manifest.insert("profile".into(), profile);
    }
    toml::to_string(&manifest).map_err(|e| invalid(format!("writing the runner workspace manifest: {e}")))
}

fn without_keys(manifest: &str, keys: &[&str]) -> Result<String, BuildError> {
    let invalid = |reason: String| BuildError::Source { reason };
    let mut table: toml::Table = manifest.parse().map_err(|e| invalid(format!("runtime/Cargo.toml: {e}")))?;
    for key in keys {
        table.remove(*key);
    }
    toml::to_string(&table).map_err(|e| invalid(format!("writing runtime/Cargo.toml: {e}")))
}

/// Writes the runner's sources into `cache_dir/runner-src/<hash>` (hash of the tree, so
/// a binary never builds another binary's sources) unless they are already there, and
/// returns that directory: the cargo workspace to build `edgenas-runner` in.
///
/// The tree is written to a temporary directory and renamed into place, so concurrent
/// callers and killed processes never leave a half-written tree behind.
pub fn unpack(cache_dir: &Path) -> Result<PathBuf, BuildError> {
    let files = tree()?;
    let mut hasher = Sha256::new();
    for (path, text) in &files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    let hash: String = hasher.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let parent = cache_dir.join("runner-src");
    let dir = parent.join(&hash);
    if dir.join("Cargo.toml").is_file() {
        return Ok(dir);
    }
    let io = |what: &str, path: &Path, e: std::io::Error| BuildError::Source {
        reason: format!("{what} {}: {e}", path.display()),
    };
    std::fs::create_dir_all(&parent).map_err(|e| io("cannot create", &parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{hash}-"))
        .tempdir_in(&parent)
        .map_err(|e| io("cannot create a directory in", &parent, e))?;
    for (path, text) in &files {
        let file = staging.path().join(path);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
        }
        std::fs::write(&file, text).map_err(|e| io("cannot write", &file, e))?;
    }
    match std::fs::rename(staging.path(), &dir) {
        Ok(()) => {
            let _ = staging.keep();
            Ok(dir)
        }
        Err(_) if dir.join("Cargo.toml").is_file() => Ok(dir),
        Err(e) => Err(io("cannot move the runner sources to", &dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runner_source_file_is_carried() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for dir in SOURCE_DIRS {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let entry = entry.unwrap();
                let name = format!("{dir}/{}", entry.file_name().to_string_lossy());
                if entry.file_type().unwrap().is_dir() {
                    assert!(SOURCE_DIRS.contains(&name.as_str()), "{name} is not in runner_source::SOURCE_DIRS");
                    continue;
                }
                assert!(FILES.iter().any(|(p, _)| *p == name), "{name} is not in runner_source::FILES");
            }
        }
        for (path, text) in FILES {
            assert_eq!(std::fs::read_to_string(root.join(path)).unwrap(), *text, "{path}");
        }
    }

    #[test]
    fn the_unpacked_tree_is_a_three_crate_workspace() {
        let cache = tempfile::tempdir().unwrap();
        let dir = unpack(cache.path()).unwrap();
        assert_eq!(unpack(cache.path()).unwrap(), dir, "unpacked once");
        let manifest: toml::Table = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap().parse().unwrap();
        let members = manifest["workspace"]["members"].as_array().unwrap();
        assert_eq!(members.len(), 3);
        let deps = manifest["workspace"]["dependencies"].as_table().unwrap();
        assert!(deps.contains_key("tract-onnx") && !deps.contains_key("edgenas-compiler"), "{deps:?}");
        assert!(manifest["profile"].as_table().unwrap().contains_key("runner-small"));
        let runtime: toml::Table = std::fs::read_to_string(dir.join("runtime/Cargo.toml")).unwrap().parse().unwrap();
        assert!(!runtime.contains_key("test") && !runtime.contains_key("dev-dependencies"));
        assert!(dir.join("runtime/runner/src/main.rs").is_file() && dir.join("Cargo.lock").is_file());
    }
}
