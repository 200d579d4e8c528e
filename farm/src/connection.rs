//! One connection to the farm's Redis, which survives a server restart: a command that
//! fails because the connection broke is retried on a new connection until the server is
//! back or `reconnect_for` has passed.

use std::time::{Duration, Instant};

use redis::{Connection, RedisError, RedisResult};

use crate::FarmError;

/// How long a blocking read may wait on the socket beyond its own `BLOCK` time.
const READ_SLACK: Duration = Duration::from_secs(5);

/// A Redis connection with reconnection.
pub struct FarmConnection {
    client: redis::Client,
    con: Option<Connection>,
    shown: String,
    reconnect_for: Duration,
    read_timeout: Duration,
}

impl FarmConnection {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`) now: an unreachable server
    /// is an error here, never retried. Later connection failures are retried for
    /// `reconnect_for`.
    pub fn open(url: &str, reconnect_for: Duration) -> Result<Self, FarmError> {
        let shown = redact(url);
        let client = redis::Client::open(url)
            .map_err(|source| FarmError::InvalidUrl { url: shown.clone(), reason: source.to_string() })?;
        let mut farm = FarmConnection { client, con: None, shown, reconnect_for, read_timeout: READ_SLACK };
        let con = farm.connect().map_err(|source| FarmError::Unreachable { url: farm.shown.clone(), source })?;
        farm.con = Some(con);
        Ok(farm)
    }

    /// Another connection to the same server (for a second thread).
    pub fn try_clone(&self) -> Result<Self, FarmError> {
        let mut farm = FarmConnection {
            client: self.client.clone(),
            con: None,
            shown: self.shown.clone(),
            reconnect_for: self.reconnect_for,
            read_timeout: self.read_timeout,
        };
        let con = farm.connect().map_err(|source| FarmError::Unreachable { url: farm.shown.clone(), source })?;
        farm.con = Some(con);
        Ok(farm)
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Lets blocking reads of up to `block` through the socket's read timeout.
    pub fn allow_block(&mut self, block: Duration) {
        self.read_timeout = block + READ_SLACK;
        if let Some(con) = &self.con {
            let _ = con.set_read_timeout(Some(self.read_timeout));
        }
    }

    fn connect(&self) -> RedisResult<Connection> {
        let con = self.client.get_connection_with_timeout(Duration::from_secs(5))?;
        con.set_read_timeout(Some(self.read_timeout))?;
        con.set_write_timeout(Some(Duration::from_secs(30)))?;
        Ok(con)
    }

    /// Runs `f`; when the connection is broken (dropped, refused, timed out, or the server
    /// still loading its data after a restart), reconnects and runs it again, until
    /// `reconnect_for` has passed since the first failure. `what` names the step in errors.
    ///
    /// A command retried after a broken connection may have run once already: every
    /// command sent through here is either idempotent or its repetition is recognized
    /// (a duplicate job entry, a duplicate result).
    pub fn run<T>(
        &mut self,
        what: &'static str,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, FarmError> {
        let mut first_failure: Option<Instant> = None;
        let mut pause = Duration::from_millis(50);
        loop {
            let attempt = match self.con.as_mut() {
                Some(con) => f(con),
                None => match self.connect() {
                    Ok(con) => {
                        self.con = Some(con);
                        continue;
                    }
                    Err(e) => Err(e),
                },
            };
            match attempt {
                Ok(v) => return Ok(v),
                Err(e) if is_connection_failure(&e) => {
                    self.con = None;
                    let since = *first_failure.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.reconnect_for {
                        return Err(FarmError::Lost { url: self.shown.clone(), after: self.reconnect_for, source: e });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(source) => return Err(FarmError::Redis { what, source }),
            }
        }
    }
}

fn is_connection_failure(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(e.code(), Some("LOADING") | Some("MASTERDOWN"))
}

/// `url` with the password (if any) replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://{userinfo}@{host}"),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact("redis://:hunter2@10.0.0.5:6379/0"), "redis://:***@10.0.0.5:6379/0");
        assert_eq!(redact("redis://farm:hunter2@h:1"), "redis://farm:***@h:1");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
