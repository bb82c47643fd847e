//! `oncoscope model STEM...`: what a trained model is (its card, checked by loading it with its
//! locators), setting the card's inference settings (`min_lesion_ml`, `cube_refinements`,
//! `tumour_sensitivity`) without training again, and naming its locator once a model has
//! moved beside another.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use candle_core::Device;
use serde::Serialize;

use oncoscope::model::ModelKind;
use oncoscope::model::checkpoint::{
    LoadedModel, ModelCard, card_path, read_card_to_edit, weights_path, write_card,
};
use oncoscope::model::region::Region;
use oncoscope::model::training::{
    BALANCE_LESIONS_NOTE, FALSE_PIECE_LOSS_NOTE, LESION_CROP_NOTE, LESION_LOSS_NOTE,
    TUMOUR_WEIGHT_NOTE,
};

#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    /// Model stems (`weights/liver_unet`), either of their files (`.json`, `.safetensors`), or
    /// folders (every model in them, a `.json` with its `.safetensors`: `weights`, a run).
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// Set the card's `min_lesion_ml`: predicted tumour pieces under this many mL become organ
    /// at inference (0: every piece kept). U-Nets only.
    #[arg(long, value_name = "ML", value_parser = super::non_negative_ml, allow_negative_numbers = true)]
    pub set_min_lesion_ml: Option<f64>,
    /// Set the card's `cube_refinements`: how many times (at most 8) a U-Net of the organ's
    /// region re-centres its cube on what it outlined and runs again (0: the locator's cube
    /// only).
    #[arg(long, value_name = "N")]
    pub set_cube_refinements: Option<usize>,
    /// Set the card's `tumour_sensitivity`: each voxel's tumour probability is multiplied by S
    /// before its label is chosen at inference (1: the most probable class, as validated;
    /// above 1 more and larger lesions, false ones with them; below 1 fewer). From 0.01 to
    /// 100. U-Nets only.
    #[arg(long, value_name = "S", value_parser = super::tumour_sensitivity, allow_negative_numbers = true)]
    pub set_tumour_sensitivity: Option<f64>,
    /// Set the card's `locator`: the model stem, in the same folder, that finds the organ for
    /// it (e.g. `liver_unet` after copying a run's `best` classifier into `weights/`, where
    /// its card still names the run's copy, `liver_finder`). Checked by loading the model.
    #[arg(long, value_name = "NAME")]
    pub set_locator: Option<String>,
    /// Print one JSON object per model instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What `model` reports for one model.
#[derive(Debug, Serialize)]
struct ModelReport {
    path: String,
    /// Learnt parameters in the weights file.
    parameters: usize,
    /// The settings this command changed (names), empty when none did.
    changed: Vec<&'static str>,
    card: ModelCard,
}

/// Runs `oncoscope model`: every model's new settings are checked before any card is written,
/// and if one model then fails to load, every card written is put back, so that a refusal
/// leaves them all as they were. Reports are printed once all are done.
pub fn run_model(args: &ModelArgs) -> Result<()> {
    let stems = model_stems(&args.models)?;
    let planned: Vec<(&PathBuf, ModelCard, Vec<&'static str>)> = stems
        .iter()
        .map(|stem| {
            let (card, changed) = with_settings(stem, args)?;
            Ok((stem, card, changed))
        })
        .collect::<Result<_>>()?;
    // Cards as they were before this command wrote them: (file, bytes).
    let mut written: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut reports = Vec::new();
    for (stem, card, changed) in planned {
        let parameters = if changed.is_empty() {
            check_loads(stem)
        } else {
            apply(stem, &card, &mut written)
        };
        let parameters = match parameters {
            Ok(n) => n,
            Err(e) => {
                for (file, before) in written.iter().rev() {
                    let _ = std::fs::write(file, before);
                }
                return Err(e);
            }
        };
        reports.push(ModelReport {
            path: card_path(stem).with_extension("").display().to_string(),
            parameters,
            changed,
            card,
        });
    }
    for report in &reports {
        if args.json {
            println!("{}", serde_json::to_string(report)?);
        } else {
            print_report(report);
        }
    }
    Ok(())
}

/// The models named: each path as given, a folder as the stems of the model cards (`.json`)
/// in it, sorted.
fn model_stems(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut stems = Vec::new();
    for path in paths {
        if !path.is_dir() {
            stems.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path)
            .with_context(|| format!("{}: cannot list the folder", path.display()))?;
        let mut cards: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|file| file.extension().is_some_and(|e| e == "json"))
            .map(|file| file.with_extension(""))
            // Other JSON files (a data set's, an evaluation's) have no weights beside them.
            .filter(|stem| weights_path(stem).is_file())
            .collect();
        if cards.is_empty() {
            bail!(
                "{}: no models (.json with .safetensors beside it) in this folder",
                path.display()
            );
        }
        cards.sort();
        stems.extend(cards);
    }
    Ok(stems)
}

/// The card of the model at `stem` with the settings asked for, and the names of those that
/// change; refused, naming the card, when the model cannot use them.
fn with_settings(stem: &Path, args: &ModelArgs) -> Result<(ModelCard, Vec<&'static str>)> {
    let mut card = read_card_to_edit(stem)?;
    let mut changed = Vec::new();
    if let Some(ml) = args.set_min_lesion_ml
        && ml != card.min_lesion_ml
    {
        card.min_lesion_ml = ml;
        changed.push("min_lesion_ml");
    }
    if let Some(n) = args.set_cube_refinements
        && n != card.cube_refinements
    {
        card.cube_refinements = n;
        changed.push("cube_refinements");
    }
    if let Some(sensitivity) = args.set_tumour_sensitivity
        && sensitivity != card.tumour_sensitivity
    {
        card.tumour_sensitivity = sensitivity;
        changed.push("tumour_sensitivity");
    }
    if let Some(name) = &args.set_locator
        && card.locator.as_ref() != Some(name)
    {
        check_locator_name(stem, name)?;
        card.locator = Some(name.clone());
        changed.push("locator");
    }
    if let Err(why) = card.check_inference_settings() {
        bail!("{}: {why}", card_path(stem).display());
    }
    Ok((card, changed))
}

/// Refuses, naming the card, a locator name that is not a model stem in the model's own
/// folder: empty, a path, or the model itself.
fn check_locator_name(stem: &Path, name: &str) -> Result<()> {
    let card = card_path(stem).display().to_string();
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        bail!(
            "{card}: locator {name:?} is not a model name (a stem in the same folder, e.g. liver_unet)"
        );
    }
    let own = card_path(stem).with_extension("");
    if own.file_name().is_some_and(|own| own == name) {
        bail!("{card}: a model cannot be its own locator");
    }
    Ok(())
}

/// Writes `card` for the model at `stem` (its card as it was pushed to `written` first) and
/// checks that the model loads with it (weights against card, locators found).
fn apply(stem: &Path, card: &ModelCard, written: &mut Vec<(PathBuf, Vec<u8>)>) -> Result<usize> {
    let file = card_path(stem);
    let before = std::fs::read(&file)
        .with_context(|| format!("{}: cannot read the model card", file.display()))?;
    written.push((file, before));
    write_card(stem, card)?;
    check_loads(stem)
}

/// Loads the model at `stem` with its locators; returns its parameter count.
fn check_loads(stem: &Path) -> Result<usize> {
    LoadedModel::load(stem, &Device::Cpu)?;
    parameter_count(&weights_path(stem))
}

/// The number of values in every tensor of a `.safetensors` file.
fn parameter_count(file: &Path) -> Result<usize> {
    let tensors = candle_core::safetensors::load(file, &Device::Cpu)
        .with_context(|| format!("{}: not a readable safetensors file", file.display()))?;
    Ok(tensors.values().map(|t| t.elem_count()).sum())
}

fn print_report(report: &ModelReport) {
    let card = &report.card;
    let [c1, c2, c3, c4] = card.architecture.channels;
    let kind = match card.architecture.kind {
        ModelKind::Unet => "U-Net (segmenter)",
        ModelKind::Cnn => "CNN (classifier)",
    };
    let [gx, gy, gz] = card.preprocessing.grid;
    let region = match card.preprocessing.region {
        Region::WholeBox => "the CT's whole box".to_string(),
        Region::OrganCube { margin_mm } => {
            format!("a cube around the {} + {margin_mm} mm", card.task)
        }
    };
    println!("{}: {kind} for the {}", report.path, card.task);
    println!(
        "  {c1}/{c2}/{c3}/{c4} channels, {} parameters, {} input channel(s), grid {gx}×{gy}×{gz} over {region}",
        report.parameters,
        card.preprocessing.input_channels()
    );
    if let Some(locator) = &card.locator {
        println!("  organ found by: {locator} (same folder)");
    }
    if let Some(margin_mm) = card.preprocessing.outside_organ.fill_margin_mm() {
        println!(
            "  sees the {} and {margin_mm} mm around it (farther out: the organ's median HU)",
            card.task
        );
    }
    if card.preprocessing.locator_tumour_channel {
        println!("  second input channel: where its locator labels tumour");
    }
    println!(
        "  trained: epoch {} on {} (seed {})",
        card.epoch, card.dataset, card.seed
    );
    if let Some(from) = card.notes.get("initialised_from") {
        println!("  started from: {from}");
    }
    if let Some(weight) = card.notes.get(TUMOUR_WEIGHT_NOTE) {
        println!("  tumour voxels weighed {weight} in its cross-entropy");
    }
    if card.notes.get(BALANCE_LESIONS_NOTE).map(String::as_str) == Some("true") {
        println!("  small lesions' voxels weighed more (lesion-balanced cross-entropy)");
    }
    if let Some(weight) = card.notes.get(LESION_LOSS_NOTE) {
        println!("  each true lesion's own loss term, weighed {weight}");
    }
    if let Some(weight) = card.notes.get(FALSE_PIECE_LOSS_NOTE) {
        println!("  each false tumour piece's own loss term, weighed {weight}");
    }
    if let Some(edge) = card.notes.get(LESION_CROP_NOTE) {
        println!("  trained on {edge}³-voxel crops, half of them around a lesion");
    }
    if card.tile_voxels > 0 {
        println!(
            "  runs its grid in overlapping {}³-voxel tiles",
            card.tile_voxels
        );
    }
    if !card.metrics.is_empty() {
        println!(
            "  figures of that epoch: {}",
            super::train::format_metrics(&card.metrics)
        );
    }
    if card.architecture.kind == ModelKind::Unet {
        let pieces = if card.min_lesion_ml > 0.0 {
            format!(
                "tumour pieces under {} mL become {}",
                card.min_lesion_ml, card.task
            )
        } else {
            "every tumour piece kept".to_string()
        };
        let recentring = match (card.preprocessing.region, card.cube_refinements) {
            (Region::WholeBox, _) => String::new(),
            (_, 0) => "; the locator's cube only".to_string(),
            (_, 1) => "; re-centres its cube once".to_string(),
            (_, n) => format!("; re-centres its cube up to {n} times"),
        };
        let sensitivity = if card.tumour_sensitivity == 1.0 {
            String::new()
        } else {
            format!(
                "; tumour probabilities × {} before labels are chosen",
                card.tumour_sensitivity
            )
        };
        println!("  at inference: {pieces}{recentring}{sensitivity}");
    }
    for name in &report.changed {
        println!("  set {name} (written to {}.json)", report.path);
    }
}
