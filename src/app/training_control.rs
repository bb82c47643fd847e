//! How the app drives the training panel: checks and generates data sets, starts, pauses,
//! stops and resumes runs on the training thread, follows their events, shows the preview
//! and adopts the trained models.

use std::path::PathBuf;

use super::OncoscopeApp;
use super::startup::TrainingStart;
use super::state::{ClassifierResult, Command};
use super::training::{
    DataCheck, ModelCurves, PendingPreview, RunStatus, StepProgress, TrainingRun,
    models_with_checkpoint,
};
use crate::jobs::{Event, JobKind, LabelSource, Request, TrainingPreview, TrainingRequest};
use crate::model::ModelKind;
use crate::model::progress::RunControl;
use crate::model::training::{TrainingEvent, read_curves};
use crate::volume::decathlon::read_dataset;

impl OncoscopeApp {
    /// `view --train`: the panel opens set up for `start` and the run starts (or resumes when
    /// the output folder holds one).
    pub(super) fn start_training_at_startup(&mut self, start: &TrainingStart) {
        let settings = &mut self.prefs.training;
        settings.data_dir = start.data.display().to_string();
        settings.out_dir = start.out.display().to_string();
        // The task given on the command line, else the one the data set declares.
        settings.task = self
            .startup
            .task
            .or_else(|| read_dataset(&start.data).ok().and_then(|d| d.task()))
            .unwrap_or(self.prefs.task);
        if let Some(epochs) = start.epochs {
            settings.epochs = epochs;
        }
        if let Some(grid) = start.grid {
            settings.grid = grid;
        }
        self.training.visible = true;
        let resume =
            !models_with_checkpoint(&start.out, &settings.models.kinds(), "last").is_empty();
        self.command(Command::CheckTrainingData(start.data.clone()));
        self.command(Command::StartTraining { resume });
    }

    /// Applies a training command; `false` when `command` is not one.
    pub(super) fn apply_training(&mut self, command: &Command) -> bool {
        match command {
            Command::CheckTrainingData(root) => self.check_training_data(root.clone()),
            Command::GenerateTrainingData => self.generate_training_data(),
            Command::StartTraining { resume } => self.start_training(*resume),
            Command::PauseTraining(pause) => self.pause_training(*pause),
            Command::StopTraining => self.stop_training(),
            Command::AdoptTrainedModel => self.adopt_trained_model(),
            Command::SetTrainingOutput(dir) => {
                self.prefs.training.out_dir = dir.display().to_string();
            }
            _ => return false,
        }
        true
    }

    fn check_training_data(&mut self, root: PathBuf) {
        self.prefs.training.data_dir = root.display().to_string();
        self.training.check = Some(DataCheck::Checking {
            root: root.clone(),
            fraction: 0.0,
            message: "Reading the data set".into(),
        });
        self.workers.submit(Request::CheckDataset {
            root,
            task: Some(self.prefs.training.task),
        });
    }

    fn generate_training_data(&mut self) {
        let settings = &self.prefs.training;
        let out = PathBuf::from(settings.synth_dir.trim());
        if out.as_os_str().is_empty() || settings.synth_cases == 0 {
            self.notify_error("Synthetic data: give a folder and at least one case");
            return;
        }
        if self.training.generating.is_some() {
            self.notify_error("A data set is already being written");
            return;
        }
        self.training.generating = Some((out.clone(), 0.0, "Starting".into()));
        self.workers.submit(Request::GenerateDataset {
            out,
            task: settings.task,
            cases: settings.synth_cases,
            seed: settings.synth_seed,
            scan_range: settings.synth_scan_range,
            pancreas_build: settings.synth_pancreas_build,
            liver_fat_clefts: settings.synth_liver_fat_clefts,
        });
    }

    fn start_training(&mut self, resume: bool) {
        if self.training.running() {
            self.notify_error("A training run is already going: stop it first");
            return;
        }
        let config = match self.prefs.training.config() {
            Ok(config) => config,
            Err(e) => {
                self.notify_error(format!("Training: {e}"));
                return;
            }
        };
        let kinds = self.prefs.training.models.kinds();
        let existing = models_with_checkpoint(&config.out, &kinds, "last");
        if resume && existing.is_empty() {
            self.notify_error(format!(
                "Training: {} holds no run to resume",
                config.out.display()
            ));
            return;
        }
        if !resume && !existing.is_empty() {
            self.notify_error(format!(
                "Training: {} already holds a run; resume it or choose another output folder",
                config.out.display()
            ));
            return;
        }
        let control = RunControl::new();
        let mut run = TrainingRun::new(config.out.clone(), kinds.clone(), control.clone());
        run.log.push(format!(
            "{} {} on {} into {}",
            if resume { "Resuming" } else { "Training" },
            self.prefs.training.models.label(),
            config.data.display(),
            config.out.display()
        ));
        self.training.run = Some(run);
        // Frame times are measured while the run trains (printed by scripted screenshots).
        if !self.pacing.measuring() {
            self.pacing.start_measuring();
        }
        self.workers
            .submit(Request::Train(Box::new(TrainingRequest {
                config,
                kinds,
                resume,
                device: self.prefs.training.device.clone(),
                control,
                preview: self.prefs.training.preview,
            })));
    }

    fn pause_training(&mut self, pause: bool) {
        let Some(run) = self.training.run.as_mut().filter(|r| r.status.is_active()) else {
            return;
        };
        if pause {
            run.control.pause.pause();
            run.status = RunStatus::Paused;
            run.log.push("Paused".into());
        } else {
            run.control.pause.resume();
            run.status = RunStatus::Running;
            run.log.push("Continued".into());
        }
    }

    fn stop_training(&mut self) {
        if let Some(run) = self.training.run.as_mut().filter(|r| r.status.is_active()) {
            run.control.cancel.cancel();
            run.status = RunStatus::Stopping;
            run.log.push("Stopping after the current step".into());
        }
    }

    /// "Use this model": the viewer's models come from the run folder (its best checkpoints),
    /// and run at once on the open case.
    fn adopt_trained_model(&mut self) {
        let (root, kinds) = match &self.training.run {
            Some(run) => (run.root.clone(), run.kinds.clone()),
            None => match self.prefs.training.config() {
                Ok(config) => (config.out, self.prefs.training.models.kinds()),
                Err(e) => {
                    self.notify_error(format!("Training: {e}"));
                    return;
                }
            },
        };
        let adopted = models_with_checkpoint(&root, &kinds, "best");
        if adopted.is_empty() {
            self.notify_error(format!(
                "{}: no trained model yet (no best checkpoint)",
                root.display()
            ));
            return;
        }
        self.prefs.weights_dir = Some(root.clone());
        self.prefs.task = self.prefs.training.task;
        let names: Vec<&str> = adopted.iter().map(|k| k.label()).collect();
        self.notify_info(format!(
            "Using the {} from {}",
            names.join(" and "),
            root.display()
        ));
        if self.case.is_some() {
            self.run_models(
                adopted.contains(&ModelKind::Cnn),
                adopted.contains(&ModelKind::Unet),
            );
        }
    }

    /// Handles a training-related event; gives it back when it is not one.
    pub(super) fn handle_training_event(&mut self, event: Event) -> Option<Event> {
        match event {
            Event::Progress {
                job: JobKind::CheckData,
                fraction,
                message,
            } => {
                if let Some(DataCheck::Checking {
                    fraction: f,
                    message: m,
                    ..
                }) = &mut self.training.check
                {
                    *f = fraction.unwrap_or(0.0);
                    *m = message;
                }
            }
            Event::Progress {
                job: JobKind::Generate,
                fraction,
                message,
            } => {
                if let Some((_, f, m)) = &mut self.training.generating {
                    *f = fraction.unwrap_or(0.0);
                    *m = message;
                }
            }
            Event::DatasetChecked { root, result } => {
                self.training.check = Some(match result {
                    Ok(check) => DataCheck::Done(check),
                    Err(message) => DataCheck::Failed { root, message },
                });
            }
            Event::DatasetGenerated { root } => {
                self.training.generating = None;
                self.notify_info(format!("Synthetic data set written to {}", root.display()));
                self.check_training_data(root);
            }
            Event::Training { kind, event } => self.follow_training(kind, event),
            Event::TrainingPreviewCase { ct, ground_truth } => {
                let earlier_preview = self
                    .training
                    .run
                    .as_mut()
                    .and_then(|run| run.preview_case.replace(ct.clone()));
                let open = self.case.as_ref().is_some_and(|c| c.ct_path == ct);
                // A case the user ran the models on stays open: its results would be lost.
                let keeps_results = self.case.as_ref().is_some_and(|c| {
                    let a_preview = earlier_preview.as_ref() == Some(&c.ct_path);
                    !a_preview && (c.segmentation_run.is_some() || c.classification.is_some())
                });
                if !open && keeps_results {
                    self.notify_info(format!(
                        "Training preview: open {} to watch the model learn (the case open, \
                         with its results, stays)",
                        ct.display()
                    ));
                } else if !open {
                    let task = Some(self.prefs.training.task);
                    self.command(Command::OpenCase {
                        ct,
                        ground_truth: Some(ground_truth),
                        task,
                    });
                }
            }
            Event::TrainingPreviewReady {
                kind: _,
                epoch,
                ct_path,
                model,
                preview,
            } => {
                if let Some(run) = &mut self.training.run {
                    run.latest_preview = Some(PendingPreview {
                        ct_path,
                        model,
                        epoch,
                        preview,
                    });
                }
                self.show_training_preview();
            }
            Event::TrainingFinished { root, outcomes } => {
                if let Some(run) = self.training.run.as_mut().filter(|r| r.root == root) {
                    let stopped = outcomes.iter().any(|(_, o)| o.cancelled);
                    run.status = if stopped {
                        RunStatus::Stopped
                    } else {
                        RunStatus::Finished
                    };
                    run.progress = None;
                    for (kind, outcome) in &outcomes {
                        let best = outcome.best.as_ref().map_or_else(
                            || "no finished epoch".to_string(),
                            |b| format!("best epoch {} (score {:.3})", b.epoch, b.score),
                        );
                        run.log.push(format!(
                            "{} {}: {best}; weights in {}",
                            kind.label(),
                            if outcome.cancelled {
                                "stopped"
                            } else {
                                "finished"
                            },
                            outcome.run_dir.display()
                        ));
                    }
                }
            }
            Event::Failed {
                job: JobKind::Train,
                message,
            } => {
                if let Some(run) = &mut self.training.run {
                    run.status = RunStatus::Failed(message.clone());
                    run.log.push(format!("Failed: {message}"));
                }
                self.notify_error(format!("Training failed: {message}"));
            }
            Event::Failed {
                job: JobKind::CheckData,
                message,
            } => {
                let root = PathBuf::from(&self.prefs.training.data_dir);
                self.training.check = Some(DataCheck::Failed { root, message });
            }
            Event::Failed {
                job: JobKind::Generate,
                message,
            } => {
                self.training.generating = None;
                self.notify_error(format!("Generating the data set failed: {message}"));
            }
            other => return Some(other),
        }
        None
    }

    fn follow_training(&mut self, kind: ModelKind, event: TrainingEvent) {
        let Some(run) = &mut self.training.run else {
            return;
        };
        run.current = Some(kind);
        match event {
            TrainingEvent::Preparing { done, total, .. } => run.preparing = Some((done, total)),
            TrainingEvent::Started {
                train_cases,
                validation_cases,
                first_epoch,
                epochs,
                ..
            } => {
                run.preparing = None;
                run.progress = Some(StepProgress {
                    epoch: first_epoch,
                    epochs,
                    step: 0,
                    steps: 0,
                    eta_s: f64::NAN,
                });
                run.log.push(format!(
                    "{}: {train_cases} training and {validation_cases} validation cases, epochs {first_epoch} to {epochs}",
                    kind.label()
                ));
                // A resumed run shows its earlier epochs too.
                let earlier: Vec<_> = read_curves(&run.run_dir(kind).join("curves.csv"))
                    .into_iter()
                    .filter(|e| e.epoch < first_epoch)
                    .collect();
                if let Some(curves) = run.curves_mut(kind) {
                    *curves = ModelCurves {
                        kind,
                        step_losses: Vec::new(),
                        epochs: earlier,
                    };
                }
            }
            TrainingEvent::Step {
                epoch,
                step,
                steps,
                loss,
                eta_s,
            } => {
                let epochs = run.progress.map_or(epoch, |p| p.epochs);
                run.progress = Some(StepProgress {
                    epoch,
                    epochs,
                    step,
                    steps,
                    eta_s,
                });
                let x = (epoch - 1) as f64 + step as f64 / steps.max(1) as f64;
                if let Some(curves) = run.curves_mut(kind) {
                    curves.step_losses.push([x, loss]);
                }
            }
            TrainingEvent::Epoch(summary) => {
                run.epochs_finished += 1;
                let metrics: Vec<String> = summary
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{} {v:.3}", k.replace('_', " ")))
                    .collect();
                run.log.push(format!(
                    "{} epoch {}: train loss {:.4}, validation loss {:.4}, {}{} ({:.0} s)",
                    kind.label(),
                    summary.epoch,
                    summary.train_loss,
                    summary.validation_loss,
                    metrics.join(", "),
                    if summary.is_best { "  <- best" } else { "" },
                    summary.seconds
                ));
                if let Some(curves) = run.curves_mut(kind) {
                    curves.epochs.push(summary);
                }
            }
        }
    }

    /// Shows the latest preview when its case is the open one.
    pub(super) fn show_training_preview(&mut self) {
        let Some(pending) = self
            .training
            .run
            .as_mut()
            .and_then(|r| r.latest_preview.take())
        else {
            return;
        };
        let open = self
            .case
            .as_ref()
            .is_some_and(|c| c.ct_path == pending.ct_path);
        if !open {
            // Kept until the preview case has loaded.
            if let Some(run) = &mut self.training.run {
                run.latest_preview = Some(pending);
            }
            return;
        }
        match pending.preview {
            TrainingPreview::Segmentation(labels) => {
                let layer = self.new_layer(pending.model, labels);
                if let Some(case) = &mut self.case {
                    case.prediction = Some(layer);
                    case.segmentation_run = None;
                    case.segmenter_output = None;
                }
                self.request_surfaces(LabelSource::Prediction);
            }
            TrainingPreview::Classification(result) => {
                if let Some(case) = &mut self.case {
                    case.classification = Some(ClassifierResult {
                        result,
                        model: pending.model,
                        validation_roc_auc: None,
                    });
                }
            }
        }
    }
}
