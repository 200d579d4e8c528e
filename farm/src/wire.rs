//! What the farm keeps in Redis: key names, and the fields of job and result entries.
//!
//! - `edgenas:jobs:<target>`: stream of measurement jobs for one latency target, read by
//!   the consumer group [`GROUP`] (one consumer per worker).
//! - `edgenas:dead:<target>`: jobs that failed every delivery, with the reason.
//! - `edgenas:job:<job>`: hash of one outstanding job (`attempt`, `target`, `last_error`);
//!   it exists from the moment the job is queued (in the same transaction) until its
//!   coordinator has its outcome, so a restarted coordinator never queues it twice.
//! - `edgenas:results:<run>`: stream of answers to one run's jobs.
//! - `edgenas:worker:<name>`: a live worker's state, expiring unless heartbeaten; the set
//!   `edgenas:workers` names every worker seen, `edgenas:targets` every target.

use std::collections::HashMap;

use edgenas_search::RemoteMeasurement;
use redis::Value;
use serde::{Deserialize, Serialize};

use crate::FarmError;

/// The consumer group of every jobs stream.
pub const GROUP: &str = "workers";
/// The consumer name the coordinator claims stale entries under.
pub const COORDINATOR: &str = "edgenas-coordinator";
pub const WORKERS: &str = "edgenas:workers";
pub const TARGETS: &str = "edgenas:targets";

pub fn jobs_stream(target: &str) -> String {
    format!("edgenas:jobs:{target}")
}

pub fn dead_stream(target: &str) -> String {
    format!("edgenas:dead:{target}")
}

pub fn job_hash(job: &str) -> String {
    format!("edgenas:job:{job}")
}

pub fn results_stream(run: &str) -> String {
    format!("edgenas:results:{run}")
}

pub fn worker_key(name: &str) -> String {
    format!("edgenas:worker:{name}")
}

/// One stream entry: its id and its fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: String,
    pub fields: HashMap<String, Vec<u8>>,
}

impl Entry {
    pub fn bytes(&self, field: &str) -> Result<&[u8], FarmError> {
        self.fields
            .get(field)
            .map(Vec::as_slice)
            .ok_or_else(|| FarmError::Protocol { what: format!("stream entry {} has no field `{field}`", self.id) })
    }

    pub fn text(&self, field: &str) -> Result<&str, FarmError> {
        std::str::from_utf8(self.bytes(field)?)
            .map_err(|_| FarmError::Protocol { what: format!("field `{field}` of entry {} is not UTF-8", self.id) })
    }

    pub fn number(&self, field: &str) -> Result<u32, FarmError> {
        let text = self.text(field)?;
        text.parse().map_err(|_| FarmError::Protocol {
            what: format!("field `{field}` of entry {} is `{text}`, not a number", self.id),
        })
    }
}

/// The fields of a job entry, as the coordinator writes them.
pub struct JobFields<'a> {
    pub job: &'a str,
    pub attempt: u32,
    pub target: &'a str,
    pub reply: &'a str,
    pub precision: &'a str,
    pub genome_json: &'a str,
    pub model_sha256: &'a str,
    pub model: &'a [u8],
}

impl JobFields<'_> {
    /// `XADD key * field value ...` of this job.
    pub fn xadd(&self, key: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(key)
            .arg("*")
            .arg("job")
            .arg(self.job)
            .arg("attempt")
            .arg(self.attempt)
            .arg("target")
            .arg(self.target)
            .arg("reply")
            .arg(self.reply)
            .arg("precision")
            .arg(self.precision)
            .arg("genome")
            .arg(self.genome_json)
            .arg("model_sha256")
            .arg(self.model_sha256)
            .arg("model")
            .arg(self.model);
        cmd
    }
}

/// `XADD key * ...` of `entry`'s fields, with `attempt` replaced and `extra` added.
pub fn xadd_copy(key: &str, entry: &Entry, attempt: Option<u32>, extra: &[(&str, &str)]) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg("*");
    let mut names: Vec<&String> = entry.fields.keys().collect();
    names.sort();
    for name in names {
        match (name.as_str(), attempt) {
            ("attempt", Some(a)) => cmd.arg("attempt").arg(a),
            _ => cmd.arg(name).arg(&entry.fields[name]),
        };
    }
    for (k, v) in extra {
        cmd.arg(*k).arg(*v);
    }
    cmd
}

/// What a worker (or a coordinator giving up) answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Measured(RemoteMeasurement),
    Failed(String),
}

/// A result entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultMessage {
    pub job: String,
    /// The job entry answered (empty for a dead letter, whose entry is gone).
    pub entry: String,
    pub attempt: u32,
    pub worker: String,
    pub answer: Answer,
    /// No retry follows: the job was dead-lettered.
    pub last: bool,
}

impl ResultMessage {
    pub fn xadd(&self, key: &str) -> Result<redis::Cmd, FarmError> {
        let answer = serde_json::to_string(&self.answer)
            .map_err(|e| FarmError::Protocol { what: format!("encoding an answer: {e}") })?;
        let mut cmd = redis::cmd("XADD");
        cmd.arg(key)
            .arg("*")
            .arg("job")
            .arg(&self.job)
            .arg("entry")
            .arg(&self.entry)
            .arg("attempt")
            .arg(self.attempt)
            .arg("worker")
            .arg(&self.worker)
            .arg("answer")
            .arg(answer)
            .arg("last")
            .arg(u32::from(self.last));
        Ok(cmd)
    }

    pub fn parse(entry: &Entry) -> Result<Self, FarmError> {
        let answer = serde_json::from_slice(entry.bytes("answer")?).map_err(|e| FarmError::Protocol {
            what: format!("result entry {} has an unreadable answer: {e}", entry.id),
        })?;
        Ok(ResultMessage {
            job: entry.text("job")?.to_string(),
            entry: entry.text("entry")?.to_string(),
            attempt: entry.number("attempt")?,
            worker: entry.text("worker")?.to_string(),
            answer,
            last: entry.number("last")? == 1,
        })
    }
}

/// The entries of an `XREAD`/`XREADGROUP` reply (nil when the block timed out), of all
/// streams in it.
pub fn read_reply_entries(v: &Value) -> Result<Vec<Entry>, FarmError> {
    let lists: Vec<&Value> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(streams) => streams.iter().map(|(_, entries)| entries).collect(),
        Value::Array(streams) => streams
            .iter()
            .map(|stream| match stream {
                Value::Array(pair) if pair.len() == 2 => Ok(&pair[1]),
                other => Err(unexpected("a stream of a read", other)),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(unexpected("a stream read", other)),
    };
    let mut out = Vec::new();
    for entries in lists {
        out.extend(entries_of(entries)?);
    }
    Ok(out)
}

/// A list of entries (`XRANGE`, `XCLAIM`, or the second item of `XAUTOCLAIM`). Entries
/// deleted while pending come as nil and are skipped.
pub fn entries_of(v: &Value) -> Result<Vec<Entry>, FarmError> {
    let Value::Array(items) = v else { return Err(unexpected("a list of entries", v)) };
    let mut out = Vec::new();
    for item in items {
        let Value::Array(pair) = item else {
            if matches!(item, Value::Nil) {
                continue;
            }
            return Err(unexpected("an entry", item));
        };
        if pair.len() != 2 || matches!(pair[1], Value::Nil) {
            continue;
        }
        let id = text_of(&pair[0])?;
        let flat = match &pair[1] {
            Value::Array(flat) => flat.iter().collect::<Vec<_>>(),
            Value::Map(kv) => kv.iter().flat_map(|(k, v)| [k, v]).collect(),
            other => return Err(unexpected("the fields of an entry", other)),
        };
        let mut fields = HashMap::new();
        for kv in flat.chunks(2) {
            if let [k, v] = kv {
                fields.insert(text_of(k)?, bytes_of(v)?);
            }
        }
        out.push(Entry { id, fields });
    }
    Ok(out)
}

pub fn bytes_of(v: &Value) -> Result<Vec<u8>, FarmError> {
    match v {
        Value::BulkString(b) => Ok(b.clone()),
        Value::SimpleString(s) => Ok(s.clone().into_bytes()),
        Value::Int(i) => Ok(i.to_string().into_bytes()),
        Value::Okay => Ok(b"OK".to_vec()),
        other => Err(unexpected("a string", other)),
    }
}

pub fn text_of(v: &Value) -> Result<String, FarmError> {
    String::from_utf8(bytes_of(v)?).map_err(|_| FarmError::Protocol { what: "a reply string is not UTF-8".into() })
}

pub fn unexpected(what: &str, v: &Value) -> FarmError {
    FarmError::Protocol { what: format!("expected {what} from Redis, got {v:?}") }
}

/// Whether `e` is Redis saying the consumer group exists already.
pub fn is_busy_group(e: &redis::RedisError) -> bool {
    e.code() == Some("BUSYGROUP")
}

/// Creates `stream` (if missing) and its consumer group (if missing), reading from the
/// stream's start so no job queued before the group is lost.
pub fn ensure_group(con: &mut redis::Connection, stream: &str) -> redis::RedisResult<()> {
    match redis::cmd("XGROUP").arg("CREATE").arg(stream).arg(GROUP).arg("0").arg("MKSTREAM").query::<()>(con) {
        Err(e) if is_busy_group(&e) => Ok(()),
        other => other,
    }
}

/// Appends `XACK` and `XDEL` of `entry` in `stream` (done with it: acknowledged and gone).
pub fn ack_and_delete<'p>(pipe: &'p mut redis::Pipeline, stream: &str, entry: &str) -> &'p mut redis::Pipeline {
    pipe.cmd("XACK").arg(stream).arg(GROUP).arg(entry).ignore().cmd("XDEL").arg(stream).arg(entry).ignore()
}
