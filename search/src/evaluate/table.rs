//! Accuracy looked up in the shipped NAS-Bench-201 table: exact, instant, NB201 only.

use edgenas_compiler::names::{parse_name, UnknownName};
use edgenas_compiler::space::nb201::{Nb201Row, Nb201Table};
use edgenas_compiler::space::Genome;

use super::{AccuracyEvaluator, AccuracyResult, EvalContext};
use crate::BoxError;

/// Which test-accuracy column of the NB201 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[derive(strum::EnumString, strum::Display, strum::IntoStaticStr, strum::VariantArray)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Nb201Dataset {
    Cifar10,
    Cifar100,
    Imagenet16,
}

impl Nb201Dataset {
    /// Parses a dataset name; the error lists the valid ones.
    pub fn parse(name: &str) -> Result<Self, UnknownName> {
        parse_name("NB201 dataset", name)
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

/// Scores an NB201 genome with its test accuracy (%) on `dataset` from
/// [`Nb201Table::builtin`]. Any other genome is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nb201TableEvaluator {
    pub dataset: Nb201Dataset,
}

impl AccuracyEvaluator for Nb201TableEvaluator {
    fn uses_files(&self) -> bool {
        false
    }

    fn name(&self) -> String {
        format!("nb201-table:{}", self.dataset)
    }

    fn evaluate(&self, ctx: &EvalContext<'_>) -> Result<AccuracyResult, BoxError> {
        let Genome::Nb201(genome) = ctx.genome else {
            return Err(format!(
                "the nb201-table evaluator only scores NB201 genomes, got a `{}` genome",
                ctx.genome.space_name()
            )
            .into());
        };
        genome.validate()?;
        let row = Nb201Table::builtin()
            .row(genome.index)
            .ok_or_else(|| format!("NB201 index {} is not in the table", genome.index))?;
        Ok(AccuracyResult { accuracy: self.dataset.accuracy(row), trained_onnx: None })
    }
}
