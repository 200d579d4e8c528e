//! The one way files are written in this workspace: complete or not at all.

use std::io::Write;
use std::path::Path;

use crate::RuntimeError;

/// Writes `bytes` to `path` through a temporary file in the same directory, synced to disk
/// and renamed over `path` (`tempfile`'s `persist`). On any failure `path` keeps what it
/// held before and no temporary file is left behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
    write(path, bytes, None)
}

/// [`write_atomic`] for a program: the file gets the Unix permission bits `mode` (e.g.
/// `0o755`) before it appears at `path`. Elsewhere `mode` is ignored.
pub fn write_atomic_executable(path: &Path, bytes: &[u8], mode: u32) -> Result<(), RuntimeError> {
    write(path, bytes, Some(mode))
}

fn write(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), RuntimeError> {
    let io = |source| RuntimeError::Io { path: path.to_path_buf(), source };
    if path.file_name().is_none() {
        return Err(io(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path")));
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        file.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let missing = dir.path().join("no/such/dir/b.bin");
        assert!(matches!(write_atomic(&missing, b"x"), Err(RuntimeError::Io { .. })));
        std::fs::create_dir(dir.path().join("taken")).unwrap();
        assert!(write_atomic(&dir.path().join("taken"), b"x").is_err(), "cannot replace a directory");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn programs_get_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.sh");
        write_atomic_executable(&path, b"#!/bin/sh\n", 0o755).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o755);
    }
}
