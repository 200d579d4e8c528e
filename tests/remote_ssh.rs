//! The remote examples against real programs: `examples/remote-ssh.toml` through OpenSSH's
//! `sshd` and `ssh`/`scp` on a loopback port, with an emulated Raspberry Pi behind it (the
//! server's forced command runs aarch64 programs under qemu-aarch64), and a copy of the
//! built-in host descriptor with a `[remote]` table, which must be measured on the device
//! and never on this host. `examples/remote-adb.toml` has no phone here: it is checked
//! against a stand-in `adb` that keeps the argv shape of the real one.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{edgenas, params_search_args, root, stderr, stdout};
use serde_json::Value;

mod common;

/// An `sshd` on 127.0.0.1 serving one key, stopped on drop.
struct SshServer {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

/// The forced command of the test key: the "board" behind sshd. sftp (scp's transport)
/// goes to the sftp server; an aarch64 program runs under qemu-aarch64 with the Debian
/// aarch64 sysroot, as it would run on a Raspberry Pi; anything else runs as a login shell
/// would run it. Each runner call is logged to `board.log`.
const BOARD: &str = r#"#!/bin/sh
set -eu
here=$(dirname "$0")
case "${SSH_ORIGINAL_COMMAND:-}" in
  "") exec /bin/sh ;;
  *sftp-server*|internal-sftp*) exec /usr/lib/openssh/sftp-server ;;
esac
set -- $SSH_ORIGINAL_COMMAND
if [ -f "$1" ] && [ "$(od -An -tu1 -j18 -N1 "$1" | tr -d ' ')" = 183 ]; then
  echo "aarch64 $*" >>"$here/board.log"
  exec qemu-aarch64 -L /usr/aarch64-linux-gnu "$@"
fi
echo "native $*" >>"$here/board.log"
exec sh -c "$SSH_ORIGINAL_COMMAND"
"#;

impl SshServer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for key in ["host_key", "client_key"] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .output()
                .unwrap();
            assert!(out.status.success(), "ssh-keygen: {}", stderr(&out));
        }
        let board = d.join("board.sh");
        std::fs::write(&board, BOARD).unwrap();
        set_executable(&board);
        let public = std::fs::read_to_string(d.join("client_key.pub")).unwrap();
        std::fs::write(d.join("authorized_keys"), format!("command=\"{}\",no-pty {public}", board.display())).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
             Subsystem sftp /usr/lib/openssh/sftp-server\nLogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.err")).unwrap())
            .spawn()
            .expect("starting /usr/sbin/sshd (.ci/run installs openssh-server)");
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        let client = format!(
            "Host edgenas-board\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n  IdentityFile {}/client_key\n  \
             IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
            user.trim(),
            d.display()
        );
        std::fs::write(d.join("ssh_config"), client).unwrap();
        std::fs::create_dir(d.join("board")).unwrap();
        let server = SshServer { dir, child, port };
        server.wait_until_it_answers();
        server
    }

    fn wait_until_it_answers(&self) {
        let start = Instant::now();
        loop {
            let probe =
                Command::new("ssh").arg("-F").arg(self.config()).args(["edgenas-board", "true"]).output().unwrap();
            if probe.status.success() {
                return;
            }
            let log = std::fs::read_to_string(self.dir.path().join("sshd.err")).unwrap_or_default();
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "sshd on port {} never answered: {log}{}",
                self.port,
                stderr(&probe)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// The directory the board's commands write into: the example's `workdir` points here.
    fn workdir(&self) -> PathBuf {
        self.dir.path().join("board")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("board.log")).unwrap_or_default()
    }

    /// `example` with the board's address, ssh config and work directory of this server:
    /// `pi@raspberrypi.local` becomes the `edgenas-board` alias, every `ssh`/`scp` gets
    /// `-F CONFIG`, and `workdir` this server's board directory. Nothing else changes.
    fn adapt(&self, example: &str) -> String {
        let cfg = self.config().display().to_string();
        let workdir = self.workdir().display().to_string();
        let text = example
            .replace("pi@raspberrypi.local", "edgenas-board")
            .replace("\"ssh\", ", &format!("\"ssh\", \"-F\", \"{cfg}\", "))
            .replace("\"scp\", ", &format!("\"scp\", \"-F\", \"{cfg}\", "));
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        for line in &mut lines {
            if line.starts_with("workdir = ") {
                *line = format!("workdir = \"{workdir}\"");
            }
        }
        lines.join("\n") + "\n"
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn ok(args: &[&str]) -> (String, String) {
    let out = edgenas(args);
    assert!(out.status.success(), "{args:?} failed:\n{}", stderr(&out));
    (stdout(&out), stderr(&out))
}

#[test]
fn the_ssh_example_measures_on_an_emulated_board_behind_a_real_sshd() {
    let server = SshServer::start();
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(root().join("examples/remote-ssh.toml")).unwrap();
    let target = dir.path().join("pi.toml");
    std::fs::write(&target, server.adapt(&example)).unwrap();
    let t = target.to_str().unwrap();

    let (check, _) = ok(&["targets", "--check", "--target", t, "--json"]);
    let report: Value = serde_json::from_str(&check).unwrap();
    let tools: Vec<&str> =
        report[0]["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(
        tools.contains(&"ssh") && tools.contains(&"scp") && !tools.iter().any(|t| t.starts_with("qemu")),
        "{tools:?}"
    );

    let (json, err) = ok(&["bench", "--nb201-index", "6111", "--target", t, "--json"]);
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["target"], "raspberry-pi-4-ssh");
    assert_eq!(report["latency"]["unit"], "ms", "a remote device measures wall-clock ms: {report}");
    assert_eq!(report["latency"]["n"], 10, "BenchConfig::default().min_runs samples: {report}");
    assert!(report.get("parse_ms").is_none(), "nothing was loaded on this host: {report}");
    assert!(err.contains("building the runner for raspberry-pi-4-ssh"), "{err}");
    assert!(server.workdir().join("edgenas-runner").is_file() && server.workdir().join("model.nnef.tgz").is_file());
    let log = server.log();
    assert!(log.lines().any(|l| l.starts_with("aarch64 ") && l.contains("edgenas-runner bench")), "{log}");
}

#[test]
fn a_host_descriptor_with_remote_commands_is_measured_on_the_device() {
    let server = SshServer::start();
    let dir = tempfile::tempdir().unwrap();
    let host = std::fs::read_to_string(root().join("targets/builtin/host.toml")).unwrap();
    let remote = "[remote]\npush = [\"scp\", \"-q\", \"{local}\", \"pi@raspberrypi.local:{remote}\"]\n\
                  run = [\"ssh\", \"pi@raspberrypi.local\", \"{runner}\", \"{args}\"]\nworkdir = \"/tmp/edgenas\"\nretries = 1\n";
    let text = host.replace("name = \"host\"", "name = \"my-remote\"").replace("# [remote]\n", remote);
    let target = dir.path().join("my-remote.toml");
    std::fs::write(&target, server.adapt(&text)).unwrap();
    let t = target.to_str().unwrap();

    let (json, _) = ok(&["bench", "--nb201-index", "6111", "--target", t, "--json"]);
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!((report["target"].as_str(), report["latency"]["unit"].as_str()), (Some("my-remote"), Some("ms")));
    assert!(report.get("parse_ms").is_none(), "measured on the device, not in this process: {report}");
    assert!(
        server.log().lines().any(|l| l.starts_with("native ") && l.contains("edgenas-runner bench")),
        "{}",
        server.log()
    );

    let run = dir.path().join("run");
    let args = params_search_args(t, "3", run.to_str().unwrap(), &[]);
    ok(&args);
    let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
    let records: Vec<Value> = journal.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!((r["status"].as_str(), r["latency"]["unit"].as_str()), (Some("evaluated"), Some("ms")), "{r}");
    }
    let calls = server.log().lines().filter(|l| l.contains("edgenas-runner bench")).count();
    assert!(calls >= 4, "one bench call on the device per measurement: {}", server.log());
}

/// The adb example's commands, run against a stand-in `adb` (in place of the program) that implements
/// `push`, `shell` and `pull` on a local directory (the "phone"), in the argv shape of the
/// real adb: the templates expand as the real one expects. The Android triple needs the
/// NDK, which is not installed here, so the runner is the host's.
#[test]
fn the_adb_example_parses_and_drives_an_adb_shaped_program() {
    let dir = tempfile::tempdir().unwrap();
    let phone = dir.path().join("phone");
    std::fs::create_dir(&phone).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let adb = bin.join("adb");
    std::fs::write(
        &adb,
        format!(
            "#!/bin/sh\n# push, pull and shell on the phone directory; device paths (absolute) are inside it\n\
             set -eu\nphone={}\ncase $1 in\n  push) cp \"$2\" \"$phone$3\" ;;\n  pull) cp \"$phone$2\" \"$3\" ;;\n  \
             shell) shift; n=$#; while [ $n -gt 0 ]; do a=$1; shift; case $a in /*) a=$phone$a ;; esac; set -- \"$@\" \"$a\"; n=$((n-1)); done; exec \"$@\" ;;\n  \
             *) echo \"adb stand-in: $1?\" >&2; exit 1 ;;\nesac\n",
            phone.display()
        ),
    )
    .unwrap();
    set_executable(&adb);
    let example = std::fs::read_to_string(root().join("examples/remote-adb.toml")).unwrap();
    let target = edgenas_targets::Target::from_toml(&example, "remote-adb.toml").unwrap();
    assert_eq!((target.name.as_str(), target.unit()), ("android-phone-adb", edgenas_runtime::LatencyUnit::Ms));
    let mut commands = target.remote.clone().unwrap();
    assert_eq!((commands.push[0].as_str(), commands.run[1].as_str()), ("adb", "shell"));
    for template in [&mut commands.push, &mut commands.run].into_iter().chain(commands.pull.as_mut()) {
        template[0] = adb.display().to_string();
    }
    std::fs::create_dir_all(phone.join(commands.workdir.trim_start_matches('/'))).unwrap();

    let mut host = edgenas_targets::Target::host();
    host.remote = Some(commands);
    let model = dir.path().join("m.onnx");
    ok(&["export", "--nb201-index", "6111", "--out", model.to_str().unwrap()]);
    let bundle = dir.path().join("bundle");
    ok(&["compile", model.to_str().unwrap(), "--target", "host", "--out", bundle.to_str().unwrap()]);
    let backend = edgenas_targets::RemoteBackend::new(host).unwrap();
    let artifact = edgenas_targets::DeviceArtifact {
        runner: bundle.join("edgenas-runner"),
        model: bundle.join("model.nnef.tgz"),
        input: None,
    };
    let config = edgenas_runtime::BenchConfig { warmup: 1, min_runs: 3, ..Default::default() };
    let stats = edgenas_targets::DeviceBackend::measure(&backend, &artifact, &config).unwrap();
    assert_eq!((stats.n, stats.unit), (3, edgenas_runtime::LatencyUnit::Ms));
    assert!(phone.join("data/local/tmp/model.nnef.tgz").is_file());
}
