//! The command line: one subcommand per job, each in its own module.

pub mod bench_mesh;
pub mod bench_models;
pub mod bench_nifti;
pub mod check_data;
pub mod eval;
pub mod infer;
pub mod info;
pub mod mesh_cmd;
pub mod model_cmd;
mod reference;
pub mod sample;
mod sensitivity_sweep;
pub mod synth;
pub mod train;
pub mod view;

use clap::{Parser, Subcommand};

/// Oncoscope: abdominal CT cancer analysis.
#[derive(Parser, Debug)]
#[command(name = "oncoscope", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no subcommand: open the sample case, run both models, save the window as PNG and
    /// exit.
    #[arg(long, value_name = "PNG")]
    pub screenshot: Option<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open a CT in the viewer (with its ground truth when given or found beside it).
    View(view::ViewArgs),
    /// Text tour of the bundled sample case (files, lesion table, model output) without a window.
    Sample,
    /// Print grid, spacing, orientation, data type, HU range and labels of NIfTI files.
    Info(info::InfoArgs),
    /// Generate a synthetic data set of abdominal CT phantoms in Decathlon layout.
    Synth(synth::SynthArgs),
    /// Organ and lesion surfaces (STL/PLY/OBJ) and the lesion table of a label map.
    Mesh(mesh_cmd::MeshArgs),
    /// Check a Decathlon-layout data set before training: cases, labels, tumour cases, problems.
    CheckData(check_data::CheckDataArgs),
    /// Train the U-Net or the CNN on a Decathlon-layout data set.
    Train(train::TrainArgs),
    /// Classify and segment a CT with trained models.
    Infer(infer::InferArgs),
    /// Show a trained model's card (checked by loading it) and set its inference settings.
    Model(model_cmd::ModelArgs),
    /// Evaluate the models on a Decathlon-layout data set (Dice, IoU, accuracy, ROC AUC).
    Eval(eval::EvalArgs),
    /// Speed benchmarks (one JSON line each).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// NIfTI load time of FILE beside nibabel's and zlib's (when Python with nibabel is found).
    Nifti(bench_nifti::BenchNiftiArgs),
    /// Marching cubes beside scikit-image on the volumes of `bench_mc.py --save DIR`.
    Mesh(bench_mesh::BenchMeshArgs),
    /// Forward and training-step time and peak memory of UNet3D and CNN3D at 96³.
    Models(bench_models::BenchModelsArgs),
}

/// A count of timed runs: 1 or more.
pub(crate) fn runs_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{text:?} is not a number of runs (1 or more)")),
    }
}

/// Most Taubin smoothing iterations `mesh --smooth` takes: far past any visible change (the
/// viewer uses a handful), and a few seconds on a large surface.
pub(crate) const MAX_SMOOTHING_ITERATIONS: usize = 1000;

/// Taubin smoothing iterations: 0 to [`MAX_SMOOTHING_ITERATIONS`].
pub(crate) fn smoothing_iterations(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n <= MAX_SMOOTHING_ITERATIONS => Ok(n),
        _ => Err(format!(
            "{text:?} is not a number of smoothing iterations (0 to {MAX_SMOOTHING_ITERATIONS})"
        )),
    }
}

/// A tumour sensitivity ([`oncoscope::model::checkpoint::ModelCard::tumour_sensitivity`]): a
/// factor from 0.01 to 100.
pub(crate) fn tumour_sensitivity(text: &str) -> Result<f64, String> {
    let range = oncoscope::model::checkpoint::TUMOUR_SENSITIVITY_RANGE;
    match text.parse::<f64>() {
        Ok(factor) if range.contains(&factor) => Ok(factor),
        _ => Err(format!(
            "{text:?} is not a tumour sensitivity (a factor from {} to {})",
            range.start(),
            range.end()
        )),
    }
}

/// A volume in mL: a finite number, 0 or more.
pub(crate) fn non_negative_ml(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ml) if ml.is_finite() && ml >= 0.0 => Ok(ml),
        _ => Err(format!(
            "{text:?} is not a volume in mL (a number, 0 or more)"
        )),
    }
}
