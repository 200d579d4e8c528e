//! What a run tells its caller while it works: the library prints nothing, the caller
//! (the CLI's progress bar, a notebook, a log) decides what to show.

use std::path::Path;

use edgenas_deploy::DeployProgress;

use crate::journal::CandidateRecord;
use crate::run::SearchSummary;

/// One thing that happened in a run, in order: `Started`, any `Deploy` (runner builds
/// before and during the run), one `Candidate` per candidate (replayed ones included),
/// `Finished`.
#[derive(Debug)]
pub enum SearchEvent<'a> {
    Started {
        out_dir: &'a Path,
        budget: usize,
        replaying: usize,
    },
    /// The latency source is preparing or building something (a runner build takes
    /// minutes the first time for a target).
    Deploy(&'a DeployProgress<'a>),
    /// A candidate was decided: evaluated, rejected by a constraint, or failed.
    Candidate {
        record: &'a CandidateRecord,
        replayed: bool,
        progress: Progress,
    },
    Finished(&'a SearchSummary),
}

/// Where the run stands after a candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Candidates that used budget (evaluated or failed) so far, of `budget`.
    pub used: usize,
    pub budget: usize,
    pub rejected: usize,
    pub failed: usize,
    /// Best accuracy among feasible candidates (NaN before the first).
    pub best_accuracy: f64,
    /// Size of the current Pareto front.
    pub front: usize,
}

/// Receives a run's [`SearchEvent`]s. Closures `FnMut(&SearchEvent)` are observers, and so
/// is `()`, which ignores everything.
pub trait SearchObserver {
    fn event(&mut self, event: &SearchEvent<'_>);
}

impl SearchObserver for () {
    fn event(&mut self, _: &SearchEvent<'_>) {}
}

impl<F: FnMut(&SearchEvent<'_>)> SearchObserver for F {
    fn event(&mut self, event: &SearchEvent<'_>) {
        self(event)
    }
}
