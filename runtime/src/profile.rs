//! Per-node profiles of a planned model: which node of tract's optimized plan costs what.
//!
//! A profile is taken by running the plan node by node ([`Runner::run_observed`]) with a
//! [`NodeObserver`] called around each node: on this host the observer reads the clock
//! ([`profile_host`]); the device runner calls the inference markers instead, so that an
//! emulator counts each node's instructions in a window of its own. Every profiled run
//! is paired with an unobserved run of the whole model, so a profile also says how much of
//! the whole its nodes account for.

use serde::{Deserialize, Serialize};
use std::time::Instant;
use tract_nnef::tract_core::ops::Cost;
use tract_nnef::tract_core::plan::eval;
use tract_nnef::tract_core::prelude::{tvec, TractError};

use crate::stats::median;
use crate::{CompiledModel, LatencyUnit, Runner, RuntimeError};

/// One node of the optimized plan, in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanNode {
    /// Position in the plan's execution order (constants excluded).
    pub step: usize,
    /// tract's node name: the ONNX node's name, or one derived from it by a rewrite
    /// (`conv_1.matmatmul`), or a name tract made up.
    pub name: String,
    /// The op as tract runs it (`OptMatMul`, `DepthWise`, `Im2col`, `OptBinByScalar`, ...).
    pub op: String,
    /// Multiply-accumulates of one run, as tract's cost model counts them (0 for ops
    /// without arithmetic).
    pub macs: u64,
}

/// Called by [`Runner::run_observed`] right before and right after each node runs.
pub trait NodeObserver {
    fn before(&mut self, step: usize);
    fn after(&mut self, step: usize);
}

/// One node's cost in a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeCost {
    #[serde(flatten)]
    pub node: PlanNode,
    /// Median over the profiled runs, in the profile's unit.
    pub cost: f64,
}

/// What each node of a model's plan costs, beside the cost of the whole model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelProfile {
    /// `ms` on a wall clock, `instructions` under an emulator.
    pub unit: LatencyUnit,
    /// Profiled runs each median is taken over.
    pub runs: usize,
    /// Median of the unobserved whole-model runs.
    pub whole: f64,
    /// Every node of the plan, in execution order.
    pub nodes: Vec<NodeCost>,
}

impl ModelProfile {
    /// The profile of `nodes` from `whole` (one sample per run) and `per_node` (for each
    /// run, one sample per node, in plan order). Fails when a run does not have one sample
    /// per node, or there is no run.
    pub fn from_samples(
        unit: LatencyUnit,
        nodes: Vec<PlanNode>,
        whole: &[f64],
        per_node: &[Vec<f64>],
    ) -> Result<Self, String> {
        if whole.is_empty() || whole.len() != per_node.len() {
            return Err(format!("{} whole-model samples for {} profiled runs", whole.len(), per_node.len()));
        }
        if let Some(run) = per_node.iter().find(|run| run.len() != nodes.len()) {
            return Err(format!("a profiled run has {} node samples, the plan has {} nodes", run.len(), nodes.len()));
        }
        let nodes = nodes
            .into_iter()
            .enumerate()
            .map(|(ix, node)| {
                let samples: Vec<f64> = per_node.iter().map(|run| run[ix]).collect();
                NodeCost { node, cost: median(&samples).unwrap_or(f64::NAN) }
            })
            .collect();
        Ok(ModelProfile { unit, runs: whole.len(), whole: median(whole).unwrap_or(f64::NAN), nodes })
    }

    /// Sum of the nodes' medians.
    pub fn node_total(&self) -> f64 {
        self.nodes.iter().map(|n| n.cost).sum()
    }

    /// `node_total / whole`: how much of a whole run the nodes account for (near 1; the
    /// rest is the plan's bookkeeping between nodes, or noise on a wall clock).
    pub fn coverage(&self) -> f64 {
        self.node_total() / self.whole
    }
}

impl CompiledModel {
    /// The nodes of the optimized plan, in execution order, with tract's MAC count.
    pub fn plan_nodes(&self) -> Result<Vec<PlanNode>, RuntimeError> {
        let model = self.plan.model();
        self.plan
            .order_without_consts()
            .iter()
            .enumerate()
            .map(|(step, &id)| {
                let node = model.node(id);
                let facts = model.node_input_facts(id).map_err(|e| RuntimeError::Run(format!("{e:#}")))?;
                let macs = node
                    .op
                    .cost(&facts)
                    .map(|costs| {
                        costs
                            .iter()
                            .filter(|(kind, _)| matches!(kind, Cost::FMA(_)))
                            .filter_map(|(_, n)| n.to_i64().ok())
                            .map(|n| n.max(0) as u64)
                            .sum()
                    })
                    .unwrap_or(0);
                Ok(PlanNode { step, name: node.name.clone(), op: node.op.name().to_string(), macs })
            })
            .collect()
    }
}

impl Runner {
    /// Runs one inference node by node, calling `observer` around each node of the plan
    /// (steps as in [`CompiledModel::plan_nodes`]); fails as [`Runner::run_once`] does.
    pub fn run_observed(&mut self, observer: &mut dyn NodeObserver) -> Result<(), RuntimeError> {
        let input = self.input.clone();
        let state = &mut self.state;
        crate::model::unpanicked(|| {
            let mut step = 0;
            state
                .run_plan_with_eval(tvec![input], |ctx, op_state, node, inputs| {
                    observer.before(step);
                    let outputs = eval(ctx, op_state, node, inputs);
                    observer.after(step);
                    step += 1;
                    outputs
                })
                .map(drop)
                .map_err(|e: TractError| RuntimeError::Run(format!("{e:#}")))
        })
    }
}

/// Wall-clock nanoseconds per node, read with [`Instant`].
struct ClockObserver {
    started: Instant,
    samples: Vec<f64>,
}

impl NodeObserver for ClockObserver {
    fn before(&mut self, _: usize) {
        self.started = Instant::now();
    }

    fn after(&mut self, _: usize) {
        self.samples.push(self.started.elapsed().as_secs_f64() * 1e3);
    }
}

/// Profiles `model` on this host: `warmup` unmeasured runs, then `runs` pairs of a timed
/// whole run and a node-by-node run; unit ms. Fails when a run fails or `runs` is 0.
pub fn profile_host(model: &CompiledModel, warmup: usize, runs: usize) -> Result<ModelProfile, RuntimeError> {
    let nodes = model.plan_nodes()?;
    let mut runner = model.runner()?;
    for _ in 0..warmup {
        runner.run_once()?;
    }
    let mut whole = Vec::with_capacity(runs);
    let mut per_node = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        runner.run_once()?;
        whole.push(started.elapsed().as_secs_f64() * 1e3);
        let mut clock = ClockObserver { started: Instant::now(), samples: Vec::with_capacity(nodes.len()) };
        runner.run_observed(&mut clock)?;
        per_node.push(clock.samples);
    }
    ModelProfile::from_samples(LatencyUnit::Ms, nodes, &whole, &per_node).map_err(RuntimeError::Run)
}
