//! The device farm against a real Redis (`redis-server`, which scripts/test.sh installs),
//! started by each test on a free loopback port in a temporary directory. Workers measure
//! `stand-in:<ms>:nb201-table:pixel3`: a fixed wall time per job and the table's
//! deterministic latency, so every farm run can be compared with a run in one process.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{edgenas, stderr};
use edgenas_farm::{FarmQueue, FarmSettings, FarmStatus, Worker, WorkerSettings, WorkerSummary};
use edgenas_runtime::{LatencyStats, LatencyUnit};
use edgenas_search::latency::latency_source;
use edgenas_search::strategy::StrategyKind;
use edgenas_search::{
    BoxError, CandidateRecord, CandidateStatus, LatencyConfig, LatencyInput, LatencySource, Measured, Search,
    SearchConfig,
};
use redis::Value;

struct RedisServer {
    dir: tempfile::TempDir,
    port: u16,
    password: Option<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// A server with append-only persistence (every write fsynced), so a restart keeps
    /// the streams and consumer groups.
    fn start(password: Option<&str>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server =
            RedisServer { dir: tempfile::tempdir().unwrap(), port, password: password.map(String::from), child: None };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.dir.path().join("redis.log")).unwrap())
            .stderr(Stdio::null());
        if let Some(pw) = &self.password {
            cmd.args(["--requirepass", pw]);
        }
        self.child = Some(cmd.spawn().expect("starting redis-server (scripts/test.sh installs it)"));
        let start = Instant::now();
        loop {
            let ping = redis::Client::open(self.url())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return;
            }
            let log = std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
            assert!(start.elapsed() < Duration::from_secs(20), "redis-server on {} never answered: {log}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        match &self.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Kills the server (SIGKILL: what fsynced survives) and starts it again on its port.
    fn kill_and_restart(&mut self, down_for: Duration) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        std::thread::sleep(down_for);
        self.spawn();
    }

    fn con(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().unwrap()
    }

    fn int(&self, args: &[&str]) -> i64 {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut self.con()).unwrap()
    }

    /// Entries delivered and not acknowledged in the jobs stream of `target` (0 before its
    /// consumer group exists).
    fn pending(&self, target: &str) -> i64 {
        let v: Value = redis::cmd("XPENDING")
            .arg(format!("edgenas:jobs:{target}"))
            .arg("workers")
            .query(&mut self.con())
            .unwrap_or(Value::Nil);
        match v {
            Value::Array(parts) => match parts.first() {
                Some(Value::Int(n)) => *n,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Pending entries of `target` as (entry id, consumer, delivery count); none before its
    /// consumer group exists.
    fn pending_entries(&self, target: &str) -> Vec<(String, String, i64)> {
        let v: Vec<(String, String, i64, i64)> = redis::cmd("XPENDING")
            .arg(format!("edgenas:jobs:{target}"))
            .arg("workers")
            .arg("-")
            .arg("+")
            .arg(100)
            .query(&mut self.con())
            .unwrap_or_default();
        v.into_iter().map(|(id, consumer, _idle, n)| (id, consumer, n)).collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const STAND_IN: &str = "nb201-table:pixel3";

fn stand_in(ms: u64) -> String {
    format!("stand-in:{ms}:{STAND_IN}")
}

/// An NB201 evolution run scored by the NB201 table: its proposals depend on what was told,
/// so a farm run equals the single-process run only if the told sequence is the same.
fn config(target: &str, budget: usize, parallel: usize) -> SearchConfig {
    let mut cfg = SearchConfig::default_run();
    cfg.latency.target = target.into();
    cfg.strategy = StrategyKind::Evolution;
    cfg.population = Some(6);
    cfg.budget = budget;
    cfg.parallel = parallel;
    cfg.seed = 11;
    cfg
}

fn settings(timeout: Duration, workers_min: usize) -> FarmSettings {
    FarmSettings {
        visibility_timeout: timeout,
        workers_min,
        workers_wait: Duration::from_secs(60),
        poll: Duration::from_millis(50),
        reconnect_for: Duration::from_secs(30),
        ..FarmSettings::default()
    }
}

fn journal(dir: &Path) -> Vec<CandidateRecord> {
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// One record without its times: seq, hash, status, latency and accuracy (both in
/// millionths, exact for the table's values).
type Told = (usize, String, CandidateStatus, Option<u64>, Option<u64>);

/// What must agree between two runs of the same config: each record without its times.
fn outcome(records: &[CandidateRecord]) -> Vec<Told> {
    records
        .iter()
        .map(|r| {
            (
                r.seq,
                r.hash.clone(),
                r.status,
                r.latency.as_ref().map(|l| (l.median * 1e6).round() as u64),
                r.accuracy.map(|a| (a * 1e6).round() as u64),
            )
        })
        .collect()
}

fn front_hashes(dir: &Path) -> Vec<String> {
    let pareto: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("pareto.json")).unwrap()).unwrap();
    let members = pareto["front"].as_array().or_else(|| pareto.as_array()).cloned().unwrap_or_default();
    let mut hashes: Vec<String> = members.iter().filter_map(|m| m["hash"].as_str().map(String::from)).collect();
    hashes.sort();
    hashes
}

/// `search` run in this process, into a new directory.
fn single_process(search: Search) -> (tempfile::TempDir, Vec<CandidateRecord>) {
    let dir = tempfile::tempdir().unwrap();
    search.start(dir.path(), &mut ()).unwrap();
    let records = journal(dir.path());
    (dir, records)
}

/// A worker thread of `target` measuring with `source`; stops when `stop` is set.
fn worker_thread(
    url: &str,
    target: &str,
    source: Box<dyn LatencySource + Send + Sync>,
    name: &str,
    stop: Arc<AtomicBool>,
) -> JoinHandle<WorkerSummary> {
    let mut settings = WorkerSettings::named(name);
    settings.heartbeat = Duration::from_millis(200);
    settings.poll = Duration::from_millis(100);
    let mut worker = Worker::connect(url, target, source, settings).unwrap();
    std::thread::spawn(move || worker.run(&stop, &mut |_| {}).unwrap())
}

fn built_in(target: &str) -> Box<dyn LatencySource + Send + Sync> {
    latency_source(&LatencyConfig { target: target.into(), ..LatencyConfig::default() }).unwrap()
}

/// A worker process of `target`.
fn worker_process(url: &str, target: &str, name: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(["worker", "--queue", url, "--target", target, "--name", name, "--heartbeat-s", "0.2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop_workers(stop: &AtomicBool, threads: Vec<JoinHandle<WorkerSummary>>) -> WorkerSummary {
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().map(|t| t.join().unwrap()).fold(WorkerSummary::default(), |a, s| WorkerSummary {
        measured: a.measured + s.measured,
        failed: a.failed + s.failed,
        skipped: a.skipped + s.skipped,
    })
}

/// A farm queue for run `run` whose events are collected as their debug text.
fn logged_queue(url: &str, run: &str, settings: FarmSettings) -> (FarmQueue, Arc<Mutex<Vec<String>>>) {
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = events.clone();
    let queue = FarmQueue::connect(url, run, settings)
        .unwrap()
        .with_observer(move |e| seen.lock().unwrap().push(format!("{e:?}")));
    (queue, events)
}

/// The search of `cfg` through `queue` into `dir`, on a thread; yields the budget it used.
fn coordinator_thread(
    cfg: SearchConfig,
    queue: FarmQueue,
    dir: &Path,
) -> JoinHandle<Result<usize, edgenas_search::SearchError>> {
    let dir = dir.to_path_buf();
    std::thread::spawn(move || Search::new(cfg).with_queue(queue).start(&dir, &mut ()).map(|s| s.used()))
}

/// Nothing left on the farm: no job queued or pending, nothing dead-lettered.
fn assert_drained(redis: &RedisServer, target: &str) {
    assert_eq!(redis.int(&["XLEN", &format!("edgenas:jobs:{target}")]), 0, "jobs left in the stream");
    assert_eq!(redis.pending(target), 0, "jobs left pending");
    assert_eq!(redis.int(&["XLEN", &format!("edgenas:dead:{target}")]), 0, "jobs dead-lettered");
}

#[test]
fn a_worker_killed_while_measuring_loses_no_job_and_the_front_is_the_single_process_one() {
    let redis = RedisServer::start(Some("s3cret"));
    let url = redis.url();
    let target = stand_in(300);
    let cfg = config(&target, 24, 3);
    let (local_dir, local) = single_process(Search::new(cfg.clone()));

    let mut workers: Vec<(String, Child)> =
        (0..3).map(|i| (format!("w{i}"), worker_process(&url, &target, &format!("w{i}")))).collect();
    let dir = tempfile::tempdir().unwrap();
    let (queue, events) = logged_queue(&url, "killrun", settings(Duration::from_millis(1500), 3));
    let coordinator = coordinator_thread(cfg.clone(), queue, dir.path());
    let start = Instant::now();
    let victim = loop {
        let busy = redis.pending_entries(&target);
        if let Some((_, consumer, _)) = busy.iter().find(|(_, c, _)| c.starts_with('w')) {
            break consumer.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no worker ever held a job");
        std::thread::sleep(Duration::from_millis(20));
    };
    let (_, child) = workers.iter_mut().find(|(n, _)| *n == victim).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(coordinator.join().unwrap().unwrap(), 24);
    let farm = journal(dir.path());
    assert_eq!(outcome(&farm), outcome(&local), "the farm run told another sequence than the single-process run");
    assert_eq!(front_hashes(dir.path()), front_hashes(local_dir.path()));
    let seqs: Vec<usize> = farm.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..farm.len()).collect::<Vec<_>>(), "each candidate told exactly once, in order");
    let requeued = events.lock().unwrap().iter().filter(|e| e.starts_with("Requeued")).count();
    assert!(requeued >= 1, "the killed worker's job was never reclaimed: {:?}", events.lock().unwrap());
    assert_drained(&redis, &target);
    for (_, mut child) in workers {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn a_long_job_that_heartbeats_is_never_reclaimed() {
    let redis = RedisServer::start(None);
    let url = redis.url();
    let target = stand_in(2500);
    let stop = Arc::new(AtomicBool::new(false));
    let workers = vec![worker_thread(&url, &target, built_in(&target), "slow", stop.clone())];
    // Visibility timeout 600 ms against a 2.5 s job: only the 200 ms heartbeats keep it.
    let (queue, events) = logged_queue(&url, "longrun", settings(Duration::from_millis(600), 1));
    let dir = tempfile::tempdir().unwrap();
    let coordinator = coordinator_thread(config(&target, 1, 1), queue, dir.path());
    let mut deliveries = Vec::new();
    while !coordinator.is_finished() {
        deliveries.extend(redis.pending_entries(&target).into_iter().map(|(_, _, n)| n));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(coordinator.join().unwrap().unwrap(), 1);
    assert!(deliveries.len() > 10, "the job was pending in only {} samples", deliveries.len());
    assert!(deliveries.iter().all(|&n| n == 1), "delivery counts seen: {deliveries:?}");
    let events = events.lock().unwrap();
    assert!(events.len() == 1 && events[0].starts_with("Answered"), "the coordinator intervened: {events:?}");
    assert_eq!(journal(dir.path())[0].status, CandidateStatus::Evaluated);
    assert_eq!(stop_workers(&stop, workers).measured, 1);
    assert_drained(&redis, &target);
}

#[test]
fn a_second_answer_from_a_worker_that_crashed_before_acknowledging_is_ignored() {
    let redis = RedisServer::start(None);
    let url = redis.url();
    let target = stand_in(0);
    let (queue, events) = logged_queue(&url, "duprun", settings(Duration::from_secs(30), 0));
    let dir = tempfile::tempdir().unwrap();
    let coordinator = coordinator_thread(config(&target, 3, 1), queue, dir.path());

    // A worker by hand: it answers each job twice (its answer, then the one a redelivery
    // after its crash would give) and never acknowledges.
    let mut con = redis.con();
    let stream = format!("edgenas:jobs:{target}");
    let mut answered = Vec::new();
    let start = Instant::now();
    while answered.len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(60), "jobs never came");
        let _: Result<(), _> =
            redis::cmd("XGROUP").arg("CREATE").arg(&stream).arg("workers").arg("0").arg("MKSTREAM").query(&mut con);
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("workers")
            .arg("crasher")
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(100)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query(&mut con)
            .unwrap();
        let Some((entry, fields)) = first_entry(&reply) else { continue };
        let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
        let median = 1.0 + answered.len() as f64;
        let stats = LatencyStats::from_samples(LatencyUnit::Ms, &[median], 0, 0.0).unwrap();
        let answer =
            serde_json::json!({"measured": {"latency": stats, "compile_ms": 0.0, "measure_ms": 1.0}}).to_string();
        for _ in 0..2 {
            let _: String = redis::cmd("XADD")
                .arg(field("reply"))
                .arg("*")
                .arg("job")
                .arg(field("job"))
                .arg("entry")
                .arg(&entry)
                .arg("attempt")
                .arg(field("attempt"))
                .arg("worker")
                .arg("crasher")
                .arg("answer")
                .arg(&answer)
                .arg("last")
                .arg(0)
                .query(&mut con)
                .unwrap();
        }
        answered.push(median);
    }
    assert_eq!(coordinator.join().unwrap().unwrap(), 3);
    let records = journal(dir.path());
    let medians: Vec<f64> = records.iter().map(|r| r.latency.as_ref().unwrap().median).collect();
    assert_eq!(medians, answered, "each candidate takes its job's first answer, once");
    let duplicates = events.lock().unwrap().iter().filter(|e| e.starts_with("DuplicateIgnored")).count();
    assert!(duplicates >= 2, "duplicates seen: {:?}", events.lock().unwrap());
    assert_drained(&redis, &target);
}

fn first_entry(reply: &Value) -> Option<(String, Vec<(String, String)>)> {
    let Value::Array(streams) = reply else { return None };
    let Value::Array(stream) = streams.first()? else { return None };
    let Value::Array(entries) = stream.get(1)? else { return None };
    let Value::Array(entry) = entries.first()? else { return None };
    let id = redis::from_redis_value_ref::<String>(&entry[0]).ok()?;
    let Value::Array(flat) = &entry[1] else { return None };
    let fields = flat
        .chunks(2)
        .map(|kv| {
            let k = redis::from_redis_value_ref::<String>(&kv[0]).unwrap();
            let v = redis::from_redis_value_ref::<Vec<u8>>(&kv[1]).unwrap();
            (k, String::from_utf8_lossy(&v).into_owned())
        })
        .collect();
    Some((id, fields))
}

#[test]
fn a_coordinator_killed_and_resumed_sends_no_job_twice_and_ends_with_the_same_front() {
    let redis = RedisServer::start(None);
    let url = redis.url();
    let target = stand_in(150);
    let cfg = config(&target, 16, 2);
    let (local_dir, local) = single_process(Search::new(cfg.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> =
        (0..2).map(|i| worker_thread(&url, &target, built_in(&target), &format!("w{i}"), stop.clone())).collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_s = out.to_str().unwrap();
    let args = [
        "search",
        "--quiet",
        "--queue",
        &url,
        "--target",
        &target,
        "--strategy",
        "evolution",
        "--population",
        "6",
        "--budget",
        "16",
        "--parallel",
        "2",
        "--seed",
        "11",
        "--job-timeout-s",
        "5",
        "--out",
        out_s,
    ];
    let mut first = Command::new(env!("CARGO_BIN_EXE_edgenas"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::fs::read_to_string(out.join("journal.jsonl")).map_or(0, |j| j.lines().count()) < 6 {
        assert!(start.elapsed() < Duration::from_secs(60), "the first coordinator never got to 6 candidates");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let resumed = edgenas(&["search", "--quiet", "--resume", out_s, "--queue", &url, "--job-timeout-s", "5"]);
    assert!(resumed.status.success(), "resume failed: {}", stderr(&resumed));

    let farm = journal(&out);
    assert_eq!(outcome(&farm), outcome(&local));
    assert_eq!(front_hashes(&out), front_hashes(local_dir.path()));
    let measured = stop_workers(&stop, workers);
    let distinct: std::collections::BTreeSet<&str> = farm.iter().filter_map(|r| r.model_sha256.as_deref()).collect();
    assert_eq!(measured.measured, distinct.len(), "a job was measured twice: {measured:?}");
    assert_drained(&redis, &target);
}

/// Fails the measurement of every model whose hash starts with 0-3 (a quarter of them).
struct Poisoned(Box<dyn LatencySource + Send + Sync>);

impl LatencySource for Poisoned {
    fn name(&self) -> String {
        "poisoned".into()
    }
    fn unit(&self) -> LatencyUnit {
        self.0.unit()
    }
    fn measure(
        &self,
        input: &LatencyInput<'_>,
        progress: &mut dyn FnMut(&edgenas_deploy::DeployProgress<'_>),
    ) -> Result<Measured, BoxError> {
        use sha2::Digest;
        if sha2::Sha256::digest(input.onnx)[0] < 0x40 {
            return Err("this model always fails".into());
        }
        self.0.measure(input, progress)
    }
}

#[test]
fn a_poison_job_is_dead_lettered_after_its_deliveries_and_the_search_completes() {
    let redis = RedisServer::start(None);
    let url = redis.url();
    let cfg = config("custom:poisoned", 16, 2);
    let (_, local) = single_process(Search::new(cfg.clone()).with_latency_source(Poisoned(built_in(STAND_IN))));
    let poisoned = local.iter().filter(|r| r.status == CandidateStatus::Failed).count();
    assert!(poisoned >= 1, "the seed gives no poisoned candidate; pick another");

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|i| {
            worker_thread(&url, "poisoned", Box::new(Poisoned(built_in(STAND_IN))), &format!("p{i}"), stop.clone())
        })
        .collect();
    let mut farm_settings = settings(Duration::from_secs(30), 2);
    farm_settings.max_deliveries = 2;
    let queue = FarmQueue::connect(&url, "poisonrun", farm_settings).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = Search::new(cfg)
        .with_latency_source(Poisoned(built_in(STAND_IN)))
        .with_queue(queue)
        .start(dir.path(), &mut ())
        .unwrap();
    assert_eq!(summary.used(), 16);
    let farm = journal(dir.path());
    assert_eq!(outcome(&farm), outcome(&local));
    for r in farm.iter().filter(|r| r.status == CandidateStatus::Failed) {
        let error = r.error.as_deref().unwrap();
        assert!(
            error.contains("dead-lettered after 2 deliveries") && error.contains("this model always fails"),
            "{error}"
        );
    }
    assert_eq!(redis.int(&["XLEN", "edgenas:dead:poisoned"]) as usize, poisoned);
    assert_eq!(redis.pending("poisoned"), 0);

    let status = FarmStatus::read(&url).unwrap();
    assert_eq!(status.workers.iter().filter(|w| w.target == "poisoned").count(), 2);
    let target = status.targets.iter().find(|t| t.target == "poisoned").unwrap();
    assert_eq!(target.dead as usize, poisoned);
    let cli = edgenas(&["farm", "status", "--queue", &url]);
    let text = common::stdout(&cli);
    assert!(
        cli.status.success() && text.contains("dead letters") && text.contains("this model always fails"),
        "{text}"
    );
    stop_workers(&stop, workers);
}

#[test]
fn a_redis_restart_mid_run_is_survived_and_an_unreachable_redis_is_a_clear_error() {
    let mut redis = RedisServer::start(None);
    let url = redis.url();
    let target = stand_in(100);
    let cfg = config(&target, 16, 2);
    let (_, local) = single_process(Search::new(cfg.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> =
        (0..2).map(|i| worker_thread(&url, &target, built_in(&target), &format!("r{i}"), stop.clone())).collect();
    let (queue, _) = logged_queue(&url, "restartrun", settings(Duration::from_secs(5), 2));
    let dir = tempfile::tempdir().unwrap();
    let coordinator = coordinator_thread(cfg, queue, dir.path());
    let start = Instant::now();
    while std::fs::read_to_string(dir.path().join("journal.jsonl")).map_or(0, |j| j.lines().count()) < 5 {
        assert!(start.elapsed() < Duration::from_secs(60), "the run never got to 5 candidates");
        std::thread::sleep(Duration::from_millis(20));
    }
    redis.kill_and_restart(Duration::from_millis(700));
    assert_eq!(coordinator.join().unwrap().unwrap(), 16);
    assert_eq!(outcome(&journal(dir.path())), outcome(&local));
    stop_workers(&stop, workers);
    assert_drained(&redis, &target);

    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = format!("redis://:hunter2@127.0.0.1:{closed}");
    let err = FarmQueue::connect(&nowhere, "x", FarmSettings::default()).err().expect("connected to nothing");
    let shown = format!("{err}");
    assert!(shown.contains(&format!("cannot reach Redis at redis://:***@127.0.0.1:{closed}")), "{shown}");
    let out = dir.path().join("never");
    let cli = edgenas(&[
        "search",
        "--quiet",
        "--queue",
        &nowhere,
        "--target",
        STAND_IN,
        "--budget",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = stderr(&cli);
    assert!(!cli.status.success() && text.contains("cannot reach Redis") && !text.contains("hunter2"), "{text}");
    let cli = edgenas(&["farm", "status", "--queue", "not-a-url"]);
    assert!(!cli.status.success() && stderr(&cli).contains("is not a Redis URL"), "{}", stderr(&cli));
}
