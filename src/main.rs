//! The `oncoscope` binary: parses the command line and runs a subcommand.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        Some(cli::Command::Info(args)) => cli::info::run_info(args),
        Some(cli::Command::Bench(cli::BenchCommand::Nifti(args))) => {
            cli::bench_nifti::run_bench_nifti(args)
        }
        None => cli::sample::run_sample(),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
