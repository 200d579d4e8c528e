//! A farm worker: measures the jobs of one latency target with a source of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use edgenas_compiler::quantize::Precision;
use edgenas_compiler::space::Genome;
use edgenas_runtime::{error_chain, LatencyStats};
use edgenas_search::{LatencyInput, LatencySource, RemoteMeasurement};
use redis::Value;

use crate::connection::FarmConnection;
use crate::status::WorkerStatus;
use crate::wire::{
    ack_and_delete, ensure_group, job_hash, jobs_stream, read_reply_entries, worker_key, Answer, Entry, ResultMessage,
    GROUP, TARGETS, WORKERS,
};
use crate::FarmError;

/// How a worker runs.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSettings {
    /// The consumer name in the group, unique on the farm (default: host name and pid).
    pub name: String,
    /// How often a worker re-claims the job it is measuring and refreshes its liveness
    /// (2 s). Keep it well under the coordinator's visibility timeout.
    pub heartbeat: Duration,
    /// Longest block of one read for new jobs (1 s).
    pub poll: Duration,
    /// How long a broken connection to Redis is retried (60 s).
    pub reconnect_for: Duration,
    /// Stop after answering this many jobs (`None`: run until stopped).
    pub max_jobs: Option<usize>,
}

impl WorkerSettings {
    pub fn named(name: impl Into<String>) -> Self {
        WorkerSettings {
            name: name.into(),
            heartbeat: Duration::from_secs(2),
            poll: Duration::from_secs(1),
            reconnect_for: Duration::from_secs(60),
            max_jobs: None,
        }
    }

    /// `<host name>-<pid>`.
    pub fn default_name() -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let host = host.trim();
        format!("{}-{}", if host.is_empty() { "worker" } else { host }, std::process::id())
    }
}

/// What a worker is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent<'a> {
    Ready {
        name: &'a str,
        target: &'a str,
    },
    Measuring {
        job: &'a str,
        attempt: u32,
    },
    Answered {
        job: &'a str,
        latency: Option<&'a LatencyStats>,
        error: Option<&'a str>,
    },
    /// A job left without measuring: its coordinator has an answer already, or the entry
    /// is not a job.
    Skipped {
        job: &'a str,
        reason: &'a str,
    },
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    pub measured: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// A worker of one latency target.
pub struct Worker {
    con: FarmConnection,
    target: String,
    stream: String,
    source: Box<dyn LatencySource + Send + Sync>,
    settings: WorkerSettings,
    summary: WorkerSummary,
    /// The heartbeat thread's connection, kept between jobs.
    heartbeat_con: Option<FarmConnection>,
}

impl Worker {
    /// Connects to the farm at `url` to measure the jobs of `target` (a latency target's
    /// name, as searches name it) with `source`.
    pub fn connect(
        url: &str,
        target: &str,
        source: Box<dyn LatencySource + Send + Sync>,
        settings: WorkerSettings,
    ) -> Result<Self, FarmError> {
        let mut con = FarmConnection::open(url, settings.reconnect_for)?;
        con.allow_block(settings.poll);
        Ok(Worker {
            con,
            target: target.into(),
            stream: jobs_stream(target),
            source,
            settings,
            summary: WorkerSummary::default(),
            heartbeat_con: None,
        })
    }

    /// Serves jobs until `stop` is set or `max_jobs` were answered. Entries this worker was
    /// given before (an earlier process of the same name) come first.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        observer: &mut dyn FnMut(&WorkerEvent<'_>),
    ) -> Result<WorkerSummary, FarmError> {
        let stream = self.stream.clone();
        self.con.run("creating the jobs group", |c| ensure_group(c, &stream))?;
        let (name, target) = (self.settings.name.clone(), self.target.clone());
        self.con.run("registering the worker", |c| {
            redis::pipe()
                .cmd("SADD")
                .arg(WORKERS)
                .arg(&name)
                .ignore()
                .cmd("SADD")
                .arg(TARGETS)
                .arg(&target)
                .ignore()
                .query::<()>(c)
        })?;
        self.beat(None)?;
        observer(&WorkerEvent::Ready { name: &self.settings.name, target: &self.target });
        for entry in self.read("0", None)? {
            self.serve(&entry, observer)?;
        }
        while !stop.load(Ordering::Relaxed) && !self.done() {
            self.beat(None)?;
            let block = self.settings.poll;
            for entry in self.read(">", Some(block))? {
                self.serve(&entry, observer)?;
            }
        }
        let key = worker_key(&self.settings.name);
        self.con.run("unregistering the worker", |c| redis::cmd("DEL").arg(&key).query::<()>(c))?;
        Ok(self.summary)
    }

    fn done(&self) -> bool {
        self.settings.max_jobs.is_some_and(|n| self.summary.measured + self.summary.failed >= n)
    }

    fn read(&mut self, from: &str, block: Option<Duration>) -> Result<Vec<Entry>, FarmError> {
        let (stream, name) = (self.stream.clone(), self.settings.name.clone());
        let read = |c: &mut redis::Connection| {
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP").arg(GROUP).arg(&name).arg("COUNT").arg(if from == "0" { 1000 } else { 1 });
            if let Some(b) = block {
                cmd.arg("BLOCK").arg(b.as_millis().max(1) as u64);
            }
            cmd.arg("STREAMS").arg(&stream).arg(from);
            cmd.query::<Value>(c)
        };
        let reply = self.con.run("reading jobs", |c| match read(c) {
            Err(e) if e.code() == Some("NOGROUP") => {
                ensure_group(c, &stream)?;
                read(c)
            }
            other => other,
        })?;
        read_reply_entries(&reply)
    }

    fn status(&self, job: Option<&str>) -> String {
        let status = WorkerStatus {
            name: self.settings.name.clone(),
            target: self.target.clone(),
            state: if job.is_some() { "measuring" } else { "idle" }.into(),
            job: job.map(str::to_string),
            measured: self.summary.measured,
            failed: self.summary.failed,
        };
        serde_json::to_string(&status).unwrap_or_default()
    }

    fn liveness_ttl(&self) -> u64 {
        (self.settings.heartbeat * 3 + self.settings.poll).as_millis().max(1) as u64
    }

    fn beat(&mut self, job: Option<&str>) -> Result<(), FarmError> {
        let (key, status, ttl) = (worker_key(&self.settings.name), self.status(job), self.liveness_ttl());
        self.con.run("heartbeating", |c| redis::cmd("SET").arg(&key).arg(&status).arg("PX").arg(ttl).query::<()>(c))
    }

    fn serve(&mut self, entry: &Entry, observer: &mut dyn FnMut(&WorkerEvent<'_>)) -> Result<(), FarmError> {
        let (Ok(job), Ok(reply), Ok(attempt)) = (entry.text("job"), entry.text("reply"), entry.number("attempt"))
        else {
            self.forget(entry)?;
            self.summary.skipped += 1;
            observer(&WorkerEvent::Skipped { job: &entry.id, reason: "not a job entry" });
            return Ok(());
        };
        let (job, reply) = (job.to_string(), reply.to_string());
        let hash = job_hash(&job);
        let open: bool = self.con.run("checking a job", |c| redis::cmd("EXISTS").arg(&hash).query(c))?;
        if !open {
            self.forget(entry)?;
            self.summary.skipped += 1;
            observer(&WorkerEvent::Skipped { job: &job, reason: "its coordinator has its answer already" });
            return Ok(());
        }
        observer(&WorkerEvent::Measuring { job: &job, attempt });
        self.beat(Some(&job))?;
        let heartbeat_con = match self.heartbeat_con.take() {
            Some(con) => con,
            None => self.con.try_clone()?,
        };
        let heartbeat = Heartbeat::start(
            heartbeat_con,
            self.stream.clone(),
            self.settings.name.clone(),
            entry.id.clone(),
            self.settings.heartbeat,
            (worker_key(&self.settings.name), self.status(Some(&job)), self.liveness_ttl()),
        );
        let answer = self.measure(entry);
        self.heartbeat_con = heartbeat.stop();
        let message = ResultMessage {
            job: job.clone(),
            entry: entry.id.clone(),
            attempt,
            worker: self.settings.name.clone(),
            answer,
            last: false,
        };
        let add = message.xadd(&reply)?;
        let stream = self.stream.clone();
        match &message.answer {
            Answer::Measured(m) => {
                self.con.run("answering a job", |c| {
                    ack_and_delete(redis::pipe().atomic().add_command(add.clone()).ignore(), &stream, &entry.id)
                        .query::<()>(c)
                })?;
                self.summary.measured += 1;
                observer(&WorkerEvent::Answered { job: &job, latency: Some(&m.latency), error: None });
            }
            Answer::Failed(reason) => {
                self.con.run("answering a job", |c| add.query::<()>(c))?;
                self.summary.failed += 1;
                observer(&WorkerEvent::Answered { job: &job, latency: None, error: Some(reason) });
            }
        }
        Ok(())
    }

    /// Measures the job in `entry`; a job that cannot be read is a failed measurement.
    fn measure(&self, entry: &Entry) -> Answer {
        let read = || -> Result<(Genome, Precision, &[u8]), String> {
            let genome = Genome::from_json(entry.text("genome").map_err(|e| e.to_string())?)
                .map_err(|e| format!("the job's genome: {e}"))?;
            let precision_text = entry.text("precision").map_err(|e| e.to_string())?;
            let precision: Precision =
                precision_text.parse().map_err(|_| format!("the job's precision `{precision_text}` is unknown"))?;
            let model = entry.bytes("model").map_err(|e| e.to_string())?;
            Ok((genome, precision, model))
        };
        let (genome, precision, model) = match read() {
            Ok(parts) => parts,
            Err(reason) => return Answer::Failed(format!("malformed job: {reason}")),
        };
        let input = LatencyInput { genome: &genome, precision, onnx: model };
        let started = Instant::now();
        match self.source.measure(&input, &mut |_| {}) {
            Ok(m) => {
                let compile_ms = m.compile.as_secs_f64() * 1e3;
                let total_ms = started.elapsed().as_secs_f64() * 1e3;
                Answer::Measured(RemoteMeasurement {
                    latency: m.latency,
                    compile_ms,
                    measure_ms: total_ms - compile_ms,
                })
            }
            Err(e) => Answer::Failed(format!("worker {}: {}", self.settings.name, error_chain(e.as_ref()))),
        }
    }

    /// Acknowledges and deletes `entry` without answering it.
    fn forget(&mut self, entry: &Entry) -> Result<(), FarmError> {
        let stream = self.stream.clone();
        self.con
            .run("dropping a job entry", |c| ack_and_delete(redis::pipe().atomic(), &stream, &entry.id).query::<()>(c))
    }
}

/// A thread that, until stopped, re-claims one entry for its worker (resetting its idle
/// time without counting a delivery) and refreshes the worker's liveness key.
struct Heartbeat {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<FarmConnection>,
}

impl Heartbeat {
    fn start(
        mut con: FarmConnection,
        stream: String,
        name: String,
        entry: String,
        every: Duration,
        (key, status, ttl): (String, String, u64),
    ) -> Heartbeat {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                let _ = con.run("heartbeating a job", |c| {
                    redis::pipe()
                        .cmd("XCLAIM")
                        .arg(&stream)
                        .arg(GROUP)
                        .arg(&name)
                        .arg(0)
                        .arg(&entry)
                        .arg("JUSTID")
                        .ignore()
                        .cmd("SET")
                        .arg(&key)
                        .arg(&status)
                        .arg("PX")
                        .arg(ttl)
                        .ignore()
                        .query::<()>(c)
                });
            }
            con
        });
        Heartbeat { stop, handle }
    }

    /// Stops the thread; gives its connection back for the next job (none if it panicked).
    fn stop(self) -> Option<FarmConnection> {
        let _ = self.stop.send(());
        self.handle.join().ok()
    }
}
