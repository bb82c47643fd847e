//! `oncoscope eval --data DIR`: runs the models on every case of a Decathlon-layout data set and
//! reports per case Dice/IoU (organ, tumour), volumes, lesions found and spurious, and
//! classification, with a summary (mean Dice/IoU, lesion sensitivity, accuracy, ROC AUC) — as a
//! table, and as CSV and JSON files.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::sensitivity_sweep::{SweepCase, sweep_case, sweep_points, sweep_table};
use oncoscope::jobs::VIEWER_MIN_LESION_ML;
use oncoscope::mesh::{LesionDetection, LesionMatching, match_lesions};
use oncoscope::model::checkpoint::{LoadedModel, ValidationDice, device_by_name};
use oncoscope::model::inference::{classify_reusing, segment_keeping};
use oncoscope::model::metrics::{
    ClassifierScores, SegmentationScores, StructureOverlaps, StructureVolumes, roc_auc,
};
use oncoscope::model::progress::CancelToken;
use oncoscope::volume::decathlon::{DecathlonCase, Task, check_task_labels, read_dataset};
use oncoscope::volume::nifti::{read_ct, read_labels_for};

use oncoscope::model::ModelKind;
use oncoscope::model::weights::{check_model_task, model_stem, shipped_weights_dir};

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Data set folder in Decathlon layout.
    #[arg(long)]
    pub data: PathBuf,
    /// Task; taken from the data set's dataset.json when omitted.
    #[arg(long)]
    pub task: Option<Task>,
    /// Folder with `<organ>_cnn` / `<organ>_unet` models, or a training run folder.
    /// Default: the shipped `weights/`.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Folder for `eval.csv` and `eval.json` (default: the data set folder's name under ./eval).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Tumour pieces smaller than this (mL) are not counted as lesions, in the truth or the
    /// prediction (the viewer's lesion table uses the same default).
    #[arg(
        long,
        default_value_t = VIEWER_MIN_LESION_ML,
        value_parser = super::non_negative_ml,
        allow_negative_numbers = true
    )]
    pub min_lesion_ml: f64,
    /// For the segmenter: multiply each voxel's tumour probability by S before its label is
    /// chosen (the most probable class), instead of its card's `tumour_sensitivity` (1 unless
    /// set with `oncoscope model`): above 1 more and larger lesions, false ones with them;
    /// below 1 fewer. From 0.01 to 100.
    #[arg(long, value_name = "S", value_parser = super::tumour_sensitivity, allow_negative_numbers = true)]
    pub tumour_sensitivity: Option<f64>,
    /// Also the segmenter's tumour figures (Dice, lesions found by size, spurious per case,
    /// false tumour on tumour-free cases, tumour volume ROC AUC) at each of these tumour
    /// sensitivities, each case's labels chosen again from its one network pass: a table
    /// after the summary and `sweep` in eval.json. E.g. `0.25,0.5,1,2,4,8`.
    #[arg(
        long,
        value_name = "S,S,...",
        value_delimiter = ',',
        value_parser = super::tumour_sensitivity,
        allow_negative_numbers = true
    )]
    pub sweep_tumour_sensitivity: Vec<f64>,
}

#[derive(Debug, Serialize)]
struct CaseResult {
    id: String,
    scores: Option<SegmentationScores>,
    volumes: Option<StructureVolumes>,
    lesions: Option<LesionCounts>,
    true_cancer: bool,
    probability: Option<f64>,
    logit: Option<f64>,
}

/// Lesions (connected tumour pieces) of one case: the ground truth's, how many of them the
/// prediction overlaps, the prediction's, and how many of those overlap no true lesion.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct LesionCounts {
    true_lesions: usize,
    found: usize,
    predicted: usize,
    spurious: usize,
}

impl LesionCounts {
    fn of(matching: &LesionMatching) -> Self {
        Self {
            true_lesions: matching.truth_found.len(),
            found: matching.found(),
            predicted: matching.prediction_confirmed.len(),
            spurious: matching.spurious(),
        }
    }
}

#[derive(Debug, Serialize)]
struct Summary {
    cases: usize,
    /// Organ figures over every segmented case, tumour figures over the `tumour_cases` whose
    /// ground truth has a tumour (over every case when none has).
    mean: Option<SegmentationScores>,
    tumour_cases: usize,
    /// Lesions of at least `min_lesion_ml` mL, over the segmented cases.
    lesions: Option<LesionDetection>,
    min_lesion_ml: f64,
    classifier: Option<ClassifierScores>,
    /// ROC AUC of the U-Net's predicted tumour volume (mL) as a cancer score, over the
    /// segmented cases: how well the segmenter alone tells cancer from normal, beside the
    /// classifier. `None` unless both classes occur.
    tumour_volume_roc_auc: Option<f64>,
    /// The segmenter's own validation Dice, from its card (measured on its training run's
    /// validation cases, not these), to set beside this evaluation's figures.
    segmenter_validation_dice: Option<ValidationDice>,
    /// The classifier's own validation ROC AUC, from its card (likewise).
    classifier_validation_roc_auc: Option<f64>,
    /// The segmenter's tumour sensitivity in this evaluation (its card's, or
    /// `--tumour-sensitivity`).
    tumour_sensitivity: Option<f64>,
}

pub fn run_eval(args: &EvalArgs) -> Result<()> {
    let dataset = read_dataset(&args.data)?;
    let task = args
        .task
        .or_else(|| dataset.task())
        .context("cannot tell the task from the data set: give --task liver|pancreas")?;
    if let (Some(asked), Some(found)) = (args.task, dataset.task())
        && asked != found
    {
        bail!(
            "{}: this is a {found} data set, not {asked}",
            args.data.display()
        );
    }
    if dataset.training.is_empty() {
        bail!("{}: the data set lists no cases", args.data.display());
    }
    // The output folder is made first, so that a bad --out fails before the cases run.
    let out = args.out.clone().unwrap_or_else(|| {
        let name = args
            .data
            .file_name()
            .map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
        PathBuf::from("eval").join(name)
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let device = device_by_name(&args.device)?;
    let weights = args.weights.clone().unwrap_or_else(shipped_weights_dir);
    if !weights.is_dir() {
        bail!("{}: no such weights folder", weights.display());
    }
    let load = |kind: ModelKind| -> Result<Option<LoadedModel>> {
        let Some(stem) = model_stem(&weights, task, kind) else {
            return Ok(None);
        };
        let model = LoadedModel::load(&stem, &device)?;
        check_model_task(&model, task)?;
        Ok(Some(model))
    };
    let (cnn, mut unet) = (load(ModelKind::Cnn)?, load(ModelKind::Unet)?);
    if let (Some(model), Some(sensitivity)) = (&mut unet, args.tumour_sensitivity) {
        model.card.tumour_sensitivity = sensitivity;
    }
    if cnn.is_none() && unet.is_none() {
        bail!("{}: no {task} models found", weights.display());
    }
    let cancel = CancelToken::new();
    let mut results = Vec::new();
    let mut matchings = Vec::new();
    // A case that cannot be read or run is reported with its reason, and the others are still
    // evaluated and written.
    let mut failed: Vec<(String, String)> = Vec::new();
    let models = Models {
        cnn: cnn.as_ref(),
        unet: unet.as_ref(),
    };
    let sweep = if unet.is_some() {
        args.sweep_tumour_sensitivity.as_slice()
    } else {
        if !args.sweep_tumour_sensitivity.is_empty() {
            eprintln!(
                "no {task} segmenter in {}: no sensitivity sweep",
                weights.display()
            );
        }
        &[]
    };
    let mut swept = Vec::new();
    for (i, case) in dataset.training.iter().enumerate() {
        eprint!(
            "\r{}/{} {}          ",
            i + 1,
            dataset.training.len(),
            case.id
        );
        match evaluate_case(case, &models, args.min_lesion_ml, sweep, &cancel) {
            Ok((result, matching, sweep_cases)) => {
                results.push(result);
                matchings.extend(matching);
                swept.push(sweep_cases);
            }
            Err(e) => failed.push((case.id.clone(), format!("{e:#}"))),
        }
    }
    eprintln!();
    let seg: Vec<(SegmentationScores, bool)> = results
        .iter()
        .filter_map(|r| r.scores.map(|s| (s, r.true_cancer)))
        .collect();
    let (tumour_ml, seg_truths): (Vec<f64>, Vec<bool>) = results
        .iter()
        .filter_map(|r| r.volumes.map(|v| (v.tumour_ml_predicted, r.true_cancer)))
        .unzip();
    let (probs, truths): (Vec<f64>, Vec<bool>) = results
        .iter()
        .filter_map(|r| r.probability.map(|p| (p, r.true_cancer)))
        .unzip();
    let summary = Summary {
        cases: results.len(),
        mean: (!seg.is_empty()).then(|| SegmentationScores::mean_by_truth(&seg)),
        tumour_cases: seg.iter().filter(|(_, has_tumour)| *has_tumour).count(),
        lesions: (!matchings.is_empty()).then(|| LesionDetection::over(&matchings)),
        min_lesion_ml: args.min_lesion_ml,
        classifier: (!probs.is_empty()).then(|| ClassifierScores::compute(&probs, &truths)),
        tumour_volume_roc_auc: roc_auc(&tumour_ml, &seg_truths),
        segmenter_validation_dice: unet.as_ref().and_then(|m| m.card.validation_dice()),
        classifier_validation_roc_auc: cnn
            .as_ref()
            .and_then(|m| m.card.metrics.get("roc_auc").copied()),
        tumour_sensitivity: unet.as_ref().map(|m| m.card.tumour_sensitivity),
    };
    print!("{}", table(&results, &summary));
    let true_cancer: Vec<bool> = results.iter().map(|r| r.true_cancer).collect();
    let sweep_points = sweep_points(sweep, &swept, &true_cancer);
    if !sweep_points.is_empty() {
        print!("{}", sweep_table(&sweep_points, args.min_lesion_ml));
    }
    let (csv_path, json_path) = (out.join("eval.csv"), out.join("eval.json"));
    std::fs::write(&csv_path, csv(&results))
        .with_context(|| format!("writing {}", csv_path.display()))?;
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&serde_json::json!({
            "task": task.organ(),
            "cases": results,
            "summary": summary,
            "sweep": sweep_points,
            "failed": failed
                .iter()
                .map(|(id, error)| serde_json::json!({ "id": id, "error": error }))
                .collect::<Vec<_>>(),
        }))?,
    )
    .with_context(|| format!("writing {}", json_path.display()))?;
    println!("written: {}, {}", csv_path.display(), json_path.display());
    if !failed.is_empty() {
        for (id, error) in &failed {
            eprintln!("{id}: {error}");
        }
        bail!(
            "{} of {} cases could not be evaluated (above); the figures are over the other {}",
            failed.len(),
            dataset.training.len(),
            results.len()
        );
    }
    Ok(())
}

/// The models an evaluation runs.
struct Models<'a> {
    cnn: Option<&'a LoadedModel>,
    unet: Option<&'a LoadedModel>,
}

/// One case through the models: its scores, its lesions matched against the truth, and its
/// tumour figures at each of the `sweep` sensitivities (from the same network pass).
fn evaluate_case(
    case: &DecathlonCase,
    models: &Models,
    min_lesion_ml: f64,
    sweep: &[f64],
    cancel: &CancelToken,
) -> Result<(CaseResult, Option<LesionMatching>, Vec<SweepCase>)> {
    let ct = read_ct(&case.image)?;
    let truth = read_labels_for(&case.label, &ct)?;
    check_task_labels(&case.label, &truth)?;
    let (segmentation, output) = match models.unet {
        Some(model) => match segment_keeping(model, &ct, cancel, &mut |_| {})? {
            Some(s) => (Some(s.labels), s.output),
            None => (None, None),
        },
        None => (None, None),
    };
    let sweep_cases = match &segmentation {
        Some(_) => sweep_case(output.as_ref(), &ct, &truth, sweep, min_lesion_ml)?,
        None => Vec::new(),
    };
    let overlaps = segmentation
        .as_ref()
        .map(|s| StructureOverlaps::count(&truth.voxels, &s.voxels));
    let matching = segmentation
        .as_ref()
        .and_then(|s| match_lesions(&truth, s, min_lesion_ml));
    // A classifier behind the segmenter (its locator) reuses its labels.
    let classification = match models.cnn {
        Some(cnn) => {
            let segmented = models.unet.zip(segmentation.as_ref());
            classify_reusing(cnn, &ct, segmented, cancel, &mut |_| {})?
        }
        None => None,
    };
    let result = CaseResult {
        id: case.id.clone(),
        scores: overlaps.map(|o| o.scores()),
        volumes: overlaps.map(|o| o.volumes(ct.grid.voxel_volume_ml())),
        lesions: matching.as_ref().map(LesionCounts::of),
        true_cancer: truth.voxels.contains(&2),
        probability: classification.map(|c| c.probability),
        logit: classification.map(|c| c.logit),
    };
    Ok((result, matching, sweep_cases))
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}

fn table(results: &[CaseResult], summary: &Summary) -> String {
    let mut s = format!(
        "{:<24} {:>10} {:>9} {:>11} {:>10} {:>13} {:>8} {:>7} {:>10}\n",
        "case",
        "organ Dice",
        "organ IoU",
        "tumour Dice",
        "tumour IoU",
        "lesions found",
        "spurious",
        "cancer",
        "p(cancer)"
    );
    for r in results {
        let (found, spurious) = match r.lesions {
            Some(l) => (
                format!("{}/{}", l.found, l.true_lesions),
                l.spurious.to_string(),
            ),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "{:<24} {:>10} {:>9} {:>11} {:>10} {:>13} {:>8} {:>7} {:>10}",
            r.id,
            opt(r.scores.map(|x| x.organ_dice)),
            opt(r.scores.map(|x| x.organ_iou)),
            opt(r.scores.map(|x| x.tumour_dice)),
            opt(r.scores.map(|x| x.tumour_iou)),
            found,
            spurious,
            if r.true_cancer { "yes" } else { "no" },
            opt(r.probability)
        );
    }
    if let Some(m) = summary.mean {
        let _ = writeln!(
            s,
            "{:<24} {:>10.4} {:>9.4} {:>11.4} {:>10.4}",
            "mean", m.organ_dice, m.organ_iou, m.tumour_dice, m.tumour_iou
        );
        let _ = writeln!(
            s,
            "(tumour mean over the {} case(s) with a tumour{})",
            summary.tumour_cases,
            if summary.tumour_cases == 0 {
                "; none, so over all"
            } else {
                ""
            }
        );
        if let Some(sensitivity) = summary.tumour_sensitivity.filter(|&s| s != 1.0) {
            let _ = writeln!(
                s,
                "(tumour sensitivity ×{sensitivity}: each voxel's tumour probability multiplied \
                 by {sensitivity} before its label was chosen)"
            );
        }
        if let Some(dice) = summary.segmenter_validation_dice {
            let _ = writeln!(
                s,
                "(the segmenter's own validation Dice, from its card: {dice})"
            );
        }
    }
    if let Some(l) = &summary.lesions {
        let _ = writeln!(
            s,
            "lesions (≥ {} mL): {} of {} found (sensitivity {}), {} spurious ({:.2} per case)",
            summary.min_lesion_ml,
            l.found,
            l.true_lesions,
            opt(l.sensitivity),
            l.spurious,
            l.spurious_per_case
        );
        let classes: Vec<String> = l
            .by_size
            .iter()
            .map(|c| {
                let sensitivity = c
                    .sensitivity
                    .map_or(String::new(), |v| format!(" ({v:.2})"));
                format!(
                    "{} {}/{}{sensitivity}",
                    c.diameters, c.found, c.true_lesions
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "found by size (diameter of a sphere of the lesion's volume; the viewer's table \
             shows the longest): {}",
            classes.join(", ")
        );
    }
    if let Some(c) = summary.classifier {
        let _ = writeln!(
            s,
            "classifier: accuracy {:.4}, ROC AUC {}, sensitivity {}, specificity {}",
            c.accuracy,
            opt(c.roc_auc),
            opt(c.sensitivity),
            opt(c.specificity)
        );
        if let Some(auc) = summary.classifier_validation_roc_auc {
            let _ = writeln!(
                s,
                "(the classifier's own validation ROC AUC, from its card: {auc:.4})"
            );
        }
    }
    if let Some(auc) = summary.tumour_volume_roc_auc {
        let _ = writeln!(
            s,
            "segmenter as a classifier (its predicted tumour volume as the score): ROC AUC {auc:.4}"
        );
    }
    s
}

fn csv(results: &[CaseResult]) -> String {
    let mut s = "case,organ_dice,organ_iou,tumour_dice,tumour_iou,\
                 organ_ml_true,organ_ml_predicted,tumour_ml_true,tumour_ml_predicted,\
                 lesions_true,lesions_found,lesions_predicted,lesions_spurious,\
                 true_cancer,probability,logit\n"
        .to_string();
    let cell = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
    let count = |v: Option<usize>| v.map_or(String::new(), |v| v.to_string());
    for r in results {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.id,
            cell(r.scores.map(|x| x.organ_dice)),
            cell(r.scores.map(|x| x.organ_iou)),
            cell(r.scores.map(|x| x.tumour_dice)),
            cell(r.scores.map(|x| x.tumour_iou)),
            cell(r.volumes.map(|v| v.organ_ml_true)),
            cell(r.volumes.map(|v| v.organ_ml_predicted)),
            cell(r.volumes.map(|v| v.tumour_ml_true)),
            cell(r.volumes.map(|v| v.tumour_ml_predicted)),
            count(r.lesions.map(|l| l.true_lesions)),
            count(r.lesions.map(|l| l.found)),
            count(r.lesions.map(|l| l.predicted)),
            count(r.lesions.map(|l| l.spurious)),
            u8::from(r.true_cancer),
            cell(r.probability),
            cell(r.logit)
        );
    }
    s
}
