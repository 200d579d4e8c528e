use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = edgenas::cli::Cli::parse();
    match edgenas::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
