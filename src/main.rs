//! The `oncoscope` binary: parses the command line and runs a subcommand.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    oncoscope::memory::keep_freed_memory_for_reuse();
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        Some(cli::Command::Info(args)) => cli::info::run_info(args),
        Some(cli::Command::Synth(args)) => cli::synth::run_synth(args),
        Some(cli::Command::CheckData(args)) => cli::check_data::run_check_data(args),
        Some(cli::Command::Mesh(args)) => cli::mesh_cmd::run_mesh(args),
        Some(cli::Command::Train(args)) => cli::train::run_train(args),
        Some(cli::Command::Infer(args)) => cli::infer::run_infer(args),
        Some(cli::Command::Eval(args)) => cli::eval::run_eval(args),
        Some(cli::Command::Model(args)) => cli::model_cmd::run_model(args),
        Some(cli::Command::Bench(cli::BenchCommand::Nifti(args))) => {
            cli::bench_nifti::run_bench_nifti(args)
        }
        Some(cli::Command::Bench(cli::BenchCommand::Mesh(args))) => {
            cli::bench_mesh::run_bench_mesh(&args.dir, args.runs)
        }
        Some(cli::Command::Bench(cli::BenchCommand::Models(args))) => {
            cli::bench_models::run_bench_models(args)
        }
        Some(cli::Command::View(args)) => cli::view::run_view(args),
        Some(cli::Command::Sample) => cli::sample::run_sample(),
        None => cli::view::run_view(&cli::view::ViewArgs::sample(cli.screenshot.clone())),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
