use std::io::Write;

use anyhow::{Context, Result};
use edgenas_compiler::rng::SeededRng;
use edgenas_compiler::space::mbconv::MbconvGenome;
use edgenas_compiler::space::{Genome, SearchSpace};

use crate::cli::{MobilenetV2Args, SampleArgs};

pub fn sample(args: &SampleArgs) -> Result<()> {
    let space = SearchSpace::resolve(&args.space).with_context(|| format!("loading search space `{}`", args.space))?;
    let mut rng = SeededRng::new(args.seed);
    let mut out = std::io::stdout().lock();
    for _ in 0..args.count {
        writeln!(out, "{}", space.sample(&mut rng).to_json())?;
    }
    Ok(())
}

pub fn mobilenet_v2(args: &MobilenetV2Args) -> Result<()> {
    let genome = Genome::Mbconv(MbconvGenome::mobilenet_v2(args.width, args.resolution, args.classes));
    genome.build().context("building MobileNetV2 at these settings")?;
    println!("{}", genome.to_json());
    Ok(())
}
