//! The training panel's state: the settings a user picks (kept between runs), the data-set
//! check, and the run in progress with its curves, log and preview.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::jobs::{TrainingPreview, run_dir_of};
use crate::model::checkpoint::{MAX_CUBE_REFINEMENTS, read_card_to_edit};
use crate::model::organ_fill::OutsideOrgan;
use crate::model::preprocess::Preprocessing;
use crate::model::progress::RunControl;
use crate::model::region::Region;
use crate::model::training::data::Augmentation;
use crate::model::training::{EpochSummary, TrainConfig};
use crate::model::weights::shipped_weights_dir;
use crate::model::{Architecture, GlobalPool, ModelKind};
use crate::volume::dataset_check::DatasetCheck;
use crate::volume::decathlon::Task;
use crate::volume::phantom::{PancreasBuild, ScanRange};

/// Which networks a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ModelChoice {
    #[default]
    Unet,
    Cnn,
    /// The U-Net, then the CNN, into `<out>/unet` and `<out>/cnn`.
    Both,
}

impl ModelChoice {
    pub const ALL: [ModelChoice; 3] = [ModelChoice::Unet, ModelChoice::Cnn, ModelChoice::Both];

    pub fn kinds(self) -> Vec<ModelKind> {
        match self {
            ModelChoice::Unet => vec![ModelKind::Unet],
            ModelChoice::Cnn => vec![ModelKind::Cnn],
            ModelChoice::Both => vec![ModelKind::Unet, ModelKind::Cnn],
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ModelChoice::Unet => "U-Net (segmentation)",
            ModelChoice::Cnn => "CNN (classification)",
            ModelChoice::Both => "Both",
        }
    }
}

/// What the user set up in the training panel (kept between runs). Defaults suit a laptop
/// CPU: a 64³ grid and half-width networks (8/16/32/64 channels), as the shipped models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingSettings {
    /// Decathlon-layout data set folder.
    pub data_dir: String,
    pub task: Task,
    pub models: ModelChoice,
    /// `cpu`, `cuda` or `metal`.
    pub device: String,
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (cosine decay over the run).
    pub learning_rate: f64,
    /// Model grid edge in voxels (a multiple of 8 for the U-Net).
    pub grid: usize,
    /// Channels of the first level; the four levels have 1, 2, 4 and 8 times as many.
    pub base_width: usize,
    /// How the classifier pools its last feature map (see `GlobalPool`).
    pub classifier_pool: GlobalPool,
    pub augment_rotate: bool,
    pub augment_flip: bool,
    pub augment_noise: bool,
    pub augment_intensity: bool,
    /// Share of the cases kept for validation, 0..0.9.
    pub validation_fraction: f64,
    /// Seed of the train/validation split and the augmentation.
    pub seed: u64,
    /// Run folder.
    pub out_dir: String,
    /// Run the model on one validation case after each epoch and show it.
    pub preview: bool,
    /// Train a model of the organ's region (a cube around the organ) instead of the whole CT.
    pub organ_region: bool,
    /// Margin around the organ, mm.
    pub margin_mm: f64,
    /// With the organ region, for the classifier (a U-Net trained beside it keeps the CT as
    /// it is): fill everything farther than `fill_margin_mm` from the organ with the organ's
    /// median HU (what a classifier needs to learn lesions).
    pub fill_outside_organ: bool,
    /// Margin kept around the organ when filling, mm.
    pub fill_margin_mm: f64,
    /// With the organ region, for the classifier: a second input channel where the locator
    /// labels tumour. The default locator is then the shipped region U-Net of the task
    /// (`<organ>_unet`), whose lesions the classifier sees beside the CT.
    pub tumour_channel: bool,
    /// The U-Net that finds the organ at inference (model stem); empty: the shipped one for
    /// the task (the whole-box one, or with `tumour_channel` the region one).
    pub locator: String,
    /// For the U-Net, at inference: how many times a model of the organ's region re-centres
    /// its cube on the organ it outlined and runs again (written to its cards).
    pub cube_refinements: usize,
    /// For the U-Net, at inference: turn predicted tumour pieces under `min_lesion_ml` mL into
    /// organ (written to its cards; off: every piece kept).
    pub drop_small_lesions: bool,
    pub min_lesion_ml: f64,
    /// For the U-Net's loss: the cross-entropy weight of tumour voxels (1: the plain loss, and a
    /// resumed run keeps its own).
    pub tumour_weight: f64,
    /// For the U-Net's loss: small lesions' voxels weigh more, so each lesion counts (off: the
    /// plain per-voxel weights, and a resumed run keeps its own).
    pub balance_lesions: bool,
    /// For the U-Net's loss: add `lesion_loss_weight` × each true lesion's mean tumour
    /// cross-entropy, averaged over lesions (off: none, and a resumed run keeps its own).
    pub lesion_loss: bool,
    pub lesion_loss_weight: f64,
    /// For the U-Net's loss: add `false_piece_loss_weight` × each false tumour piece's mean
    /// cross-entropy of not being tumour, averaged over pieces (off: none, and a resumed run
    /// keeps its own).
    pub false_piece_loss: bool,
    pub false_piece_loss_weight: f64,
    /// For the U-Net's training steps: cubes of `lesion_crop_voxels` a side cut from each
    /// case, half of them around a lesion (off: whole grids, and a resumed run keeps its own).
    pub lesion_crops: bool,
    pub lesion_crop_voxels: usize,
    /// Synthetic data set: number of cases, seed, folder, how far the scans run, how full
    /// the pancreas is and whether livers have their fat-filled fissures.
    pub synth_cases: usize,
    pub synth_seed: u64,
    pub synth_dir: String,
    pub synth_scan_range: ScanRange,
    pub synth_pancreas_build: PancreasBuild,
    pub synth_liver_fat_clefts: bool,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        Self {
            data_dir: String::new(),
            task: Task::Liver,
            models: ModelChoice::Unet,
            device: "cpu".into(),
            epochs: 20,
            batch_size: 2,
            learning_rate: 3e-3,
            grid: 64,
            base_width: 8,
            classifier_pool: GlobalPool::MaxCell,
            augment_rotate: true,
            augment_flip: true,
            augment_noise: true,
            augment_intensity: true,
            validation_fraction: 0.2,
            seed: 0,
            out_dir: "runs/training".into(),
            preview: true,
            organ_region: false,
            margin_mm: 10.0,
            fill_outside_organ: false,
            fill_margin_mm: 3.0,
            tumour_channel: false,
            locator: String::new(),
            cube_refinements: 0,
            drop_small_lesions: false,
            min_lesion_ml: 0.4,
            tumour_weight: 1.0,
            balance_lesions: false,
            lesion_loss: false,
            lesion_loss_weight: 0.02,
            false_piece_loss: false,
            false_piece_loss_weight: 0.1,
            lesion_crops: false,
            lesion_crop_voxels: 48,
            synth_cases: 24,
            synth_seed: 1,
            synth_dir: "data/synthetic".into(),
            synth_scan_range: ScanRange::Abdomen,
            synth_pancreas_build: PancreasBuild::Full,
            synth_liver_fat_clefts: false,
        }
    }
}

impl TrainingSettings {
    /// The augmentation the switches ask for (default strengths).
    pub fn augmentation(&self) -> Augmentation {
        let on = Augmentation::DEFAULT;
        Augmentation {
            rotate_deg: if self.augment_rotate {
                on.rotate_deg
            } else {
                0.0
            },
            flip: self.augment_flip && on.flip,
            noise_sd: if self.augment_noise { on.noise_sd } else { 0.0 },
            intensity_shift: if self.augment_intensity {
                on.intensity_shift
            } else {
                0.0
            },
            intensity_scale: if self.augment_intensity {
                on.intensity_scale
            } else {
                0.0
            },
        }
    }

    /// The training configuration, or what is wrong with the settings. The architecture's
    /// kind is the first model's; the training job sets it per model.
    pub fn config(&self) -> Result<TrainConfig, String> {
        let data = self.data_dir.trim();
        if data.is_empty() {
            return Err("Choose a data set folder first".into());
        }
        let out = self.out_dir.trim();
        if out.is_empty() {
            return Err("Choose an output folder for the run".into());
        }
        if self.epochs == 0 || self.batch_size == 0 || self.base_width == 0 {
            return Err("Epochs, batch size and width must be at least 1".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err("The learning rate must be a positive number".into());
        }
        if self.grid < 16 || !self.grid.is_multiple_of(8) {
            return Err(format!(
                "Grid {}: use a multiple of 8 from 16 up (the U-Net halves it three times)",
                self.grid
            ));
        }
        if !(0.0..=0.9).contains(&self.validation_fraction) {
            return Err("The validation share must be between 0 and 0.9".into());
        }
        if !(self.margin_mm.is_finite() && self.margin_mm >= 0.0) {
            return Err("The organ margin must be zero or more millimetres".into());
        }
        if !self.fill_margin_mm.is_finite() {
            return Err("The margin kept around the organ must be a number of millimetres".into());
        }
        if self.drop_small_lesions && !(self.min_lesion_ml.is_finite() && self.min_lesion_ml >= 0.0)
        {
            return Err("The smallest tumour piece kept must be zero or more mL".into());
        }
        if !(self.tumour_weight.is_finite() && self.tumour_weight > 0.0) {
            return Err("The tumour weight must be a number above 0".into());
        }
        if self.organ_region && self.cube_refinements > MAX_CUBE_REFINEMENTS {
            return Err(format!(
                "Re-centre the cube at most {MAX_CUBE_REFINEMENTS} times"
            ));
        }
        let (region, locator) = if self.organ_region {
            let locator = match self.locator.trim() {
                "" if self.tumour_channel => shipped_finder(self.task).ok_or_else(|| {
                    format!(
                        "No shipped {} U-Net of the organ's region to show its tumour: choose a locator",
                        self.task.organ()
                    )
                })?,
                "" => shipped_locator(self.task).ok_or_else(|| {
                    format!(
                        "No shipped whole-box {} U-Net to find the organ: choose a locator",
                        self.task.organ()
                    )
                })?,
                given => PathBuf::from(given),
            };
            (
                Region::OrganCube {
                    margin_mm: self.margin_mm,
                },
                Some(locator),
            )
        } else {
            (Region::WholeBox, None)
        };
        let width = self.base_width;
        Ok(TrainConfig {
            data: PathBuf::from(data),
            task: self.task,
            architecture: Architecture {
                kind: self.models.kinds()[0],
                channels: [width, 2 * width, 4 * width, 8 * width],
                global_pool: self.classifier_pool,
            },
            preprocessing: Preprocessing {
                region,
                outside_organ: if self.organ_region && self.fill_outside_organ {
                    OutsideOrgan::FillWithOrganMedian {
                        margin_mm: self.fill_margin_mm,
                    }
                } else {
                    OutsideOrgan::Keep
                },
                locator_tumour_channel: self.organ_region && self.tumour_channel,
                ..Preprocessing::cube(self.grid)
            },
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            validation_fraction: self.validation_fraction,
            seed: self.seed,
            augmentation: self.augmentation(),
            normals: None,
            out: PathBuf::from(out),
            max_cases: None,
            locator,
            init_from: None,
            // The U-Net's inference settings where the panel asks for them (the job leaves them
            // out for the classifier); else a resumed run keeps its own, a new one has none.
            cube_refinements: (self.organ_region && self.cube_refinements > 0)
                .then_some(self.cube_refinements),
            min_lesion_ml: self.drop_small_lesions.then_some(self.min_lesion_ml),
            // At 1 (the plain loss) a resumed run keeps its own weight.
            tumour_weight: (self.tumour_weight != 1.0).then_some(self.tumour_weight),
            balance_lesions: self.balance_lesions.then_some(true),
            lesion_crop_voxels: self.lesion_crops.then_some(self.lesion_crop_voxels),
            lesion_loss: self.lesion_loss.then_some(self.lesion_loss_weight),
            false_piece_loss: self
                .false_piece_loss
                .then_some(self.false_piece_loss_weight),
        })
    }
}

/// The shipped whole-box U-Net of `task` (`<organ>_locator`, else a whole-box `<organ>_unet`).
fn shipped_locator(task: Task) -> Option<PathBuf> {
    let dir = shipped_weights_dir();
    ["locator", "unet"]
        .map(|kind| dir.join(format!("{}_{kind}", task.organ())))
        .into_iter()
        .find(|stem| {
            read_card_to_edit(stem).is_ok_and(|c| c.preprocessing.region == Region::WholeBox)
        })
}

/// The shipped U-Net of `task`'s region (`<organ>_unet` behind its locator), which labels
/// tumour finely enough for a classifier's tumour channel.
fn shipped_finder(task: Task) -> Option<PathBuf> {
    let stem = shipped_weights_dir().join(format!("{}_unet", task.organ()));
    read_card_to_edit(&stem)
        .is_ok_and(|c| c.preprocessing.region != Region::WholeBox)
        .then_some(stem)
}

/// The data-set check shown in the panel.
#[derive(Debug, Clone)]
pub enum DataCheck {
    Checking {
        root: PathBuf,
        fraction: f32,
        message: String,
    },
    Done(DatasetCheck),
    /// The folder could not be read as a data set at all.
    Failed {
        root: PathBuf,
        message: String,
    },
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RunStatus {
    Running,
    Paused,
    /// Stop asked; the run ends after the current step.
    Stopping,
    Finished,
    Stopped,
    Failed(String),
}

impl RunStatus {
    /// Whether the run is still going (or holding).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            RunStatus::Running | RunStatus::Paused | RunStatus::Stopping
        )
    }
}

/// Where the current model's epoch stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepProgress {
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps: usize,
    pub eta_s: f64,
}

/// The curves of one model of a run.
#[derive(Debug, Clone)]
pub struct ModelCurves {
    pub kind: ModelKind,
    /// (fractional epoch, training loss) per step.
    pub step_losses: Vec<[f64; 2]>,
    /// Every finished epoch (earlier ones too when resumed).
    pub epochs: Vec<EpochSummary>,
}

impl ModelCurves {
    pub fn best(&self) -> Option<&EpochSummary> {
        self.epochs
            .iter()
            .filter(|e| e.is_best)
            .max_by(|a, b| a.score.total_cmp(&b.score))
    }
}

/// The latest preview, kept until its case is open.
#[derive(Debug, Clone)]
pub struct PendingPreview {
    pub ct_path: PathBuf,
    pub model: PathBuf,
    /// The epoch after which the model made it.
    pub epoch: usize,
    pub preview: TrainingPreview,
}

/// A training run started from the panel.
#[derive(Debug)]
pub struct TrainingRun {
    /// The run's root folder.
    pub root: PathBuf,
    pub kinds: Vec<ModelKind>,
    pub control: RunControl,
    pub status: RunStatus,
    /// The model training now.
    pub current: Option<ModelKind>,
    /// Cases prepared so far (done, total) while preprocessing.
    pub preparing: Option<(usize, usize)>,
    pub progress: Option<StepProgress>,
    pub curves: Vec<ModelCurves>,
    /// Epochs finished since this run started (a resumed run's earlier ones not counted).
    pub epochs_finished: usize,
    /// One line per epoch and per notable event.
    pub log: Vec<String>,
    /// The validation case previewed on.
    pub preview_case: Option<PathBuf>,
    pub latest_preview: Option<PendingPreview>,
    pub started: Instant,
}

impl TrainingRun {
    pub fn new(root: PathBuf, kinds: Vec<ModelKind>, control: RunControl) -> Self {
        let curves = kinds
            .iter()
            .map(|&kind| ModelCurves {
                kind,
                step_losses: Vec::new(),
                epochs: Vec::new(),
            })
            .collect();
        Self {
            root,
            kinds,
            control,
            status: RunStatus::Running,
            current: None,
            preparing: None,
            progress: None,
            curves,
            epochs_finished: 0,
            log: Vec::new(),
            preview_case: None,
            latest_preview: None,
            started: Instant::now(),
        }
    }

    pub fn curves_mut(&mut self, kind: ModelKind) -> Option<&mut ModelCurves> {
        self.curves.iter_mut().find(|c| c.kind == kind)
    }

    /// The run folder of one of its models.
    pub fn run_dir(&self, kind: ModelKind) -> PathBuf {
        run_dir_of(&self.root, &self.kinds, kind)
    }
}

/// The panel: visibility, settings check, synthetic-data job and the run.
#[derive(Debug, Default)]
pub struct TrainingPanel {
    pub visible: bool,
    pub check: Option<DataCheck>,
    /// A synthetic data set being written: (folder, fraction done, message).
    pub generating: Option<(PathBuf, f32, String)>,
    pub run: Option<TrainingRun>,
}

impl TrainingPanel {
    pub fn running(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.status.is_active())
    }
}

/// The models of a run folder that have a checkpoint named `stem` (`best` or `last`).
pub fn models_with_checkpoint(root: &Path, kinds: &[ModelKind], stem: &str) -> Vec<ModelKind> {
    kinds
        .iter()
        .copied()
        .filter(|&kind| {
            run_dir_of(root, kinds, kind)
                .join(format!("{stem}.json"))
                .is_file()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::checkpoint::read_card;

    #[test]
    fn settings_turn_into_a_config_or_say_what_is_wrong() {
        let mut s = TrainingSettings {
            data_dir: "data/x".into(),
            ..Default::default()
        };
        let c = s.config().unwrap();
        assert_eq!(c.architecture.channels, [8, 16, 32, 64]);
        assert_eq!(c.architecture.global_pool, GlobalPool::MaxCell);
        assert_eq!(c.preprocessing.grid, [64, 64, 64]);
        assert_eq!(c.augmentation, Augmentation::DEFAULT);
        s.augment_noise = false;
        s.augment_rotate = false;
        let a = s.config().unwrap().augmentation;
        assert_eq!((a.noise_sd, a.rotate_deg), (0.0, 0.0));
        assert!(a.flip && a.intensity_scale > 0.0);
        s.grid = 60;
        assert!(s.config().unwrap_err().contains("multiple of 8"));
        s.grid = 64;
        s.learning_rate = -1.0;
        assert!(s.config().unwrap_err().contains("learning rate"));
        s.learning_rate = 1e-3;
        // The tumour weight: 1 leaves a resumed run its own; another number is the run's; not
        // a number above 0 is refused.
        assert_eq!(s.config().unwrap().tumour_weight, None);
        s.tumour_weight = 3.0;
        assert_eq!(s.config().unwrap().tumour_weight, Some(3.0));
        s.tumour_weight = 0.0;
        assert!(s.config().unwrap_err().contains("tumour weight"));
        s.tumour_weight = 1.0;
        s.organ_region = true;
        let c = s.config().unwrap();
        assert_eq!(
            c.preprocessing.region,
            Region::OrganCube { margin_mm: 10.0 }
        );
        assert_eq!(c.preprocessing.outside_organ, OutsideOrgan::Keep);
        s.fill_outside_organ = true;
        s.fill_margin_mm = 4.0;
        assert_eq!(
            s.config().unwrap().preprocessing.outside_organ,
            OutsideOrgan::FillWithOrganMedian { margin_mm: 4.0 }
        );
        s.fill_margin_mm = f64::NAN;
        assert!(s.config().unwrap_err().contains("around the organ"));
        s.fill_margin_mm = 4.0;
        let locator = c.locator.expect("the shipped liver locator");
        assert_eq!(
            read_card(&locator).unwrap().preprocessing.region,
            Region::WholeBox
        );
        // The tumour channel: the shipped region U-Net is the default locator.
        s.tumour_channel = true;
        let c = s.config().unwrap();
        assert!(c.preprocessing.locator_tumour_channel);
        let finder = c.locator.expect("the shipped liver U-Net");
        assert!(finder.ends_with("liver_unet"), "{}", finder.display());
        assert_ne!(
            read_card(&finder).unwrap().preprocessing.region,
            Region::WholeBox
        );
        s.organ_region = false;
        assert!(!s.config().unwrap().preprocessing.locator_tumour_channel);
        s.organ_region = true;
        s.data_dir = " ".into();
        assert!(s.config().unwrap_err().contains("data set"));
    }

    #[test]
    fn both_models_train_into_subfolders() {
        let root = Path::new("runs/r");
        let both = ModelChoice::Both.kinds();
        assert_eq!(run_dir_of(root, &both, ModelKind::Cnn), root.join("cnn"));
        assert_eq!(
            run_dir_of(root, &ModelChoice::Cnn.kinds(), ModelKind::Cnn),
            root
        );
    }
}
