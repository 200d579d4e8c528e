//! Accuracy looked up in the shipped NAS-Bench-201 table: exact, instant, NB201 only.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use edgenas_compiler::space::nb201::{Nb201Row, Nb201Table};
use edgenas_compiler::space::Genome;

use super::{AccuracyEvaluator, AccuracyResult, EvalContext};

/// Which test-accuracy column of the NB201 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nb201Dataset {
    Cifar10,
    Cifar100,
    Imagenet16,
}

impl Nb201Dataset {
    pub const ALL: [Nb201Dataset; 3] = [Nb201Dataset::Cifar10, Nb201Dataset::Cifar100, Nb201Dataset::Imagenet16];

    /// The name used on the command line and in configs (`cifar10`, `cifar100`, `imagenet16`).
    pub fn name(self) -> &'static str {
        match self {
            Nb201Dataset::Cifar10 => "cifar10",
            Nb201Dataset::Cifar100 => "cifar100",
            Nb201Dataset::Imagenet16 => "imagenet16",
        }
    }

    /// This dataset's test accuracy (%) in `row`.
    pub fn accuracy(self, row: &Nb201Row) -> f64 {
        match self {
            Nb201Dataset::Cifar10 => row.cifar10_acc,
            Nb201Dataset::Cifar100 => row.cifar100_acc,
            Nb201Dataset::Imagenet16 => row.imagenet16_acc,
        }
    }
}

impl fmt::Display for Nb201Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Nb201Dataset {
    type Err = String;

    /// Accepts exactly the names of [`Nb201Dataset::name`].
    fn from_str(s: &str) -> Result<Self, String> {
        Nb201Dataset::ALL.into_iter().find(|d| d.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Nb201Dataset::ALL.iter().map(|d| d.name()).collect();
            format!("unknown NB201 dataset `{s}`: expected one of {}", names.join(", "))
        })
    }
}

/// Scores an NB201 genome with its test accuracy (%) on `dataset` from
/// [`Nb201Table::builtin`]. Any other genome is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nb201TableEvaluator {
    pub dataset: Nb201Dataset,
}

impl AccuracyEvaluator for Nb201TableEvaluator {
    fn name(&self) -> String {
        format!("nb201-table:{}", self.dataset)
    }

    fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<AccuracyResult> {
        let Genome::Nb201(genome) = ctx.genome else {
            bail!("the nb201-table evaluator only scores NB201 genomes, got a `{}` genome", ctx.genome.space_name())
        };
        genome.validate().context("checking the NB201 genome")?;
        let row = Nb201Table::builtin()
            .row(genome.index)
            .with_context(|| format!("NB201 index {} is not in the table", genome.index))?;
        Ok(AccuracyResult { accuracy: self.dataset.accuracy(row), trained_onnx: None })
    }
}
