//! The menu bar, the side panel (case, display, models, results, comparison) and the status bar.

use egui::{Color32, RichText, Ui};

use super::dialogs::DialogPurpose;
use crate::app::OncoscopeApp;
use crate::app::state::{Command, ComparedStructure, LabelDisplay};
use crate::jobs::JobKind;
use crate::mesh::LesionTable;
use crate::model::ModelKind;
use crate::model::checkpoint::TUMOUR_SENSITIVITY_RANGE;
use crate::model::weights::model_stem;
use crate::slice::{Convention, OverlayMode};
use crate::volume::decathlon::Task;
use crate::volume::{Window, WindowPreset};

pub fn menu_bar(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            let has_case = app.case.is_some();
            let has_prediction = app.case.as_ref().is_some_and(|c| c.prediction.is_some());
            if ui.button("Open CT…").clicked() {
                app.dialogs.open_dialog(DialogPurpose::OpenCt);
            }
            if ui
                .add_enabled(has_case, egui::Button::new("Open ground truth…"))
                .clicked()
            {
                app.dialogs.open_dialog(DialogPurpose::OpenGroundTruth);
            }
            ui.separator();
            if ui
                .add_enabled(has_prediction, egui::Button::new("Save segmentation…"))
                .clicked()
            {
                app.dialogs.open_dialog(DialogPurpose::SaveSegmentation);
            }
            if ui
                .add_enabled(has_case, egui::Button::new("Export meshes…"))
                .clicked()
            {
                app.dialogs.open_dialog(DialogPurpose::ExportMeshes);
            }
            if ui.button("Save screenshot…").clicked() {
                app.dialogs.open_dialog(DialogPurpose::SaveScreenshot);
            }
            if ui
                .add_enabled(has_case, egui::Button::new("Save 3D view…"))
                .clicked()
            {
                app.dialogs.open_dialog(DialogPurpose::SaveSceneScreenshot);
            }
            ui.separator();
            if ui.button("Quit").clicked() {
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        });
        ui.menu_button("View", |ui| {
            ui.label("Left–right convention");
            ui.radio_value(
                &mut app.prefs.convention,
                Convention::Radiological,
                "Radiological (patient's right on the left)",
            );
            ui.radio_value(
                &mut app.prefs.convention,
                Convention::Neurological,
                "Neurological (patient's left on the left)",
            );
            ui.separator();
            if ui.button("Show all four views").clicked() {
                app.prefs.maximised = None;
            }
            if ui.button("Reset 3D camera").clicked() {
                app.command(Command::ResetCamera);
            }
            ui.checkbox(&mut app.prefs.auto_rotate, "Auto-rotate 3D view");
        });
        let training_label = if app.training.running() {
            "Training (running)"
        } else {
            "Training"
        };
        if ui
            .selectable_label(app.training.visible, training_label)
            .on_hover_text("Train models on a data set and watch them learn")
            .clicked()
        {
            app.training.visible = !app.training.visible;
        }
        ui.menu_button("Help", |ui| {
            ui.label("Slices: click/drag moves the crosshair, wheel scrolls slices,");
            ui.label("Ctrl+wheel zooms, middle-drag pans, right-drag sets window/level,");
            ui.label("double-click resets zoom.");
            ui.label("3D: drag orbits, right/middle-drag pans, wheel zooms.");
            ui.separator();
            ui.label("Oncoscope is a research tool, not a medical device.");
        });
    });
}

pub fn side_panel(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    notices(app, ui);
    ui.heading("Case");
    case_section(app, ui);
    ui.separator();
    ui.heading("Display");
    display_section(app, ui);
    ui.separator();
    ui.heading("Models");
    models_section(app, ui);
    ui.separator();
    results_section(app, ui);
}

fn notices(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    let mut dismissed = None;
    for (i, notice) in app.notices.iter().enumerate().rev().take(4) {
        let colour = if notice.error {
            Color32::from_rgb(255, 110, 100)
        } else {
            Color32::from_rgb(140, 200, 255)
        };
        ui.horizontal_wrapped(|ui| {
            if ui.small_button("x").on_hover_text("Dismiss").clicked() {
                dismissed = Some(i);
            }
            ui.label(RichText::new(&notice.text).color(colour));
        });
    }
    if let Some(i) = dismissed {
        app.notices.remove(i);
    }
    if !app.notices.is_empty() {
        ui.separator();
    }
}

fn case_section(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    if let Some(case) = &app.case {
        let name = case
            .ct_path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        ui.label(RichText::new(name).strong());
        let [nx, ny, nz] = case.ct.grid.dims;
        let [sx, sy, sz] = case.ct.grid.spacing_mm();
        ui.label(format!("{nx}×{ny}×{nz} voxels, {sx:.2}×{sy:.2}×{sz:.2} mm"));
        let on_disk = case
            .ct
            .source
            .as_ref()
            .map(|s| s.file_orientation_code())
            .unwrap_or_else(|| "RAS".into());
        ui.label(format!(
            "HU {:.0} … {:.0}; stored {on_disk}, shown in RAS",
            case.hu_range.0, case.hu_range.1
        ));
        match &case.ground_truth {
            Some(layer) => ui.label(format!(
                "Ground truth: {}",
                layer
                    .origin
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            )),
            None => ui.label(RichText::new("No ground truth loaded").weak()),
        };
    }
    ui.horizontal(|ui| {
        if ui.button("Open CT…").clicked() {
            app.dialogs.open_dialog(DialogPurpose::OpenCt);
        }
        if ui
            .add_enabled(app.case.is_some(), egui::Button::new("Open ground truth…"))
            .clicked()
        {
            app.dialogs.open_dialog(DialogPurpose::OpenGroundTruth);
        }
    });
    if app.dialogs.unavailable_hint {
        ui.label(
            RichText::new("No file dialog can be shown here: file choices ask for a typed path.")
                .color(Color32::from_rgb(240, 200, 120)),
        );
    }
    ui.collapsing("Open by path", |ui| {
        ui.label("CT (.nii / .nii.gz)");
        ui.text_edit_singleline(&mut app.ct_path_input);
        ui.label("Ground truth (optional)");
        ui.text_edit_singleline(&mut app.label_path_input);
        if ui.button("Open").clicked() {
            let ct = app.ct_path_input.trim();
            let label = app.label_path_input.trim();
            if ct.is_empty() {
                app.notify_error("Type the path of a CT first");
            } else {
                app.command(Command::OpenCase {
                    ct: ct.into(),
                    ground_truth: (!label.is_empty()).then(|| label.into()),
                    task: None,
                });
            }
        }
    });
}

fn display_section(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    let prefs = &mut app.prefs;
    ui.horizontal_wrapped(|ui| {
        for preset in WindowPreset::NAMED {
            let selected = prefs.preset == Some(preset);
            if ui.selectable_label(selected, preset.name()).clicked() {
                prefs.preset = Some(preset);
                prefs.window = preset.window();
            }
        }
    });
    let Window {
        mut center_hu,
        mut width_hu,
    } = prefs.window;
    let c = ui.add(egui::Slider::new(&mut center_hu, -1000.0..=1500.0).text("level (HU)"));
    let w = ui.add(
        egui::Slider::new(&mut width_hu, 1.0..=4000.0)
            .logarithmic(true)
            .text("width (HU)"),
    );
    if c.changed() || w.changed() {
        prefs.window = Window::new(center_hu, width_hu);
        prefs.preset = None;
    }
    egui::ComboBox::from_label("labels")
        .selected_text(prefs.label_display.name())
        .show_ui(ui, |ui| {
            for display in LabelDisplay::ALL {
                ui.selectable_value(&mut prefs.label_display, display, display.name());
            }
        });
    ui.horizontal(|ui| {
        ui.radio_value(&mut prefs.overlay_mode, OverlayMode::Fill, "fill");
        ui.radio_value(&mut prefs.overlay_mode, OverlayMode::Outline, "outline");
    });
    ui.add(egui::Slider::new(&mut prefs.overlay_opacity, 0.0..=1.0).text("overlay opacity"));
    if prefs.label_display == LabelDisplay::Comparison {
        ui.horizontal(|ui| {
            ui.label("compare");
            ui.radio_value(&mut prefs.compared, ComparedStructure::Organ, "organ");
            ui.radio_value(&mut prefs.compared, ComparedStructure::Tumour, "tumour");
        });
        ui.horizontal(|ui| {
            for (colour, text) in [
                (crate::slice::TRUE_POSITIVE_RGB, "TP"),
                (crate::slice::FALSE_POSITIVE_RGB, "FP"),
                (crate::slice::FALSE_NEGATIVE_RGB, "FN"),
            ] {
                let [r, g, b] = colour;
                ui.label(
                    RichText::new(text)
                        .strong()
                        .color(Color32::from_rgb(r, g, b)),
                );
            }
        });
    }
    ui.label("3D view");
    ui.horizontal(|ui| {
        ui.checkbox(&mut prefs.show_organ_3d, "organ");
        ui.checkbox(&mut prefs.show_lesions_3d, "lesions");
        ui.checkbox(&mut prefs.auto_rotate, "auto-rotate");
    });
    ui.checkbox(&mut prefs.show_planes_3d, "slice planes in 3D");
    ui.add(egui::Slider::new(&mut prefs.organ_opacity_3d, 0.05..=1.0).text("organ opacity"));
    ui.checkbox(
        &mut prefs.show_ground_truth_3d,
        "ground-truth surfaces (outline colours)",
    );
}

fn models_section(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.label("task");
        for task in Task::ALL {
            ui.selectable_value(&mut app.prefs.task, task, task.organ());
        }
    });
    ui.horizontal(|ui| {
        ui.label("device");
        for device in ["cpu", "cuda", "metal"] {
            ui.selectable_value(&mut app.prefs.device, device.to_string(), device);
        }
    });
    let weights = app.weights_dir();
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(format!("models: {}", weights.display())).small());
        if ui.small_button("choose…").clicked() {
            app.dialogs.open_dialog(DialogPurpose::ChooseWeights);
        }
        if app.prefs.weights_dir.is_some() && ui.small_button("shipped").clicked() {
            app.prefs.weights_dir = None;
        }
    });
    tumour_sensitivity_control(ui, &mut app.prefs.tumour_sensitivity);
    let running = app
        .jobs
        .iter()
        .any(|j| matches!(j.kind, JobKind::Classify | JobKind::Segment));
    let can_run = app.case.is_some() && !running;
    let weights_dir = app.weights_dir();
    let has_classifier = model_stem(&weights_dir, app.prefs.task, ModelKind::Cnn).is_some();
    ui.horizontal(|ui| {
        let button = ui.add_enabled(
            can_run && has_classifier,
            egui::Button::new("Run classification"),
        );
        let button = if has_classifier {
            button
        } else {
            button.on_disabled_hover_text(format!(
                "No {} classifier ({}_cnn) in {}",
                app.prefs.task.organ(),
                app.prefs.task.organ(),
                weights_dir.display()
            ))
        };
        if button.clicked() {
            app.command(Command::Run {
                classify: true,
                segment: false,
            });
        }
        if ui
            .add_enabled(can_run, egui::Button::new("Run segmentation"))
            .clicked()
        {
            app.command(Command::Run {
                classify: false,
                segment: true,
            });
        }
    });
    if ui
        .add_enabled(can_run, egui::Button::new("Run both"))
        .clicked()
    {
        app.command(Command::Run {
            classify: true,
            segment: true,
        });
    }
    let mut cancel = None;
    for job in &app.jobs {
        ui.horizontal(|ui| {
            let elapsed = job.started.elapsed().as_secs_f32();
            let text = format!("{}: {} ({elapsed:.0} s)", job.kind.describe(), job.message);
            let bar = match job.fraction {
                Some(f) => egui::ProgressBar::new(f).text(text),
                None => egui::ProgressBar::new(0.0).animate(true).text(text),
            };
            ui.add(bar.desired_width(220.0));
            if matches!(
                job.kind,
                JobKind::Classify | JobKind::Segment | JobKind::Load
            ) && ui.button("Cancel").clicked()
            {
                cancel = Some(job.kind);
            }
        });
    }
    if let Some(kind) = cancel {
        app.command(Command::CancelJob(kind));
    }
    if let Some(summary) = &app.pacing.last_summary {
        ui.label(
            RichText::new(format!("UI while running: {summary}"))
                .small()
                .weak(),
        );
    }
}

fn results_section(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    let Some(case) = &app.case else {
        return;
    };
    ui.heading("Results");
    if let Some(classified) = &case.classification {
        let (c, model) = (&classified.result, &classified.model);
        let [ch, d, h, w] = c.input_shape;
        egui::Grid::new("classification")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("Input shape");
                ui.label(format!("[{ch}, {d}, {h}, {w}]"));
                ui.end_row();
                ui.label("Predicted logit");
                ui.label(format!("{:.4}", c.logit));
                ui.end_row();
                ui.label("Probability of cancer");
                ui.label(format!("{:.4}", c.probability));
                ui.end_row();
                ui.label("Predicted label");
                let (text, colour) = if c.cancer {
                    ("cancer", Color32::from_rgb(255, 110, 100))
                } else {
                    ("normal", Color32::from_rgb(120, 220, 140))
                };
                ui.label(RichText::new(text).strong().color(colour));
                ui.end_row();
                if let Some(truth) = case.true_cancer() {
                    ui.label("True label");
                    ui.label(if truth { "cancer" } else { "normal" });
                    ui.end_row();
                }
            });
        ui.label(
            RichText::new(format!("model {}", model.display()))
                .small()
                .weak(),
        );
        // How far to trust the verdict, beside it: the model's own validation figure.
        if let Some(auc) = classified.validation_roc_auc {
            ui.label(
                RichText::new(format!(
                    "this classifier's validation ROC AUC: {auc:.2} (1 = perfect, 0.5 = chance; \
                     held-out figures in weights/README.md)"
                ))
                .small(),
            );
        }
    }
    if let Some(prediction) = &case.prediction {
        if let Some(run) = case.segmentation_run {
            ui.label(format!("Segmentation took {:.1} s", run.seconds));
            // How far to trust the outline, beside it: the model's own validation figures.
            if let Some(dice) = run.validation_dice {
                ui.label(
                    RichText::new(format!(
                        "this segmenter's validation Dice: {dice} (1 = perfect; held-out \
                         figures in weights/README.md)"
                    ))
                    .small(),
                );
            }
            if run.report.tumour_sensitivity != 1.0 {
                ui.label(
                    RichText::new(format!(
                        "tumour sensitivity ×{:.2}: each voxel's tumour probability was \
                         multiplied by it before its label was chosen (×1: as validated)",
                        run.report.tumour_sensitivity
                    ))
                    .small(),
                );
            }
            let report = run.report;
            if report.recentrings > 0 {
                let times = match report.recentrings {
                    1 => "once".to_string(),
                    2 => "twice".to_string(),
                    n => format!("{n} times"),
                };
                ui.label(
                    RichText::new(format!(
                        "It re-centred its cube on its own outline {times} and ran again"
                    ))
                    .small()
                    .weak(),
                );
            }
            if report.lesions_dropped > 0 {
                let pieces = match report.lesions_dropped {
                    1 => "1 tumour piece".to_string(),
                    n => format!("{n} tumour pieces"),
                };
                ui.label(
                    RichText::new(format!(
                        "{pieces} under {} mL shown as {} (the model's min_lesion_ml)",
                        report.min_lesion_ml,
                        case.task.organ()
                    ))
                    .small()
                    .weak(),
                );
            }
        }
        if let Some(table) = &prediction.lesions {
            ui.label(RichText::new("Prediction").strong());
            ui.label(
                RichText::new(format!("model {}", prediction.origin.display()))
                    .small()
                    .weak(),
            );
            let confirmed = case
                .current_matching()
                .map(|m| (m.prediction_confirmed.as_slice(), "true", "spurious"));
            lesion_table_ui(ui, "prediction-lesions", table, case.task, confirmed);
        }
    }
    if let Some(matching) = case.current_matching() {
        ui.label(format!(
            "Lesions: {} of {} found, {} missed, {} spurious",
            matching.found(),
            matching.truth_found.len(),
            matching.missed(),
            matching.spurious()
        ));
    }
    if let Some(truth) = &case.ground_truth
        && let Some(table) = &truth.lesions
    {
        ui.collapsing("Ground truth", |ui| {
            let found = case
                .current_matching()
                .map(|m| (m.truth_found.as_slice(), "found", "missed"));
            lesion_table_ui(ui, "truth-lesions", table, case.task, found);
        });
    }
    if let Some(scores) = case.scores() {
        ui.label(RichText::new("Ground truth vs prediction").strong());
        egui::Grid::new("scores").num_columns(3).show(ui, |ui| {
            ui.label("");
            ui.label("Dice");
            ui.label("IoU");
            ui.end_row();
            ui.label("organ");
            ui.label(format!("{:.3}", scores.organ_dice));
            ui.label(format!("{:.3}", scores.organ_iou));
            ui.end_row();
            ui.label("tumour");
            ui.label(format!("{:.3}", scores.tumour_dice));
            ui.label(format!("{:.3}", scores.tumour_iou));
            ui.end_row();
        });
    }
}

/// The lesion table; `matched` gives per lesion whether it matched the other map, with the
/// words for yes and no.
fn lesion_table_ui(
    ui: &mut egui::Ui,
    id: &str,
    table: &LesionTable,
    task: Task,
    matched: Option<(&[bool], &str, &str)>,
) {
    ui.label(format!(
        "{} volume {:.1} mL, tumour {:.1} mL ({} lesions{})",
        task.organ(),
        table.organ.volume_ml,
        table.tumour.volume_ml,
        table.lesions.len(),
        if table.ignored_count > 0 {
            format!(
                ", {} below {} mL not listed",
                table.ignored_count, table.min_lesion_ml
            )
        } else {
            String::new()
        }
    ));
    if table.lesions.is_empty() {
        return;
    }
    egui::Grid::new(id)
        .striped(true)
        .num_columns(5)
        .show(ui, |ui| {
            ui.label("#");
            ui.label("mL");
            ui.label("diam. mm");
            ui.label("centre (RAS mm)");
            ui.label(if matched.is_some() { "match" } else { "" });
            ui.end_row();
            for lesion in table.lesions.iter().take(20) {
                ui.label(lesion.id.to_string());
                ui.label(format!("{:.2}", lesion.volume_ml));
                ui.label(format!("{:.1}", lesion.longest_diameter_mm));
                let [x, y, z] = lesion.centroid_mm;
                ui.label(format!("{x:.0}, {y:.0}, {z:.0}"));
                let word = matched.and_then(|(flags, yes, no)| {
                    flags.get(lesion.id - 1).map(|&f| if f { yes } else { no })
                });
                ui.label(word.unwrap_or(""));
                ui.end_row();
            }
        });
    if table.lesions.len() > 20 {
        ui.label(format!("… and {} more", table.lesions.len() - 20));
    }
}

pub fn status_bar(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        let Some(case) = &app.case else {
            ui.label("No case open");
            return;
        };
        let dims = case.ct.grid.dims;
        let inside = |v: &[usize; 3]| v.iter().zip(dims).all(|(&c, n)| c < n);
        // A pointer position of a previous case's grid is never read in this one's.
        let voxel = app
            .hovered_voxel
            .filter(inside)
            .unwrap_or(case.cursor_voxel);
        if !inside(&voxel) {
            return;
        }
        let [x, y, z] = voxel;
        let world = case.ct.grid.world_of_voxel([x as f64, y as f64, z as f64]);
        let i = case.ct.grid.index(x, y, z);
        let mut text = format!(
            "voxel ({x}, {y}, {z})  RAS ({:.1}, {:.1}, {:.1}) mm  {:.0} HU",
            world.x, world.y, world.z, case.ct.voxels[i]
        );
        let names = case.task.labels();
        let name = |v: u8| names.get(&v).cloned().unwrap_or_else(|| v.to_string());
        if let Some(&v) = case
            .prediction
            .as_ref()
            .and_then(|p| p.labels.voxels.get(i))
        {
            text += &format!("  predicted: {}", name(v));
        }
        if let Some(&v) = case
            .ground_truth
            .as_ref()
            .and_then(|t| t.labels.voxels.get(i))
        {
            text += &format!("  truth: {}", name(v));
        }
        ui.label(RichText::new(text).monospace());
    });
}

/// The segmenter's tumour sensitivity, for the segmentation shown and the next runs: the
/// model card's, or the user's factor (logarithmic slider, 0.01–100).
fn tumour_sensitivity_control(ui: &mut Ui, sensitivity: &mut Option<f64>) {
    ui.horizontal(|ui| {
        let mut own = sensitivity.is_some();
        if ui
            .checkbox(&mut own, "tumour sensitivity ×")
            .on_hover_text(
                "Each voxel's tumour probability is multiplied by this before its label is chosen (the most probable class). It acts at once on the segmentation shown (its labels are chosen again from the same network output, without running the network) and on the next runs. Above 1 lesions grow and fainter ones appear, false ones with them; below 1 fewer and smaller. Off: the model card's setting (1, as validated, unless set with `oncoscope model --set-tumour-sensitivity`). The classifier is not affected",
            )
            .changed()
        {
            *sensitivity = own.then_some(1.0);
        }
        match sensitivity {
            Some(factor) => {
                ui.add(
                    egui::Slider::new(factor, TUMOUR_SENSITIVITY_RANGE)
                        .logarithmic(true)
                        .max_decimals(2),
                );
            }
            None => {
                ui.label(RichText::new("the model's").small());
            }
        }
    });
}
