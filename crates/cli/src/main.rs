//! The `swarmfs` command line: argument parsing and wiring of the `swarmfs` library, one module
//! per command under `cmd/`. It implements no protocol itself.

mod args;
mod cmd;
mod failure;
mod logging;
mod net;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    logging::init(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("swarmfs: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("swarmfs: {failure}");
            failure.exit_code()
        }
    }
}
