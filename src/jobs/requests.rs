//! The messages between the UI and the workers.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::mesh::{AgreementSurface, LesionMatching, LesionTable, Surface};
use crate::model::ModelKind;
use crate::model::checkpoint::ValidationDice;
use crate::model::inference::{Classification, SegmentationReport, SegmenterOutput};
use crate::model::metrics::SegmentationScores;
use crate::model::progress::{CancelToken, RunControl};
use crate::model::training::{TrainConfig, TrainingEvent, TrainingOutcome};
use crate::volume::dataset_check::DatasetCheck;
use crate::volume::decathlon::Task;
use crate::volume::phantom::{PancreasBuild, ScanRange};
use crate::volume::{CtVolume, LabelVolume};

/// Which kind of job an event is about, for progress bars and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    Load,
    Classify,
    Segment,
    Surfaces,
    Save,
    /// Checking a training data set.
    CheckData,
    /// Writing a synthetic data set.
    Generate,
    Train,
    /// Running the model in training on its preview case.
    Preview,
    /// Choosing a segmentation's labels again at another tumour sensitivity.
    Relabel,
}

impl JobKind {
    pub fn describe(self) -> &'static str {
        match self {
            JobKind::Load => "Loading",
            JobKind::Classify => "Classification",
            JobKind::Segment => "Segmentation",
            JobKind::Surfaces => "Surfaces",
            JobKind::Save => "Saving",
            JobKind::CheckData => "Data check",
            JobKind::Generate => "Generating the data set",
            JobKind::Train => "Training",
            JobKind::Preview => "Training preview",
            JobKind::Relabel => "Re-labelling at the new tumour sensitivity",
        }
    }
}

/// Whose label map a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelSource {
    GroundTruth,
    Prediction,
}

/// The generation of each label layer the viewer shows now, shared with the workers: a
/// surfaces or comparison job for a layer already replaced (the tumour sensitivity slider moved
/// on, say) is skipped instead of holding up the current layer's behind it.
#[derive(Debug, Default)]
pub struct ShownLayers {
    truth: AtomicU64,
    prediction: AtomicU64,
}

impl ShownLayers {
    fn slot(&self, source: LabelSource) -> &AtomicU64 {
        match source {
            LabelSource::GroundTruth => &self.truth,
            LabelSource::Prediction => &self.prediction,
        }
    }

    /// `generation` is now the layer of `source` on show.
    pub fn show(&self, source: LabelSource, generation: u64) {
        self.slot(source).store(generation, Ordering::Relaxed);
    }

    /// Whether `generation` is the layer of `source` on show.
    pub fn is_shown(&self, source: LabelSource, generation: u64) -> bool {
        self.slot(source).load(Ordering::Relaxed) == generation
    }
}

/// Run the models on a CT.
#[derive(Debug, Clone)]
pub struct AnalysisRequest {
    pub ct: Arc<CtVolume>,
    pub task: Task,
    /// Folder with `<organ>_cnn` / `<organ>_unet` models or a training run folder.
    pub weights_dir: PathBuf,
    /// `cpu`, `cuda` or `metal`.
    pub device: String,
    pub classify: bool,
    pub segment: bool,
    /// The segmenter's tumour sensitivity instead of its card's
    /// ([`crate::model::checkpoint::ModelCard::tumour_sensitivity`]); `None`: the card's.
    pub tumour_sensitivity: Option<f64>,
    pub cancel: CancelToken,
}

/// Train one or both networks (on the training thread).
#[derive(Debug, Clone)]
pub struct TrainingRequest {
    /// The run; `architecture.kind` is set per model, `out` is the run's root folder (see
    /// [`super::run_dir_of`]).
    pub config: TrainConfig,
    /// U-Net, CNN or both (trained in this order).
    pub kinds: Vec<ModelKind>,
    /// Continue from the run folders' `last` checkpoints.
    pub resume: bool,
    /// `cpu`, `cuda` or `metal`.
    pub device: String,
    pub control: RunControl,
    /// Run the model on one validation case after every epoch.
    pub preview: bool,
}

/// The model in training, run on the preview case.
#[derive(Debug, Clone)]
pub enum TrainingPreview {
    Segmentation(Arc<LabelVolume>),
    Classification(Classification),
}

/// Work for the workers.
#[derive(Debug, Clone)]
pub enum Request {
    /// Read a CT and, when given, its ground truth (aligned to the CT).
    LoadCase {
        ct_path: PathBuf,
        ground_truth_path: Option<PathBuf>,
        /// The task it is opened for; `None`: the task of the Decathlon data set it lies in,
        /// if any.
        task: Option<Task>,
        cancel: CancelToken,
    },
    /// Read a ground-truth label map for an already loaded CT.
    LoadGroundTruth {
        path: PathBuf,
        ct: Arc<CtVolume>,
    },
    /// Classification and/or segmentation on the ML worker.
    Analyse(AnalysisRequest),
    /// The labels of a segmentation chosen again from its network's last pass at another
    /// tumour sensitivity (no network runs: a resampling, on the ML worker).
    Relabel {
        ct: Arc<CtVolume>,
        output: Arc<SegmenterOutput>,
        tumour_sensitivity: f64,
    },
    /// Compare ground truth and prediction: Dice/IoU per label, lesion matching (found /
    /// missed / spurious) and the agreement surfaces of organ and lesions.
    Compare {
        truth: Arc<LabelVolume>,
        prediction: Arc<LabelVolume>,
        /// Generations of the two layers, so stale results can be dropped.
        generations: (u64, u64),
        min_lesion_ml: f64,
        /// Skipped when either layer is no longer on show.
        shown: Arc<ShownLayers>,
    },
    /// Write a label map as NIfTI in its CT's original grid.
    SaveLabels {
        labels: Arc<LabelVolume>,
        path: PathBuf,
    },
    /// Write surfaces as PLY files into `dir` (created if needed), each under its file name.
    ExportMeshes {
        dir: PathBuf,
        surfaces: Vec<(String, Surface)>,
        /// Names an export can have that this one does not write: such files in `dir`, left
        /// by an earlier export, are removed so they cannot pass for this case's.
        stale: Vec<String>,
    },
    /// Check a training data set (cases, labels, problems) for `task` (the declared one when
    /// `None`).
    CheckDataset {
        root: PathBuf,
        task: Option<Task>,
    },
    /// Write `cases` synthetic phantoms of `task` into `out` as a Decathlon data set, their
    /// scans covering `scan_range`, their pancreas as `pancreas_build` asks, their livers
    /// with their fat-filled fissures and hilum when `liver_fat_clefts`.
    GenerateDataset {
        out: PathBuf,
        task: Task,
        cases: usize,
        seed: u64,
        scan_range: ScanRange,
        pancreas_build: PancreasBuild,
        liver_fat_clefts: bool,
    },
    Train(Box<TrainingRequest>),
    /// Surfaces and lesion table of a label map.
    Surfaces {
        labels: Arc<LabelVolume>,
        source: LabelSource,
        /// Identifies the label map, so stale results can be dropped.
        generation: u64,
        /// Skipped when the label map is no longer on show.
        shown: Arc<ShownLayers>,
        cancel: CancelToken,
    },
}

/// What the workers report back.
#[derive(Debug)]
pub enum Event {
    /// `fraction` in 0..=1 where known.
    Progress {
        job: JobKind,
        fraction: Option<f32>,
        message: String,
    },
    CaseLoaded {
        ct_path: PathBuf,
        ct: Arc<CtVolume>,
        /// Lowest and highest finite HU of the CT, found on the worker (a pass over every
        /// voxel: tens of milliseconds on a large CT, too long for the UI thread).
        hu_range: (f32, f32),
        ground_truth: Option<(PathBuf, Arc<LabelVolume>)>,
        /// The task asked for, else its data set's (`dataset.json`); `None`: unknown.
        task: Option<Task>,
    },
    GroundTruthLoaded {
        path: PathBuf,
        labels: Arc<LabelVolume>,
        /// The CT it was checked against: dropped if another case opened meanwhile.
        ct: Arc<CtVolume>,
    },
    Classified {
        result: Classification,
        model: PathBuf,
        /// The model's validation ROC AUC, from its card.
        validation_roc_auc: Option<f64>,
        /// The CT it was computed on: the viewer drops a result of a case no longer open.
        ct: Arc<CtVolume>,
    },
    Segmented {
        labels: Arc<LabelVolume>,
        model: PathBuf,
        seconds: f64,
        /// What the segmenter did beyond one pass of its network.
        report: SegmentationReport,
        /// The model's Dice on its validation cases, from its card.
        validation_dice: Option<ValidationDice>,
        /// The model card's own tumour sensitivity (the report's may be a user's).
        card_tumour_sensitivity: f64,
        /// The network's last pass, to label again at another tumour sensitivity; `None` when
        /// the locator found no organ.
        output: Option<Arc<SegmenterOutput>>,
        /// The CT it was computed on: the viewer drops a result of a case no longer open.
        ct: Arc<CtVolume>,
    },
    /// The labels of `output` chosen again at `tumour_sensitivity`.
    Relabelled {
        labels: Arc<LabelVolume>,
        tumour_sensitivity: f64,
        /// Tumour pieces under the card's `min_lesion_ml` turned into organ.
        lesions_dropped: usize,
        /// The pass they come from: the viewer drops them if another run replaced it.
        output: Arc<SegmenterOutput>,
    },
    SurfacesReady {
        source: LabelSource,
        generation: u64,
        surfaces: Vec<Surface>,
        lesions: LesionTable,
    },
    /// Lesion matching, Dice/IoU and agreement surfaces of a (ground truth, prediction) pair.
    Compared {
        generations: (u64, u64),
        matching: LesionMatching,
        scores: SegmentationScores,
        /// True-positive / false-positive / false-negative surfaces of the organ and of the
        /// lesions (`surface.structure` says which).
        agreement: Vec<AgreementSurface>,
    },
    /// A file was written.
    Saved {
        path: PathBuf,
    },
    /// Mesh files were written into `dir`.
    MeshesExported {
        dir: PathBuf,
        files: Vec<PathBuf>,
        /// Files of an earlier export removed (see `Request::ExportMeshes::stale`).
        removed: Vec<PathBuf>,
    },
    /// The data check of `root` (an error when the folder could not be read at all).
    DatasetChecked {
        root: PathBuf,
        result: Result<DatasetCheck, String>,
    },
    /// A synthetic data set was written into `root`.
    DatasetGenerated {
        root: PathBuf,
    },
    /// Progress of the training run of `kind`.
    Training {
        kind: ModelKind,
        event: TrainingEvent,
    },
    /// The validation case the training previews on (open it to watch).
    TrainingPreviewCase {
        ct: PathBuf,
        ground_truth: PathBuf,
    },
    /// The model after `epoch`, run on the preview case `ct_path`.
    TrainingPreviewReady {
        kind: ModelKind,
        epoch: usize,
        ct_path: PathBuf,
        /// The checkpoint that made it.
        model: PathBuf,
        preview: TrainingPreview,
    },
    /// The run ended (finished or stopped) with these models' outcomes; `root` is its folder.
    TrainingFinished {
        root: PathBuf,
        outcomes: Vec<(ModelKind, TrainingOutcome)>,
    },
    /// The job stopped at the user's request; nothing is wrong.
    Cancelled(JobKind),
    Failed {
        job: JobKind,
        message: String,
    },
}
