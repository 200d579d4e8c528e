//! Latency-in-the-loop search: strategies propose genomes, the pipeline builds, screens,
//! emits, compiles and measures them, an evaluator scores accuracy, and every candidate
//! is journaled so a run can resume.

pub mod evaluate;
pub mod pareto;
pub mod strategy;
