use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = statusgate::cli::Cli::parse();
    statusgate::cli::main(cli)
}
