//! Model files: `<name>.safetensors` (parameters) with `<name>.json` beside it (the model card:
//! architecture, preprocessing, task, labels, training figures, data set and seed), written
//! atomically so that a kill at any moment never leaves a broken file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::config::{Architecture, ModelKind, Network};
use super::preprocess::Preprocessing;
use super::region::Region;

/// Everything needed to run a model, stored beside its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Format version of this card.
    pub format: u32,
    pub architecture: Architecture,
    pub preprocessing: Preprocessing,
    /// "liver" or "pancreas".
    pub task: String,
    /// Label values and names: 0 background, 1 organ, 2 tumour.
    pub labels: BTreeMap<u8, String>,
    /// Training epoch this checkpoint was taken at (1-based; 0 = untrained).
    pub epoch: usize,
    /// Validation figures of that epoch (names → values).
    pub metrics: BTreeMap<String, f64>,
    /// Data set folder and seed the model was trained with.
    pub dataset: String,
    pub seed: u64,
    /// Free-form notes (command line, machine, training time).
    #[serde(default)]
    pub notes: BTreeMap<String, String>,
    /// For a model of the organ's region: the U-Net that finds the organ, a model stem in the
    /// same folder (e.g. `liver_locator`): a whole-box one, or a model of the organ's region
    /// that has a whole-box locator of its own (a finer outline, for a classifier that fills
    /// outside the organ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locator: Option<String>,
    /// For a segmenter of the organ's region, at inference: how many times it re-centres its
    /// cube on the organ it has just outlined and runs again (0: the locator's cube only); it
    /// stops early once a pass would see what the last one saw (the same cube and, for a model
    /// that reads the organ's outline, the same outline), which would give the same labels.
    /// Worth it where the locator's outline is coarse (the pancreas, a few voxels thick at
    /// the whole-box locator's 5 mm); training always uses the ground truth's cube.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cube_refinements: usize,
    /// For a segmenter, at inference: predicted tumour pieces smaller than this (mL) are
    /// relabelled organ (0: every piece kept). Set where the model draws specks no true lesion
    /// is made of; training always scores every voxel.
    #[serde(default, skip_serializing_if = "is_zero_ml")]
    pub min_lesion_ml: f64,
    /// For a segmenter, at inference: each voxel's tumour probability is multiplied by this
    /// before its label is chosen (the most probable class). Above 1 lesions grow and fainter
    /// ones appear, false ones with them; below 1 fewer and smaller. 1 (the default): the
    /// plain most probable label, as the model was validated.
    #[serde(
        default = "plain_sensitivity",
        skip_serializing_if = "is_plain_sensitivity"
    )]
    pub tumour_sensitivity: f64,
    /// For a U-Net trained on lesion crops of this many voxels a side: at inference its grid
    /// is run as overlapping cubes of that size ([`crate::model::tiles`]), as it learnt (0: the
    /// whole grid at once).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tile_voxels: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_ml(ml: &f64) -> bool {
    *ml == 0.0
}

fn plain_sensitivity() -> f64 {
    1.0
}

fn is_plain_sensitivity(sensitivity: &f64) -> bool {
    *sensitivity == 1.0
}

/// The range of [`ModelCard::tumour_sensitivity`]: from a hundredth to a hundred times the
/// model's own tumour probability.
pub const TUMOUR_SENSITIVITY_RANGE: std::ops::RangeInclusive<f64> = 0.01..=100.0;

/// Why `sensitivity` cannot be the [`ModelCard::tumour_sensitivity`] of a model of `kind`, if
/// it cannot: a number in [`TUMOUR_SENSITIVITY_RANGE`], other than 1 only for a U-Net.
pub fn check_tumour_sensitivity(kind: ModelKind, sensitivity: f64) -> Result<(), String> {
    if !TUMOUR_SENSITIVITY_RANGE.contains(&sensitivity) {
        return Err(format!(
            "tumour_sensitivity {sensitivity} is not a factor from {} to {}",
            TUMOUR_SENSITIVITY_RANGE.start(),
            TUMOUR_SENSITIVITY_RANGE.end()
        ));
    }
    if sensitivity != 1.0 && kind != ModelKind::Unet {
        return Err("tumour_sensitivity is for a U-Net (a segmenter), not a classifier".into());
    }
    Ok(())
}

/// The most re-centring passes a model card may ask for ([`ModelCard::cube_refinements`]); the
/// shipped pancreas segmenter reaches its fixed point after two or three.
pub const MAX_CUBE_REFINEMENTS: usize = 8;

/// A segmenter's Dice on its own validation cases, read from its card: how far to trust an
/// outline, shown beside it. A model of the organ's region was validated on the true organ's
/// cube, so the whole cascade (behind its locator) does somewhat worse; held-out figures are in
/// the model card (`weights/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ValidationDice {
    /// Organ Dice (organ and tumour together against the true organ), 0..1.
    pub organ: f64,
    /// Tumour Dice over the validation cases with a tumour, 0..1; `None` where the card has none.
    pub tumour: Option<f64>,
}

impl std::fmt::Display for ValidationDice {
    /// `organ 0.836, tumour 0.430` (the tumour figure only where the card has one).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "organ {:.3}", self.organ)?;
        match self.tumour {
            Some(tumour) => write!(f, ", tumour {tumour:.3}"),
            None => Ok(()),
        }
    }
}

impl ModelCard {
    pub const FORMAT: u32 = 1;

    /// The segmenter's validation Dice from [`Self::metrics`] (`organ_dice`, `tumour_dice`);
    /// `None` for a card without an organ Dice (a classifier, or a model never validated).
    pub fn validation_dice(&self) -> Option<ValidationDice> {
        let finite = |name: &str| self.metrics.get(name).copied().filter(|v| v.is_finite());
        Some(ValidationDice {
            organ: finite("organ_dice")?,
            tumour: finite("tumour_dice"),
        })
    }

    /// Why the card's inference settings (`cube_refinements`, `min_lesion_ml`, which a user may
    /// set by hand) cannot run this model, if they cannot.
    pub fn check_inference_settings(&self) -> Result<(), String> {
        check_inference_settings(
            self.architecture.kind,
            self.preprocessing.region,
            self.cube_refinements,
            self.min_lesion_ml,
        )?;
        check_tumour_sensitivity(self.architecture.kind, self.tumour_sensitivity)?;
        if self.tile_voxels > 0 {
            crate::model::training::crops::check_crop(
                self.tile_voxels,
                self.architecture.kind,
                self.preprocessing.grid,
            )
            .map_err(|why| format!("tile_voxels: {why}"))?;
        }
        Ok(())
    }
}

/// Why `cube_refinements` re-centrings and dropping tumour pieces under `min_lesion_ml` mL
/// cannot apply to a model of `kind` that sees `region`, if they cannot: re-centring is for a
/// U-Net of the organ's region, at most [`MAX_CUBE_REFINEMENTS`] times; dropping pieces for a
/// U-Net, with a finite volume ≥ 0.
pub fn check_inference_settings(
    kind: ModelKind,
    region: Region,
    cube_refinements: usize,
    min_lesion_ml: f64,
) -> Result<(), String> {
    if !(min_lesion_ml.is_finite() && min_lesion_ml >= 0.0) {
        return Err(format!(
            "min_lesion_ml {min_lesion_ml} is not a volume in mL (give 0 or more)"
        ));
    }
    if min_lesion_ml > 0.0 && kind != ModelKind::Unet {
        return Err("min_lesion_ml is for a U-Net (a segmenter), not a classifier".into());
    }
    if cube_refinements > MAX_CUBE_REFINEMENTS {
        return Err(format!(
            "cube_refinements {cube_refinements} is more than {MAX_CUBE_REFINEMENTS} passes"
        ));
    }
    if cube_refinements > 0 && (kind != ModelKind::Unet || region == Region::WholeBox) {
        return Err(
            "cube_refinements is for a U-Net of the organ's region (it re-centres that cube)"
                .into(),
        );
    }
    Ok(())
}

/// The `.json` path of a model given either of its files or their common stem.
pub fn card_path(path: &Path) -> PathBuf {
    stem_path(path).with_extension("json")
}

/// The `.safetensors` path of a model given either of its files or their common stem.
pub fn weights_path(path: &Path) -> PathBuf {
    stem_path(path).with_extension("safetensors")
}

/// The stem `<stem>` of a model given either of its files or the stem itself.
fn stem_path(path: &Path) -> PathBuf {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json" | "safetensors") => path.with_extension(""),
        _ => path.to_path_buf(),
    }
}

/// The stem of the model that the card of `model` names `name` (its locator): in the same
/// folder.
pub fn sibling_model(model: &Path, name: &str) -> PathBuf {
    stem_path(model)
        .parent()
        .map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
}

/// Writes `<stem>.safetensors` and `<stem>.json` (each to a temporary name, then renamed).
pub fn save(stem: &Path, varmap: &VarMap, card: &ModelCard) -> Result<()> {
    let weights = weights_path(stem);
    let card_file = card_path(stem);
    if let Some(dir) = weights.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp_weights = crate::atomic_file::temporary_path(&weights);
    let tmp_card = crate::atomic_file::temporary_path(&card_file);
    let saved = (|| -> Result<()> {
        varmap
            .save(&tmp_weights)
            .with_context(|| format!("writing {}", tmp_weights.display()))?;
        std::fs::write(&tmp_card, serde_json::to_string_pretty(card)?)
            .with_context(|| format!("writing {}", tmp_card.display()))?;
        // candle's writer creates the weights owner-only; give them the card's permissions
        // (the user's default), so that a shared weights folder is readable by all who read
        // the cards.
        let permissions = std::fs::metadata(&tmp_card)
            .with_context(|| format!("reading {}", tmp_card.display()))?
            .permissions();
        std::fs::set_permissions(&tmp_weights, permissions)
            .with_context(|| format!("setting the permissions of {}", tmp_weights.display()))?;
        std::fs::rename(&tmp_weights, &weights)
            .with_context(|| format!("renaming to {}", weights.display()))?;
        std::fs::rename(&tmp_card, &card_file)
            .with_context(|| format!("renaming to {}", card_file.display()))
    })();
    // A failed save (a full disk) leaves no temporary file behind.
    if saved.is_err() {
        let _ = std::fs::remove_file(&tmp_weights);
        let _ = std::fs::remove_file(&tmp_card);
    }
    saved
}

/// Reads a model card, with a clear message when it is missing or malformed.
pub fn read_card(path: &Path) -> Result<ModelCard> {
    let card = read_card_to_edit(path)?;
    if let Err(why) = card.check_inference_settings() {
        bail!("{}: {why}", card_path(path).display());
    }
    Ok(card)
}

/// [`read_card`] without checking the inference settings, for a command that sets them (and so
/// can mend a card whose settings were edited into something that cannot run).
pub fn read_card_to_edit(path: &Path) -> Result<ModelCard> {
    let file = card_path(path);
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("{}: cannot read the model card", file.display()))?;
    let card: ModelCard = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid Oncoscope model card", file.display()))?;
    if card.format != ModelCard::FORMAT {
        bail!(
            "{}: model card format {} is not supported (expected {})",
            file.display(),
            card.format,
            ModelCard::FORMAT
        );
    }
    if let Err(why) = card.preprocessing.check() {
        bail!("{}: {why}", file.display());
    }
    Ok(card)
}

/// Writes `<stem>.json` alone (to a temporary name, then renamed), e.g. after changing its
/// inference settings; the weights beside it are left as they are.
pub fn write_card(stem: &Path, card: &ModelCard) -> Result<()> {
    let card_file = card_path(stem);
    let text = serde_json::to_string_pretty(card)?;
    crate::atomic_file::write_atomically(&card_file, |out| out.write_all(text.as_bytes()))
        .with_context(|| format!("writing {}", card_file.display()))
}

/// Loads parameters into `varmap` (whose variables the network already created), checking
/// names and shapes.
pub fn load_into(varmap: &mut VarMap, path: &Path) -> Result<()> {
    let file = weights_path(path);
    varmap
        .load(&file)
        .with_context(|| format!("{}: cannot load weights", file.display()))
}

/// A model ready for inference: card plus network with frozen parameters.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub card: ModelCard,
    pub network: Network,
    pub device: Device,
    /// The `.safetensors` file it came from.
    pub path: PathBuf,
    /// The model that finds the organ, for a model of the organ's region.
    pub locator: Option<Box<LoadedModel>>,
}

impl LoadedModel {
    /// Loads `<stem>.json` and `<stem>.safetensors` onto `device`, with its locator (and the
    /// locator's own, when the locator is itself a model of the organ's region).
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        Self::load_with_locators(path, device, 2)
    }

    /// [`Self::load`], allowing a chain of at most `locators_left` locators below this model
    /// (so that a card naming itself, or a loop of cards, ends in an error, not a hang).
    fn load_with_locators(path: &Path, device: &Device, locators_left: usize) -> Result<Self> {
        let card = read_card(path)?;
        let file = weights_path(path);
        if !file.is_file() {
            bail!("{}: weights file is missing", file.display());
        }
        // SAFETY: the file is memory-mapped read-only; Oncoscope never writes a weights file in
        // place (saves go through a temporary name and a rename).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&file], DType::F32, device) }
            .with_context(|| format!("{}: not a readable safetensors file", file.display()))?;
        let input_channels = card.preprocessing.input_channels();
        let network = Network::new(&card.architecture, input_channels, vb).with_context(|| {
            format!(
                "{}: weights do not match the architecture in its .json",
                file.display()
            )
        })?;
        let locator = match &card.locator {
            Some(stem) => {
                let locator_path = sibling_model(path, stem);
                if locators_left == 0 {
                    bail!(
                        "{}: too many locators in a row (a locator may itself have one whole-box \
                         locator, no more)",
                        card_path(path).display()
                    );
                }
                let mut locator =
                    LoadedModel::load_with_locators(&locator_path, device, locators_left - 1)
                        .with_context(|| {
                            format!("{}: its organ locator {stem:?}", card_path(path).display())
                        })?;
                // A locator labels as it was validated, whatever tumour sensitivity a user set
                // for it as a segmenter: the model behind it learnt from those labels.
                locator.card.tumour_sensitivity = 1.0;
                if locator.card.architecture.kind != ModelKind::Unet {
                    bail!(
                        "{}: a locator must be a U-Net, which outlines the organ",
                        card_path(&locator_path).display()
                    );
                }
                Some(Box::new(locator))
            }
            None if card.preprocessing.region != Region::WholeBox => bail!(
                "{}: a model of the organ's region needs a locator (\"locator\" in its .json)",
                card_path(path).display()
            ),
            None => None,
        };
        Ok(Self {
            card,
            network,
            device: device.clone(),
            path: file,
            locator,
        })
    }
}

/// The name [`device_by_name`] takes for `device`: "cpu", "cuda" or "metal".
pub fn device_name(device: &Device) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "metal",
    }
}

/// The candle device for a name: `cpu`, `cuda` (first GPU) or `metal`; a clear error when this
/// build lacks the backend.
pub fn device_by_name(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" if cfg!(feature = "cuda") => Device::new_cuda(0).context("no usable CUDA device"),
        "cuda" => {
            bail!("this build of Oncoscope has no CUDA support: rebuild with `--features cuda`")
        }
        "metal" if cfg!(feature = "metal") => {
            Device::new_metal(0).context("no usable Metal device")
        }
        "metal" => bail!(
            "this build of Oncoscope has no Metal support: rebuild with `--features metal` on macOS"
        ),
        other => bail!("unknown device {other:?}: choose cpu, cuda or metal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unet_card() -> ModelCard {
        ModelCard {
            format: ModelCard::FORMAT,
            architecture: Architecture::reference(ModelKind::Unet),
            preprocessing: Preprocessing::cube(16),
            task: "liver".into(),
            labels: BTreeMap::new(),
            epoch: 1,
            metrics: BTreeMap::new(),
            dataset: String::new(),
            seed: 0,
            notes: BTreeMap::new(),
            locator: None,
            cube_refinements: 0,
            min_lesion_ml: 0.0,
            tumour_sensitivity: 1.0,
            tile_voxels: 0,
        }
    }

    #[test]
    fn validation_dice_comes_from_the_card_s_metrics_and_skips_what_is_missing() {
        let mut card = unet_card();
        assert_eq!(
            card.validation_dice(),
            None,
            "no organ Dice: not a validated segmenter"
        );
        card.metrics.insert("roc_auc".into(), 0.9);
        assert_eq!(card.validation_dice(), None, "a classifier's card");
        card.metrics.insert("organ_dice".into(), 0.9561);
        let organ_only = card.validation_dice().unwrap();
        assert_eq!(organ_only.tumour, None);
        assert_eq!(organ_only.to_string(), "organ 0.956");
        card.metrics.insert("tumour_dice".into(), f64::NAN);
        assert_eq!(
            card.validation_dice().unwrap().tumour,
            None,
            "NaN is no figure"
        );
        card.metrics.insert("tumour_dice".into(), 0.7024);
        let both = card.validation_dice().unwrap();
        assert_eq!((both.organ, both.tumour), (0.9561, Some(0.7024)));
        assert_eq!(both.to_string(), "organ 0.956, tumour 0.702");
    }

    #[test]
    fn inference_settings_apply_only_where_they_can_run() {
        let cube = Region::OrganCube { margin_mm: 10.0 };
        let check = check_inference_settings;
        assert!(check(ModelKind::Unet, cube, MAX_CUBE_REFINEMENTS, 0.4).is_ok());
        assert!(check(ModelKind::Unet, Region::WholeBox, 0, 0.4).is_ok());
        assert!(check(ModelKind::Cnn, cube, 0, 0.0).is_ok());
        for (kind, region, n, ml, why) in [
            (
                ModelKind::Unet,
                cube,
                MAX_CUBE_REFINEMENTS + 1,
                0.0,
                "more than",
            ),
            (ModelKind::Unet, Region::WholeBox, 1, 0.0, "organ's region"),
            (ModelKind::Cnn, cube, 1, 0.0, "organ's region"),
            (ModelKind::Cnn, cube, 0, 0.1, "not a classifier"),
            (ModelKind::Unet, cube, 0, -0.1, "not a volume"),
            (ModelKind::Unet, cube, 0, f64::NAN, "not a volume"),
        ] {
            let err = check(kind, region, n, ml).unwrap_err();
            assert!(err.contains(why), "{kind:?} {n} {ml}: {err}");
        }
    }

    #[test]
    fn a_plain_tumour_sensitivity_stays_off_the_card_and_others_are_checked() {
        let mut card = unet_card();
        let json = serde_json::to_string(&card).unwrap();
        assert!(!json.contains("tumour_sensitivity"), "{json}");
        let read: ModelCard = serde_json::from_str(&json).unwrap();
        assert_eq!(read.tumour_sensitivity, 1.0, "a card without one: 1");
        card.tumour_sensitivity = 2.5;
        let read: ModelCard = serde_json::from_str(&serde_json::to_string(&card).unwrap()).unwrap();
        assert_eq!(read.tumour_sensitivity, 2.5);
        assert!(card.check_inference_settings().is_ok());
        for bad in [0.0, 0.001, 101.0, f64::NAN, -1.0] {
            card.tumour_sensitivity = bad;
            let err = card.check_inference_settings().unwrap_err();
            assert!(
                err.contains("not a factor from 0.01 to 100"),
                "{bad}: {err}"
            );
        }
        card.architecture = Architecture::reference(ModelKind::Cnn);
        card.tumour_sensitivity = 2.0;
        let err = card.check_inference_settings().unwrap_err();
        assert!(err.contains("not a classifier"), "{err}");
        card.tumour_sensitivity = 1.0;
        assert!(card.check_inference_settings().is_ok());
    }
}
