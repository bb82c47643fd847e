//! Where a run starts: from scratch, from another model's weights (`init_from`) or resumed
//! from its own `last`; and the inference settings its cards carry from there.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use candle_nn::VarMap;

use super::{EpochSummary, TrainConfig, best_checkpoint, read_curves};
use crate::model::checkpoint::{
    ModelCard, card_path, check_inference_settings, load_into, read_card_to_edit, write_card,
};
use crate::model::preprocess::Preprocessing;

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
}

/// Loads the weights a run starts from into `varmap` (those of `last` when `resume`, else
/// those of `config.init_from` if any) and settles its inference settings: the configuration's,
/// else those of the run resumed (its `best`, which a user may have set with `oncoscope
/// model`, else its `last`) or of the model started from. A resumed run's `best` card takes
/// the settings at once, since `infer` and the viewer load it even if no later epoch beats it.
pub(super) fn starting_point(
    config: &TrainConfig,
    resume: bool,
    varmap: &mut VarMap,
) -> Result<StartingPoint> {
    let pre = config.preprocessing;
    let mut history = Vec::new();
    let mut first_epoch = 1;
    // Cards are read unchecked, so that a setting edited into one that cannot run is mended
    // by setting it in the configuration.
    let (mut cube_refinements, mut min_lesion_ml) = (0, 0.0);
    let mut settings_from: Option<PathBuf> = None;
    // A resumed run's best model, whose settings it keeps.
    let mut best_card: Option<ModelCard> = None;
    let last = config.out.join("last");
    let best_stem = best_checkpoint(&config.out);
    if resume {
        let card = read_card_to_edit(&last).context("nothing to resume")?;
        if card.architecture != config.architecture || card.preprocessing != pre {
            bail!(
                "{}: the run was trained with another architecture or grid",
                last.display()
            );
        }
        best_card = read_card_to_edit(&best_stem).ok();
        let settings_card = match &best_card {
            Some(best) => {
                settings_from = Some(card_path(&best_stem));
                best
            }
            None => {
                settings_from = Some(card_path(&last));
                &card
            }
        };
        (cube_refinements, min_lesion_ml) =
            (settings_card.cube_refinements, settings_card.min_lesion_ml);
        load_into(varmap, &last)?;
        history = read_curves(&config.out.join("curves.csv"));
        history.retain(|e: &EpochSummary| e.epoch <= card.epoch);
        first_epoch = card.epoch + 1;
    } else {
        std::fs::create_dir_all(&config.out)
            .with_context(|| format!("creating {}", config.out.display()))?;
        if let Some(stem) = &config.init_from {
            let card = read_card_to_edit(stem)?;
            // The networks are convolutional throughout (the classifier pools before its
            // head), so weights learnt on one grid start a run on another.
            let same_but_grid = Preprocessing {
                grid: pre.grid,
                ..card.preprocessing
            };
            if card.architecture != config.architecture || same_but_grid != pre {
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
            load_into(varmap, stem)?;
            (cube_refinements, min_lesion_ml) = (card.cube_refinements, card.min_lesion_ml);
            settings_from = Some(card_path(stem));
        }
    }
    let cube_refinements = config.cube_refinements.unwrap_or(cube_refinements);
    let min_lesion_ml = config.min_lesion_ml.unwrap_or(min_lesion_ml);
    if let Err(why) = check_inference_settings(
        config.architecture.kind,
        pre.region,
        cube_refinements,
        min_lesion_ml,
    ) {
        match &settings_from {
            Some(card) => bail!(
                "{}: {why} (set it for this run with --cube-refinements / --min-lesion-ml)",
                card.display()
            ),
            None => bail!("{why}"),
        }
    }
    // A resumed run's best model, which `infer` and the viewer load, takes the settings now,
    // even if no later epoch beats it.
    if let Some(mut best_card) = best_card
        && (best_card.cube_refinements, best_card.min_lesion_ml)
            != (cube_refinements, min_lesion_ml)
    {
        (best_card.cube_refinements, best_card.min_lesion_ml) = (cube_refinements, min_lesion_ml);
        write_card(&best_stem, &best_card)?;
    }
    Ok(StartingPoint {
        history,
        first_epoch,
        cube_refinements,
        min_lesion_ml,
    })
}
