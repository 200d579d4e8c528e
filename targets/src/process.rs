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

/// How long to keep reading output after the program exited or was killed, for what its
/// leftover children still write into the inherited pipes.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
const POLL_MAX: Duration = Duration::from_millis(50);

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

/// `error: cause: cause`: an error and its chain of sources on one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

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
pub fn run_command(argv: &[String], cwd: Option<&Path>, timeout: Duration) -> Result<CommandOutcome, ProcessError> {
    let (program, args) = argv.split_first().ok_or(ProcessError::EmptyArgv)?;
    let mut command = Command::new(resolve_program(program));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let start = Instant::now();
    let mut child = command.spawn().map_err(|source| ProcessError::Spawn { program: program.clone(), source })?;
    let (done_tx, done_rx) = mpsc::channel();
    let stdout = capture(child.stdout.take(), done_tx.clone());
    let stderr = capture(child.stderr.take(), done_tx);
    let waited = wait_with_deadline(&mut child, start + timeout);
    let elapsed = start.elapsed();
    let drain_until = Instant::now() + DRAIN_GRACE;
    for _ in 0..2 {
        if done_rx.recv_timeout(drain_until.saturating_duration_since(Instant::now())).is_err() {
            break;
        }
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

/// Reads `pipe` to its end into a shared buffer on a thread of its own; signals `done`.
fn capture(pipe: Option<impl Read + Send + 'static>, done: mpsc::Sender<()>) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buffer);
    thread::spawn(move || {
        if let Some(mut pipe) = pipe {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().map(|mut b| b.extend_from_slice(&chunk[..n])).unwrap_or_default(),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
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
fn wait_with_deadline(child: &mut Child, deadline: Instant) -> std::io::Result<(Option<i32>, bool)> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status.code(), false));
        }
        let now = Instant::now();
        if now >= deadline {
            kill_tree(child);
            let status = child.wait()?;
            return Ok((status.code(), true));
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(POLL_MAX);
    }
}

#[cfg(unix)]
fn kill_tree(child: &mut Child) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    const SIGKILL: i32 = 9;
    match i32::try_from(child.id()) {
        // SAFETY: kill(2) takes no pointers; a negative pid names the process group that
        // `process_group(0)` created for this child, whose id equals the child's pid and
        // cannot be reused before the child is reaped below.
        Ok(pid) if pid > 0 => unsafe {
            kill(-pid, SIGKILL);
        },
        _ => {}
    }
    let _ = child.kill();
}

#[cfg(not(unix))]
fn kill_tree(child: &mut Child) {
    let _ = child.kill();
}
