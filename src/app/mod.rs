//! The viewer application: `eframe::App` that polls job events, draws the UI and applies the
//! commands the UI emits. Owns the open [`Case`], the [`Preferences`] and the workers.

mod startup;
pub mod state;
pub mod training;
mod training_control;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use crate::jobs::{
    AnalysisRequest, CancelToken, Event, JobKind, LabelSource, Request, ShownLayers, Workers,
};
use crate::mesh::{Agreement, Structure};
use crate::model::ModelKind;
use crate::model::checkpoint::check_tumour_sensitivity;
use crate::model::weights::{model_stem, shipped_weights_dir};
use crate::slice::Plane;
use crate::ui::{FileDialogs, FramePacing, SceneView, SliceViewState};
use crate::volume::decathlon::Task;
use crate::volume::nifti::check_output_path;

pub use startup::{DisplayOverrides, StartupPlan, TrainingStart, decathlon_label_for};
use state::{
    Case, ClassifierResult, Command, Comparison, LabelLayer, Preferences, SegmentationRun,
};
use training::TrainingPanel;

/// Storage key of the preferences.
const PREFERENCES_KEY: &str = "oncoscope.preferences";

/// A job in flight, for the progress bar.
#[derive(Debug, Clone)]
pub struct ActiveJob {
    pub kind: JobKind,
    pub fraction: Option<f32>,
    pub message: String,
    pub cancel: CancelToken,
    pub started: Instant,
}

/// A message shown in the window until dismissed.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub error: bool,
    pub text: String,
}

/// The application.
pub struct OncoscopeApp {
    pub(crate) workers: Workers,
    pub(crate) case: Option<Case>,
    pub(crate) prefs: Preferences,
    pub(crate) slice_views: [SliceViewState; 3],
    pub(crate) scene: SceneView,
    /// Loading, analysis and surface jobs in flight.
    pub(crate) jobs: Vec<ActiveJob>,
    pub(crate) notices: Vec<Notice>,
    pub(crate) hovered_voxel: Option<[usize; 3]>,
    /// Text fields of the "open by path" box (for machines without a native file dialog).
    pub(crate) ct_path_input: String,
    pub(crate) label_path_input: String,
    pub(crate) dialogs: FileDialogs,
    pub(crate) pacing: FramePacing,
    pub(crate) startup: StartupPlan,
    /// The training panel and its run.
    pub(crate) training: TrainingPanel,
    next_generation: u64,
    /// The tumour sensitivity the last relabelling of this segmentation was asked for (one
    /// that failed is not asked for again until the slider moves or the models run again).
    relabel_asked: Option<f64>,
    /// The generations of the layers on show, for the workers to skip jobs of replaced ones.
    shown_layers: Arc<ShownLayers>,
    commands: Vec<Command>,
    pending_screenshot: Option<PathBuf>,
    screenshots: (Sender<ScreenshotDone>, Receiver<ScreenshotDone>),
}

/// The outcome of a screenshot request.
pub(crate) struct ScreenshotDone {
    path: PathBuf,
    result: Result<(), String>,
}

impl OncoscopeApp {
    /// Builds the app: restores preferences, starts the workers and follows `startup` (which
    /// case to open, whether to run the models and take a screenshot).
    pub fn new(cc: &eframe::CreationContext<'_>, startup: StartupPlan) -> Self {
        // A scripted run (--screenshot) is reproducible: it neither reads nor writes the
        // user's preferences.
        let scripted = startup.screenshot.is_some();
        let prefs = cc
            .storage
            .filter(|_| !scripted)
            .and_then(|s| eframe::get_value::<Preferences>(s, PREFERENCES_KEY))
            .unwrap_or_default();
        let ctx = cc.egui_ctx.clone();
        let workers = Workers::spawn(move || ctx.request_repaint())
            .expect("the operating system refused to start a worker thread");
        let scene = SceneView::new(cc.wgpu_render_state.clone());
        let mut app = Self {
            workers,
            case: None,
            prefs,
            slice_views: Plane::ALL.map(SliceViewState::new),
            scene,
            jobs: Vec::new(),
            notices: Vec::new(),
            hovered_voxel: None,
            ct_path_input: String::new(),
            label_path_input: String::new(),
            dialogs: FileDialogs::default(),
            pacing: FramePacing::default(),
            startup,
            training: TrainingPanel::default(),
            next_generation: 1,
            relabel_asked: None,
            shown_layers: Arc::default(),
            commands: Vec::new(),
            pending_screenshot: None,
            screenshots: channel(),
        };
        if let Some(task) = app.startup.task {
            app.prefs.task = task;
        }
        if let Some(weights) = app.startup.weights_dir.clone() {
            app.prefs.weights_dir = Some(weights);
        }
        app.startup.display.apply(&mut app.prefs);
        if app.startup.typed_paths {
            app.use_typed_paths();
        }
        if let Some((ct, ground_truth)) = app.startup.case.clone() {
            let task = app.startup.task;
            app.command(Command::OpenCase {
                ct,
                ground_truth,
                task,
            });
        }
        if let Some(start) = app.startup.training.clone() {
            app.start_training_at_startup(&start);
        }
        app
    }

    /// Asks for typed paths instead of native file dialogs from now on (where a dialog would
    /// hang, and in tests).
    pub fn use_typed_paths(&mut self) {
        self.dialogs.use_typed_paths();
    }

    /// The purpose of the typed-path window open now, if any.
    pub fn path_prompt(&self) -> Option<crate::ui::DialogPurpose> {
        self.dialogs.prompt().map(|p| p.purpose)
    }

    /// Queues a command; applied at the end of the frame.
    pub fn command(&mut self, command: Command) {
        self.commands.push(command);
        self.apply_commands();
    }

    /// The user's display and model choices, for scripts and tests.
    pub fn preferences_mut(&mut self) -> &mut Preferences {
        &mut self.prefs
    }

    /// The 3D view (what it has uploaded), for tests.
    pub fn scene(&self) -> &SceneView {
        &self.scene
    }

    /// The open case, if any.
    pub fn case(&self) -> Option<&Case> {
        self.case.as_ref()
    }

    /// The task (organ) the models run for.
    pub fn task(&self) -> Task {
        self.prefs.task
    }

    /// Messages shown in the window.
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// The training panel: its data check and run, for scripts and tests.
    pub fn training(&self) -> &TrainingPanel {
        &self.training
    }

    /// Whether any job is running (training runs are followed in [`Self::training`]).
    pub fn busy(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// The weights folder in use: the user's choice or the shipped one.
    pub fn weights_dir(&self) -> PathBuf {
        self.prefs
            .weights_dir
            .clone()
            .unwrap_or_else(shipped_weights_dir)
    }

    pub(crate) fn notify_error(&mut self, text: impl Into<String>) {
        let text = text.into();
        eprintln!("oncoscope: {text}");
        self.notices.push(Notice { error: true, text });
    }

    pub(crate) fn notify_info(&mut self, text: impl Into<String>) {
        self.notices.push(Notice {
            error: false,
            text: text.into(),
        });
    }

    fn start_job(&mut self, kind: JobKind, cancel: CancelToken, message: &str) {
        self.jobs.retain(|j| j.kind != kind);
        self.jobs.push(ActiveJob {
            kind,
            fraction: None,
            message: message.into(),
            cancel,
            started: Instant::now(),
        });
    }

    fn finish_job(&mut self, kind: JobKind) {
        self.jobs.retain(|j| j.kind != kind);
    }

    fn apply_commands(&mut self) {
        for command in std::mem::take(&mut self.commands) {
            self.apply(command);
        }
    }

    fn apply(&mut self, command: Command) {
        if self.apply_training(&command) {
            return;
        }
        match command {
            Command::OpenCase {
                ct,
                ground_truth,
                task,
            } => {
                let ground_truth = ground_truth.or_else(|| decathlon_label_for(&ct));
                let cancel = CancelToken::new();
                self.start_job(JobKind::Load, cancel.clone(), "Loading");
                self.workers.submit(Request::LoadCase {
                    ct_path: ct,
                    ground_truth_path: ground_truth,
                    task,
                    cancel,
                });
            }
            Command::OpenGroundTruth(_) if self.jobs.iter().any(|j| j.kind == JobKind::Load) => {
                self.notify_error("A CT is still loading: open its ground truth once it is open");
            }
            Command::OpenGroundTruth(path) => match self.case.as_ref().map(|c| c.ct.clone()) {
                Some(ct) => {
                    self.start_job(JobKind::Load, CancelToken::new(), "Loading ground truth");
                    self.workers.submit(Request::LoadGroundTruth { path, ct });
                }
                None => self.notify_error("Open a CT before its ground truth"),
            },
            Command::Run { classify, segment } => self.run_models(classify, segment),
            Command::Cancel => {
                for job in &self.jobs {
                    job.cancel.cancel();
                }
            }
            Command::CancelJob(kind) => {
                for job in self.jobs.iter().filter(|j| j.kind == kind) {
                    job.cancel.cancel();
                }
            }
            Command::SaveSegmentation(path) => self.save_segmentation(&path),
            Command::ExportMeshes(dir) => self.export_meshes(&dir),
            Command::Screenshot(path) => self.request_screenshot(path),
            // Another view maximised: the 3D view is not drawn, and its last frame may show
            // an earlier case.
            Command::SceneScreenshot(_)
                if self
                    .prefs
                    .maximised
                    .is_some_and(|slot| slot != state::ViewSlot::Scene) =>
            {
                self.notify_error(
                    "The 3D view is hidden behind a maximised slice view: show it to save it",
                );
            }
            Command::SceneScreenshot(path) => match self.scene.save_png(&path) {
                Ok(()) => self.notify_info(format!("3D view saved to {}", path.display())),
                Err(e) => self.notify_error(format!("{}: {e:#}", path.display())),
            },
            Command::ResetCamera => self.scene.reset_camera(),
            Command::ChooseWeights(dir) => {
                self.notify_info(format!("Models from {}", dir.display()));
                self.prefs.weights_dir = Some(dir);
            }
            _ => unreachable!("training commands are applied by apply_training"),
        }
    }

    /// Makes `task` the one the models run for, saying so when it changes on opening `ct`.
    fn switch_task(&mut self, task: Task, ct: &Path) {
        if task != self.prefs.task {
            self.prefs.task = task;
            self.notify_info(format!(
                "{}: opened as a {} case: the {} models will run",
                ct.display(),
                task.organ(),
                task.organ()
            ));
        }
    }

    fn run_models(&mut self, classify: bool, segment: bool) {
        let Some(ct) = self.case.as_ref().map(|case| case.ct.clone()) else {
            self.notify_error("Open a CT first");
            return;
        };
        if self
            .jobs
            .iter()
            .any(|j| matches!(j.kind, JobKind::Classify | JobKind::Segment))
        {
            self.notify_error("The models are already running");
            return;
        }
        let weights_dir = self.weights_dir();
        let task = self.prefs.task;
        // The case's results are now this task's: name its labels so.
        if let Some(case) = &mut self.case {
            case.task = task;
        }
        // Asked for both while the folder holds only the segmenter (e.g. a user's training run
        // of the U-Net alone): segment, and say so without calling it a failure.
        let classify =
            if classify && segment && model_stem(&weights_dir, task, ModelKind::Cnn).is_none() {
                self.notify_info(format!(
                    "No {} classifier in {}: segmentation only",
                    task.organ(),
                    weights_dir.display()
                ));
                false
            } else {
                classify
            };
        let cancel = CancelToken::new();
        let request = AnalysisRequest {
            ct,
            task,
            weights_dir,
            device: self.prefs.device.clone(),
            classify,
            segment,
            tumour_sensitivity: self.prefs.tumour_sensitivity,
            cancel: cancel.clone(),
        };
        // One job per model, each ended by its own result or failure.
        if segment {
            self.start_job(JobKind::Segment, cancel.clone(), "Starting");
        }
        if classify {
            self.start_job(JobKind::Classify, cancel, "Starting");
        }
        self.pacing.start_measuring();
        self.workers.submit(Request::Analyse(request));
    }

    fn save_segmentation(&mut self, path: &Path) {
        let Some(prediction) = self.case.as_ref().and_then(|c| c.prediction.as_ref()) else {
            self.notify_error("No segmentation to save yet: run the segmentation first");
            return;
        };
        let case = self
            .case
            .as_ref()
            .expect("a prediction belongs to an open case");
        let inputs: Vec<PathBuf> = std::iter::once(case.ct_path.clone())
            .chain(case.ground_truth.as_ref().map(|t| t.origin.clone()))
            .collect();
        if let Err(e) = check_output_path(path, &inputs) {
            self.notify_error(format!("Not saved: {e}"));
            return;
        }
        // Writing a large .nii.gz takes a while: a job, so the window keeps drawing.
        let request = Request::SaveLabels {
            labels: prediction.labels.clone(),
            path: path.to_path_buf(),
        };
        self.start_job(JobKind::Save, CancelToken::new(), "Saving");
        self.workers.submit(request);
    }

    /// Writes the surfaces shown (prediction and ground truth, and in compare mode the
    /// agreement regions) as PLY files on the file worker.
    fn export_meshes(&mut self, dir: &Path) {
        let Some(case) = &self.case else {
            self.notify_error("Nothing to export: open a CT first");
            return;
        };
        let layer_file =
            |layer: &str, structure: Structure| format!("{layer}_{}.ply", structure.name());
        let region_file = |structure: Structure, agreement: Agreement| {
            let kind = agreement.name().replace(' ', "_");
            format!("{}_{kind}.ply", structure.name())
        };
        let layers = [
            (LabelSource::Prediction, "prediction"),
            (LabelSource::GroundTruth, "ground_truth"),
        ];
        let mut surfaces = Vec::new();
        for (source, name) in layers {
            let Some(layer_surfaces) = case.layer(source).and_then(|l| l.surfaces.as_ref()) else {
                continue;
            };
            for surface in layer_surfaces {
                surfaces.push((layer_file(name, surface.structure), surface.clone()));
            }
        }
        if let Some(comparison) = case.current_comparison() {
            for region in &comparison.agreement {
                let file = region_file(region.surface.structure, region.agreement);
                surfaces.push((file, region.surface.clone()));
            }
        }
        let every_name = Structure::ALL.into_iter().flat_map(|structure| {
            layers
                .iter()
                .map(move |(_, name)| layer_file(name, structure))
                .chain(Agreement::ALL.map(|a| region_file(structure, a)))
        });
        let stale: Vec<String> = every_name
            .filter(|n| !surfaces.iter().any(|(written, _)| written == n))
            .collect();
        if surfaces.is_empty() {
            self.notify_error("No surfaces to export yet");
            return;
        }
        self.start_job(JobKind::Save, CancelToken::new(), "Exporting meshes");
        self.workers.submit(Request::ExportMeshes {
            dir: dir.to_path_buf(),
            surfaces,
            stale,
        });
    }

    fn request_screenshot(&mut self, path: PathBuf) {
        self.pending_screenshot = Some(path);
    }

    /// Handles the workers' events.
    fn handle_events(&mut self) {
        for event in self.workers.poll() {
            let Some(event) = self.handle_training_event(event) else {
                continue;
            };
            match event {
                Event::Progress {
                    job,
                    fraction,
                    message,
                } => {
                    if let Some(active) = self.jobs.iter_mut().find(|j| j.kind == job) {
                        active.fraction = fraction;
                        active.message = message;
                    }
                }
                Event::CaseLoaded {
                    ct_path,
                    ct,
                    hu_range,
                    ground_truth,
                    task,
                } => {
                    self.finish_job(JobKind::Load);
                    // Models still running on the previous case: their results would be
                    // for another CT.
                    for job in &self.jobs {
                        if matches!(job.kind, JobKind::Classify | JobKind::Segment) {
                            job.cancel.cancel();
                        }
                    }
                    self.jobs
                        .retain(|j| !matches!(j.kind, JobKind::Classify | JobKind::Segment));
                    // The pointer over the views belonged to the previous CT's grid.
                    self.hovered_voxel = None;
                    if let Some(task) = task {
                        self.switch_task(task, &ct_path);
                    }
                    self.ct_path_input = ct_path.display().to_string();
                    let mut case = Case::new(ct_path, ct, hu_range, self.prefs.task);
                    for view in &mut self.slice_views {
                        view.clear();
                    }
                    self.scene.clear();
                    // The ground-truth box shows this case's, or nothing: a path left from the
                    // previous case would be sent with the next one typed in.
                    self.label_path_input.clear();
                    if let Some((path, labels)) = ground_truth {
                        self.label_path_input = path.display().to_string();
                        case.ground_truth = Some(self.new_layer(path, labels));
                    }
                    self.case = Some(case);
                    self.request_surfaces(LabelSource::GroundTruth);
                    self.show_training_preview();
                    if self.startup.run_models {
                        self.run_models(true, true);
                    }
                }
                Event::GroundTruthLoaded { path, labels, ct } => {
                    self.finish_job(JobKind::Load);
                    // Checked against a CT no longer open: not this case's.
                    if self.case.as_ref().is_some_and(|c| Arc::ptr_eq(&c.ct, &ct)) {
                        self.label_path_input = path.display().to_string();
                        let layer = self.new_layer(path, labels);
                        if let Some(case) = &mut self.case {
                            case.ground_truth = Some(layer);
                        }
                        self.request_surfaces(LabelSource::GroundTruth);
                    }
                }
                Event::Classified {
                    result,
                    model,
                    validation_roc_auc,
                    ct,
                } => {
                    // A result of a case no longer open is dropped (its job was cancelled
                    // when the new case opened).
                    if let Some(case) = self.case.as_mut().filter(|c| Arc::ptr_eq(&c.ct, &ct)) {
                        case.classification = Some(ClassifierResult {
                            result,
                            model,
                            validation_roc_auc,
                        });
                        self.finish_job(JobKind::Classify);
                    }
                }
                Event::Segmented {
                    labels,
                    model,
                    seconds,
                    report,
                    validation_dice,
                    card_tumour_sensitivity,
                    output,
                    ct,
                } => {
                    if self.case.as_ref().is_some_and(|c| Arc::ptr_eq(&c.ct, &ct)) {
                        self.finish_job(JobKind::Segment);
                        let layer = self.new_layer(model, labels);
                        if let Some(case) = &mut self.case {
                            case.prediction = Some(layer);
                            case.segmentation_run = Some(SegmentationRun {
                                seconds,
                                report,
                                validation_dice,
                                card_tumour_sensitivity,
                            });
                            case.segmenter_output = output;
                        }
                        self.relabel_asked = None;
                        self.request_surfaces(LabelSource::Prediction);
                    }
                }
                Event::Relabelled {
                    labels,
                    tumour_sensitivity,
                    lesions_dropped,
                    output,
                } => {
                    self.finish_job(JobKind::Relabel);
                    // Dropped when another run (or case) replaced the pass it came from.
                    let current = self.case.as_ref().is_some_and(|c| {
                        c.segmenter_output
                            .as_ref()
                            .is_some_and(|o| Arc::ptr_eq(o, &output))
                    });
                    if current {
                        let origin = self.case.as_ref().and_then(|c| c.prediction.as_ref());
                        let origin = origin.map(|p| p.origin.clone()).unwrap_or_default();
                        let layer = self.new_layer(origin, labels);
                        if let Some(case) = &mut self.case {
                            case.prediction = Some(layer);
                            if let Some(run) = &mut case.segmentation_run {
                                run.report.tumour_sensitivity = tumour_sensitivity;
                                run.report.lesions_dropped = lesions_dropped;
                            }
                        }
                        self.request_surfaces(LabelSource::Prediction);
                    }
                }
                Event::SurfacesReady {
                    source,
                    generation,
                    surfaces,
                    lesions,
                } => {
                    self.finish_job(JobKind::Surfaces);
                    if let Some(layer) = self.case.as_mut().and_then(|c| c.layer_mut(source))
                        && layer.generation == generation
                    {
                        layer.surfaces = Some(surfaces);
                        layer.lesions = Some(lesions);
                        self.scene.mark_dirty();
                        self.request_comparison();
                    }
                }
                Event::Compared {
                    generations,
                    matching,
                    scores,
                    agreement,
                } => {
                    if let Some(case) = &mut self.case {
                        case.comparison = Some(Comparison {
                            generations,
                            matching,
                            scores,
                            agreement,
                        });
                        self.scene.mark_dirty();
                    }
                }
                Event::Saved { path } => {
                    self.finish_job(JobKind::Save);
                    self.notify_info(format!("Saved {}", path.display()));
                }
                Event::MeshesExported {
                    dir,
                    files,
                    removed,
                } => {
                    self.finish_job(JobKind::Save);
                    let removed = match removed.len() {
                        0 => String::new(),
                        n => format!(" ({n} of an earlier export, not of this case, removed)"),
                    };
                    self.notify_info(format!(
                        "{} meshes written to {}{removed}",
                        files.len(),
                        dir.display()
                    ));
                }
                Event::Cancelled(job) => {
                    self.finish_job(job);
                    self.notify_info(format!("{} cancelled", job.describe()));
                }
                Event::Failed { job, message } => {
                    // Each model has its own job: a failing classifier ends its own, while
                    // the segmentation goes on.
                    self.finish_job(job);
                    self.notify_error(format!("{} failed: {message}", job.describe()));
                }
                // Taken by `handle_training_event`.
                Event::DatasetChecked { .. }
                | Event::DatasetGenerated { .. }
                | Event::Training { .. }
                | Event::TrainingPreviewCase { .. }
                | Event::TrainingPreviewReady { .. }
                | Event::TrainingFinished { .. } => {}
            }
        }
    }

    /// Labels the last segmentation again, from its network output, when the tumour
    /// sensitivity the user set (or the card's, when none) is not the one it was labelled at:
    /// the slider acts at once, without running the network. One such job at a time; the
    /// next starts from its result, at the sensitivity set by then.
    fn relabel_if_sensitivity_moved(&mut self) {
        let busy = self.jobs.iter().any(|j| {
            matches!(
                j.kind,
                JobKind::Relabel | JobKind::Segment | JobKind::Classify
            )
        });
        let Some(case) = self.case.as_ref().filter(|_| !busy) else {
            return;
        };
        let (Some(run), Some(output)) = (case.segmentation_run, &case.segmenter_output) else {
            return;
        };
        let wanted = self
            .prefs
            .tumour_sensitivity
            .unwrap_or(run.card_tumour_sensitivity);
        if wanted == run.report.tumour_sensitivity
            || self.relabel_asked == Some(wanted)
            || check_tumour_sensitivity(ModelKind::Unet, wanted).is_err()
        {
            return;
        }
        let request = Request::Relabel {
            ct: case.ct.clone(),
            output: output.clone(),
            tumour_sensitivity: wanted,
        };
        self.relabel_asked = Some(wanted);
        self.start_job(
            JobKind::Relabel,
            CancelToken::new(),
            "from the last run's network output",
        );
        self.workers.submit(request);
    }

    /// Ends the frame-time measurement once no model runs any more.
    fn update_pacing(&mut self) {
        let analysing = self
            .jobs
            .iter()
            .any(|j| matches!(j.kind, JobKind::Classify | JobKind::Segment));
        if self.pacing.measuring() && !analysing && !self.training.running() {
            self.pacing.stop_measuring();
        }
    }

    fn new_layer(
        &mut self,
        origin: PathBuf,
        labels: Arc<crate::volume::LabelVolume>,
    ) -> LabelLayer {
        let generation = self.next_generation;
        self.next_generation += 1;
        LabelLayer {
            origin,
            labels,
            generation,
            surfaces: None,
            lesions: None,
        }
    }

    /// Compares ground truth and prediction (on a worker) once both lesion tables exist.
    fn request_comparison(&mut self) {
        let Some(case) = &self.case else { return };
        let (Some(truth), Some(prediction)) = (&case.ground_truth, &case.prediction) else {
            return;
        };
        if truth.lesions.is_none() || prediction.lesions.is_none() {
            return;
        }
        self.workers.submit(Request::Compare {
            truth: truth.labels.clone(),
            prediction: prediction.labels.clone(),
            generations: (truth.generation, prediction.generation),
            min_lesion_ml: crate::jobs::VIEWER_MIN_LESION_ML,
            shown: self.shown_layers.clone(),
        });
    }

    fn request_surfaces(&mut self, source: LabelSource) {
        let Some(layer) = self.case.as_ref().and_then(|c| c.layer(source)) else {
            return;
        };
        // One token for the job and the request, so Cancel reaches the worker.
        let cancel = CancelToken::new();
        self.shown_layers.show(source, layer.generation);
        let request = Request::Surfaces {
            labels: layer.labels.clone(),
            source,
            generation: layer.generation,
            shown: self.shown_layers.clone(),
            cancel: cancel.clone(),
        };
        self.start_job(JobKind::Surfaces, cancel, "Building surfaces");
        self.workers.submit(request);
    }

    /// Screenshot results and the scripted `--screenshot` run.
    fn handle_screenshots(&mut self, ctx: &egui::Context) {
        for done in self.screenshots.1.try_iter().collect::<Vec<_>>() {
            match done.result {
                Ok(()) => {
                    eprintln!("oncoscope: screenshot written to {}", done.path.display());
                    self.notify_info(format!("Screenshot saved to {}", done.path.display()));
                }
                Err(e) => self.notify_error(format!("{}: {e}", done.path.display())),
            }
            if self.startup.screenshot.as_ref() == Some(&done.path) {
                self.pacing.stop_measuring();
                self.pacing.report();
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
        if let Some(path) = self.pending_screenshot.take() {
            let sender = self.screenshots.0.clone();
            let repaint = ctx.clone();
            ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
                egui::ScreenshotCallback::new(move |image| {
                    let result = save_colour_image(&path, &image);
                    let _ = sender.send(ScreenshotDone { path, result });
                    repaint.request_repaint();
                }),
            ));
        }
        if let Some(path) = self.startup.screenshot.clone()
            && !self.startup.screenshot_requested
        {
            let ready = startup::ready_for_screenshot(self);
            if !self.startup.settled(ready) {
                return;
            }
            self.startup.screenshot_requested = true;
            self.pending_screenshot = Some(path);
            ctx.request_repaint();
        }
    }
}

/// Writes an egui screenshot as PNG.
fn save_colour_image(path: &Path, image: &egui::ColorImage) -> Result<(), String> {
    let [width, height] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let buffer = image::RgbaImage::from_raw(width as u32, height as u32, bytes)
        .ok_or("screenshot has an inconsistent size")?;
    crate::ui::write_png(path, &buffer)
}

impl eframe::App for OncoscopeApp {
    /// Quitting stops the jobs that could run for minutes (models, loads), so the window
    /// closes at once instead of waiting for them; a training run is stopped by the workers.
    fn on_exit(&mut self) {
        for job in &self.jobs {
            job.cancel.cancel();
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let frame_started = Instant::now();
        let ctx = ui.ctx().clone();
        self.handle_events();
        self.update_pacing();
        self.handle_dropped_files(&ctx);
        if let Some(command) = self.dialogs.poll() {
            self.commands.push(command);
        }
        crate::ui::draw(self, ui, frame);
        self.apply_commands();
        self.relabel_if_sensitivity_moved();
        self.handle_screenshots(&ctx);
        let scripted = self.startup.screenshot.is_some();
        if self.busy() || self.prefs.auto_rotate || self.dialogs.waiting() || scripted {
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        self.pacing.record(frame_started.elapsed());
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.startup.screenshot.is_none() {
            eframe::set_value(storage, PREFERENCES_KEY, &self.prefs);
        }
    }
}

impl OncoscopeApp {
    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        // A CT dropped with a label map opens with it as its ground truth; a label map alone
        // onto an open case becomes its ground truth; anything else opens.
        let (labels, cts): (Vec<PathBuf>, Vec<PathBuf>) =
            dropped.into_iter().partition(|p| looks_like_labels(p));
        match (cts.first(), labels.first()) {
            (Some(ct), label) => self.commands.push(Command::OpenCase {
                ct: ct.clone(),
                ground_truth: label.cloned(),
                task: None,
            }),
            (None, Some(label)) if self.case.is_some() => {
                self.commands.push(Command::OpenGroundTruth(label.clone()));
            }
            (None, Some(label)) => self.commands.push(Command::OpenCase {
                ct: label.clone(),
                ground_truth: None,
                task: None,
            }),
            (None, None) => {}
        }
    }
}

/// Whether a dropped file is, by its name, a label map rather than a CT: its file name says
/// label, seg or mask, or it lies in a Decathlon `labelsTr`/`labelsTs` folder. Folders above
/// do not count (a CT under `.../TotalSegmentator/...` is a CT).
fn looks_like_labels(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let folder = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    ["label", "seg", "mask"].iter().any(|w| name.contains(w))
        || folder == "labelstr"
        || folder == "labelsts"
}

#[cfg(test)]
mod tests {
    use super::looks_like_labels;
    use std::path::Path;

    #[test]
    fn label_maps_are_told_from_cts_by_their_own_name_or_decathlon_folder() {
        for labels in [
            "/data/case_7_label.nii.gz",
            "/data/seg_totalsegmentator_v2.nii.gz",
            "/data/liver_mask.nii",
            "/data/Task03_Liver/labelsTr/liver_0.nii.gz",
        ] {
            assert!(looks_like_labels(Path::new(labels)), "{labels}");
        }
        for ct in [
            "/data/TotalSegmentator/s0011/ct.nii.gz",
            "/data/segmentations_project/ct.nii.gz",
            "/data/Task03_Liver/imagesTr/liver_0.nii.gz",
        ] {
            assert!(!looks_like_labels(Path::new(ct)), "{ct}");
        }
    }
}
