//! What the viewer holds: the open case, its label layers and results, the user's preferences
//! (persisted between runs) and the commands the UI emits.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::training::TrainingSettings;
use crate::jobs::{JobKind, LabelSource};
use crate::mesh::{AgreementSurface, LesionMatching, LesionTable, Structure, Surface};
use crate::model::checkpoint::ValidationDice;
use crate::model::inference::{Classification, SegmentationReport, SegmenterOutput};
use crate::model::metrics::SegmentationScores;
use crate::slice::{Convention, OverlayMode, Plane};
use crate::volume::decathlon::Task;
use crate::volume::{CtVolume, LabelVolume, Window, WindowPreset};

/// A label map shown in the viewer, with what was derived from it.
#[derive(Debug, Clone)]
pub struct LabelLayer {
    /// The file it came from (ground truth) or the model that made it (prediction).
    pub origin: PathBuf,
    pub labels: Arc<LabelVolume>,
    /// Changes whenever `labels` does, so stale mesh results are dropped.
    pub generation: u64,
    pub surfaces: Option<Vec<Surface>>,
    pub lesions: Option<LesionTable>,
}

/// How a segmentation ran, shown beside its results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentationRun {
    /// Wall time on the ML worker, in seconds.
    pub seconds: f64,
    /// What the segmenter did beyond one pass of its network.
    pub report: SegmentationReport,
    /// The segmenter's Dice on its validation cases, from its card (`None` for a model still
    /// training, or a card without it).
    pub validation_dice: Option<ValidationDice>,
    /// The tumour sensitivity of the segmenter's card: the one its labels take when the user
    /// sets none.
    pub card_tumour_sensitivity: f64,
}

/// A classifier's verdict on the case, with what says how far to trust it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierResult {
    pub result: Classification,
    /// The model that gave it.
    pub model: PathBuf,
    /// The model's ROC AUC on its validation cases, from its card (`None` for a model still
    /// training, or a card without it).
    pub validation_roc_auc: Option<f64>,
}

/// The open CT and everything about it.
#[derive(Debug, Clone)]
pub struct Case {
    pub ct_path: PathBuf,
    pub ct: Arc<CtVolume>,
    /// HU range of the CT, for the window sliders.
    pub hu_range: (f32, f32),
    /// The task its labels are named by (organ name of label 1): the one it was opened for,
    /// then that of the last models run on it; switching the task selector does not rename
    /// results already shown.
    pub task: Task,
    pub ground_truth: Option<LabelLayer>,
    pub prediction: Option<LabelLayer>,
    pub classification: Option<ClassifierResult>,
    /// How the last segmentation ran on the ML worker (`None` for a training preview).
    pub segmentation_run: Option<SegmentationRun>,
    /// That segmentation's network output, from which its labels are chosen again when the
    /// user moves the tumour sensitivity (`None` for a training preview, or when the locator
    /// found no organ).
    pub segmenter_output: Option<Arc<SegmenterOutput>>,
    /// Ground truth vs prediction, computed on a worker; may belong to older layers.
    pub comparison: Option<Comparison>,
    /// The linked crosshair: the voxel all three views go through.
    pub cursor_voxel: [usize; 3],
}

impl Case {
    /// A case of `ct` read from `ct_path`; `hu_range`: its lowest and highest finite HU
    /// ([`CtVolume::hu_range`], found off the UI thread).
    pub fn new(ct_path: PathBuf, ct: Arc<CtVolume>, hu_range: (f32, f32), task: Task) -> Self {
        let dims = ct.grid.dims;
        Self {
            ct_path,
            ct,
            hu_range,
            task,
            ground_truth: None,
            prediction: None,
            classification: None,
            segmentation_run: None,
            segmenter_output: None,
            comparison: None,
            cursor_voxel: dims.map(|d| d / 2),
        }
    }

    pub fn layer(&self, source: LabelSource) -> Option<&LabelLayer> {
        match source {
            LabelSource::GroundTruth => self.ground_truth.as_ref(),
            LabelSource::Prediction => self.prediction.as_ref(),
        }
    }

    pub fn layer_mut(&mut self, source: LabelSource) -> Option<&mut LabelLayer> {
        match source {
            LabelSource::GroundTruth => self.ground_truth.as_mut(),
            LabelSource::Prediction => self.prediction.as_mut(),
        }
    }

    /// The comparison, when it belongs to the current ground truth and prediction.
    pub fn current_comparison(&self) -> Option<&Comparison> {
        let generations = (
            self.ground_truth.as_ref()?.generation,
            self.prediction.as_ref()?.generation,
        );
        self.comparison
            .as_ref()
            .filter(|c| c.generations == generations)
    }

    /// Found / missed / spurious lesions of the current pair.
    pub fn current_matching(&self) -> Option<&LesionMatching> {
        self.current_comparison().map(|c| &c.matching)
    }

    /// Dice and IoU per label of the current pair.
    pub fn scores(&self) -> Option<SegmentationScores> {
        self.current_comparison().map(|c| c.scores)
    }

    /// Whether the ground truth has tumour voxels (the classifier's true label), once its
    /// lesion table is built.
    pub fn true_cancer(&self) -> Option<bool> {
        let table = self.ground_truth.as_ref()?.lesions.as_ref()?;
        Some(table.tumour.voxel_count > 0)
    }
}

/// Ground truth against prediction, as computed on a worker.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Generations of the (ground truth, prediction) layers it was made of.
    pub generations: (u64, u64),
    pub matching: LesionMatching,
    pub scores: SegmentationScores,
    /// True-positive / false-positive / false-negative surfaces of organ and lesions.
    pub agreement: Vec<AgreementSurface>,
}

/// Which label map the slice views and the 3D view show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LabelDisplay {
    /// No labels.
    None,
    /// The model's prediction (the default once there is one).
    #[default]
    Prediction,
    /// The ground truth.
    GroundTruth,
    /// Both: prediction filled, ground truth outlined.
    Both,
    /// True positive / false positive / false negative colouring.
    Comparison,
}

impl LabelDisplay {
    pub const ALL: [LabelDisplay; 5] = [
        LabelDisplay::None,
        LabelDisplay::Prediction,
        LabelDisplay::GroundTruth,
        LabelDisplay::Both,
        LabelDisplay::Comparison,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LabelDisplay::None => "None",
            LabelDisplay::Prediction => "Prediction",
            LabelDisplay::GroundTruth => "Ground truth",
            LabelDisplay::Both => "Both",
            LabelDisplay::Comparison => "Compare (TP/FP/FN)",
        }
    }
}

/// Which structure the comparison colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ComparedStructure {
    #[default]
    Organ,
    Tumour,
}

impl ComparedStructure {
    pub fn selects(self) -> fn(u8) -> bool {
        match self {
            ComparedStructure::Organ => |l| l >= 1,
            ComparedStructure::Tumour => |l| l == Structure::TUMOUR_LABEL,
        }
    }

    /// The surface structure with the same voxels.
    pub fn structure(self) -> Structure {
        match self {
            ComparedStructure::Organ => Structure::Organ,
            ComparedStructure::Tumour => Structure::Lesions,
        }
    }
}

/// What the user chose, kept between runs (eframe storage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preferences {
    pub window: Window,
    pub preset: Option<WindowPreset>,
    pub convention: Convention,
    pub label_display: LabelDisplay,
    pub overlay_mode: OverlayMode,
    /// 0..1
    pub overlay_opacity: f32,
    pub compared: ComparedStructure,
    pub task: Task,
    pub device: String,
    /// Folder of the models; `None`: the shipped weights.
    pub weights_dir: Option<PathBuf>,
    /// The segmenter's tumour sensitivity for the segmentation shown and the next runs (each
    /// voxel's tumour probability × this before its label is chosen); `None`: the model card's.
    pub tumour_sensitivity: Option<f64>,
    pub show_organ_3d: bool,
    pub show_lesions_3d: bool,
    /// Opacity of the organ surface in 3D, 0..1.
    pub organ_opacity_3d: f32,
    pub auto_rotate: bool,
    /// Show the three slice planes in place in the 3D view.
    pub show_planes_3d: bool,
    /// Draw the ground-truth surfaces in 3D too (green organ, yellow lesions).
    pub show_ground_truth_3d: bool,
    /// The view shown large, or `None` for the 2×2 layout.
    pub maximised: Option<ViewSlot>,
    /// The training panel's set-up.
    pub training: TrainingSettings,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            window: WindowPreset::Abdomen.window(),
            preset: Some(WindowPreset::Abdomen),
            convention: Convention::Radiological,
            label_display: LabelDisplay::Prediction,
            overlay_mode: OverlayMode::Fill,
            overlay_opacity: 0.45,
            compared: ComparedStructure::Organ,
            task: Task::Liver,
            device: "cpu".into(),
            weights_dir: None,
            tumour_sensitivity: None,
            show_organ_3d: true,
            show_lesions_3d: true,
            organ_opacity_3d: 0.35,
            auto_rotate: false,
            show_planes_3d: false,
            show_ground_truth_3d: false,
            maximised: None,
            training: TrainingSettings::default(),
        }
    }
}

/// One of the four view slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewSlot {
    Slice(Plane),
    Scene,
}

/// What the UI asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Open a CT (and its ground truth; `None`: the Decathlon label map beside it, if any).
    OpenCase {
        ct: PathBuf,
        ground_truth: Option<PathBuf>,
        /// The task it is opened for; `None`: the task of the Decathlon data set it lies in
        /// (its `dataset.json`), else the current one. Applied once the CT has loaded.
        task: Option<Task>,
    },
    OpenGroundTruth(PathBuf),
    Run {
        classify: bool,
        segment: bool,
    },
    /// Cancel every job that can be cancelled.
    Cancel,
    /// Cancel one job (and the jobs sharing its request: both models of "Run both").
    CancelJob(JobKind),
    SaveSegmentation(PathBuf),
    ExportMeshes(PathBuf),
    /// Save the whole window as PNG.
    Screenshot(PathBuf),
    /// Save the 3D view alone as PNG.
    SceneScreenshot(PathBuf),
    ResetCamera,
    /// Use the models in this folder (or training run) instead of the shipped ones.
    ChooseWeights(PathBuf),
    /// Check a training data set (and make it the panel's data folder).
    CheckTrainingData(PathBuf),
    /// Write the synthetic data set the training panel describes.
    GenerateTrainingData,
    /// Start a training run as the panel is set up, or resume the one in its output folder.
    StartTraining {
        resume: bool,
    },
    /// Hold (`true`) or continue (`false`) the training run.
    PauseTraining(bool),
    /// Stop the training run after its current step (its checkpoints stay).
    StopTraining,
    /// Use the run's best checkpoints in the viewer.
    AdoptTrainedModel,
    /// The training run's output folder.
    SetTrainingOutput(PathBuf),
}
