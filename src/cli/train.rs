//! `oncoscope train`: train the U-Net or the CNN on a Decathlon-layout data set, with a
//! progress bar; writes checkpoints, model cards and curves to the run folder.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use oncoscope::model::checkpoint::device_by_name;
use oncoscope::model::organ_fill::OutsideOrgan;
use oncoscope::model::preprocess::Preprocessing;
use oncoscope::model::progress::{RunControl, format_duration};
use oncoscope::model::region::Region;
use oncoscope::model::training::data::Augmentation;
use oncoscope::model::training::{TrainConfig, TrainingEvent, best_checkpoint, train};
use oncoscope::model::{Architecture, GlobalPool, ModelKind};
use oncoscope::volume::decathlon::Task;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Data set folder in Decathlon layout (dataset.json, imagesTr/, labelsTr/).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub task: Task,
    #[arg(long, value_enum)]
    pub model: ModelKind,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Run folder for checkpoints, model cards and curves.
    #[arg(long)]
    pub out: PathBuf,
    /// Model grid edge (voxels per axis; a multiple of 8 for the U-Net).
    #[arg(long, default_value_t = 96)]
    pub grid: usize,
    /// Channel widths of the four levels, e.g. "16,32,64,128" (the reference) or "8,16,32,64".
    #[arg(long, default_value = "16,32,64,128", value_parser = parse_channels)]
    pub channels: [usize; 4],
    /// The classifier's global pooling: `average` (the reference CNN3D) or `max` (one lesion
    /// can decide; same parameters).
    #[arg(long, value_enum)]
    pub global_pool: Option<GlobalPool>,
    #[arg(long, default_value_t = 2)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 0.2)]
    pub validation_fraction: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Turn augmentation (rotation, flips, noise, intensity) off.
    #[arg(long)]
    pub no_augment: bool,
    /// Extra normal cases for the classifier: a folder of CT scans, or a data set (dataset.json or imagesTr/ + labelsTr/) of tumour-free cases, needed with --region organ.
    #[arg(long)]
    pub normals: Option<PathBuf>,
    /// Use only the first N cases.
    #[arg(long)]
    pub max_cases: Option<usize>,
    /// What the model sees: `whole` (the CT's whole box) or `organ` (a cube around the organ:
    /// the ground truth's in training, the --locator's at inference).
    #[arg(long, value_enum, default_value = "whole")]
    pub region: RegionArg,
    /// Margin around the organ for --region organ, in mm.
    #[arg(long, default_value_t = 10.0)]
    pub margin_mm: f64,
    /// For --region organ: show the model only the organ and this many mm around it; every
    /// voxel farther out takes the organ's median HU (the ground truth's organ in training, the
    /// locator's at inference). Fat and gas around the organ are darker than any lesion, so a
    /// classifier learns far better with it. A negative value keeps only what lies that deep
    /// inside the organ (no fat of a loose outline shows).
    #[arg(long, value_name = "MM", allow_negative_numbers = true)]
    pub fill_outside_organ_mm: Option<f64>,
    /// For --region organ: give the network a second input channel, where the --locator
    /// labels tumour (the fraction of each model voxel). With a region U-Net as locator (e.g.
    /// weights/liver_unet) a classifier sees the lesions the segmenter found beside the CT.
    #[arg(long)]
    pub locator_tumour_channel: bool,
    /// For --region organ: the whole-box U-Net that finds the organ (a model stem, e.g.
    /// weights/liver_locator); copied into the run folder.
    #[arg(long)]
    pub locator: Option<PathBuf>,
    /// Start from these weights instead of random ones (a model stem of the same architecture,
    /// grid and region, e.g. weights/liver_unet to fine-tune it on your data). A U-Net with
    /// fewer channels per level is widened to --channels first, computing the same function.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// For a U-Net of the organ's region, at inference: re-centre the cube on the organ it
    /// outlined and run again, up to N times (written to the model cards; default: that of the
    /// run resumed or the model started from, else 0).
    #[arg(long, value_name = "N")]
    pub cube_refinements: Option<usize>,
    /// For a U-Net, at inference: predicted tumour pieces under this many mL become organ
    /// (written to the model cards; default: that of the run resumed or the model started
    /// from, else 0, every piece kept). `oncoscope model --set-min-lesion-ml` changes it later.
    #[arg(long, value_name = "ML", value_parser = super::non_negative_ml, allow_negative_numbers = true)]
    pub min_lesion_ml: Option<f64>,
    /// For the U-Net: weight of tumour voxels in the cross-entropy (every other class weighs
    /// 1), so that a missed small lesion costs more. Written to the cards' notes; default: that
    /// of the run resumed, else 1.
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    pub tumour_weight: Option<f64>,
    /// For the U-Net: the voxels of each small true lesion weigh more (up to 25× for a lesion
    /// of 20 voxels or fewer of the training cube, none from 500 voxels up), so every lesion
    /// counts, not just the large ones. Written to the cards' notes; default: that of the run
    /// resumed, else off. `--balance-lesions false` turns it off on resume.
    #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
    pub balance_lesions: Option<bool>,
    /// For the U-Net: add λ times a lesion term to the loss: each true lesion's mean
    /// cross-entropy of its voxels being tumour, averaged over the step's lesions, so that a
    /// lesion of a few voxels asks as much of the network as a large one. Fine-tuning the
    /// shipped liver U-Net: at 0.02 false lesions stayed few (0.6–0.7 per case at 2 mm against
    /// 0.15); at 0.1 it found a third of the lesions under 10 mm among 9–15 false ones per
    /// case; at 1 the term swamps the rest of the loss. Written to the cards' notes; default:
    /// that of the run resumed, else 0 (off); 0 turns it off on resume.
    #[arg(long, value_name = "λ", allow_negative_numbers = true)]
    pub lesion_loss: Option<f64>,
    /// For the U-Net: add μ times a false-piece term to the loss: each predicted tumour piece
    /// that touches no true lesion, its voxels' mean cross-entropy of not being tumour,
    /// averaged over the step's false pieces, so that a speck in healthy organ costs as much
    /// as a large false lesion. The counterweight to `--lesion-loss`. Written to the cards'
    /// notes; default: that of the run resumed, else 0 (off); 0 turns it off on resume.
    #[arg(long, value_name = "μ", allow_negative_numbers = true)]
    pub false_piece_loss: Option<f64>,
    /// For the U-Net: train on cubes of N voxels a side cut from each case's grid, half of
    /// them around one of its true lesions picked at random (each lesion as likely as any
    /// other), so that small lesions are seen more often and a step costs less; validation
    /// keeps whole grids. N: a multiple of 8 from 32 to the grid; 0 turns it off on resume.
    /// Written to the cards' notes; default: that of the run resumed, else whole grids.
    #[arg(long, value_name = "N")]
    pub lesion_crops: Option<usize>,
    /// Continue the run in `--out` from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// cpu, cuda or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// The part of the CT a model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RegionArg {
    Whole,
    Organ,
}

fn parse_channels(text: &str) -> Result<[usize; 4], String> {
    let values: Vec<usize> = text
        .split(',')
        .map(|v| v.trim().parse::<usize>().map_err(|e| format!("{v:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let channels: [usize; 4] = values
        .try_into()
        .map_err(|_| "give four comma-separated widths".to_string())?;
    if channels.contains(&0) {
        return Err("channel widths must be positive".into());
    }
    Ok(channels)
}

pub fn run_train(args: &TrainArgs) -> Result<()> {
    if !(args.margin_mm.is_finite() && args.margin_mm >= 0.0) {
        anyhow::bail!(
            "--margin-mm {} must be a non-negative number",
            args.margin_mm
        );
    }
    if args.model == ModelKind::Unet {
        let classifier_only = [
            ("--normals", args.normals.is_some()),
            ("--global-pool", args.global_pool.is_some()),
        ];
        if let Some((flag, _)) = classifier_only.iter().find(|(_, given)| *given) {
            anyhow::bail!(
                "{flag} is for the classifier (--model cnn); a U-Net learns from the data set's \
                 label maps"
            );
        }
    }
    if args.model == ModelKind::Unet && !args.grid.is_multiple_of(8) {
        anyhow::bail!("--grid {} must be a multiple of 8 for the U-Net", args.grid);
    }
    let device = device_by_name(&args.device)?;
    let config = TrainConfig {
        data: args.data.clone(),
        task: args.task,
        architecture: Architecture {
            kind: args.model,
            channels: args.channels,
            global_pool: args.global_pool.unwrap_or(GlobalPool::Average),
        },
        preprocessing: Preprocessing {
            region: match args.region {
                RegionArg::Whole => Region::WholeBox,
                RegionArg::Organ => Region::OrganCube {
                    margin_mm: args.margin_mm,
                },
            },
            outside_organ: match args.fill_outside_organ_mm {
                None => OutsideOrgan::Keep,
                Some(margin_mm) => OutsideOrgan::FillWithOrganMedian { margin_mm },
            },
            locator_tumour_channel: args.locator_tumour_channel,
            ..Preprocessing::cube(args.grid)
        },
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        validation_fraction: args.validation_fraction,
        seed: args.seed,
        augmentation: if args.no_augment {
            Augmentation::NONE
        } else {
            Augmentation::DEFAULT
        },
        normals: args.normals.clone(),
        out: args.out.clone(),
        max_cases: args.max_cases,
        locator: args.locator.clone(),
        init_from: args.init_from.clone(),
        cube_refinements: args.cube_refinements,
        min_lesion_ml: args.min_lesion_ml,
        tumour_weight: args.tumour_weight,
        balance_lesions: args.balance_lesions,
        lesion_loss: args.lesion_loss,
        false_piece_loss: args.false_piece_loss,
        lesion_crop_voxels: args.lesion_crops,
    };
    let control = RunControl::new();
    let mut on_event = |event: &TrainingEvent| print_event(event);
    let outcome = train(&config, &device, args.resume, &control, &mut on_event)?;
    eprintln!();
    match &outcome.best {
        Some(best) => println!(
            "best epoch {} (score {:.4}): {}",
            best.epoch,
            best.score,
            format_metrics(&best.metrics)
        ),
        None => println!("no epoch finished"),
    }
    println!(
        "weights: {}.safetensors (+ .json), curves: {}",
        best_checkpoint(&outcome.run_dir).display(),
        outcome.run_dir.join("curves.csv").display()
    );
    Ok(())
}

/// Figures by name, `name 0.1234, …`.
pub(crate) fn format_metrics(metrics: &std::collections::BTreeMap<String, f64>) -> String {
    metrics
        .iter()
        .map(|(k, v)| format!("{k} {v:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_event(event: &TrainingEvent) {
    match event {
        TrainingEvent::Preparing { done, total, case } => {
            eprint!("\rpreparing cases {done}/{total} ({case})          ");
            if done == total {
                eprintln!();
            }
        }
        TrainingEvent::Started {
            train_cases,
            validation_cases,
            first_epoch,
            epochs,
            ..
        } => {
            eprintln!(
                "training on {train_cases} cases, validating on {validation_cases}; epochs {first_epoch}..={epochs}"
            );
        }
        TrainingEvent::Step {
            epoch,
            step,
            steps,
            loss,
            eta_s,
        } => {
            let width = 24;
            let filled = (width * step / steps.max(&1)).min(width);
            eprint!(
                "\repoch {epoch} [{}{}] {step}/{steps} loss {loss:.4} ETA {}   ",
                "#".repeat(filled),
                ".".repeat(width - filled),
                format_duration(*eta_s)
            );
            let _ = std::io::stderr().flush();
        }
        TrainingEvent::Epoch(e) => {
            eprintln!(
                "\repoch {} train loss {:.4} val loss {:.4} {}{} ({:.0} s)",
                e.epoch,
                e.train_loss,
                e.validation_loss,
                format_metrics(&e.metrics),
                if e.is_best { " *best*" } else { "" },
                e.seconds
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        train: TrainArgs,
    }

    fn balance_lesions(extra: &[&str]) -> Option<bool> {
        let base = [
            "train", "--data", "d", "--task", "liver", "--model", "unet", "--out", "r",
        ];
        let args = base.iter().chain(extra).copied();
        Wrapper::try_parse_from(args).unwrap().train.balance_lesions
    }

    #[test]
    fn balance_lesions_is_a_flag_that_a_resume_can_turn_off() {
        assert_eq!(balance_lesions(&[]), None);
        assert_eq!(balance_lesions(&["--balance-lesions"]), Some(true));
        assert_eq!(
            balance_lesions(&["--balance-lesions", "--resume"]),
            Some(true)
        );
        assert_eq!(
            balance_lesions(&["--balance-lesions", "false"]),
            Some(false)
        );
        assert_eq!(balance_lesions(&["--balance-lesions=true"]), Some(true));
    }
}
