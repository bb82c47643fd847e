//! The command line: one subcommand per job, each in its own module.

pub mod bench_nifti;
pub mod info;
mod reference;
pub mod sample;

use clap::{Parser, Subcommand};

/// Oncoscope: abdominal CT cancer analysis.
#[derive(Parser, Debug)]
#[command(name = "oncoscope", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print grid, spacing, orientation, data type, HU range and labels of NIfTI files.
    Info(info::InfoArgs),
    /// Speed benchmarks (one JSON line each).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// NIfTI load time of FILE beside nibabel's and zlib's (when Python with nibabel is found).
    Nifti(bench_nifti::BenchNiftiArgs),
}
