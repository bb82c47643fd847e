//! Where a run starts: from scratch, from another model's weights (`init_from`) or resumed
//! from its own `last`; and the inference settings its cards carry from there.
//!
//! [`plan_start`] reads and checks the cards before any case is prepared (a run folder that
//! already holds a run, a resumed run of another task, architecture or grid, weights of
//! another architecture are refused at once); [`StartPlan::load`] then loads the weights into
//! the network's var map.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use candle_nn::VarMap;

use super::{
    BALANCE_LESIONS_NOTE, EpochSummary, FALSE_PIECE_LOSS_NOTE, INITIALISED_FROM_NOTE,
    LESION_CROP_NOTE, LESION_LOSS_NOTE, TUMOUR_WEIGHT_NOTE, TrainConfig, WIDENED_FROM_NOTE,
    best_checkpoint, check_false_piece_loss, check_lesion_loss, check_tumour_weight, crops,
    read_curves,
};
use crate::model::checkpoint::{
    ModelCard, card_path, check_inference_settings, check_tumour_sensitivity, load_into,
    read_card_to_edit, weights_path, write_card,
};
use crate::model::preprocess::Preprocessing;
use crate::model::widen::{COPY_NOISE, check_widening, widen_unet};
use crate::model::{Architecture, ModelKind};
use candle_core::Device;

/// A run's starting point, its weights already loaded into the var map.
pub(super) struct StartingPoint {
    /// The epochs a resumed run has done (empty otherwise).
    pub history: Vec<EpochSummary>,
    /// The first epoch to train (1 unless resumed).
    pub first_epoch: usize,
    /// The cards' [`ModelCard::cube_refinements`], checked.
    pub cube_refinements: usize,
    /// The cards' [`ModelCard::min_lesion_ml`] (mL), checked.
    pub min_lesion_ml: f64,
    /// The cards' [`ModelCard::tumour_sensitivity`]: that of the run resumed or the model
    /// started from (a user may have set it with `oncoscope model`), else 1.
    pub tumour_sensitivity: f64,
    /// The U-Net's tumour weight ([`TrainConfig::tumour_weight`]), checked.
    pub tumour_weight: f64,
    /// Whether the U-Net's loss balances lesions ([`TrainConfig::balance_lesions`]).
    pub balance_lesions: bool,
    /// The U-Net's lesion term weight, checked ([`TrainConfig::lesion_loss`]).
    pub lesion_loss: f64,
    /// The U-Net's false-piece term weight, checked ([`TrainConfig::false_piece_loss`]).
    pub false_piece_loss: f64,
    /// The U-Net's lesion crop edge in voxels, 0 for none ([`TrainConfig::lesion_crop_voxels`]).
    pub lesion_crop_voxels: usize,
    /// The [`WIDENED_FROM_NOTE`] the run's cards carry: the channels of the narrower U-Net
    /// the weights were widened from, now or (resumed) when the run began.
    pub widened_from: Option<String>,
    /// The [`INITIALISED_FROM_NOTE`] the run's cards carry: the model the run started from,
    /// now (`init_from`) or (resumed) when the run began.
    pub initialised_from: Option<String>,
}

/// A run's starting point, checked, its weights not loaded yet.
pub(super) struct StartPlan {
    /// The model whose weights the run starts from: `last` when resumed, else `init_from`.
    weights: Option<PathBuf>,
    /// The epochs a resumed run has done (empty otherwise).
    history: Vec<EpochSummary>,
    /// The first epoch to train (1 unless resumed).
    first_epoch: usize,
    /// The cards' [`ModelCard::cube_refinements`], checked.
    cube_refinements: usize,
    /// The cards' [`ModelCard::min_lesion_ml`] (mL), checked.
    min_lesion_ml: f64,
    /// The cards' [`ModelCard::tumour_sensitivity`].
    tumour_sensitivity: f64,
    /// The U-Net's tumour weight, checked.
    tumour_weight: f64,
    /// Whether the U-Net's loss balances lesions.
    balance_lesions: bool,
    /// The U-Net's lesion term weight, checked.
    lesion_loss: f64,
    /// The U-Net's false-piece term weight, checked.
    false_piece_loss: f64,
    /// The U-Net's lesion crop edge in voxels, 0 for none.
    lesion_crop_voxels: usize,
    /// A resumed run's best card, to be given the settings when they differ from its own.
    best_card: Option<ModelCard>,
    /// The channels of a narrower U-Net the run starts from, widened on load
    /// ([`crate::model::widen`]); `None` when the weights fit as they are.
    widen_from: Option<[usize; 4]>,
    /// The cards' [`WIDENED_FROM_NOTE`].
    widened_note: Option<String>,
    /// The cards' [`INITIALISED_FROM_NOTE`].
    initialised_note: Option<String>,
}

/// What the cards of the run resumed, or of the model started from, give a run: where its
/// weights come from, the epochs done, and the inference settings with the card they came from.
#[derive(Default)]
struct CardsRead {
    weights: Option<PathBuf>,
    history: Vec<EpochSummary>,
    /// The epochs a resumed run has done (0 otherwise).
    epochs_done: usize,
    /// The inference settings of the card named by `settings_from`: cube refinements,
    /// minimum lesion volume (mL).
    settings: (usize, f64),
    /// The tumour sensitivity of that card (`None` when there is none).
    tumour_sensitivity: Option<f64>,
    settings_from: Option<PathBuf>,
    best_card: Option<ModelCard>,
    /// A resumed run's tumour weight, from its `last` card's note.
    tumour_weight: Option<f64>,
    /// Whether a resumed run balanced lesions, from its `last` card's note.
    balance_lesions: Option<bool>,
    /// A resumed run's lesion term weight, from its `last` card's note.
    lesion_loss: Option<f64>,
    /// A resumed run's false-piece term weight, from its `last` card's note.
    false_piece_loss: Option<f64>,
    /// A resumed run's lesion crop edge (voxels), from its `last` card's note.
    lesion_crop_voxels: Option<usize>,
    /// The channels of a narrower U-Net started from.
    widen_from: Option<[usize; 4]>,
    /// A resumed run's [`WIDENED_FROM_NOTE`], from its `last` card.
    widened_note: Option<String>,
    /// A resumed run's [`INITIALISED_FROM_NOTE`], from its `last` card.
    initialised_note: Option<String>,
}

/// Reads and checks what a run starts from, before any case is prepared: `last` when `resume`
/// (same task, architecture and preprocessing), else `config.init_from` if any (same
/// architecture and preprocessing, the grid aside; or a U-Net with fewer channels, widened),
/// refusing a new run into a folder that already holds one. Settles the inference settings: the configuration's, else those of the
/// run resumed (its `best`, which a user may have set with `oncoscope model`, else its `last`)
/// or of the model started from.
pub(super) fn plan_start(config: &TrainConfig, resume: bool) -> Result<StartPlan> {
    let read = if resume {
        read_resumed(config)?
    } else {
        refuse_existing_run(&config.out)?;
        std::fs::create_dir_all(&config.out)
            .with_context(|| format!("creating {}", config.out.display()))?;
        match &config.init_from {
            Some(stem) => read_init_from(config, stem)?,
            None => CardsRead::default(),
        }
    };
    let cube_refinements = config.cube_refinements.unwrap_or(read.settings.0);
    let min_lesion_ml = config.min_lesion_ml.unwrap_or(read.settings.1);
    let tumour_weight = config.tumour_weight.or(read.tumour_weight).unwrap_or(1.0);
    let balance_lesions = config
        .balance_lesions
        .or(read.balance_lesions)
        .unwrap_or(false);
    let lesion_loss = config.lesion_loss.or(read.lesion_loss).unwrap_or(0.0);
    let false_piece_loss = config
        .false_piece_loss
        .or(read.false_piece_loss)
        .unwrap_or(0.0);
    let lesion_crop_voxels = config
        .lesion_crop_voxels
        .or(read.lesion_crop_voxels)
        .unwrap_or(0);
    check_settings(
        config,
        cube_refinements,
        min_lesion_ml,
        read.settings_from.as_deref(),
    )?;
    let tumour_sensitivity = read.tumour_sensitivity.unwrap_or(1.0);
    if let (Err(why), Some(card)) = (
        check_tumour_sensitivity(config.architecture.kind, tumour_sensitivity),
        &read.settings_from,
    ) {
        bail!(
            "{}: {why} (set it with `oncoscope model {} --set-tumour-sensitivity S`)",
            card.display(),
            card.with_extension("").display()
        );
    }
    Ok(StartPlan {
        weights: read.weights,
        history: read.history,
        first_epoch: read.epochs_done + 1,
        cube_refinements,
        min_lesion_ml,
        tumour_sensitivity,
        tumour_weight,
        balance_lesions,
        lesion_loss,
        false_piece_loss,
        lesion_crop_voxels,
        best_card: read.best_card,
        widen_from: read.widen_from,
        widened_note: read
            .widen_from
            .map(|channels| channels.map(|c| c.to_string()).join(","))
            .or(read.widened_note),
        initialised_note: if resume {
            read.initialised_note
        } else {
            config
                .init_from
                .as_ref()
                .map(|stem| stem.display().to_string())
        },
    })
}

impl StartPlan {
    /// Loads the weights the run starts from into `varmap` (the network's, already built). A
    /// resumed run's `best` card takes the settings now, since `infer` and the viewer load it
    /// even if no later epoch beats it.
    pub(super) fn load(self, config: &TrainConfig, varmap: &mut VarMap) -> Result<StartingPoint> {
        match (&self.weights, self.widen_from) {
            (Some(stem), Some(old)) => load_widened(config, varmap, stem, old)?,
            (Some(stem), None) => load_into(varmap, stem)?,
            (None, _) => {}
        }
        let settings = (self.cube_refinements, self.min_lesion_ml);
        if let Some(mut best_card) = self.best_card
            && (best_card.cube_refinements, best_card.min_lesion_ml) != settings
        {
            // (Its tumour sensitivity is the one the run carries: it came from this card.)
            (best_card.cube_refinements, best_card.min_lesion_ml) = settings;
            write_card(&best_checkpoint(&config.out), &best_card)?;
        }
        Ok(StartingPoint {
            history: self.history,
            first_epoch: self.first_epoch,
            cube_refinements: self.cube_refinements,
            min_lesion_ml: self.min_lesion_ml,
            tumour_sensitivity: self.tumour_sensitivity,
            tumour_weight: self.tumour_weight,
            balance_lesions: self.balance_lesions,
            lesion_loss: self.lesion_loss,
            false_piece_loss: self.false_piece_loss,
            lesion_crop_voxels: self.lesion_crop_voxels,
            widened_from: self.widened_note,
            initialised_from: self.initialised_note,
        })
    }
}

/// A resumed run's training setting from the `note` of its `last` card (at `last`): `None`
/// when the run gives its own (`given`) or the card has no such note; the note's value when it
/// parses and is `usable`; else an error naming the card, the note and `why_and_fix`.
fn noted_setting<T: std::str::FromStr>(
    card: &ModelCard,
    last: &Path,
    note: &str,
    given: bool,
    usable: impl Fn(&T) -> bool,
    why_and_fix: &str,
) -> Result<Option<T>> {
    let Some(text) = card.notes.get(note).filter(|_| !given) else {
        return Ok(None);
    };
    let value = text.parse::<T>().ok().filter(|v| usable(v));
    value.map(Some).with_context(|| {
        format!(
            "{}: its {note} note {text:?} {why_and_fix}",
            card_path(last).display()
        )
    })
}

/// Refuses a new run into `out` when it already holds one (`last.json` or `best.json`), which
/// the new run would overwrite.
fn refuse_existing_run(out: &Path) -> Result<()> {
    let held = ["last", "best"]
        .map(|stem| card_path(&out.join(stem)))
        .into_iter()
        .find(|card| card.is_file());
    if let Some(card) = held {
        bail!(
            "{}: this folder already holds a training run ({}); pass --resume to continue it, \
             or choose another --out for a new run",
            out.display(),
            card.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    Ok(())
}

/// The run in `config.out` to resume, checked against the configuration. Cards are read
/// unchecked, so that a setting edited into one that cannot run is mended by setting it in the
/// configuration.
fn read_resumed(config: &TrainConfig) -> Result<CardsRead> {
    let last = config.out.join("last");
    let card = read_card_to_edit(&last).context("nothing to resume")?;
    if card.task != config.task.organ() {
        bail!(
            "{}: the run is a {} model, not a {} one; choose another --out for a {} run",
            card_path(&last).display(),
            card.task,
            config.task,
            config.task
        );
    }
    if card.architecture != config.architecture || card.preprocessing != config.preprocessing {
        bail!(
            "{}: the run was trained with another architecture or grid",
            last.display()
        );
    }
    let best_stem = best_checkpoint(&config.out);
    let best_card = read_card_to_edit(&best_stem).ok();
    // The settings are those of the best model, else of `last`.
    let (settings_card, settings_from) = match &best_card {
        Some(best) => (best, card_path(&best_stem)),
        None => (&card, card_path(&last)),
    };
    let settings = (settings_card.cube_refinements, settings_card.min_lesion_ml);
    let tumour_sensitivity = Some(settings_card.tumour_sensitivity);
    let mut history = read_curves(&config.out.join("curves.csv"));
    history.retain(|e: &EpochSummary| e.epoch <= card.epoch);
    // A setting given for this run replaces the note, which then need not be read.
    let kind = config.architecture.kind;
    let tumour_weight = noted_setting(
        &card,
        &last,
        TUMOUR_WEIGHT_NOTE,
        config.tumour_weight.is_some(),
        |w: &f64| check_tumour_weight(*w, kind).is_ok(),
        "is not a tumour weight; give one with --tumour-weight",
    )?;
    let balance_lesions = noted_setting(
        &card,
        &last,
        BALANCE_LESIONS_NOTE,
        config.balance_lesions.is_some(),
        |_: &bool| true,
        "is neither true nor false; say which with --balance-lesions true|false",
    )?;
    let lesion_loss = noted_setting(
        &card,
        &last,
        LESION_LOSS_NOTE,
        config.lesion_loss.is_some(),
        |w: &f64| check_lesion_loss(*w, kind).is_ok(),
        "is not a lesion loss weight; give one with --lesion-loss",
    )?;
    let false_piece_loss = noted_setting(
        &card,
        &last,
        FALSE_PIECE_LOSS_NOTE,
        config.false_piece_loss.is_some(),
        |w: &f64| check_false_piece_loss(*w, kind).is_ok(),
        "is not a false-piece loss weight; give one with --false-piece-loss",
    )?;
    let lesion_crop_voxels = noted_setting(
        &card,
        &last,
        LESION_CROP_NOTE,
        config.lesion_crop_voxels.is_some(),
        |&edge: &usize| crops::check_crop(edge, kind, config.preprocessing.grid).is_ok(),
        "is not a crop this run can use; give one with --lesion-crops (0: whole grids)",
    )?;
    Ok(CardsRead {
        weights: Some(last),
        history,
        epochs_done: card.epoch,
        settings,
        tumour_sensitivity,
        settings_from: Some(settings_from),
        best_card,
        tumour_weight,
        balance_lesions,
        lesion_loss,
        false_piece_loss,
        lesion_crop_voxels,
        widen_from: None,
        widened_note: card.notes.get(WIDENED_FROM_NOTE).cloned(),
        initialised_note: card.notes.get(INITIALISED_FROM_NOTE).cloned(),
    })
}

/// The model `stem` a new run starts from, checked against the configuration.
fn read_init_from(config: &TrainConfig, stem: &Path) -> Result<CardsRead> {
    let pre = config.preprocessing;
    let card = read_card_to_edit(stem)?;
    // The networks are convolutional throughout (the classifier pools before its head), so
    // weights learnt on one grid start a run on another.
    let same_but_grid = Preprocessing {
        grid: pre.grid,
        ..card.preprocessing
    };
    let widen_from = (card.architecture != config.architecture
        && card.architecture.kind == ModelKind::Unet
        && Architecture {
            channels: config.architecture.channels,
            ..card.architecture
        } == config.architecture
        && check_widening(card.architecture.channels, config.architecture.channels).is_ok())
    .then_some(card.architecture.channels);
    if (card.architecture != config.architecture && widen_from.is_none()) || same_but_grid != pre {
        bail!(
            "{}: its architecture or preprocessing differs from this run's \
             (it has {:?} channels {:?}, grid {:?}, region {:?})",
            stem.display(),
            card.architecture.kind,
            card.architecture.channels,
            card.preprocessing.grid,
            card.preprocessing.region
        );
    }
    Ok(CardsRead {
        weights: Some(stem.to_path_buf()),
        widen_from,
        settings: (card.cube_refinements, card.min_lesion_ml),
        tumour_sensitivity: Some(card.tumour_sensitivity),
        settings_from: Some(card_path(stem)),
        ..CardsRead::default()
    })
}

/// Loads the U-Net `stem` of `old` channels into `varmap`, widened to the run's channels
/// (function-preserving, the copies perturbed with the run's seed).
fn load_widened(
    config: &TrainConfig,
    varmap: &mut VarMap,
    stem: &Path,
    old: [usize; 4],
) -> Result<()> {
    let file = weights_path(stem);
    let device = varmap
        .all_vars()
        .first()
        .map(|var| var.device().clone())
        .unwrap_or(Device::Cpu);
    let tensors = candle_core::safetensors::load(&file, &device)
        .with_context(|| format!("{}: cannot load weights", file.display()))?;
    let widened = widen_unet(
        &tensors,
        old,
        config.architecture.channels,
        config.preprocessing.input_channels(),
        Architecture::SEGMENTATION_CLASSES,
        COPY_NOISE,
        config.seed,
    )
    .with_context(|| format!("{}: cannot widen its U-Net", file.display()))?;
    for (name, value) in &widened {
        varmap
            .set_one(name, value)
            .with_context(|| format!("{}: cannot load {name}", file.display()))?;
    }
    Ok(())
}

/// Checks the inference settings the run's cards will carry, naming the card they came from.
fn check_settings(
    config: &TrainConfig,
    cube_refinements: usize,
    min_lesion_ml: f64,
    settings_from: Option<&Path>,
) -> Result<()> {
    let Err(why) = check_inference_settings(
        config.architecture.kind,
        config.preprocessing.region,
        cube_refinements,
        min_lesion_ml,
    ) else {
        return Ok(());
    };
    match settings_from {
        Some(card) => bail!(
            "{}: {why} (set it for this run with --cube-refinements / --min-lesion-ml)",
            card.display()
        ),
        None => bail!("{why}"),
    }
}
