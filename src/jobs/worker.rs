//! [`Workers`]: the file/mesh thread, the ML thread and the training thread, their queues and
//! the event channel.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Instant;

use super::priority::{background_pool, lower_current_thread_priority};
use super::requests::{AnalysisRequest, Event, JobKind, LabelSource, Request};
use super::training::training_job;
use crate::mesh::{
    ExportFormat, Structure, TaubinParams, agreement_surfaces, extract_surfaces, lesion_table,
    match_lesions, write_surface,
};
use crate::model::ModelKind;
use crate::model::checkpoint::{LoadedModel, check_tumour_sensitivity, device_by_name};
use crate::model::inference::{Segmentation, Stage, classify_reusing, locator_is, segment_keeping};
use crate::model::metrics::SegmentationScores;
use crate::model::progress::CancelToken;
use crate::model::weights::{check_model_task, model_stem};
use crate::volume::dataset_check::check_dataset;
use crate::volume::decathlon::{check_task_labels, task_of_image};
use crate::volume::nifti::{read_ct, read_labels_for, write_in_source_grid};
use crate::volume::phantom::PhantomOptions;
use crate::volume::phantom_dataset::write_phantom_dataset;
use crate::volume::{CtVolume, LabelVolume, VolumeError};

/// Lesions smaller than this (mL) are left out of the viewer's lesion table.
pub const VIEWER_MIN_LESION_ML: f64 = 0.05;

/// Smoothing of the viewer's surfaces.
const VIEWER_SMOOTHING_ITERATIONS: usize = 10;

/// Callback that wakes the UI when an event is sent.
type Notify = Arc<dyn Fn() + Send + Sync>;

/// The worker threads. Dropping it closes their queues; they finish the current job and exit
/// (a training run is stopped first).
pub struct Workers {
    general: Option<Sender<Request>>,
    /// Checking and writing training data sets: minutes of file work that must not hold up
    /// opening or saving a case on `general`.
    data: Option<Sender<Request>>,
    ml: Option<Sender<Request>>,
    training: Option<Sender<Request>>,
    /// The run in progress, stopped when the workers are dropped.
    training_control: std::sync::Mutex<Option<crate::model::progress::RunControl>>,
    events: Receiver<Event>,
    threads: Vec<JoinHandle<()>>,
}

/// Sends events and wakes the UI.
#[derive(Clone)]
pub(super) struct Reporter {
    events: Sender<Event>,
    notify: Notify,
}

impl Reporter {
    pub(super) fn send(&self, event: Event) {
        // The UI may have gone away while a job ran; nothing to do then.
        let _ = self.events.send(event);
        (self.notify)();
    }

    fn progress(&self, job: JobKind, fraction: Option<f32>, message: impl Into<String>) {
        self.send(Event::Progress {
            job,
            fraction,
            message: message.into(),
        });
    }

    pub(super) fn failed(&self, job: JobKind, message: String) {
        self.send(Event::Failed { job, message });
    }
}

impl Workers {
    /// Starts the threads; `notify` is called after every event (e.g. egui's
    /// `Context::request_repaint`).
    pub fn spawn(notify: impl Fn() + Send + Sync + 'static) -> std::io::Result<Self> {
        let (event_tx, events) = channel();
        let reporter = Reporter {
            events: event_tx,
            notify: Arc::new(notify),
        };
        let (general_tx, general_rx) = channel::<Request>();
        let (ml_tx, ml_rx) = channel::<Request>();
        let general_reporter = reporter.clone();
        let reporter_for_training = reporter.clone();
        let file_thread = |name: &str, requests: Receiver<Request>, reporter: Reporter| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    for request in requests {
                        run_guarded(&reporter, job_kind(&request), || {
                            run_general(request, &reporter)
                        });
                    }
                })
        };
        let general = file_thread("oncoscope-files", general_rx, general_reporter)?;
        let (data_tx, data_rx) = channel::<Request>();
        let data = file_thread("oncoscope-data", data_rx, reporter.clone())?;
        let ml = std::thread::Builder::new()
            .name("oncoscope-ml".into())
            .spawn(move || {
                // The networks run on a pool of lower-priority threads, so the window keeps
                // drawing while they use every core.
                lower_current_thread_priority();
                let pool = background_pool();
                let mut models = ModelCache::default();
                for request in ml_rx {
                    let kind = job_kind(&request);
                    let job =
                        || run_guarded(&reporter, kind, || run_ml(request, &reporter, &mut models));
                    match &pool {
                        Some(pool) => pool.install(job),
                        None => job(),
                    }
                    crate::memory::release_free_memory();
                }
            })?;
        // Training has a thread of its own, so the models can still be run while it trains;
        // like the ML thread it runs at lowered priority.
        let (training_tx, training_rx) = channel::<Request>();
        let training_reporter = reporter_for_training;
        let training = std::thread::Builder::new()
            .name("oncoscope-training".into())
            .spawn(move || {
                lower_current_thread_priority();
                let pool = background_pool();
                for request in training_rx {
                    let Request::Train(run) = request else {
                        continue;
                    };
                    let job = || {
                        run_guarded(&training_reporter, JobKind::Train, || {
                            training_job(*run, &training_reporter)
                        })
                    };
                    match &pool {
                        Some(pool) => pool.install(job),
                        None => job(),
                    }
                    crate::memory::release_free_memory();
                }
            })?;
        Ok(Self {
            general: Some(general_tx),
            data: Some(data_tx),
            ml: Some(ml_tx),
            training: Some(training_tx),
            training_control: Default::default(),
            events,
            threads: vec![general, data, ml, training],
        })
    }

    /// Queues a request on the thread that handles it.
    pub fn submit(&self, request: Request) {
        let queue = match &request {
            Request::Analyse(_) | Request::Relabel { .. } => &self.ml,
            Request::CheckDataset { .. } | Request::GenerateDataset { .. } => &self.data,
            Request::Train(run) => {
                if let Ok(mut control) = self.training_control.lock() {
                    *control = Some(run.control.clone());
                }
                &self.training
            }
            _ => &self.general,
        };
        if let Some(queue) = queue {
            // A send fails only if the thread died, which `run_guarded` prevents.
            let _ = queue.send(request);
        }
    }

    /// Events sent since the last call, oldest first.
    pub fn poll(&self) -> Vec<Event> {
        self.events.try_iter().collect()
    }

    /// Blocks until the next event (for tests and scripts), or `None` after `timeout`.
    pub fn wait_event(&self, timeout: std::time::Duration) -> Option<Event> {
        self.events.recv_timeout(timeout).ok()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // A training run could go on for hours: stop it (its checkpoints stay).
        if let Ok(Some(control)) = self.training_control.lock().map(|c| c.clone()) {
            control.cancel.cancel();
        }
        self.general.take();
        self.data.take();
        self.ml.take();
        self.training.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn job_kind(request: &Request) -> JobKind {
    match request {
        Request::LoadCase { .. } | Request::LoadGroundTruth { .. } => JobKind::Load,
        Request::Analyse(a) if a.classify && !a.segment => JobKind::Classify,
        Request::Analyse(_) => JobKind::Segment,
        Request::Relabel { .. } => JobKind::Relabel,
        Request::Surfaces { .. } | Request::Compare { .. } => JobKind::Surfaces,
        Request::SaveLabels { .. } | Request::ExportMeshes { .. } => JobKind::Save,
        Request::CheckDataset { .. } => JobKind::CheckData,
        Request::GenerateDataset { .. } => JobKind::Generate,
        Request::Train(_) => JobKind::Train,
    }
}

/// Runs a job, turning an error or a panic into a `Failed` event.
fn run_guarded(reporter: &Reporter, job: JobKind, work: impl FnOnce() -> anyhow::Result<()>) {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => reporter.failed(job, format!("{e:#}")),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            reporter.failed(
                job,
                format!("internal error ({what}); the app keeps running"),
            );
        }
    }
}

fn run_general(request: Request, reporter: &Reporter) -> anyhow::Result<()> {
    match request {
        Request::LoadCase {
            ct_path,
            ground_truth_path,
            task,
            cancel,
        } => {
            reporter.progress(
                JobKind::Load,
                Some(0.1),
                format!("Reading {}", display_name(&ct_path)),
            );
            let ct = Arc::new(read_ct(&ct_path)?);
            if cancel.is_cancelled() {
                reporter.send(Event::Cancelled(JobKind::Load));
                return Ok(());
            }
            // A ground truth that cannot be used does not keep its CT from opening: the CT
            // opens without it, and why is said.
            let mut unusable_truth = None;
            let ground_truth = match ground_truth_path {
                Some(path) => {
                    reporter.progress(
                        JobKind::Load,
                        Some(0.7),
                        format!("Reading {}", display_name(&path)),
                    );
                    match read_ground_truth(&path, &ct) {
                        Ok(labels) => Some((path, Arc::new(labels))),
                        Err(e) => {
                            unusable_truth = Some(e);
                            None
                        }
                    }
                }
                None => None,
            };
            let task = task.or_else(|| task_of_image(&ct_path));
            reporter.send(Event::CaseLoaded {
                ct_path,
                hu_range: ct.hu_range(),
                ct,
                ground_truth,
                task,
            });
            if let Some(e) = unusable_truth {
                reporter.failed(
                    JobKind::Load,
                    format!("{e} (the CT is open without this ground truth)"),
                );
            }
        }
        Request::LoadGroundTruth { path, ct } => {
            reporter.progress(
                JobKind::Load,
                None,
                format!("Reading {}", display_name(&path)),
            );
            let labels = Arc::new(read_ground_truth(&path, &ct)?);
            reporter.send(Event::GroundTruthLoaded { path, labels, ct });
        }
        Request::Surfaces {
            labels,
            source,
            generation,
            shown,
            cancel,
        } => {
            // A label map replaced since it was asked for (its result would be dropped): the
            // newer one's job, queued behind this, ends the viewer's surfaces job.
            if shown.is_shown(source, generation) {
                surfaces_job(&labels, source, generation, &cancel, reporter)?;
            }
        }
        Request::Compare {
            truth,
            prediction,
            generations,
            min_lesion_ml,
            shown,
        } => {
            let current = shown.is_shown(LabelSource::GroundTruth, generations.0)
                && shown.is_shown(LabelSource::Prediction, generations.1);
            if current && let Some(matching) = match_lesions(&truth, &prediction, min_lesion_ml) {
                let scores = SegmentationScores::compare(&truth.voxels, &prediction.voxels);
                let smoothing = TaubinParams::with_iterations(VIEWER_SMOOTHING_ITERATIONS);
                let mut agreement = Vec::new();
                for structure in Structure::ALL {
                    agreement.extend(agreement_surfaces(
                        &truth,
                        &prediction,
                        structure,
                        &smoothing,
                    )?);
                }
                reporter.send(Event::Compared {
                    generations,
                    matching,
                    scores,
                    agreement,
                });
            }
        }
        Request::SaveLabels { labels, path } => {
            reporter.progress(
                JobKind::Save,
                None,
                format!("Writing {}", display_name(&path)),
            );
            write_in_source_grid(&path, &labels)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            reporter.send(Event::Saved { path });
        }
        Request::ExportMeshes {
            dir,
            surfaces,
            stale,
        } => {
            reporter.progress(
                JobKind::Save,
                None,
                format!("Writing meshes to {}", dir.display()),
            );
            std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            let mut files = Vec::with_capacity(surfaces.len());
            for (name, surface) in &surfaces {
                let path = dir.join(name);
                write_surface(&path, surface, ExportFormat::Ply)?;
                files.push(path);
            }
            let mut removed = Vec::new();
            for name in &stale {
                let path = dir.join(name);
                if path.is_file() {
                    std::fs::remove_file(&path)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    removed.push(path);
                }
            }
            reporter.send(Event::MeshesExported {
                dir,
                files,
                removed,
            });
        }
        Request::CheckDataset { root, task } => {
            let mut on_case = |done: usize, total: usize, id: &str| {
                reporter.progress(
                    JobKind::CheckData,
                    Some(done as f32 / total.max(1) as f32),
                    format!("Checking {id} ({done} of {total})"),
                );
            };
            let result = check_dataset(&root, task, &mut on_case).map_err(|e| e.to_string());
            reporter.send(Event::DatasetChecked { root, result });
        }
        Request::GenerateDataset {
            out,
            task,
            cases,
            seed,
            scan_range,
            pancreas_build,
            liver_fat_clefts,
        } => {
            write_phantom_dataset(
                &out,
                task,
                cases,
                seed,
                &PhantomOptions {
                    scan_range,
                    pancreas_build,
                    liver_fissures: liver_fat_clefts,
                    liver_hilar_fat: liver_fat_clefts,
                    ..PhantomOptions::small()
                },
                &mut |index, id, _, _| {
                    reporter.progress(
                        JobKind::Generate,
                        Some((index + 1) as f32 / cases as f32),
                        format!("Wrote {id} ({} of {cases})", index + 1),
                    );
                },
            )?;
            reporter.send(Event::DatasetGenerated { root: out });
        }
        Request::Analyse(_) | Request::Relabel { .. } | Request::Train(_) => {
            unreachable!("model requests go to the ML and training threads")
        }
    }
    Ok(())
}

fn surfaces_job(
    labels: &LabelVolume,
    source: LabelSource,
    generation: u64,
    cancel: &CancelToken,
    reporter: &Reporter,
) -> anyhow::Result<()> {
    reporter.progress(JobKind::Surfaces, None, "Building surfaces");
    let smoothing = TaubinParams::with_iterations(VIEWER_SMOOTHING_ITERATIONS);
    let surfaces = extract_surfaces(labels, &smoothing)?;
    if cancel.is_cancelled() {
        reporter.send(Event::Cancelled(JobKind::Surfaces));
        return Ok(());
    }
    let lesions = lesion_table(labels, VIEWER_MIN_LESION_ML);
    reporter.send(Event::SurfacesReady {
        source,
        generation,
        surfaces,
        lesions,
    });
    Ok(())
}

/// Loaded models by (file stem, device name, weights file time), so a second run skips
/// loading and a checkpoint rewritten by training is loaded afresh.
#[derive(Default)]
struct ModelCache {
    models: HashMap<(PathBuf, String, Option<std::time::SystemTime>), Arc<LoadedModel>>,
}

impl ModelCache {
    fn get(&mut self, stem: &Path, device_name: &str) -> anyhow::Result<Arc<LoadedModel>> {
        let modified = std::fs::metadata(crate::model::checkpoint::weights_path(stem))
            .and_then(|m| m.modified())
            .ok();
        let key = (stem.to_path_buf(), device_name.to_string(), modified);
        if let Some(model) = self.models.get(&key) {
            return Ok(model.clone());
        }
        let device = device_by_name(device_name)?;
        let model = Arc::new(LoadedModel::load(stem, &device)?);
        self.models.insert(key, model.clone());
        Ok(model)
    }
}

/// The cached `model`, or a copy of it run with `tumour_sensitivity` instead of its card's
/// (a cheap copy: the weights are shared). The copy's card differs from the file's, so a
/// classifier behind it runs its own locator, as it learnt, instead of reusing its labels.
fn with_tumour_sensitivity(
    model: Arc<LoadedModel>,
    tumour_sensitivity: Option<f64>,
) -> anyhow::Result<Arc<LoadedModel>> {
    match tumour_sensitivity {
        Some(sensitivity) if sensitivity != model.card.tumour_sensitivity => {
            check_tumour_sensitivity(model.card.architecture.kind, sensitivity)
                .map_err(anyhow::Error::msg)?;
            let mut copy = (*model).clone();
            copy.card.tumour_sensitivity = sensitivity;
            Ok(Arc::new(copy))
        }
        _ => Ok(model),
    }
}

fn run_ml(request: Request, reporter: &Reporter, models: &mut ModelCache) -> anyhow::Result<()> {
    let analysis = match request {
        Request::Analyse(analysis) => analysis,
        Request::Relabel {
            ct,
            output,
            tumour_sensitivity,
        } => {
            let (labels, lesions_dropped) = output.relabel(&ct, tumour_sensitivity)?;
            reporter.send(Event::Relabelled {
                labels: Arc::new(labels),
                tumour_sensitivity,
                lesions_dropped,
                output,
            });
            return Ok(());
        }
        _ => unreachable!("only analysis and relabelling requests go to the ML worker"),
    };
    let AnalysisRequest {
        ct,
        task,
        weights_dir,
        device,
        classify: want_classification,
        segment: want_segmentation,
        tumour_sensitivity,
        cancel,
    } = analysis;
    let find = |kind: ModelKind| {
        model_stem(&weights_dir, task, kind).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no {} {} model (expected {}_{}.json and .safetensors, or a training run folder)",
                weights_dir.display(),
                task.organ(),
                kind.name(),
                task.organ(),
                kind.name()
            )
        })
    };
    // Each model runs on its own: a missing classifier does not stop the segmentation, nor a
    // missing segmenter the classification.
    let classifier = match want_classification.then(|| find(ModelKind::Cnn)) {
        Some(Ok(stem)) => {
            reporter.progress(JobKind::Classify, Some(0.0), "Loading classifier");
            let loaded = models
                .get(&stem, &device)
                .and_then(|model| check_model_task(&model, task).map(|()| model));
            match loaded {
                Ok(model) => Some(model),
                Err(e) => {
                    reporter.failed(JobKind::Classify, format!("{e:#}"));
                    None
                }
            }
        }
        Some(Err(e)) => {
            reporter.failed(JobKind::Classify, format!("{e:#}"));
            None
        }
        None => None,
    };
    // The segmenter as asked for, and its card's own tumour sensitivity.
    let segmenter = want_segmentation.then(|| {
        find(ModelKind::Unet).and_then(|stem| {
            reporter.progress(JobKind::Segment, Some(0.0), "Loading segmenter");
            let model = models.get(&stem, &device)?;
            check_model_task(&model, task)?;
            let card_sensitivity = model.card.tumour_sensitivity;
            Ok((
                with_tumour_sensitivity(model, tumour_sensitivity)?,
                card_sensitivity,
            ))
        })
    });
    // A classifier behind the segmenter (its locator) waits for the segmenter's labels
    // instead of running it again.
    // Each model's failure is reported as its own job's.
    let failed = |job: JobKind, e: &anyhow::Error| reporter.failed(job, format!("{e:#}"));
    if let (Some(classifier), Some(Ok((segmenter, card_sensitivity)))) = (&classifier, &segmenter)
        && locator_is(classifier, segmenter)
    {
        let labels = match run_segmenter(segmenter, *card_sensitivity, &ct, &cancel, reporter) {
            Ok(Some(labels)) => labels,
            Ok(None) => {
                reporter.send(Event::Cancelled(JobKind::Classify));
                return Ok(());
            }
            Err(e) => {
                failed(JobKind::Segment, &e);
                reporter.failed(
                    JobKind::Classify,
                    "it classifies behind the segmentation, which failed".into(),
                );
                return Ok(());
            }
        };
        if let Err(e) = run_classifier(
            classifier,
            &ct,
            Some((segmenter, &labels)),
            &cancel,
            reporter,
        ) {
            failed(JobKind::Classify, &e);
        }
        return Ok(());
    }
    if let Some(classifier) = &classifier {
        match run_classifier(classifier, &ct, None, &cancel, reporter) {
            Ok(true) => {}
            Ok(false) => {
                if segmenter.is_some() {
                    reporter.send(Event::Cancelled(JobKind::Segment));
                }
                return Ok(());
            }
            Err(e) => failed(JobKind::Classify, &e),
        }
    }
    if let Some(segmenter) = segmenter
        && let Err(e) = segmenter.and_then(|(s, card_sensitivity)| {
            run_segmenter(&s, card_sensitivity, &ct, &cancel, reporter)
        })
    {
        failed(JobKind::Segment, &e);
    }
    Ok(())
}

/// Classifies `ct` and reports the verdict; `segmented`: a segmenter's labels on `ct`, reused
/// when it is the classifier's locator. `Ok(false)` when cancelled (reported).
fn run_classifier(
    model: &LoadedModel,
    ct: &Arc<CtVolume>,
    segmented: Option<(&LoadedModel, &LabelVolume)>,
    cancel: &CancelToken,
    reporter: &Reporter,
) -> anyhow::Result<bool> {
    let mut on_stage = stage_reporter(reporter, JobKind::Classify);
    match classify_reusing(model, ct, segmented, cancel, &mut on_stage)? {
        Some(result) => {
            reporter.send(Event::Classified {
                result,
                model: model.path.clone(),
                validation_roc_auc: model.card.metrics.get("roc_auc").copied(),
                ct: ct.clone(),
            });
            Ok(true)
        }
        None => {
            reporter.send(Event::Cancelled(JobKind::Classify));
            Ok(false)
        }
    }
}

/// Segments `ct` and reports the labels; `card_tumour_sensitivity`: the sensitivity of the
/// model's file (`model` may run at a user's). `Ok(None)` when cancelled (reported).
fn run_segmenter(
    model: &LoadedModel,
    card_tumour_sensitivity: f64,
    ct: &Arc<CtVolume>,
    cancel: &CancelToken,
    reporter: &Reporter,
) -> anyhow::Result<Option<Arc<LabelVolume>>> {
    let started = Instant::now();
    let mut on_stage = stage_reporter(reporter, JobKind::Segment);
    match segment_keeping(model, ct, cancel, &mut on_stage)? {
        Some(Segmentation {
            labels,
            report,
            output,
        }) => {
            let labels = Arc::new(labels);
            reporter.send(Event::Segmented {
                labels: labels.clone(),
                model: model.path.clone(),
                seconds: started.elapsed().as_secs_f64(),
                report,
                validation_dice: model.card.validation_dice(),
                card_tumour_sensitivity,
                output: output.map(Arc::new),
                ct: ct.clone(),
            });
            Ok(Some(labels))
        }
        None => {
            reporter.send(Event::Cancelled(JobKind::Segment));
            Ok(None)
        }
    }
}

fn stage_reporter(reporter: &Reporter, job: JobKind) -> impl FnMut(Stage) + '_ {
    move |stage| {
        let (fraction, message) = match stage {
            Stage::Preprocessing => (0.1, "Preprocessing"),
            Stage::Network => (0.3, "Running the network"),
            Stage::Postprocessing => (0.9, "Resampling to the CT grid"),
            Stage::Refining => (0.95, "Re-centring on the organ it found"),
        };
        reporter.progress(job, Some(fraction), message);
    }
}

/// A ground-truth label map for `ct`: on its grid, with only the labels 0, 1 and 2.
fn read_ground_truth(path: &Path, ct: &CtVolume) -> Result<LabelVolume, VolumeError> {
    let labels = read_labels_for(path, ct)?;
    check_task_labels(path, &labels)?;
    Ok(labels)
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::ShownLayers;
    use crate::volume::{Grid, Volume};
    use std::time::Duration;

    /// An organ (label 1) of 12³ voxels with a lesion (label 2) of 4³ inside, in 20³.
    fn organ_with_lesion() -> Arc<LabelVolume> {
        let grid = Grid::axis_aligned([20, 20, 20], [1.0; 3], [0.0; 3]).unwrap();
        let mut voxels = vec![0u8; grid.voxel_count()];
        for z in 4..16 {
            for y in 4..16 {
                for x in 4..16 {
                    let lesion =
                        (8..12).contains(&x) && (8..12).contains(&y) && (8..12).contains(&z);
                    voxels[grid.index(x, y, z)] = if lesion { 2 } else { 1 };
                }
            }
        }
        Arc::new(Volume::new(grid, voxels).unwrap())
    }

    /// The generations of the results that came back, until one of `last` arrives.
    fn results_until(workers: &Workers, last: u64) -> Vec<(&'static str, u64)> {
        let mut seen = Vec::new();
        while let Some(event) = workers.wait_event(Duration::from_secs(60)) {
            let (what, generation) = match event {
                Event::SurfacesReady { generation, .. } => ("surfaces", generation),
                Event::Compared { generations, .. } => ("comparison", generations.1),
                Event::Failed { message, .. } => panic!("{message}"),
                _ => continue,
            };
            seen.push((what, generation));
            if generation == last && what == "comparison" {
                break;
            }
        }
        seen
    }

    #[test]
    fn jobs_for_a_label_map_no_longer_shown_are_skipped() {
        let workers = Workers::spawn(|| {}).unwrap();
        let shown = Arc::new(ShownLayers::default());
        let labels = organ_with_lesion();
        shown.show(LabelSource::GroundTruth, 1);
        // Three predictions in quick succession (a slider dragged): only the last is shown
        // by the time the worker reaches them.
        shown.show(LabelSource::Prediction, 4);
        for generation in [2, 3, 4] {
            workers.submit(Request::Surfaces {
                labels: labels.clone(),
                source: LabelSource::Prediction,
                generation,
                shown: shown.clone(),
                cancel: CancelToken::new(),
            });
            workers.submit(Request::Compare {
                truth: labels.clone(),
                prediction: labels.clone(),
                generations: (1, generation),
                min_lesion_ml: 0.0,
                shown: shown.clone(),
            });
        }
        assert_eq!(
            results_until(&workers, 4),
            [("surfaces", 4), ("comparison", 4)]
        );
        // The one shown is never skipped.
        workers.submit(Request::Surfaces {
            labels: labels.clone(),
            source: LabelSource::Prediction,
            generation: 4,
            shown: shown.clone(),
            cancel: CancelToken::new(),
        });
        let Some(Event::Progress { .. }) = workers.wait_event(Duration::from_secs(60)) else {
            panic!("the shown layer's surfaces job reports progress");
        };
        assert!(matches!(
            workers.wait_event(Duration::from_secs(60)),
            Some(Event::SurfacesReady { generation: 4, .. })
        ));
    }
}
