//! Training of either network on a Decathlon-layout data set: one code path for the CLI and
//! the viewer's training panel, which follow it through [`TrainingEvent`]s and steer it with a
//! [`RunControl`] (stop, pause).
//!
//! A run folder holds `last.{safetensors,json}` (every epoch), `best.{safetensors,json}` (best
//! validation figure so far), `curves.csv` (one row per epoch) and `cache/` (preprocessed
//! cases). `resume` continues from `last` (optimizer moments restart; epochs, best figure and
//! curves carry over); a new run refuses a folder that already holds one. A run stopped
//! part-way through an epoch saves its weights as `last` with the previous epoch's number, so
//! resuming repeats that epoch from where training got to.

pub mod crops;
pub mod data;
mod start;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use self::data::{
    Augmentation, PreparationStopped, PreparedCase, open_dataset, prepare_cases, shuffle, split,
};
use self::start::{StartingPoint, plan_start};
use super::CNN3D;
use super::checkpoint::{LoadedModel, ModelCard, check_inference_settings, read_card, save};
use super::config::{Architecture, GlobalPool, ModelKind, Network, frozen};
use super::losses::{
    LesionTerms, bce_with_logits, ce_weights_with_tumour, dice_ce_loss,
    dice_voxel_weighted_ce_loss, lesion_balanced_weights,
};
use super::metrics::{ClassifierScores, SegmentationScores};
use super::preprocess::Preprocessing;
use super::progress::RunControl;
use super::tiles::forward_tiled;
use crate::volume::decathlon::Task;
use crate::volume::phantom::Rng;

/// Everything a training run needs.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Decathlon-layout data set folder.
    pub data: PathBuf,
    pub task: Task,
    pub architecture: Architecture,
    pub preprocessing: Preprocessing,
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (cosine decay to 5 % of it over the run).
    pub learning_rate: f64,
    pub validation_fraction: f64,
    pub seed: u64,
    pub augmentation: Augmentation,
    /// Extra normal cases for the classifier: a folder of CT scans (no label maps; whole-box
    /// models only) or a Decathlon-layout data set of tumour-free cases (label maps give the
    /// organ's region).
    pub normals: Option<PathBuf>,
    /// Run folder.
    pub out: PathBuf,
    /// Use only the first N cases (for quick runs).
    pub max_cases: Option<usize>,
    /// For a model of the organ's region: the whole-box U-Net (model stem) that finds the
    /// organ at inference. Copied into the run folder as `<organ>_locator` and named in the
    /// cards, so the folder runs on its own.
    pub locator: Option<PathBuf>,
    /// Start a new run from these weights (a model stem of the same architecture and
    /// preprocessing, the grid aside, e.g. a shipped model to fine-tune on one's own data or
    /// at a finer grid) instead of random ones. Ignored on resume.
    pub init_from: Option<PathBuf>,
    /// For the cards this run writes, [`ModelCard::cube_refinements`]: `None` keeps that of
    /// the run resumed or the model started from (none: 0).
    pub cube_refinements: Option<usize>,
    /// For the cards this run writes, [`ModelCard::min_lesion_ml`] (mL): `None` keeps that of
    /// the run resumed or the model started from (none: 0).
    pub min_lesion_ml: Option<f64>,
    /// U-Net only: the cross-entropy weight of tumour voxels (every other class weighs 1), to
    /// make missing a small lesion cost more; 1 is the plain loss. Recorded in the cards'
    /// notes (`tumour_weight`) when not 1. `None`: that of the run resumed (its `last` card's
    /// note), else 1. The validation loss is always the plain one, so runs compare.
    pub tumour_weight: Option<f64>,
    /// U-Net only: weigh the voxels of each small true lesion more, so that every lesion in a
    /// training cube counts about as much as a mid-sized one
    /// ([`super::losses::lesion_balanced_weights`], on top of the tumour weight). Recorded in
    /// the cards' notes (`balance_lesions`) when on. `None`: that of the run resumed, else off.
    pub balance_lesions: Option<bool>,
    /// U-Net only: λ, the weight of a lesion term added to the loss: the mean over the step's
    /// true lesions of each lesion's mean tumour cross-entropy
    /// ([`super::losses::lesion_mean_ce`]), so that a lesion of a few voxels asks as much of
    /// the network as a large one; 0 is the plain loss. Recorded in the cards' notes
    /// (`lesion_loss`) when above 0. `None`: that of the run resumed, else 0. The validation
    /// loss is always the plain one, so runs compare.
    pub lesion_loss: Option<f64>,
    /// U-Net only: μ, the weight of a false-piece term added to the loss: the mean over the
    /// step's false tumour pieces (predicted tumour that touches no true lesion) of each
    /// piece's mean cross-entropy against "not tumour" ([`super::losses::false_piece_ce`]),
    /// so that a speck in healthy organ costs as much as a large false lesion; 0 is the plain
    /// loss. The counterweight to `lesion_loss`. Recorded in the cards' notes
    /// (`false_piece_loss`) when above 0. `None`: that of the run resumed, else 0. The
    /// validation loss is always the plain one, so runs compare.
    pub false_piece_loss: Option<f64>,
    /// U-Net only: train on cubes of this many voxels a side cut from each case's grid, half
    /// of them around one of its true lesions ([`crops`]); 0 trains on the whole grid.
    /// Validation, and inference with the cards written ([`ModelCard::tile_voxels`]), then run
    /// the grid in overlapping tiles of that size. Recorded in the cards' notes
    /// (`lesion_crop_voxels`) when not 0. `None`: that of the run resumed, else 0.
    pub lesion_crop_voxels: Option<usize>,
}

/// Figures of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    pub epoch: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
    /// U-Net: organ/tumour Dice and IoU; CNN: accuracy, roc_auc, sensitivity, specificity.
    pub metrics: BTreeMap<String, f64>,
    /// The figure the best checkpoint is chosen by (higher is better).
    pub score: f64,
    pub is_best: bool,
    pub seconds: f64,
}

/// What a run reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainingEvent {
    /// Preprocessing case `done` of `total`.
    Preparing {
        done: usize,
        total: usize,
        case: String,
    },
    Started {
        train_cases: usize,
        validation_cases: usize,
        /// The validation cases (for a preview of the model on one of them).
        validation: Vec<CaseRef>,
        first_epoch: usize,
        epochs: usize,
    },
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        loss: f64,
        eta_s: f64,
    },
    Epoch(EpochSummary),
}

/// A prepared case by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRef {
    /// Case id in the data set (`liver_003`), or `normal-<file stem>` for an extra normal scan.
    pub id: String,
    pub has_tumour: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingOutcome {
    pub cancelled: bool,
    pub epochs_done: usize,
    pub best: Option<EpochSummary>,
    pub history: Vec<EpochSummary>,
    pub run_dir: PathBuf,
}

/// The best checkpoint of a run folder (what "Use this model" and `infer --weights` load).
pub fn best_checkpoint(run_dir: &Path) -> PathBuf {
    run_dir.join("best")
}

/// The card note that records a U-Net run's tumour weight ([`TrainConfig::tumour_weight`]).
pub const TUMOUR_WEIGHT_NOTE: &str = "tumour_weight";

/// The card note that records the channels of the narrower U-Net a run was widened from
/// (`init_from` with fewer channels; [`crate::model::widen`]), as "8,16,32,64".
pub const WIDENED_FROM_NOTE: &str = "widened_from";

/// The card note that records the model a run started from (`init_from`), kept by a resume.
pub const INITIALISED_FROM_NOTE: &str = "initialised_from";

/// The card note that records that a U-Net run balanced lesions
/// ([`TrainConfig::balance_lesions`]).
pub const BALANCE_LESIONS_NOTE: &str = "balance_lesions";

/// The card note that records a U-Net run's lesion term weight ([`TrainConfig::lesion_loss`]).
pub const LESION_LOSS_NOTE: &str = "lesion_loss";

/// The card note that records a U-Net run's false-piece term weight
/// ([`TrainConfig::false_piece_loss`]).
pub const FALSE_PIECE_LOSS_NOTE: &str = "false_piece_loss";

/// The card note that records a U-Net run's lesion crop edge in voxels
/// ([`TrainConfig::lesion_crop_voxels`]).
pub const LESION_CROP_NOTE: &str = "lesion_crop_voxels";

/// A tumour weight must be a finite number above 0, and only the U-Net has one (not 1).
pub(crate) fn check_tumour_weight(weight: f64, kind: ModelKind) -> Result<()> {
    if !(weight.is_finite() && weight > 0.0) {
        bail!("the tumour weight must be a finite number above 0, not {weight}");
    }
    if kind == ModelKind::Cnn && weight != 1.0 {
        bail!("the tumour weight is for the U-Net's loss; the classifier has no tumour voxels");
    }
    Ok(())
}

/// A lesion term weight must be a finite number, 0 or more, and only the U-Net has one (not 0).
pub(crate) fn check_lesion_loss(weight: f64, kind: ModelKind) -> Result<()> {
    check_term_weight("lesion loss", weight, kind)
}

/// A false-piece term weight must be a finite number, 0 or more, and only the U-Net has one
/// (not 0).
pub(crate) fn check_false_piece_loss(weight: f64, kind: ModelKind) -> Result<()> {
    check_term_weight("false-piece loss", weight, kind)
}

/// The weight of the U-Net loss term `term`: a finite number, 0 or more, 0 for a classifier.
fn check_term_weight(term: &str, weight: f64, kind: ModelKind) -> Result<()> {
    if !(weight.is_finite() && weight >= 0.0) {
        bail!("the {term} weight must be a finite number, 0 or more, not {weight}");
    }
    if kind == ModelKind::Cnn && weight != 0.0 {
        bail!("the {term} is for the U-Net; the classifier has no tumour voxels");
    }
    Ok(())
}

/// Trains as configured. `resume` continues from the run folder's `last` checkpoint.
pub fn train(
    config: &TrainConfig,
    device: &Device,
    resume: bool,
    control: &RunControl,
    on_event: &mut dyn FnMut(&TrainingEvent),
) -> Result<TrainingOutcome> {
    let cancel = &control.cancel;
    if config.epochs == 0 || config.batch_size == 0 {
        bail!("epochs and batch size must be at least 1");
    }
    if !(config.learning_rate.is_finite() && config.learning_rate > 0.0) {
        bail!(
            "the learning rate must be a finite number above 0, not {}",
            config.learning_rate
        );
    }
    if !(0.0..=0.9).contains(&config.validation_fraction) {
        bail!(
            "the validation fraction must be between 0 and 0.9, not {} (at least one case is \
             always kept for validation)",
            config.validation_fraction
        );
    }
    if let Some(weight) = config.tumour_weight {
        check_tumour_weight(weight, config.architecture.kind)?;
    }
    if let Some(weight) = config.lesion_loss {
        check_lesion_loss(weight, config.architecture.kind)?;
    }
    if let Some(weight) = config.false_piece_loss {
        check_false_piece_loss(weight, config.architecture.kind)?;
    }
    if config.balance_lesions == Some(true) && config.architecture.kind == ModelKind::Cnn {
        bail!("balancing lesions is for the U-Net's loss; the classifier has no tumour voxels");
    }
    if let Some(edge) = config.lesion_crop_voxels.filter(|&edge| edge > 0) {
        crops::check_crop(edge, config.architecture.kind, config.preprocessing.grid)?;
    }
    if let Err(why) = config.preprocessing.check().and_then(|()| {
        check_inference_settings(
            config.architecture.kind,
            config.preprocessing.region,
            config.cube_refinements.unwrap_or(0),
            config.min_lesion_ml.unwrap_or(0.0),
        )
    }) {
        bail!("{why}");
    }
    let dataset = open_dataset(&config.data)?;
    if let Some(task) = dataset.task()
        && task != config.task
    {
        bail!(
            "{}: this is a {} data set, not {}",
            config.data.display(),
            task,
            config.task
        );
    }
    let mut dataset = dataset;
    let dataset_cases = dataset.training.len();
    if let Some(n) = config.max_cases {
        dataset.training.truncate(n);
    }
    let normals = match (&config.normals, config.architecture.kind) {
        (Some(dir), ModelKind::Cnn) if is_decathlon_folder(dir) => {
            // Labelled normal cases join the data set (their label maps give the organ's
            // region); ids are prefixed so they cannot collide with the main set's.
            let extra = open_dataset(dir)?;
            if let Some(task) = extra.task()
                && task != config.task
            {
                bail!(
                    "{}: the normal cases are a {} data set, not {}",
                    dir.display(),
                    task,
                    config.task
                );
            }
            dataset
                .training
                .extend(extra.training.into_iter().map(|mut case| {
                    case.id = format!("normal-{}", case.id);
                    case
                }));
            Vec::new()
        }
        (Some(dir), ModelKind::Cnn) => list_images(dir)?,
        _ => Vec::new(),
    };
    check_case_count(
        config,
        dataset_cases,
        dataset.training.len() + normals.len(),
    )?;
    // The run folder and the cards the run starts from are checked before the (slow)
    // preparation of the cases; the weights are loaded once the network is built.
    let start = plan_start(config, resume)?;
    let locator_name = install_locator(config)?;
    let pre = config.preprocessing;
    // A model that fills outside the organ, or sees the locator's tumour, learns on the organ
    // its locator finds, as it will see it at inference.
    let sees_locator_labels =
        pre.outside_organ.fill_margin_mm().is_some() || pre.locator_tumour_channel;
    let organ_finder = match &locator_name {
        Some(name) if sees_locator_labels => {
            Some(LoadedModel::load(&config.out.join(name), device)?)
        }
        _ => None,
    };
    // Cases are prepared on worker threads; their progress is reported from this thread, live.
    let cache_dir = config.out.join("cache");
    let cases = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = scope.spawn(|| {
            let tx = tx;
            let finder = organ_finder.as_ref();
            prepare_cases(
                &dataset,
                &normals,
                &pre,
                finder,
                &cache_dir,
                &|done, total, id| {
                    let _ = tx.send(TrainingEvent::Preparing {
                        done,
                        total,
                        case: id.to_string(),
                    });
                    !cancel.is_cancelled()
                },
            )
        });
        for event in rx.iter() {
            on_event(&event);
        }
        worker
            .join()
            .unwrap_or_else(|_| bail!("preparing the cases panicked"))
    });
    // Stopped while preparing: no epoch ran; what was prepared stays in the cache.
    let cases = match cases {
        Err(e) if e.is::<PreparationStopped>() => {
            return Ok(TrainingOutcome {
                cancelled: true,
                epochs_done: 0,
                best: None,
                history: Vec::new(),
                run_dir: config.out.clone(),
            });
        }
        other => other?,
    };
    // Said in the model card: cases filled around the ground truth's organ because the
    // locator found none.
    let from_truth: Vec<&str> = cases
        .iter()
        .filter(|c| c.organ_from_truth)
        .map(|c| c.id.as_str())
        .collect();
    let organ_note = (!from_truth.is_empty()).then(|| {
        (
            "organ_from_ground_truth".to_string(),
            format!(
                "{} of {} cases, where the locator found no organ: {}",
                from_truth.len(),
                cases.len(),
                from_truth.join(", ")
            ),
        )
    });
    let (train_idx, val_idx) = split(cases.len(), config.validation_fraction, config.seed);
    if train_idx.is_empty() {
        bail!("{}: too few cases to train", config.data.display());
    }

    let mut varmap = VarMap::new();
    let network = Network::new(
        &config.architecture,
        pre.input_channels(),
        VarBuilder::from_varmap(&varmap, DType::F32, device),
    )?;
    let StartingPoint {
        mut history,
        first_epoch,
        cube_refinements,
        min_lesion_ml,
        tumour_sensitivity,
        tumour_weight,
        balance_lesions,
        lesion_loss,
        false_piece_loss,
        lesion_crop_voxels,
        widened_from,
        initialised_from,
    } = start.load(config, &mut varmap)?;
    let last = config.out.join("last");
    let mut best = history
        .iter()
        .filter(|e| e.is_best)
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .cloned();

    let kind = config.architecture.kind;
    let widened_note = widened_from.map(|text| (WIDENED_FROM_NOTE.to_string(), text));
    let initialised_note = initialised_from.map(|text| (INITIALISED_FROM_NOTE.to_string(), text));
    let tumour_weight_note =
        (tumour_weight != 1.0).then(|| (TUMOUR_WEIGHT_NOTE.to_string(), tumour_weight.to_string()));
    let balance_lesions_note =
        balance_lesions.then(|| (BALANCE_LESIONS_NOTE.to_string(), "true".to_string()));
    let lesion_loss_note =
        (lesion_loss > 0.0).then(|| (LESION_LOSS_NOTE.to_string(), lesion_loss.to_string()));
    let false_piece_loss_note = (false_piece_loss > 0.0).then(|| {
        (
            FALSE_PIECE_LOSS_NOTE.to_string(),
            false_piece_loss.to_string(),
        )
    });
    // Both weights are 0 for a classifier (refused otherwise).
    let lesion_terms = LesionTerms {
        lesion: lesion_loss,
        false_piece: false_piece_loss,
    };
    let lesion_crop = (lesion_crop_voxels > 0).then_some(lesion_crop_voxels);
    let lesion_crop_note = lesion_crop.map(|edge| (LESION_CROP_NOTE.to_string(), edge.to_string()));
    // Class imbalance (CNN): each epoch oversamples the minority class (see `epoch_order`), so
    // the classes are balanced and the loss weights them equally; weighting positives by
    // negatives/positives as well would correct twice and bias the classifier.
    let pos_weight = 1.0;
    let vars = varmap.all_vars();
    let mut optimizer = AdamW::new(
        vars.clone(),
        ParamsAdamW {
            lr: config.learning_rate,
            weight_decay: 1e-5,
            ..Default::default()
        },
    )?;
    // The classifier's epochs oversample the minority class, so an epoch's length comes from
    // its sampling order, not from the number of training cases.
    let steps_per_epoch = {
        let mut rng = Rng::stream(config.seed ^ first_epoch as u64, "epoch");
        epoch_order(&train_idx, &cases, kind, &mut rng)
            .len()
            .div_ceil(config.batch_size)
    };
    on_event(&TrainingEvent::Started {
        train_cases: train_idx.len(),
        validation_cases: val_idx.len(),
        validation: val_idx
            .iter()
            .map(|&i| CaseRef {
                id: cases[i].id.clone(),
                has_tumour: cases[i].has_tumour,
            })
            .collect(),
        first_epoch,
        epochs: config.epochs,
    });
    let started = Instant::now();
    let mut steps_done = 0usize;
    let total_steps = (config.epochs + 1 - first_epoch.min(config.epochs + 1)) * steps_per_epoch;
    let mut cancelled = false;
    // Time spent paused does not count towards the ETA.
    let mut paused = std::time::Duration::ZERO;
    let card_for = |epoch: usize, summary: Option<&EpochSummary>| ModelCard {
        format: ModelCard::FORMAT,
        architecture: config.architecture,
        preprocessing: pre,
        task: config.task.organ().to_string(),
        labels: config.task.labels(),
        epoch,
        metrics: summary.map(summary_metrics).unwrap_or_default(),
        dataset: config.data.display().to_string(),
        seed: config.seed,
        notes: initialised_note
            .clone()
            .into_iter()
            .chain(widened_note.clone())
            .chain(organ_note.clone())
            .chain(tumour_weight_note.clone())
            .chain(balance_lesions_note.clone())
            .chain(lesion_loss_note.clone())
            .chain(false_piece_loss_note.clone())
            .chain(lesion_crop_note.clone())
            .collect(),
        locator: locator_name.clone(),
        cube_refinements,
        min_lesion_ml,
        tumour_sensitivity,
        tile_voxels: lesion_crop_voxels,
    };
    for epoch in first_epoch..=config.epochs {
        let epoch_start = Instant::now();
        let mut rng = Rng::stream(config.seed ^ epoch as u64, "epoch");
        let mut order = epoch_order(&train_idx, &cases, kind, &mut rng);
        shuffle(&mut order, &mut rng);
        let steps_this_epoch = order.len().div_ceil(config.batch_size);
        let mut loss_sum = 0.0;
        let mut steps_run = 0usize;
        for (step, batch) in order.chunks(config.batch_size).enumerate() {
            paused += control.wait_while_paused();
            if cancel.is_cancelled() {
                cancelled = true;
                break;
            }
            let progress = (steps_done as f64 + 1.0) / total_steps.max(1) as f64;
            optimizer.set_learning_rate(cosine_lr(config.learning_rate, progress));
            let (xs, targets) = batch_tensors(
                batch,
                &cases,
                &pre,
                Sampling {
                    augmentation: config.augmentation,
                    lesion_crop,
                },
                kind,
                &mut rng,
                device,
            )?;
            let loss = match &network {
                Network::Cnn(cnn) if cnn.global_pool() == GlobalPool::MaxCell => {
                    let cells = cnn.cell_logits(&xs.input)?;
                    let case = CNN3D::case_logit(&cells)?;
                    let cell_targets = tumour_cells(&xs.labels, xs.grid, batch.len(), device)?;
                    (bce_with_logits(&case, &targets, pos_weight)?
                        + bce_with_logits(&cells, &cell_targets, CELL_POS_WEIGHT)?)?
                }
                _ => {
                    let out = network.forward_t(&xs.input, true)?;
                    let base = match kind {
                        ModelKind::Unet if balance_lesions => {
                            let weights =
                                lesion_balanced_weights(&xs.labels, xs.grid, tumour_weight);
                            let weights =
                                Tensor::from_vec(weights, targets.shape(), device)?.unsqueeze(1)?;
                            dice_voxel_weighted_ce_loss(&out, &targets, &weights)?
                        }
                        ModelKind::Unet => dice_ce_loss(
                            &out,
                            &targets,
                            &ce_weights_with_tumour(out.dim(1)?, tumour_weight),
                        )?,
                        ModelKind::Cnn => bce_with_logits(&out, &targets, pos_weight)?,
                    };
                    match lesion_terms.loss(&out, &xs.labels, xs.grid)? {
                        Some(terms) => (base + terms)?,
                        None => base,
                    }
                }
            };
            optimizer.backward_step(&loss)?;
            let loss = loss.to_scalar::<f32>()? as f64;
            if !loss.is_finite() {
                bail!(diverged(&format!("loss {loss}"), epoch, step + 1));
            }
            if !weights_are_finite(&vars)? {
                bail!(diverged("weights not finite", epoch, step + 1));
            }
            loss_sum += loss;
            steps_done += 1;
            steps_run += 1;
            let elapsed = started.elapsed().saturating_sub(paused).as_secs_f64();
            let eta_s =
                elapsed / steps_done as f64 * (total_steps.saturating_sub(steps_done)) as f64;
            on_event(&TrainingEvent::Step {
                epoch,
                step: step + 1,
                steps: steps_this_epoch,
                loss,
                eta_s,
            });
        }
        if cancelled {
            if steps_run > 0 {
                // Keep what this epoch learnt: `last` gets the weights under the previous
                // epoch's number (and figures), so a resume repeats this epoch from here.
                let previous = history.last().filter(|e| e.epoch + 1 == epoch);
                let mut card = card_for(epoch - 1, previous);
                card.notes.insert(
                    "stopped".into(),
                    format!(
                        "after step {steps_run} of {steps_this_epoch} of epoch {epoch}; resuming repeats epoch {epoch}"
                    ),
                );
                save(&last, &varmap, &card)?;
            }
            break;
        }
        let eval_net = frozen(&config.architecture, pre.input_channels(), &varmap, device)?;
        // A model trained on lesion crops is validated as it runs at inference: in tiles.
        let forward = |xs: &Tensor| match lesion_crop {
            None => eval_net.forward_t(xs, false),
            Some(tile) => forward_tiled(&eval_net, xs, tile),
        };
        let (validation_loss, metrics, score) =
            validate(&forward, &val_idx, &cases, &pre, kind, pos_weight, device)?;
        // An epoch whose figures are not numbers is never the best.
        let is_best = score.is_finite()
            && validation_loss.is_finite()
            && best.as_ref().is_none_or(|b| score > b.score);
        let summary = EpochSummary {
            epoch,
            train_loss: loss_sum / steps_this_epoch.max(1) as f64,
            validation_loss,
            metrics: metrics.clone(),
            score,
            is_best,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        let card = card_for(epoch, Some(&summary));
        save(&last, &varmap, &card)?;
        if is_best {
            save(&best_checkpoint(&config.out), &varmap, &card)?;
            best = Some(summary.clone());
        }
        history.push(summary.clone());
        write_curves(&config.out.join("curves.csv"), &history)?;
        on_event(&TrainingEvent::Epoch(summary));
    }
    Ok(TrainingOutcome {
        cancelled,
        epochs_done: history.last().map_or(0, |e| e.epoch),
        best,
        history,
        run_dir: config.out.clone(),
    })
}

/// Refuses a run with fewer than 2 cases (`count`, extra normal cases included;
/// `dataset_cases`: the data set's before `--max-cases`), which would leave no case to
/// validate on: its figures would not be numbers and no epoch could be judged best.
fn check_case_count(config: &TrainConfig, dataset_cases: usize, count: usize) -> Result<()> {
    if count >= 2 {
        return Ok(());
    }
    let cases = |n: usize| format!("{n} case{}", if n == 1 { "" } else { "s" });
    let what = match config.max_cases {
        Some(max) if max < dataset_cases => format!(
            "{} with --max-cases {max} (the data set has {dataset_cases})",
            cases(count)
        ),
        _ => format!("the data set has {}", cases(count)),
    };
    bail!(
        "{}: {what}; training needs at least 2 cases, one to train on and one to validate on",
        config.data.display()
    )
}

/// The message of a run stopped because training diverged (`what` went wrong) at `step` (from
/// 1) of `epoch`.
fn diverged(what: &str, epoch: usize, step: usize) -> String {
    format!("training diverged ({what}) at epoch {epoch}, step {step}; try a lower learning rate")
}

/// Whether every weight is a finite number: one sum over all of them (any NaN or infinity
/// makes it NaN or infinite), so a single value is read back from the device.
fn weights_are_finite(vars: &[Var]) -> Result<bool> {
    let sums = vars
        .iter()
        .map(|v| v.as_tensor().to_dtype(DType::F32)?.sum_all())
        .collect::<candle_core::Result<Vec<_>>>()?;
    if sums.is_empty() {
        return Ok(true);
    }
    let total = Tensor::stack(&sums, 0)?.sum_all()?.to_scalar::<f32>()?;
    Ok(total.is_finite())
}

/// Copies the locator of a model of the organ's region into the run folder (with the
/// locator's own locator, when it is itself a model of the organ's region); returns the name
/// its cards give it.
fn install_locator(config: &TrainConfig) -> Result<Option<String>> {
    use super::checkpoint::{card_path, sibling_model};
    use super::region::Region;
    let Some(source) = &config.locator else {
        if config.preprocessing.region != Region::WholeBox {
            bail!(
                "a model of the organ's region needs a locator: a whole-box {} U-Net (--locator)",
                config.task.organ()
            );
        }
        return Ok(None);
    };
    if config.preprocessing.region == Region::WholeBox {
        bail!("a locator is only for a model of the organ's region (--region organ)");
    }
    let card = read_card(source)?;
    let organ = config.task.organ();
    if card.architecture.kind != ModelKind::Unet || card.task != organ {
        bail!(
            "{}: a locator must be a {organ} U-Net",
            card_path(source).display()
        );
    }
    std::fs::create_dir_all(&config.out)
        .with_context(|| format!("creating {}", config.out.display()))?;
    // A whole-box locator becomes `<organ>_locator`. A region U-Net becomes `<organ>_finder`
    // beside its own locator, under the name its card gives it.
    let name = match &card.locator {
        None if card.preprocessing.region == Region::WholeBox => format!("{organ}_locator"),
        None => bail!(
            "{}: a model of the organ's region without its locator",
            card_path(source).display()
        ),
        Some(inner) => {
            let inner_source = sibling_model(source, inner);
            let inner_card = read_card(&inner_source)?;
            if inner_card.locator.is_some() || inner_card.preprocessing.region != Region::WholeBox {
                bail!(
                    "{}: the locator's locator must be a whole-box U-Net",
                    card_path(&inner_source).display()
                );
            }
            let name = format!("{organ}_finder");
            if *inner == name {
                bail!(
                    "{}: its locator may not be named {name:?}",
                    card_path(source).display()
                );
            }
            copy_model(&inner_source, &config.out.join(inner))?;
            name
        }
    };
    copy_model(source, &config.out.join(&name))?;
    Ok(Some(name))
}

/// Copies the model `from` (card and weights) to the stem `to`, unless they are the same.
fn copy_model(from: &Path, to: &Path) -> Result<()> {
    use super::checkpoint::{card_path, weights_path};
    for (from, to) in [
        (card_path(from), card_path(to)),
        (weights_path(from), weights_path(to)),
    ] {
        if from != to {
            std::fs::copy(&from, &to).with_context(|| {
                format!("copying the locator {} to {}", from.display(), to.display())
            })?;
        }
    }
    Ok(())
}

/// Whether `dir` is laid out like a Decathlon data set (rather than a plain folder of CTs).
fn is_decathlon_folder(dir: &Path) -> bool {
    dir.join("dataset.json").is_file() || dir.join("imagesTr").is_dir()
}

fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut images: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the normal scans folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.to_string_lossy().ends_with(".nii.gz") || p.to_string_lossy().ends_with(".nii")
        })
        .collect();
    images.sort();
    if images.is_empty() {
        bail!(
            "{}: no .nii or .nii.gz files (expected a folder of normal CT scans, or a data set \
             with dataset.json / imagesTr and labelsTr)",
            dir.display()
        );
    }
    Ok(images)
}

/// The cases of one epoch. For the classifier the minority class is oversampled to balance
/// the classes (its copies are augmented differently).
fn epoch_order(
    train: &[usize],
    cases: &[PreparedCase],
    kind: ModelKind,
    rng: &mut Rng,
) -> Vec<usize> {
    let mut order = train.to_vec();
    if kind == ModelKind::Cnn {
        let (pos, neg): (Vec<usize>, Vec<usize>) =
            train.iter().partition(|&&i| cases[i].has_tumour);
        let (minority, majority) = if pos.len() < neg.len() {
            (pos, neg)
        } else {
            (neg, pos)
        };
        if !minority.is_empty() {
            for _ in minority.len()..majority.len() {
                order.push(
                    minority[((rng.uniform() * minority.len() as f64) as usize)
                        .min(minority.len() - 1)],
                );
            }
        }
    }
    order
}

/// Weight of a tumour cell against a tumour-free one in the cell loss of a
/// [`GlobalPool::MaxCell`] classifier (tumour cells are a few of the 64 in a case).
const CELL_POS_WEIGHT: f64 = 4.0;

/// A batch's network input `(n, c, d, h, w)` and its (augmented) label maps, `n·d·h·w` values
/// in the batch's grid, z slowest (the classifier's cell targets, the U-Net's lesion weights).
struct BatchInput {
    input: Tensor,
    labels: Vec<u32>,
    /// `[w, h, d]`: the model grid, or the lesion crop's.
    grid: [usize; 3],
}

/// Whether each cell (16-voxel cube, as the classifier's last feature map sees the input)
/// holds tumour voxels: `labels` of `n` cases on `grid` → `(n, 1, d/16, h/16, w/16)` of 0/1.
fn tumour_cells(labels: &[u32], grid: [usize; 3], n: usize, device: &Device) -> Result<Tensor> {
    const CELL: usize = 16;
    let [nx, ny, nz] = grid;
    let [cx, cy, cz] = [nx / CELL, ny / CELL, nz / CELL];
    let mut cells = vec![0f32; n * cz * cy * cx];
    for (i, &label) in labels.iter().enumerate() {
        if label != u32::from(crate::volume::decathlon::TUMOUR_LABEL) {
            continue;
        }
        let (x, y, z, case) = (
            i % nx,
            (i / nx) % ny,
            (i / (nx * ny)) % nz,
            i / (nx * ny * nz),
        );
        let (x, y, z) = (x / CELL, y / CELL, z / CELL);
        if x < cx && y < cy && z < cz {
            cells[((case * cz + z) * cy + y) * cx + x] = 1.0;
        }
    }
    Ok(Tensor::from_vec(cells, (n, 1, cz, cy, cx), device)?)
}

/// How a batch's inputs are drawn from its cases' prepared grids.
#[derive(Debug, Clone, Copy)]
struct Sampling {
    augmentation: Augmentation,
    /// The edge (voxels) of the lesion crop cut from each augmented grid; `None`: whole grids.
    lesion_crop: Option<usize>,
}

impl Sampling {
    /// Whole grids as prepared (validation).
    const AS_IS: Sampling = Sampling {
        augmentation: Augmentation::NONE,
        lesion_crop: None,
    };
}

fn batch_tensors(
    batch: &[usize],
    cases: &[PreparedCase],
    pre: &Preprocessing,
    sampling: Sampling,
    kind: ModelKind,
    rng: &mut Rng,
    device: &Device,
) -> Result<(BatchInput, Tensor)> {
    let grid = sampling.lesion_crop.map_or(pre.grid, |edge| [edge; 3]);
    let [nx, ny, nz] = grid;
    let mut inputs = Vec::with_capacity(batch.len() * pre.input_channels() * nx * ny * nz);
    let mut labels = Vec::with_capacity(batch.len() * nx * ny * nz);
    let mut truths = Vec::with_capacity(batch.len());
    for &i in batch {
        let (mut input, mut target) = sampling.augmentation.apply(&cases[i], pre.grid, rng);
        if let Some(edge) = sampling.lesion_crop {
            let origin = crops::crop_origin(&target, pre.grid, edge, rng);
            input = crops::cut(&input, pre.grid, origin, edge);
            target = crops::cut(&target, pre.grid, origin, edge);
        }
        inputs.extend_from_slice(&input);
        labels.extend(target.into_iter().map(u32::from));
        truths.push(if cases[i].has_tumour { 1f32 } else { 0f32 });
    }
    let n = batch.len();
    let xs = Tensor::from_vec(inputs, (n, pre.input_channels(), nz, ny, nx), device)?;
    let targets = match kind {
        ModelKind::Unet => Tensor::from_slice(&labels, (n, nz, ny, nx), device)?,
        ModelKind::Cnn => Tensor::from_vec(truths, (n, 1), device)?,
    };
    Ok((
        BatchInput {
            input: xs,
            labels,
            grid,
        },
        targets,
    ))
}

/// Validation loss, figures and the score the best checkpoint is chosen by.
fn validate(
    forward: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
    val: &[usize],
    cases: &[PreparedCase],
    pre: &Preprocessing,
    kind: ModelKind,
    pos_weight: f64,
    device: &Device,
) -> Result<(f64, BTreeMap<String, f64>, f64)> {
    let mut metrics = BTreeMap::new();
    if val.is_empty() {
        return Ok((f64::NAN, metrics, 0.0));
    }
    let mut loss_sum = 0.0;
    let mut scores = Vec::new();
    let mut probabilities = Vec::new();
    let mut truths = Vec::new();
    let mut no_rng = Rng::new(0);
    for &i in val {
        let (xs, targets) =
            batch_tensors(&[i], cases, pre, Sampling::AS_IS, kind, &mut no_rng, device)?;
        let out = forward(&xs.input)?;
        match kind {
            ModelKind::Unet => {
                // The plain loss, so that runs of any tumour weight compare.
                let uniform = vec![1.0; out.dim(1)?];
                loss_sum += dice_ce_loss(&out, &targets, &uniform)?.to_scalar::<f32>()? as f64;
                let predicted: Vec<u8> = out
                    .argmax(1)?
                    .flatten_all()?
                    .to_dtype(DType::U8)?
                    .to_vec1()?;
                scores.push((
                    SegmentationScores::compare(&cases[i].target, &predicted),
                    cases[i].has_tumour,
                ));
            }
            ModelKind::Cnn => {
                loss_sum += bce_with_logits(&out, &targets, pos_weight)?.to_scalar::<f32>()? as f64;
                let logit = out.flatten_all()?.to_vec1::<f32>()?[0] as f64;
                probabilities.push(1.0 / (1.0 + (-logit).exp()));
                truths.push(cases[i].has_tumour);
            }
        }
    }
    let loss = loss_sum / val.len() as f64;
    let score = match kind {
        ModelKind::Unet => {
            let mean = SegmentationScores::mean_by_truth(&scores);
            metrics.insert("organ_dice".into(), mean.organ_dice);
            metrics.insert("organ_iou".into(), mean.organ_iou);
            metrics.insert("tumour_dice".into(), mean.tumour_dice);
            metrics.insert("tumour_iou".into(), mean.tumour_iou);
            0.5 * (mean.organ_dice + mean.tumour_dice)
        }
        ModelKind::Cnn => {
            let s = ClassifierScores::compute(&probabilities, &truths);
            metrics.insert("accuracy".into(), s.accuracy);
            for (name, value) in [
                ("roc_auc", s.roc_auc),
                ("sensitivity", s.sensitivity),
                ("specificity", s.specificity),
            ] {
                if let Some(v) = value {
                    metrics.insert(name.into(), v);
                }
            }
            // AUC first; accuracy and a small loss term break ties.
            s.roc_auc.unwrap_or(s.accuracy) + 0.01 * s.accuracy - 1e-4 * loss
        }
    };
    Ok((loss, metrics, score))
}

/// Cosine decay from `peak` to 5 % of it; `progress` in (0, 1].
fn cosine_lr(peak: f64, progress: f64) -> f64 {
    let floor = 0.05 * peak;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress.clamp(0.0, 1.0)).cos())
}

/// An epoch's figures for its model card: finite numbers only (JSON has no NaN or
/// infinity, and a card holding `null` would not load).
fn summary_metrics(s: &EpochSummary) -> BTreeMap<String, f64> {
    let mut m = s.metrics.clone();
    m.insert("train_loss".into(), s.train_loss);
    m.insert("validation_loss".into(), s.validation_loss);
    m.retain(|_, v| v.is_finite());
    m
}

const CURVE_COLUMNS: [&str; 8] = [
    "organ_dice",
    "organ_iou",
    "tumour_dice",
    "tumour_iou",
    "accuracy",
    "roc_auc",
    "sensitivity",
    "specificity",
];

fn write_curves(path: &Path, history: &[EpochSummary]) -> Result<()> {
    let mut text = format!(
        "epoch,train_loss,validation_loss,{},score,is_best,seconds\n",
        CURVE_COLUMNS.join(",")
    );
    for e in history {
        let metric = |name: &str| {
            e.metrics
                .get(name)
                .map_or(String::new(), |v| format!("{v:.6}"))
        };
        let values: Vec<String> = CURVE_COLUMNS.iter().map(|c| metric(c)).collect();
        text += &format!(
            "{},{:.6},{:.6},{},{:.6},{},{:.1}\n",
            e.epoch,
            e.train_loss,
            e.validation_loss,
            values.join(","),
            e.score,
            e.is_best,
            e.seconds
        );
    }
    crate::atomic_file::write_atomically(path, |out| out.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads `curves.csv` back (for resuming); unreadable rows are skipped.
pub fn read_curves(path: &Path) -> Vec<EpochSummary> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 3 + CURVE_COLUMNS.len() + 3 {
                return None;
            }
            let metrics = CURVE_COLUMNS
                .iter()
                .zip(&f[3..3 + CURVE_COLUMNS.len()])
                .filter_map(|(name, v)| v.parse().ok().map(|v| (name.to_string(), v)))
                .collect();
            let tail = &f[3 + CURVE_COLUMNS.len()..];
            Some(EpochSummary {
                epoch: f[0].parse().ok()?,
                train_loss: f[1].parse().ok()?,
                validation_loss: f[2].parse().ok()?,
                metrics,
                score: tail[0].parse().ok()?,
                is_best: tail[1] == "true",
                seconds: tail[2].parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumour_cells_mark_the_16_voxel_cubes_that_hold_tumour() {
        // Two cases on a 32 × 32 × 40 grid (x, y, z): cells 2 × 2 × 2 (z 32..40 has none).
        let grid = [32, 32, 40];
        let per_case = 32 * 32 * 40;
        let mut labels = vec![0u32; 2 * per_case];
        let at =
            |case: usize, x: usize, y: usize, z: usize| case * per_case + (z * 32 + y) * 32 + x;
        labels[at(0, 20, 3, 17)] = 2; // cell (x 1, y 0, z 1)
        labels[at(0, 1, 1, 1)] = 1; // organ only: not a tumour cell
        labels[at(1, 0, 31, 0)] = 2; // cell (x 0, y 1, z 0)
        labels[at(1, 5, 5, 35)] = 2; // beyond the last whole cell: ignored
        let cells = tumour_cells(&labels, grid, 2, &Device::Cpu).unwrap();
        assert_eq!(cells.dims(), &[2, 1, 2, 2, 2]);
        let cells = cells.flatten_from(1).unwrap().to_vec2::<f32>().unwrap();
        let mut first = vec![0f32; 8];
        first[5] = 1.0; // (z 1 · 2 + y 0) · 2 + x 1
        let mut second = vec![0f32; 8];
        second[2] = 1.0; // (z 0 · 2 + y 1) · 2 + x 0
        assert_eq!(cells, vec![first, second]);
    }
}
