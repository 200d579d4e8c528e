//! The coordinator's side of the farm: a [`MeasureQueue`] on Redis Streams.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use edgenas_search::{BoxError, JobOutcome, MeasureJob, MeasureQueue};
use redis::Value;

use crate::connection::FarmConnection;
use crate::status::live_workers;
use crate::wire::{
    ack_and_delete, dead_stream, ensure_group, entries_of, job_hash, jobs_stream, read_reply_entries, results_stream,
    xadd_copy, Answer, Entry, JobFields, ResultMessage, COORDINATOR, GROUP, TARGETS,
};
use crate::FarmError;

/// How the coordinator treats jobs and workers.
#[derive(Debug, Clone, PartialEq)]
pub struct FarmSettings {
    /// A job whose worker has neither answered nor heartbeaten for this long goes back to
    /// the queue for another worker (30 s).
    pub visibility_timeout: Duration,
    /// Deliveries of a job before it is dead-lettered: every failed answer and every
    /// reclaim counts one (3).
    pub max_deliveries: u32,
    /// Live workers of the target needed before the first job is sent (1).
    pub workers_min: usize,
    /// How long to wait for them before giving up (10 min).
    pub workers_wait: Duration,
    /// Longest block of one read of the results stream (200 ms).
    pub poll: Duration,
    /// How long a broken connection to Redis is retried (60 s).
    pub reconnect_for: Duration,
}

impl Default for FarmSettings {
    fn default() -> Self {
        FarmSettings {
            visibility_timeout: Duration::from_secs(30),
            max_deliveries: 3,
            workers_min: 1,
            workers_wait: Duration::from_secs(600),
            poll: Duration::from_millis(200),
            reconnect_for: Duration::from_secs(60),
        }
    }
}

/// What the coordinator did that a user may want to see.
#[derive(Debug, Clone, PartialEq)]
pub enum FarmEvent<'a> {
    WaitingForWorkers {
        target: &'a str,
        have: usize,
        need: usize,
    },
    /// A job went back to the queue: its worker failed (`reason`) or went silent.
    Requeued {
        job: &'a str,
        attempt: u32,
        reason: &'a str,
    },
    DeadLettered {
        job: &'a str,
        reason: &'a str,
    },
    /// A second answer to a job that has one already, ignored.
    DuplicateIgnored {
        job: &'a str,
    },
    /// A job's final answer arrived, `round_trip` after this process submitted it, of which
    /// the worker spent `measuring` (zero for a failure). The difference is what the farm
    /// added: both transfers through Redis, the worker's reading of the job and the
    /// coordinator's handling of the answer.
    Answered {
        job: &'a str,
        round_trip: Duration,
        measuring: Duration,
    },
}

/// A search's measurement queue on the farm. Jobs are keyed `<run>:<job id>`, answers come
/// back on the run's own results stream, so several searches may share one Redis.
pub struct FarmQueue {
    con: FarmConnection,
    run: String,
    results: String,
    settings: FarmSettings,
    last_read: String,
    outstanding: HashMap<String, Outstanding>,
    /// Answers to jobs not submitted (yet) by this process: a restarted coordinator
    /// reads its results stream from the start.
    early: HashMap<String, (String, ResultMessage)>,
    ready: VecDeque<JobOutcome>,
    /// Delivered outcomes whose Redis state is removed on the next call, once the search
    /// has recorded them (it caches each latency before asking again).
    cleanup: Vec<Cleanup>,
    /// Jobs this process has the outcome of: a later answer is a duplicate.
    finished: HashSet<String>,
    targets: BTreeSet<String>,
    last_reclaim: Instant,
    observer: Box<dyn FnMut(&FarmEvent<'_>) + Send>,
}

struct Outstanding {
    target: String,
    attempt: u32,
    submitted: Instant,
}

struct Cleanup {
    job: String,
    target: String,
    result_entry: String,
    job_entry: String,
}

impl FarmQueue {
    /// Connects to the farm at `url` for run `run` (see [`crate::run_id`]). An unreachable
    /// Redis is an error here.
    pub fn connect(url: &str, run: &str, settings: FarmSettings) -> Result<Self, FarmError> {
        let mut con = FarmConnection::open(url, settings.reconnect_for)?;
        con.allow_block(settings.poll);
        con.run("PING", |c| redis::cmd("PING").query::<()>(c))?;
        Ok(FarmQueue {
            con,
            run: run.to_string(),
            results: results_stream(run),
            settings,
            last_read: "0".into(),
            outstanding: HashMap::new(),
            early: HashMap::new(),
            ready: VecDeque::new(),
            cleanup: Vec::new(),
            finished: HashSet::new(),
            targets: BTreeSet::new(),
            last_reclaim: Instant::now(),
            observer: Box::new(|_| {}),
        })
    }

    /// Calls `observer` with what the coordinator does.
    pub fn with_observer(mut self, observer: impl FnMut(&FarmEvent<'_>) + Send + 'static) -> Self {
        self.observer = Box::new(observer);
        self
    }

    fn full_id(&self, id: &str) -> String {
        format!("{}:{id}", self.run)
    }

    fn wait_for_workers(&mut self, target: &str) -> Result<(), FarmError> {
        let started = Instant::now();
        loop {
            let have = live_workers(&mut self.con)?.iter().filter(|w| w.target == target).count();
            if have >= self.settings.workers_min {
                return Ok(());
            }
            if started.elapsed() >= self.settings.workers_wait {
                return Err(FarmError::NoWorkers {
                    target: target.into(),
                    need: self.settings.workers_min,
                    have,
                    waited: self.settings.workers_wait,
                });
            }
            (self.observer)(&FarmEvent::WaitingForWorkers { target, have, need: self.settings.workers_min });
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn submit_job(&mut self, job: &MeasureJob<'_>) -> Result<(), FarmError> {
        self.flush_cleanup()?;
        let full = self.full_id(job.id);
        if self.outstanding.contains_key(&full) {
            return Ok(());
        }
        if !self.targets.contains(job.target) {
            let stream = jobs_stream(job.target);
            self.con.run("creating a jobs stream", |c| ensure_group(c, &stream))?;
            self.targets.insert(job.target.to_string());
        }
        let early_final = self.early.get(&full).is_some_and(|(_, m)| m.last || matches!(m.answer, Answer::Measured(_)));
        if early_final {
            self.outstanding
                .insert(full.clone(), Outstanding { target: job.target.into(), attempt: 1, submitted: Instant::now() });
            if let Some((entry, message)) = self.early.remove(&full) {
                self.process(&entry, message)?;
            }
            return Ok(());
        }
        let submitted = Instant::now();
        let hash = job_hash(&full);
        let queued: Option<u32> =
            self.con.run("reading a job", |c| redis::cmd("HGET").arg(&hash).arg("attempt").query(c))?;
        let attempt = match queued {
            Some(attempt) => attempt,
            None => {
                let genome_json = job.genome.to_json();
                let precision = job.precision.to_string();
                let fields = JobFields {
                    job: &full,
                    attempt: 1,
                    target: job.target,
                    reply: &self.results,
                    precision: &precision,
                    genome_json: &genome_json,
                    model_sha256: job.model_sha256,
                    model: job.model,
                };
                let stream = jobs_stream(job.target);
                self.con.run("queueing a job", |c| {
                    redis::pipe()
                        .atomic()
                        .cmd("HSET")
                        .arg(&hash)
                        .arg("attempt")
                        .arg(1)
                        .arg("target")
                        .arg(job.target)
                        .ignore()
                        .add_command(fields.xadd(&stream))
                        .ignore()
                        .cmd("SADD")
                        .arg(TARGETS)
                        .arg(job.target)
                        .ignore()
                        .query::<()>(c)
                })?;
                1
            }
        };
        self.outstanding.insert(full.clone(), Outstanding { target: job.target.into(), attempt, submitted });
        if let Some((entry, message)) = self.early.remove(&full) {
            self.process(&entry, message)?;
        }
        Ok(())
    }

    fn next(&mut self) -> Result<JobOutcome, FarmError> {
        loop {
            self.flush_cleanup()?;
            if let Some(outcome) = self.ready.pop_front() {
                return Ok(outcome);
            }
            if self.outstanding.is_empty() {
                return Err(FarmError::Protocol { what: "an outcome was asked for with no job outstanding".into() });
            }
            let every = (self.settings.visibility_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
            if self.last_reclaim.elapsed() >= every {
                self.reclaim()?;
                self.last_reclaim = Instant::now();
            }
            let block = self.settings.poll.as_millis().max(1) as u64;
            let (results, last) = (self.results.clone(), self.last_read.clone());
            let reply: Value = self.con.run("reading results", |c| {
                redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(64)
                    .arg("BLOCK")
                    .arg(block)
                    .arg("STREAMS")
                    .arg(&results)
                    .arg(&last)
                    .query(c)
            })?;
            for entry in read_reply_entries(&reply)? {
                self.last_read = entry.id.clone();
                match ResultMessage::parse(&entry) {
                    Ok(message) => self.process(&entry.id, message)?,
                    Err(_) => {
                        let (results, id) = (self.results.clone(), entry.id.clone());
                        self.con.run("dropping a malformed result", |c| {
                            redis::cmd("XDEL").arg(&results).arg(&id).query::<()>(c)
                        })?;
                    }
                }
            }
        }
    }

    /// One answer from the results stream (entry `result_entry`).
    fn process(&mut self, result_entry: &str, message: ResultMessage) -> Result<(), FarmError> {
        let Some(current) = self.outstanding.get(&message.job) else {
            if self.finished.contains(&message.job) {
                (self.observer)(&FarmEvent::DuplicateIgnored { job: &message.job });
                return self.drop_result(result_entry);
            }
            self.early.insert(message.job.clone(), (result_entry.to_string(), message));
            return Ok(());
        };
        let target = current.target.clone();
        let attempt = current.attempt;
        match message.answer {
            Answer::Measured(m) => {
                self.finish(&message.job, &target, result_entry, &message.entry, Ok(m), message.worker)
            }
            Answer::Failed(reason) if message.last => {
                self.finish(&message.job, &target, result_entry, &message.entry, Err(reason), message.worker)
            }
            Answer::Failed(_) if message.attempt < attempt => {
                self.drop_result(result_entry)?;
                Ok(())
            }
            Answer::Failed(reason) => {
                let hash = job_hash(&message.job);
                self.con.run("recording a job's error", |c| {
                    redis::cmd("HSET").arg(&hash).arg("last_error").arg(&reason).query::<()>(c)
                })?;
                self.drop_result(result_entry)?;
                let stream = jobs_stream(&target);
                let entry_id = message.entry.clone();
                let reply: Value = self.con.run("claiming a failed job", |c| {
                    redis::cmd("XCLAIM").arg(&stream).arg(GROUP).arg(COORDINATOR).arg(0).arg(&entry_id).query(c)
                })?;
                for entry in entries_of(&reply)? {
                    self.retry_or_bury(&target, &entry, &reason)?;
                }
                Ok(())
            }
        }
    }

    fn finish(
        &mut self,
        job: &str,
        target: &str,
        result_entry: &str,
        job_entry: &str,
        result: Result<edgenas_search::RemoteMeasurement, String>,
        worker: String,
    ) -> Result<(), FarmError> {
        if let Some(o) = self.outstanding.remove(job) {
            let measuring = result.as_ref().map_or(0.0, |m| m.compile_ms + m.measure_ms);
            let measuring = Duration::from_secs_f64(measuring.max(0.0) / 1e3);
            (self.observer)(&FarmEvent::Answered { job, round_trip: o.submitted.elapsed(), measuring });
        }
        self.finished.insert(job.to_string());
        let id = job.strip_prefix(&format!("{}:", self.run)).unwrap_or(job).to_string();
        self.ready.push_back(JobOutcome { id, result, worker });
        self.cleanup.push(Cleanup {
            job: job.into(),
            target: target.into(),
            result_entry: result_entry.into(),
            job_entry: job_entry.into(),
        });
        Ok(())
    }

    fn drop_result(&mut self, result_entry: &str) -> Result<(), FarmError> {
        let results = self.results.clone();
        self.con.run("dropping a result", |c| redis::cmd("XDEL").arg(&results).arg(result_entry).query::<()>(c))
    }

    fn flush_cleanup(&mut self) -> Result<(), FarmError> {
        for done in std::mem::take(&mut self.cleanup) {
            let stream = jobs_stream(&done.target);
            let results = self.results.clone();
            self.con.run("removing a finished job", |c| {
                let mut pipe = redis::pipe();
                pipe.atomic().cmd("DEL").arg(job_hash(&done.job)).ignore();
                pipe.cmd("XDEL").arg(&results).arg(&done.result_entry).ignore();
                if !done.job_entry.is_empty() {
                    ack_and_delete(&mut pipe, &stream, &done.job_entry);
                }
                pipe.query::<()>(c)
            })?;
        }
        Ok(())
    }

    /// Takes back every job of the farm's targets idle past the visibility timeout: its
    /// worker neither answered nor heartbeaten (killed, disconnected).
    fn reclaim(&mut self) -> Result<(), FarmError> {
        let idle = self.settings.visibility_timeout.as_millis() as u64;
        for target in self.targets.clone() {
            let stream = jobs_stream(&target);
            let reply: Value = self.con.run("reclaiming stale jobs", |c| {
                redis::cmd("XAUTOCLAIM")
                    .arg(&stream)
                    .arg(GROUP)
                    .arg(COORDINATOR)
                    .arg(idle)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(64)
                    .query(c)
            })?;
            let Value::Array(parts) = &reply else { continue };
            let Some(claimed) = parts.get(1) else { continue };
            for entry in entries_of(claimed)? {
                let reason = format!("no answer or heartbeat within {:?}", self.settings.visibility_timeout);
                self.retry_or_bury(&target, &entry, &reason)?;
            }
        }
        Ok(())
    }

    /// `entry` (claimed by the coordinator) goes back to the queue as its next delivery, or
    /// to the dead-letter stream when it has had `max_deliveries`; then it is removed.
    fn retry_or_bury(&mut self, target: &str, entry: &Entry, reason: &str) -> Result<(), FarmError> {
        let job = entry.text("job")?.to_string();
        let attempt = entry.number("attempt")?;
        let stream = jobs_stream(target);
        let hash = job_hash(&job);
        if attempt < self.settings.max_deliveries {
            let next = attempt + 1;
            self.con.run("requeueing a job", |c| {
                ack_and_delete(
                    redis::pipe()
                        .atomic()
                        .add_command(xadd_copy(&stream, entry, Some(next), &[]))
                        .ignore()
                        .cmd("HSET")
                        .arg(&hash)
                        .arg("attempt")
                        .arg(next)
                        .ignore(),
                    &stream,
                    &entry.id,
                )
                .query::<()>(c)
            })?;
            if let Some(o) = self.outstanding.get_mut(&job) {
                o.attempt = next;
            }
            (self.observer)(&FarmEvent::Requeued { job: &job, attempt: next, reason });
            return Ok(());
        }
        let last_error: Option<String> =
            self.con.run("reading a job's error", |c| redis::cmd("HGET").arg(&hash).arg("last_error").query(c))?;
        let why =
            format!("dead-lettered after {attempt} deliveries; last: {}", last_error.as_deref().unwrap_or(reason));
        let reply = entry.text("reply")?.to_string();
        let answer = ResultMessage {
            job: job.clone(),
            entry: String::new(),
            attempt,
            worker: String::new(),
            answer: Answer::Failed(why.clone()),
            last: true,
        }
        .xadd(&reply)?;
        let dead = dead_stream(target);
        self.con.run("dead-lettering a job", |c| {
            ack_and_delete(
                redis::pipe()
                    .atomic()
                    .add_command(xadd_copy(&dead, entry, None, &[("reason", why.as_str())]))
                    .ignore()
                    .add_command(answer.clone())
                    .ignore(),
                &stream,
                &entry.id,
            )
            .query::<()>(c)
        })?;
        (self.observer)(&FarmEvent::DeadLettered { job: &job, reason: &why });
        Ok(())
    }
}

impl MeasureQueue for FarmQueue {
    fn name(&self) -> String {
        self.con.shown().to_string()
    }

    fn start(&mut self, target: &str) -> Result<(), BoxError> {
        let stream = jobs_stream(target);
        self.con.run("creating a jobs stream", |c| ensure_group(c, &stream))?;
        self.con.run("registering a target", |c| redis::cmd("SADD").arg(TARGETS).arg(target).query::<()>(c))?;
        self.targets.insert(target.to_string());
        self.wait_for_workers(target)?;
        Ok(())
    }

    fn submit(&mut self, job: &MeasureJob<'_>) -> Result<(), BoxError> {
        Ok(self.submit_job(job)?)
    }

    fn next_outcome(&mut self) -> Result<JobOutcome, BoxError> {
        Ok(self.next()?)
    }
}
