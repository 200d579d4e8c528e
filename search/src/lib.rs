//! Latency-in-the-loop architecture search: strategies propose candidates (a genome and a
//! precision), each goes through the stages of [`run`] (screen, emit, quantize, measure,
//! evaluate) and is journaled, so a run can resume; the Pareto front ends in a report.
//!
//! Drive a search without any CLI through [`Search`]; plug in your own accuracy with an
//! [`AccuracyEvaluator`] and your own device with a [`LatencySource`]; watch it with a
//! [`SearchObserver`]. Nothing here prints or reads the terminal.
//!
//! ```
//! use edgenas_search::{Search, SearchConfig, SearchEvent};
//!
//! let dir = tempfile::tempdir()?;
//! let mut config = SearchConfig::default_run();
//! config.latency.target = "nb201-table:pixel3".into();
//! config.budget = 30;
//! let mut evaluated = 0;
//! let summary = Search::new(config).start(dir.path(), &mut |event: &SearchEvent<'_>| {
//!     if let SearchEvent::Candidate { .. } = event {
//!         evaluated += 1;
//!     }
//! })?;
//! assert_eq!(summary.used(), 30);
//! assert!(evaluated >= 30 && !summary.front.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Architecture invariant: a strategy's proposals depend only on its seed and the
//! observations fed back, so a resumed run replays the journal and continues exactly where
//! it stopped; a candidate violating a cost-model constraint is journaled as rejected and
//! never compiled or measured; one violating the latency limit never enters the front. It
//! is an API boundary: run failures are [`SearchError`], one candidate's failure is a
//! [`CandidateError`] that is journaled and does not stop the run.

pub mod cache;
pub mod candidate;
pub mod config;
pub mod correlation;
mod error;
pub mod evaluate;
pub mod journal;
pub mod latency;
pub mod nb201_bench;
mod observer;
pub mod pareto;
pub mod predictor;
pub mod queue;
pub mod report;
pub mod run;
pub mod strategy;

pub use candidate::{Candidate, CandidateSpace};
pub use config::{Constraints, EvaluatorConfig, LatencyConfig, LatencyMode, Objective, SearchConfig};
pub use error::{BoxError, CandidateError, SearchError, Stage};
pub use evaluate::{AccuracyEvaluator, AccuracyResult, EvalContext};
pub use journal::{CandidateRecord, CandidateStatus, LatencyPrediction};
pub use latency::{LatencyInput, LatencySource, Measured, Probes};
pub use observer::{Progress, SearchEvent, SearchObserver};
pub use queue::{JobOutcome, MeasureJob, MeasureQueue, RemoteMeasurement};
pub use run::{Search, SearchSummary};
