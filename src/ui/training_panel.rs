//! The training panel (right side): data set check or synthetic data, the run's set-up,
//! start / pause / stop / resume, live curves (egui_plot), the epoch log and "Use this model".

use egui::{Color32, RichText};
use egui_plot::{Legend, Line, Plot, Points};

use super::dialogs::DialogPurpose;
use crate::app::OncoscopeApp;
use crate::app::state::Command;
use crate::app::training::{DataCheck, ModelChoice, ModelCurves, RunStatus, TrainingRun};
use crate::model::checkpoint::MAX_CUBE_REFINEMENTS;
use crate::model::progress::format_duration;
use crate::model::training::crops::{CROP_MULTIPLE, MIN_CROP_VOXELS};
use crate::model::{GlobalPool, ModelKind};
use crate::volume::decathlon::Task;
use crate::volume::phantom::{PancreasBuild, ScanRange};

const PROBLEM: Color32 = Color32::from_rgb(235, 110, 100);
const GOOD: Color32 = Color32::from_rgb(120, 200, 120);
/// Problems listed before "… and N more".
const SHOWN_PROBLEMS: usize = 8;

pub fn training_panel(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.heading("Training");
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("Close").clicked() {
                app.training.visible = false;
            }
        });
    });
    let running = app.training.running();
    ui.separator();
    ui.strong("Data set");
    data_section(app, ui, running);
    ui.separator();
    ui.add_enabled_ui(!running, |ui| setup_section(app, ui));
    ui.separator();
    run_buttons(app, ui, running);
    if let Some(run) = &app.training.run {
        run_status(run, ui);
        for curves in &run.curves {
            if !curves.step_losses.is_empty() || !curves.epochs.is_empty() {
                curve_plots(curves, ui);
            }
        }
        ui.separator();
        ui.strong("Log");
        egui::ScrollArea::vertical()
            .id_salt("training_log")
            .max_height(160.0)
            .stick_to_bottom(true)
            .show(ui, |ui| {
                for line in &run.log {
                    let text = RichText::new(line).small().monospace();
                    let text = if line.contains("<- best") {
                        text.color(GOOD)
                    } else {
                        text
                    };
                    ui.label(text);
                }
            });
    }
}

fn data_section(app: &mut OncoscopeApp, ui: &mut egui::Ui, running: bool) {
    ui.horizontal(|ui| {
        ui.label("Folder");
        ui.add(
            egui::TextEdit::singleline(&mut app.prefs.training.data_dir)
                .hint_text("Decathlon layout: dataset.json, imagesTr/, labelsTr/")
                .desired_width(190.0),
        );
        if ui.button("Browse…").clicked() {
            app.dialogs.open_dialog(DialogPurpose::ChooseTrainingData);
        }
        let has_path = !app.prefs.training.data_dir.trim().is_empty();
        if ui
            .add_enabled(has_path, egui::Button::new("Check"))
            .clicked()
        {
            let root = app.prefs.training.data_dir.trim().into();
            app.command(Command::CheckTrainingData(root));
        }
    });
    match &app.training.check {
        None => {
            ui.label(RichText::new("Check the folder before training.").weak());
        }
        Some(DataCheck::Checking {
            fraction, message, ..
        }) => {
            ui.add(egui::ProgressBar::new(*fraction).text(message.as_str()));
        }
        Some(DataCheck::Failed { root, message }) => {
            ui.label(
                RichText::new(format!("{} is not usable: {message}", root.display()))
                    .color(PROBLEM),
            );
        }
        Some(DataCheck::Done(check)) => {
            let name = check.name.clone().unwrap_or_else(|| "(no name)".into());
            let task = check
                .declared_task
                .map_or("task not declared".to_string(), |t| format!("{t} task"));
            ui.label(format!("{name}, {task}"));
            let usable = check.usable_cases() > 0;
            ui.label(
                RichText::new(format!("{} of {}", check.summary(), check.cases.len()))
                    .color(if usable { GOOD } else { PROBLEM }),
            );
            if let Some(labels) = check.labels_line() {
                ui.label(format!("Labels: {labels}"));
            }
            let problems = check.problems();
            for problem in problems.iter().take(SHOWN_PROBLEMS) {
                ui.label(RichText::new(problem).small().color(PROBLEM));
            }
            if problems.len() > SHOWN_PROBLEMS {
                ui.label(
                    RichText::new(format!(
                        "… and {} more problems",
                        problems.len() - SHOWN_PROBLEMS
                    ))
                    .small()
                    .color(PROBLEM),
                );
            }
        }
    }
    egui::CollapsingHeader::new("Generate a synthetic data set")
        .id_salt("synthetic")
        .show(ui, |ui| {
            let settings = &mut app.prefs.training;
            ui.horizontal(|ui| {
                ui.label("Cases");
                ui.add(egui::DragValue::new(&mut settings.synth_cases).range(1..=1000));
                ui.label("Seed");
                ui.add(egui::DragValue::new(&mut settings.synth_seed));
            });
            ui.horizontal(|ui| {
                ui.label("Folder");
                ui.add(egui::TextEdit::singleline(&mut settings.synth_dir).desired_width(190.0));
            });
            egui::ComboBox::new("synth_scan_range", "Scans")
                .selected_text(settings.synth_scan_range.name())
                .show_ui(ui, |ui| {
                    for range in ScanRange::ALL {
                        ui.selectable_value(&mut settings.synth_scan_range, range, range.name());
                    }
                })
                .response
                .on_hover_text(
                    "abdomen: liver top to kidneys; abdomen-pelvis: on down through the pelvis; \
                     mixed: about half reach the pelvis, a quarter start inside the liver",
                );
            egui::ComboBox::new("synth_pancreas_build", "Pancreas")
                .selected_text(settings.synth_pancreas_build.name())
                .show_ui(ui, |ui| {
                    for build in PancreasBuild::ALL {
                        ui.selectable_value(
                            &mut settings.synth_pancreas_build,
                            build,
                            build.name(),
                        );
                    }
                })
                .response
                .on_hover_text(
                    "full: 60–100 mL, as every shipped model was trained on; atrophic: thin \
                     and fat-laced, 15–40 mL, as in older patients; mixed: half each",
                );
            ui.checkbox(
                &mut settings.synth_liver_fat_clefts,
                "Liver fissures and hilar fat",
            )
            .on_hover_text(
                "Cut the liver's fat-filled fissures (between the lobes, and behind) and the \
                 fat around the portal vein's branches at its hilum, labelled background, as \
                 real livers have them; off: livers without them",
            );
            ui.label(
                RichText::new(format!(
                    "{} phantoms with tumours in most cases, 64–96 voxels per axis",
                    settings.task.organ()
                ))
                .small()
                .weak(),
            );
            match &app.training.generating {
                Some((_, fraction, message)) => {
                    ui.add(egui::ProgressBar::new(*fraction).text(message.as_str()));
                }
                None => {
                    if ui
                        .add_enabled(!running, egui::Button::new("Generate"))
                        .clicked()
                    {
                        app.command(Command::GenerateTrainingData);
                    }
                }
            }
        });
}

fn setup_section(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    let s = &mut app.prefs.training;
    egui::Grid::new("training_setup")
        .num_columns(2)
        .spacing([8.0, 4.0])
        .show(ui, |ui| {
            ui.label("Task");
            ui.horizontal(|ui| {
                for task in Task::ALL {
                    ui.radio_value(&mut s.task, task, task.organ());
                }
            });
            ui.end_row();
            ui.label("Models");
            ui.horizontal(|ui| {
                for choice in ModelChoice::ALL {
                    ui.radio_value(&mut s.models, choice, choice.label());
                }
            });
            ui.end_row();
            ui.label("Device");
            egui::ComboBox::from_id_salt("training_device")
                .selected_text(s.device.as_str())
                .show_ui(ui, |ui| {
                    for device in ["cpu", "cuda", "metal"] {
                        ui.selectable_value(&mut s.device, device.to_string(), device);
                    }
                });
            ui.end_row();
            ui.label("Epochs");
            ui.add(egui::DragValue::new(&mut s.epochs).range(1..=10_000));
            ui.end_row();
            ui.label("Batch size");
            ui.add(egui::DragValue::new(&mut s.batch_size).range(1..=64));
            ui.end_row();
            ui.label("Learning rate");
            ui.add(
                egui::DragValue::new(&mut s.learning_rate)
                    .range(1e-6..=1.0)
                    .speed(1e-4)
                    .max_decimals(6),
            );
            ui.end_row();
            ui.label("Grid (voxels per axis)");
            ui.add(egui::DragValue::new(&mut s.grid).range(16..=256).speed(8.0))
                .on_hover_text("The CT is resampled to this cube; a multiple of 8");
            ui.end_row();
            ui.label("Width (first level)");
            ui.add(egui::DragValue::new(&mut s.base_width).range(1..=64))
                .on_hover_text("Channels of the first level; 16 is the reference network");
            ui.end_row();
            if s.models != ModelChoice::Unet {
                ui.label("Classifier pooling");
                egui::ComboBox::from_id_salt("training_classifier_pool")
                    .selected_text(s.classifier_pool.name())
                    .show_ui(ui, |ui| {
                        for (pool, hint) in [
                            (GlobalPool::MaxCell, "each 16-voxel cell scored and taught where tumour is; the highest cell decides"),
                            (GlobalPool::Max, "the strongest response anywhere decides"),
                            (GlobalPool::Average, "the reference CNN3D: the mean over the volume"),
                        ] {
                            ui.selectable_value(&mut s.classifier_pool, pool, pool.name())
                                .on_hover_text(hint);
                        }
                    });
                ui.end_row();
            }
            ui.label("Validation share");
            ui.add(egui::Slider::new(&mut s.validation_fraction, 0.0..=0.9));
            ui.end_row();
            ui.label("Seed");
            ui.add(egui::DragValue::new(&mut s.seed));
            ui.end_row();
            ui.label("Augmentation");
            ui.horizontal_wrapped(|ui| {
                ui.checkbox(&mut s.augment_rotate, "rotation");
                ui.checkbox(&mut s.augment_flip, "flips");
                ui.checkbox(&mut s.augment_noise, "noise");
                ui.checkbox(&mut s.augment_intensity, "intensity");
            });
            ui.end_row();
            ui.label("Output folder");
            ui.horizontal(|ui| {
                ui.add(egui::TextEdit::singleline(&mut s.out_dir).desired_width(150.0));
                if ui.button("Browse…").clicked() {
                    app.dialogs.open_dialog(DialogPurpose::ChooseTrainingOutput);
                }
            });
            ui.end_row();
        });
    let s = &mut app.prefs.training;
    ui.checkbox(
        &mut s.organ_region,
        "Organ region: the model sees a cube around the organ",
    )
    .on_hover_text(
        "Finer voxels on the organ and its lesions; at inference a whole-box U-Net (the locator) finds the organ first",
    );
    if s.organ_region {
        ui.horizontal(|ui| {
            ui.label("Margin (mm)");
            ui.add(egui::DragValue::new(&mut s.margin_mm).range(0.0..=100.0));
            ui.label("Locator");
            ui.add(
                egui::TextEdit::singleline(&mut s.locator)
                    .hint_text(if s.tumour_channel {
                        "shipped region U-Net"
                    } else {
                        "shipped"
                    })
                    .desired_width(150.0),
            );
        });
        ui.horizontal(|ui| {
            ui.checkbox(&mut s.fill_outside_organ, "Classifier: hide all but the organ, keeping (mm)")
                .on_hover_text(
                    "Voxels farther from the organ (as the locator finds it) take the organ's median HU. \
                     Fat and gas around the organ are darker than any lesion: a classifier learns lesions far better without them. Negative: keep only what lies that deep inside the organ",
                );
            ui.add_enabled(
                s.fill_outside_organ,
                egui::DragValue::new(&mut s.fill_margin_mm).range(-15.0..=30.0),
            );
        });
        ui.checkbox(
            &mut s.tumour_channel,
            "Classifier: also show it where the locator finds tumour",
        )
        .on_hover_text(
            "A second input channel: the tumour the locator labels. With no locator chosen, the shipped U-Net of the organ's region is the locator",
        );
        ui.horizontal(|ui| {
            ui.label("U-Net: re-centre its cube up to");
            ui.add(egui::DragValue::new(&mut s.cube_refinements).range(0..=MAX_CUBE_REFINEMENTS));
            ui.label("times");
        })
        .response
        .on_hover_text(
            "At inference the U-Net re-centres the cube on the organ it outlined and runs again (stops early once the cube stays the same); helps where the locator finds only part of the organ",
        );
    }
    ui.horizontal(|ui| {
        ui.checkbox(
            &mut s.drop_small_lesions,
            "U-Net: show tumour pieces under (mL) as organ",
        )
        .on_hover_text(
            "At inference, predicted tumour pieces smaller than this become organ: fewer false lesions, a few small true ones missed. Written to the model card; `oncoscope model --set-min-lesion-ml` changes it later",
        );
        ui.add_enabled(
            s.drop_small_lesions,
            egui::DragValue::new(&mut s.min_lesion_ml)
                .range(0.0..=100.0)
                .speed(0.05),
        );
    });
    ui.horizontal(|ui| {
        ui.label("U-Net: tumour voxels weigh");
        ui.add(
            egui::DragValue::new(&mut s.tumour_weight)
                .range(0.1..=100.0)
                .speed(0.1),
        );
        ui.label("× in the loss");
    })
    .response
    .on_hover_text(
        "The cross-entropy weight of tumour voxels (every other class weighs 1): above 1, missing a small lesion costs more. 1 is the plain loss, and then a resumed run keeps its own weight. Written to the model card's notes",
    );
    ui.checkbox(
        &mut s.balance_lesions,
        "U-Net: small lesions weigh more (each lesion counts)",
    )
    .on_hover_text(
        "The voxels of each true lesion smaller than about 500 voxels of the training cube weigh more, up to 25×, so a 6 mm lesion counts about as much as a 15 mm one. Off: plain per-voxel weights, and then a resumed run keeps its own choice. Written to the model card's notes",
    );
    loss_term_row(
        ui,
        (&mut s.lesion_loss, &mut s.lesion_loss_weight),
        "U-Net: each lesion's own loss term, weight",
        "Adds this weight × each true lesion's mean cross-entropy of being tumour, averaged over the step's lesions, so that a lesion of a few voxels asks as much of the network as a large one. 0.02 keeps false lesions few; 0.1 finds more small lesions among many false ones; at 1 the network draws false lesions everywhere. Off: none, and then a resumed run keeps its own choice. Written to the model card's notes",
    );
    loss_term_row(
        ui,
        (&mut s.false_piece_loss, &mut s.false_piece_loss_weight),
        "U-Net: each false lesion's own loss term, weight",
        "Adds this weight × each predicted tumour piece that touches no true lesion, its mean cross-entropy of not being tumour, averaged over the step's false pieces, so that a speck in healthy organ costs as much as a large false lesion: the counterweight to the lesion term above. Off: none, and then a resumed run keeps its own choice. Written to the model card's notes",
    );
    ui.horizontal(|ui| {
        ui.checkbox(&mut s.lesion_crops, "U-Net: train on crops of")
            .on_hover_text(
                "Each training step sees a cube of this many voxels a side cut from each case, half of them around one of its lesions (each lesion as likely as any other): small lesions are seen more often and a step costs less. Validation and inference then run the grid as overlapping cubes of that size, as the network learnt. Off: whole grids, and then a resumed run keeps its own choice. Written to the model card's notes",
            );
        ui.add_enabled(
            s.lesion_crops,
            egui::DragValue::new(&mut s.lesion_crop_voxels)
                .range(MIN_CROP_VOXELS..=s.grid.max(MIN_CROP_VOXELS))
                .speed(CROP_MULTIPLE as f64),
        );
        // The U-Net halves its input three times: keep the edge a multiple of 8, and within
        // the grid, which may have shrunk since the edge was set.
        let largest = (s.grid / CROP_MULTIPLE * CROP_MULTIPLE).max(MIN_CROP_VOXELS);
        s.lesion_crop_voxels =
            (s.lesion_crop_voxels.div_ceil(CROP_MULTIPLE) * CROP_MULTIPLE).min(largest);
        ui.label("voxels, half around a lesion");
    });
    ui.checkbox(
        &mut s.preview,
        "Preview on a validation case after each epoch",
    );
}

/// One optional loss term: a checkbox turning it on (`hover` explains it) and its weight,
/// editable while on.
fn loss_term_row(ui: &mut egui::Ui, (on, weight): (&mut bool, &mut f64), label: &str, hover: &str) {
    ui.horizontal(|ui| {
        ui.checkbox(on, label).on_hover_text(hover);
        ui.add_enabled(
            *on,
            egui::DragValue::new(weight).range(0.0..=10.0).speed(0.01),
        );
    });
}

fn run_buttons(app: &mut OncoscopeApp, ui: &mut egui::Ui, running: bool) {
    let paused = app
        .training
        .run
        .as_ref()
        .is_some_and(|r| r.status == RunStatus::Paused);
    let stopping = app
        .training
        .run
        .as_ref()
        .is_some_and(|r| r.status == RunStatus::Stopping);
    ui.horizontal_wrapped(|ui| {
        if ui
            .add_enabled(!running, egui::Button::new("Start"))
            .clicked()
        {
            app.command(Command::StartTraining { resume: false });
        }
        if ui
            .add_enabled(!running, egui::Button::new("Resume"))
            .on_hover_text("Continue the run in the output folder from its last checkpoint")
            .clicked()
        {
            app.command(Command::StartTraining { resume: true });
        }
        let (label, pause) = if paused {
            ("Continue", false)
        } else {
            ("Pause", true)
        };
        if ui
            .add_enabled(running && !stopping, egui::Button::new(label))
            .clicked()
        {
            app.command(Command::PauseTraining(pause));
        }
        if ui
            .add_enabled(running && !stopping, egui::Button::new("Stop"))
            .on_hover_text("Stop after the current step; the best and last checkpoints stay")
            .clicked()
        {
            app.command(Command::StopTraining);
        }
        if ui
            .button("Use this model")
            .on_hover_text("Run the viewer's models from this run's best checkpoints")
            .clicked()
        {
            app.command(Command::AdoptTrainedModel);
        }
    });
}

fn run_status(run: &TrainingRun, ui: &mut egui::Ui) {
    let model = run.current.map_or("", |k| k.label());
    let status = match &run.status {
        RunStatus::Running => "running".to_string(),
        RunStatus::Paused => "paused".to_string(),
        RunStatus::Stopping => "stopping".to_string(),
        RunStatus::Finished => "finished".to_string(),
        RunStatus::Stopped => "stopped (resume continues it)".to_string(),
        RunStatus::Failed(e) => format!("failed: {e}"),
    };
    let colour = match run.status {
        RunStatus::Failed(_) => PROBLEM,
        _ => ui.visuals().text_color(),
    };
    ui.label(RichText::new(format!("{model} {status}")).color(colour));
    if let Some((done, total)) = run.preparing {
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .text(format!("Preparing cases {done} of {total}")),
        );
    } else if let Some(p) = run.progress.filter(|_| run.status.is_active()) {
        let within = p.step as f32 / p.steps.max(1) as f32;
        let eta = if p.eta_s.is_finite() {
            format!(", ETA {}", format_duration(p.eta_s))
        } else {
            String::new()
        };
        ui.add(egui::ProgressBar::new(within).text(format!(
            "Epoch {} of {}, step {} of {}{eta}",
            p.epoch, p.epochs, p.step, p.steps
        )));
    }
}

/// Loss (per step and per epoch) and the validation figures of one model.
fn curve_plots(curves: &ModelCurves, ui: &mut egui::Ui) {
    let kind = curves.kind;
    ui.label(RichText::new(format!("{} loss", kind.label())).strong());
    let per_epoch = |f: &dyn Fn(&crate::model::training::EpochSummary) -> Option<f64>| {
        curves
            .epochs
            .iter()
            .filter_map(|e| f(e).filter(|v| v.is_finite()).map(|v| [e.epoch as f64, v]))
            .collect::<Vec<[f64; 2]>>()
    };
    let train_epoch = per_epoch(&|e| Some(e.train_loss));
    let validation = per_epoch(&|e| Some(e.validation_loss));
    Plot::new(("loss_plot", kind.name()))
        .height(140.0)
        .legend(Legend::default())
        .x_axis_label("epoch")
        .include_y(0.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(
                Line::new("training (steps)", curves.step_losses.clone())
                    .color(Color32::from_rgb(110, 110, 140))
                    .width(1.0),
            );
            plot.line(
                Line::new("training", train_epoch.clone()).color(Color32::from_rgb(90, 160, 255)),
            );
            plot.points(Points::new("training", train_epoch).radius(2.5));
            plot.line(
                Line::new("validation", validation.clone()).color(Color32::from_rgb(255, 170, 60)),
            );
            plot.points(
                Points::new("validation", validation)
                    .radius(2.5)
                    .color(Color32::from_rgb(255, 170, 60)),
            );
        });
    let figures: &[(&str, &str, Color32)] = match kind {
        ModelKind::Unet => &[
            ("organ_dice", "organ Dice", Color32::from_rgb(90, 160, 255)),
            ("organ_iou", "organ IoU", Color32::from_rgb(60, 100, 190)),
            ("tumour_dice", "tumour Dice", Color32::from_rgb(240, 80, 80)),
            ("tumour_iou", "tumour IoU", Color32::from_rgb(170, 50, 50)),
        ],
        ModelKind::Cnn => &[
            ("accuracy", "accuracy", Color32::from_rgb(90, 160, 255)),
            ("roc_auc", "ROC AUC", Color32::from_rgb(240, 80, 80)),
        ],
    };
    ui.label(RichText::new(format!("{} validation", kind.label())).strong());
    let best = curves.best().map(|b| b.epoch);
    Plot::new(("metric_plot", kind.name()))
        .height(140.0)
        .legend(Legend::default())
        .x_axis_label("epoch")
        .include_y(0.0)
        .include_y(1.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            for &(key, label, colour) in figures {
                let series = per_epoch(&|e| e.metrics.get(key).copied());
                plot.line(Line::new(label, series.clone()).color(colour));
                plot.points(Points::new(label, series).radius(2.5).color(colour));
            }
            if let Some(epoch) = best {
                plot.vline(
                    egui_plot::VLine::new("best epoch", epoch as f64)
                        .color(Color32::from_rgb(120, 200, 120)),
                );
            }
        });
    if let Some(b) = curves.best() {
        ui.label(
            RichText::new(format!(
                "Best: epoch {} (score {:.3}), saved as best.safetensors",
                b.epoch, b.score
            ))
            .color(GOOD),
        );
    }
}
