//! Latency-in-the-loop search: strategies propose genomes, the pipeline builds, screens,
//! emits, compiles and measures them, an evaluator scores accuracy, and every candidate
//! is journaled so a run can resume.

pub mod cache;
pub mod candidate;
pub mod config;
pub mod evaluate;
pub mod journal;
pub mod latency;
pub mod nb201_bench;
pub mod pareto;
pub mod report;
pub mod run;
pub mod strategy;

pub use config::SearchConfig;
pub use run::{resume_search, start_search, RunSettings, SearchSummary};
