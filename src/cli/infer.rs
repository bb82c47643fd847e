//! `oncoscope infer CT`: classification (as the seed project printed it) and segmentation
//! (written in the CT's original grid) with a trained model pair.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use oncoscope::model::ModelKind;
use oncoscope::model::checkpoint::{LoadedModel, card_path, device_by_name, weights_path};
use oncoscope::model::inference::{Classification, classify_reusing, segment_reporting};
use oncoscope::model::metrics::SegmentationScores;
use oncoscope::model::progress::CancelToken;
use oncoscope::model::weights::{check_model_task, model_stem, shipped_weights_dir};
use oncoscope::volume::VolumeError;
use oncoscope::volume::decathlon::{Task, check_task_labels};
use oncoscope::volume::nifti::{check_output_path, read_ct, read_labels_for, write_in_source_grid};

#[derive(clap::Args, Debug)]
pub struct InferArgs {
    /// CT volume (.nii or .nii.gz).
    pub ct: PathBuf,
    #[arg(long, default_value = "liver")]
    pub task: Task,
    /// Ground-truth label map, to print the true label and Dice.
    #[arg(long)]
    pub label: Option<PathBuf>,
    /// Folder with `<organ>_cnn` and `<organ>_unet` models, or a training run folder (uses its
    /// `best`). Default: the shipped `weights/`.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Where to write the segmentation (.nii.gz); skipped when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// cpu, cuda or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// For the segmenter: multiply each voxel's tumour probability by S before its label is
    /// chosen (the most probable class), instead of its card's `tumour_sensitivity` (1 unless
    /// set with `oncoscope model`): above 1 more and larger lesions, false ones with them;
    /// below 1 fewer. From 0.01 to 100.
    #[arg(long, value_name = "S", value_parser = super::tumour_sensitivity, allow_negative_numbers = true)]
    pub tumour_sensitivity: Option<f64>,
}

pub fn run_infer(args: &InferArgs) -> Result<()> {
    let device = device_by_name(&args.device)?;
    let ct = read_ct(&args.ct)?;
    let truth = args
        .label
        .as_ref()
        .map(|p| {
            let labels = read_labels_for(p, &ct)?;
            check_task_labels(p, &labels)?;
            Ok::<_, VolumeError>(labels)
        })
        .transpose()?;
    let weights = args.weights.clone().unwrap_or_else(shipped_weights_dir);
    if !weights.is_dir() {
        bail!("{}: no such weights folder", weights.display());
    }
    let cnn = model_stem(&weights, args.task, ModelKind::Cnn);
    let unet = model_stem(&weights, args.task, ModelKind::Unet);
    if cnn.is_none() && unet.is_none() {
        bail!(
            "{}: no {} model found (expected {}_cnn.json / {}_unet.json, or a training run folder)",
            weights.display(),
            args.task,
            args.task.organ(),
            args.task.organ()
        );
    }
    if let (Some(out), None) = (&args.out, &unet) {
        bail!(
            "--out {}: {} has no {} segmenter ({}_unet), so there is no segmentation to write",
            out.display(),
            weights.display(),
            args.task,
            args.task.organ()
        );
    }
    let cancel = CancelToken::new();
    let mut stage = |s| {
        if !args.json {
            eprintln!("  {s:?}…");
        }
    };
    if let Some(out) = &args.out {
        refuse_overwriting_inputs(out, args, [&cnn, &unet])?;
    }
    let load = |stem: PathBuf| -> Result<LoadedModel> {
        let model = LoadedModel::load(&stem, &device)?;
        check_model_task(&model, args.task)?;
        Ok(model)
    };
    let cnn = cnn.map(load).transpose()?;
    let mut unet = unet.map(load).transpose()?;
    if let (Some(model), Some(sensitivity)) = (&mut unet, args.tumour_sensitivity) {
        model.card.tumour_sensitivity = sensitivity;
    }
    let (segmentation, report) = match &unet {
        Some(model) => segment_reporting(model, &ct, &cancel, &mut stage)?.unzip(),
        None => (None, None),
    };
    // A classifier behind the segmenter (its locator) reuses its labels.
    let classification = match &cnn {
        Some(cnn) => {
            let segmented = unet.as_ref().zip(segmentation.as_ref());
            classify_reusing(cnn, &ct, segmented, &cancel, &mut stage)?
        }
        None => None,
    };
    let true_cancer = truth.as_ref().map(|t| t.voxels.contains(&2));
    let scores = match (&truth, &segmentation) {
        (Some(t), Some(s)) => Some(SegmentationScores::compare(&t.voxels, &s.voxels)),
        _ => None,
    };
    if let (Some(out), Some(seg)) = (&args.out, &segmentation) {
        write_in_source_grid(out, seg).with_context(|| format!("writing {}", out.display()))?;
    }
    let voxel_ml = ct.grid.voxel_volume_ml();
    let count = |label: u8| {
        segmentation
            .as_ref()
            .map(|s| s.voxels.iter().filter(|&&v| v == label).count())
    };
    let validation_roc_auc = cnn
        .as_ref()
        .and_then(|m| m.card.metrics.get("roc_auc").copied());
    let validation_dice = unet.as_ref().and_then(|m| m.card.validation_dice());
    let tumour_sensitivity = unet.as_ref().map(|m| m.card.tumour_sensitivity);
    if args.json {
        let out = serde_json::json!({
            "ct": args.ct.display().to_string(),
            "classifier": cnn.as_ref().map(|m| m.path.display().to_string()),
            "segmenter": unet.as_ref().map(|m| m.path.display().to_string()),
            "classification": classification,
            "classifier_validation_roc_auc": validation_roc_auc,
            "segmenter_validation_dice": validation_dice,
            "tumour_sensitivity": tumour_sensitivity,
            "true_cancer": true_cancer,
            "organ_volume_ml": count(1).zip(count(2)).map(|(a, b)| (a + b) as f64 * voxel_ml),
            "tumour_volume_ml": count(2).map(|n| n as f64 * voxel_ml),
            "scores": scores,
            "recentrings": report.map(|r| r.recentrings),
            "lesions_dropped": report.map(|r| r.lesions_dropped),
            "segmentation": args.out.as_ref().filter(|_| segmentation.is_some()).map(|p| p.display().to_string()),
        });
        println!("{out}");
        return Ok(());
    }
    match classification {
        Some(c) => {
            print_classification(&c, true_cancer);
            if let Some(auc) = validation_roc_auc {
                println!(
                    "Classifier's validation ROC AUC (its card; held-out figures in \
                     weights/README.md): {auc:.3}"
                );
            }
        }
        None if cnn.is_none() => println!(
            "No {} classifier ({}_cnn) in {}: cancer or normal is not called",
            args.task,
            args.task.organ(),
            weights.display()
        ),
        None => {}
    }
    if unet.is_none() {
        println!(
            "No {} segmenter ({}_unet) in {}: no outline or tumour volume",
            args.task,
            args.task.organ(),
            weights.display()
        );
    }
    if segmentation.is_some() {
        let organ = count(1).unwrap_or(0) + count(2).unwrap_or(0);
        println!(
            "Organ ({}) volume: {:.1} mL",
            args.task.organ(),
            organ as f64 * voxel_ml
        );
        println!(
            "Tumour volume: {:.1} mL",
            count(2).unwrap_or(0) as f64 * voxel_ml
        );
        if let Some(dice) = validation_dice {
            println!(
                "Segmenter's validation Dice (its card; held-out figures in weights/README.md): {dice}"
            );
        }
        if let Some(sensitivity) = tumour_sensitivity.filter(|&s| s != 1.0) {
            println!(
                "Tumour sensitivity ×{sensitivity}: each voxel's tumour probability was \
                 multiplied by {sensitivity} before its label was chosen (1: as validated)"
            );
        }
        if let Some(r) = report.filter(|r| r.recentrings > 0) {
            println!(
                "Re-centred its cube on its own outline {} time(s)",
                r.recentrings
            );
        }
        if let Some(r) = report.filter(|r| r.lesions_dropped > 0) {
            println!(
                "{} tumour piece(s) under {} mL shown as {} (the model's min_lesion_ml)",
                r.lesions_dropped,
                r.min_lesion_ml,
                args.task.organ()
            );
        }
        if let Some(s) = scores {
            println!(
                "Against the ground truth: organ Dice {:.4} IoU {:.4}, tumour Dice {:.4} IoU {:.4}",
                s.organ_dice, s.organ_iou, s.tumour_dice, s.tumour_iou
            );
        }
        if let Some(out) = &args.out {
            println!("Segmentation written to {}", out.display());
        }
    }
    Ok(())
}

/// Refuses an `--out` not named as NIfTI, or that is one of the command's own inputs (the CT,
/// the label map or a model file), which writing the segmentation would destroy.
fn refuse_overwriting_inputs(
    out: &Path,
    args: &InferArgs,
    models: [&Option<PathBuf>; 2],
) -> Result<()> {
    let mut inputs = vec![args.ct.clone()];
    inputs.extend(args.label.clone());
    for stem in models.into_iter().flatten() {
        inputs.push(card_path(stem));
        inputs.push(weights_path(stem));
    }
    check_output_path(out, &inputs).with_context(|| format!("--out {}", out.display()))
}

fn cancer_text(cancer: bool) -> &'static str {
    if cancer { "Cancer (1)" } else { "Normal (0)" }
}

fn print_classification(c: &Classification, truth: Option<bool>) {
    println!("Input Image Shape: {:?}", c.input_shape);
    if let Some(t) = truth {
        println!("True Label: {}", cancer_text(t));
    }
    println!("Predicted Logit: {:.4}", c.logit);
    println!("Predicted Probability (Cancer): {:.4}", c.probability);
    println!("Predicted Label: {}", cancer_text(c.cancer));
}
