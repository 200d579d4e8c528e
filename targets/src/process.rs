//! Running an external program (a trainer, a cross compiler, a remote shell) with a time
//! limit, capturing everything it prints.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use thiserror::Error;
use wait_timeout::ChildExt;

/// How long to keep reading output after the program exited or was killed, for what its
/// leftover children still write into the inherited pipes.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// The longest time limit a command may get (7 days): longer than any training run or
/// build this tool starts, short enough that no deadline computed from it overflows.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a program could not be run at all. A program that runs and fails is not an error:
/// see [`CommandOutcome`].
#[derive(Debug, Error)]
pub enum ProcessError {
    #[error("empty command line: no program to run")]
    EmptyArgv,
    #[error("cannot start `{program}`")]
    Spawn { program: String, source: std::io::Error },
    #[error("waiting for `{program}`")]
    Wait { program: String, source: std::io::Error },
    #[error("time limit of {}s for `{program}` is beyond the maximum of {}s", timeout.as_secs_f64(), MAX_TIMEOUT.as_secs())]
    Timeout { program: String, timeout: Duration },
}

/// What a finished (or killed) program did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    /// Exit code; `None` when a signal ended it (including the kill on timeout).
    pub status: Option<i32>,
    /// Everything written to stdout, lossily decoded as UTF-8.
    pub stdout: String,
    /// Everything written to stderr, lossily decoded as UTF-8.
    pub stderr: String,
    /// The program ran past its time limit and was killed.
    pub timed_out: bool,
    /// Wall time from start to exit (or to the kill).
    pub elapsed: Duration,
}

impl CommandOutcome {
    /// Exited on its own with status 0.
    pub fn success(&self) -> bool {
        !self.timed_out && self.status == Some(0)
    }
}

/// A time limit a user gave in seconds (a descriptor field, a config value, a flag),
/// checked once where it enters: a positive finite number of seconds, at most
/// [`MAX_TIMEOUT`]. The error names `field`.
pub fn timeout_from_secs(field: &str, secs: f64) -> Result<Duration, String> {
    match Duration::try_from_secs_f64(secs) {
        Ok(t) if !t.is_zero() && t <= MAX_TIMEOUT => Ok(t),
        _ => Err(format!(
            "`{field}` must be a positive number of seconds, at most {} (7 days), got {secs}",
            MAX_TIMEOUT.as_secs()
        )),
    }
}

pub(crate) use edgenas_runtime::error_chain;

/// Runs `argv[0]` with arguments `argv[1..]`, without a shell, in `cwd` (default: the
/// current directory), stdin closed, stdout and stderr captured in full.
///
/// A relative program path containing a separator (`./train.sh`) is resolved against this
/// process's current directory, not `cwd`; a bare name is looked up in `PATH`.
///
/// On Unix the program gets a process group of its own (so it does not receive the
/// terminal's Ctrl-C); past `timeout` the whole group is sent SIGKILL, so a script's
/// children die with it, the program is reaped and the outcome has `timed_out`. Elsewhere
/// only the program itself is killed. Output is read on two threads, so a program that
/// writes more than a pipe holds never blocks; after the program ends, output still arriving
/// from processes that outlived it is collected for at most a short grace period.
///
/// Errors: an empty `argv`, a program that cannot be started, a `timeout` over
/// [`MAX_TIMEOUT`] (callers validate user input with [`timeout_from_secs`]).
pub fn run_command(argv: &[String], cwd: Option<&Path>, timeout: Duration) -> Result<CommandOutcome, ProcessError> {
    run_command_with(argv, cwd, timeout, &mut |_| {})
}

/// [`run_command`], calling `on_stderr_line` with each line of the program's stderr as it
/// arrives (on the calling thread), e.g. to show a long build's progress.
pub fn run_command_with(
    argv: &[String],
    cwd: Option<&Path>,
    timeout: Duration,
    on_stderr_line: &mut dyn FnMut(&str),
) -> Result<CommandOutcome, ProcessError> {
    let (program, args) = argv.split_first().ok_or(ProcessError::EmptyArgv)?;
    if timeout > MAX_TIMEOUT {
        return Err(ProcessError::Timeout { program: program.clone(), timeout });
    }
    let mut command = Command::new(resolve_program(program));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let start = Instant::now();
    let deadline = start + timeout;
    let mut child = command.spawn().map_err(|source| ProcessError::Spawn { program: program.clone(), source })?;
    let (done_tx, done_rx) = mpsc::channel();
    let (line_tx, line_rx) = mpsc::channel();
    let stdout = capture(child.stdout.take(), done_tx.clone(), None);
    let stderr = capture(child.stderr.take(), done_tx, Some(line_tx));
    while let Ok(line) = line_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        on_stderr_line(&line);
    }
    let waited = wait_until(&mut child, deadline);
    let elapsed = start.elapsed();
    let drain_until = Instant::now() + DRAIN_GRACE;
    for _ in 0..2 {
        if done_rx.recv_timeout(drain_until.saturating_duration_since(Instant::now())).is_err() {
            break;
        }
    }
    for line in line_rx.try_iter() {
        on_stderr_line(&line);
    }
    let (status, timed_out) = waited.map_err(|source| ProcessError::Wait { program: program.clone(), source })?;
    Ok(CommandOutcome { status, stdout: text(&stdout), stderr: text(&stderr), timed_out, elapsed })
}

fn resolve_program(program: &str) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && path.components().count() > 1 {
        if let Ok(dir) = std::env::current_dir() {
            return dir.join(path);
        }
    }
    path.to_path_buf()
}

/// Reads `pipe` to its end into a shared buffer on a thread of its own, sending each
/// complete line to `lines` when given; signals `done` at the end.
fn capture(
    pipe: Option<impl Read + Send + 'static>,
    done: mpsc::Sender<()>,
    lines: Option<mpsc::Sender<String>>,
) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buffer);
    thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 8192];
            let mut pending = Vec::new();
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        sink.lock().map(|mut b| b.extend_from_slice(&chunk[..n])).unwrap_or_default();
                        if let Some(lines) = &lines {
                            pending.extend_from_slice(&chunk[..n]);
                            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                                let line: Vec<u8> = pending.drain(..=end).collect();
                                let _ = lines.send(String::from_utf8_lossy(&line).trim_end().to_string());
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            if let (Some(lines), false) = (&lines, pending.is_empty()) {
                let _ = lines.send(String::from_utf8_lossy(&pending).trim_end().to_string());
            }
        }
        let _ = done.send(());
    });
    buffer
}

fn text(buffer: &Mutex<Vec<u8>>) -> String {
    buffer.lock().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// Waits for `child` until `deadline`, then kills it (its process group on Unix) and reaps
/// it. Returns the exit code and whether it was killed.
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<(Option<i32>, bool)> {
    if let Some(status) = child.wait_timeout(deadline.saturating_duration_since(Instant::now()))? {
        return Ok((status.code(), false));
    }
    kill_tree(child);
    let status = child.wait()?;
    Ok((status.code(), true))
}

#[cfg(unix)]
fn kill_tree(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) takes no pointers; a negative pid names the process group that
        // `process_group(0)` created for this child, whose id equals the child's pid and
        // cannot be reused before the child is reaped by our caller.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
}

#[cfg(not(unix))]
fn kill_tree(child: &mut Child) {
    let _ = child.kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn timeouts_are_checked_at_the_boundary() {
        assert_eq!(timeout_from_secs("t", 1.5), Ok(Duration::from_millis(1500)));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e19, 7.0 * 24.0 * 3600.0 + 1.0] {
            let e = timeout_from_secs("evaluator.timeout_s", bad).unwrap_err();
            assert!(e.contains("`evaluator.timeout_s`") && e.contains("604800"), "{bad}: {e}");
        }
        let e = run_command(&sh("true"), None, Duration::from_secs(u64::MAX)).unwrap_err();
        assert!(matches!(e, ProcessError::Timeout { .. }), "{e}");
    }

    #[test]
    fn stderr_lines_stream_as_they_come() {
        let mut lines = Vec::new();
        let out = run_command_with(
            &sh("echo one >&2; echo out; printf 'two\\nthree' >&2"),
            None,
            Duration::from_secs(10),
            &mut |l| lines.push(l.to_string()),
        )
        .unwrap();
        assert!(out.success());
        assert_eq!(lines, ["one", "two", "three"]);
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "one\ntwo\nthree");
    }

    #[test]
    fn a_hanging_group_is_killed_at_the_deadline() {
        let out = run_command(&sh("sleep 30 & sleep 30"), None, Duration::from_millis(200)).unwrap();
        assert!(out.timed_out && out.status.is_none(), "{out:?}");
        assert!(out.elapsed < Duration::from_secs(30), "killed before the sleeps ended: {out:?}");
    }
}
