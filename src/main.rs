//! The `edgenas` command line: a thin shell over the library crates (`edgenas-deploy`,
//! `edgenas-search`, ...). Every user error ends as `error: …` and exit code 1, a panic
//! anywhere included.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_panics();
    let cli = cli::Cli::parse();
    match std::panic::catch_unwind(|| commands::run(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Err(panic) => {
            let message = edgenas_runtime::panic_message(&*panic);
            eprintln!("error: internal error: {message} (please report it; RUST_BACKTRACE=1 shows where)");
            ExitCode::FAILURE
        }
    }
}

/// Panics are caught and reported as errors (tract's by the runtime, any other by
/// `main`): keep the default hook's "thread panicked at" text out of the output unless
/// `RUST_BACKTRACE` asks for it.
fn quiet_panics() {
    if std::env::var_os("RUST_BACKTRACE").is_none_or(|v| v == "0") {
        std::panic::set_hook(Box::new(|_| {}));
    }
}
