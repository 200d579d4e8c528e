//! Accuracy from an external training command (any program: a PyTorch script, a remote
//! job submitter), run once per candidate through [`edgenas_targets::run_command`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use edgenas_runtime::error_chain;
use edgenas_targets::{run_command, CommandOutcome};
use serde_json::{Map, Value};

use super::{AccuracyEvaluator, AccuracyResult, EvalContext};
use crate::BoxError;

/// How many trailing stderr lines a failure message quotes.
const STDERR_TAIL_LINES: usize = 20;

/// Runs `argv` per candidate, without a shell, in the candidate's `workdir`, and reads its
/// verdict from stdout.
///
/// In every argument the placeholders `{onnx}`, `{arch_json}` and `{workdir}` are replaced
/// by the absolute paths of [`EvalContext::onnx_path`], [`EvalContext::arch_json_path`] and
/// [`EvalContext::workdir`] (plain text replacement, so `--model={onnx}` works; nothing is
/// split or quoted). A relative program path such as `./train.sh` is taken relative to the
/// current directory.
///
/// Protocol: the last non-empty stdout line that parses as a JSON object is the result,
/// `{"accuracy": <finite number>, "onnx": <path, optional>}` (other keys are ignored); a
/// relative `onnx` is resolved against `workdir` and must exist. Everything else the
/// command prints is ignored. A non-zero exit, a run past `timeout` (the command and its
/// children are killed), or a missing or invalid result line is an error quoting the reason
/// and the last 20 lines of stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandEvaluator {
    pub argv: Vec<String>,
    pub timeout: Duration,
}

impl CommandEvaluator {
    /// The command line for one candidate, placeholders substituted.
    pub fn command_line(&self, ctx: &EvalContext<'_>) -> Result<Vec<String>, String> {
        substitute(&self.argv, ctx.onnx_path, ctx.arch_json_path, ctx.workdir)
    }
}

/// `argv` with `{onnx}`, `{arch_json}` and `{workdir}` replaced by the absolute forms of the
/// given paths: the command runs in `workdir`, where a path relative to our own current
/// directory would name the wrong file.
fn substitute(argv: &[String], onnx: &Path, arch_json: &Path, workdir: &Path) -> Result<Vec<String>, String> {
    let text = |p: &Path| -> Result<String, String> {
        let absolute = std::path::absolute(p).map_err(|e| format!("making {} absolute: {e}", p.display()))?;
        absolute.into_os_string().into_string().map_err(|p| format!("{} is not UTF-8", Path::new(&p).display()))
    };
    let (onnx, arch_json, workdir) = (text(onnx)?, text(arch_json)?, text(workdir)?);
    Ok(argv
        .iter()
        .map(|a| a.replace("{onnx}", &onnx).replace("{arch_json}", &arch_json).replace("{workdir}", &workdir))
        .collect())
}

impl AccuracyEvaluator for CommandEvaluator {
    fn name(&self) -> String {
        format!("command:{}", self.argv.first().map_or("", String::as_str))
    }

    fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<AccuracyResult, BoxError> {
        let argv = self.command_line(ctx)?;
        let outcome = run_command(&argv, Some(ctx.workdir), self.timeout)
            .map_err(|e| format!("running the training command in {}: {}", ctx.workdir.display(), error_chain(&e)))?;
        let verdict = if outcome.timed_out {
            Err(format!("timed out after {}s", self.timeout.as_secs_f64()))
        } else {
            match outcome.status {
                Some(0) => parse_result(&outcome.stdout, ctx.workdir),
                Some(code) => Err(format!("exited with status {code}")),
                None => Err("killed by a signal".to_string()),
            }
        };
        verdict.map_err(|reason| failure(&argv, &reason, &outcome).into())
    }
}

fn failure(argv: &[String], reason: &str, outcome: &CommandOutcome) -> String {
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    let tail = &lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..];
    let stderr = if tail.is_empty() {
        "stderr was empty".to_string()
    } else {
        format!("last {} line(s) of stderr:\n{}", tail.len(), tail.join("\n"))
    };
    let after = if outcome.timed_out { String::new() } else { format!(" after {:.1}s", outcome.elapsed.as_secs_f64()) };
    format!("training command `{}` failed{after}: {reason}\n{stderr}", argv.join(" "))
}

/// The result line of `stdout` (see [`CommandEvaluator`]'s protocol).
fn parse_result(stdout: &str, workdir: &Path) -> Result<AccuracyResult, String> {
    let object = stdout
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .find_map(|l| serde_json::from_str::<Map<String, Value>>(l).ok())
        .ok_or("printed no JSON result line such as {\"accuracy\": 93.1}")?;
    let accuracy = match object.get("accuracy") {
        Some(Value::Number(n)) => n.as_f64().filter(|a| a.is_finite()),
        Some(other) => return Err(format!("printed a result whose \"accuracy\" is not a number: {other}")),
        None => return Err(format!("printed a result without \"accuracy\": {}", Value::Object(object.clone()))),
    }
    .ok_or("printed a non-finite accuracy")?;
    let trained_onnx = match object.get("onnx") {
        None | Some(Value::Null) => None,
        Some(Value::String(path)) => {
            let path = workdir.join(PathBuf::from(path));
            if !path.is_file() {
                return Err(format!("printed a trained model {} that does not exist", path.display()));
            }
            Some(path)
        }
        Some(other) => return Err(format!("printed a result whose \"onnx\" is not a path: {other}")),
    };
    Ok(AccuracyResult { accuracy, trained_onnx })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_absolute_paths() {
        let cwd = std::env::current_dir().unwrap();
        let argv: Vec<String> = ["train", "{onnx}", "--arch={arch_json}", "{workdir}/out", "{other}"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let got =
            substitute(&argv, Path::new("runs/x/m.onnx"), Path::new("/abs/genome.json"), Path::new("runs/x")).unwrap();
        let expected = vec![
            "train".to_string(),
            cwd.join("runs/x/m.onnx").display().to_string(),
            "--arch=/abs/genome.json".to_string(),
            format!("{}/out", cwd.join("runs/x").display()),
            "{other}".to_string(),
        ];
        assert_eq!(got, expected);
    }
}
