//! egui panels and views: draw the app's state and emit [`Command`]s; no work happens here
//! beyond composing slice images and uploading textures.

mod dialogs;
mod pacing;
mod panels;
mod png_file;
mod scene_view;
mod slice_view;
mod training_panel;

pub use dialogs::{DialogPurpose, FileDialogs};
pub use pacing::FramePacing;
pub use png_file::write_png;
pub use scene_view::{SceneView, SlicePlaneImage};
pub use slice_view::{SliceViewState, plane_colour};

use egui::{Color32, Rect, Vec2};

use crate::app::OncoscopeApp;
use crate::app::state::ViewSlot;
use crate::slice::Plane;

/// Draws the whole window.
pub fn draw(app: &mut OncoscopeApp, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
    egui::Panel::top("menu").show(ui, |ui| panels::menu_bar(app, ui));
    egui::Panel::bottom("status").show(ui, |ui| panels::status_bar(app, ui));
    egui::Panel::left("controls")
        .resizable(true)
        .default_size(310.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| panels::side_panel(app, ui));
        });
    if app.training.visible {
        egui::Panel::right("training")
            .resizable(true)
            .default_size(440.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("training_scroll")
                    .show(ui, |ui| training_panel::training_panel(app, ui));
            });
    }
    egui::CentralPanel::default()
        .frame(egui::Frame::NONE.fill(Color32::from_gray(12)))
        .show(ui, |ui| views(app, ui));
    dialogs::path_prompt_window(app, ui.ctx());
}

/// The four views: axial, coronal, sagittal and 3D in a 2×2 grid, or one of them maximised.
fn views(app: &mut OncoscopeApp, ui: &mut egui::Ui) {
    let full = ui.available_rect_before_wrap();
    if app.case.is_none() {
        ui.scope_builder(egui::UiBuilder::new().max_rect(full), |ui| {
            ui.centered_and_justified(|ui| {
                let text = if app.busy() {
                    "Loading…"
                } else {
                    "Open a CT: File > Open CT…, drop a .nii/.nii.gz file here, or type its path on the left"
                };
                ui.label(egui::RichText::new(text).size(16.0).color(Color32::GRAY));
            });
        });
        return;
    }
    let gap = 2.0;
    let half = (full.size() - Vec2::splat(gap)) / 2.0;
    let cell = |column: f32, row: f32| {
        Rect::from_min_size(
            full.min + Vec2::new(column * (half.x + gap), row * (half.y + gap)),
            half,
        )
    };
    let slots: Vec<(ViewSlot, Rect)> = match app.prefs.maximised {
        Some(slot) => vec![(slot, full)],
        None => vec![
            (ViewSlot::Slice(Plane::Axial), cell(0.0, 0.0)),
            (ViewSlot::Slice(Plane::Coronal), cell(1.0, 0.0)),
            (ViewSlot::Slice(Plane::Sagittal), cell(0.0, 1.0)),
            (ViewSlot::Scene, cell(1.0, 1.0)),
        ],
    };
    let mut hovered = None;
    for (slot, rect) in slots {
        match slot {
            ViewSlot::Slice(plane) => {
                let Some(case) = app.case.as_mut() else {
                    return;
                };
                let view =
                    &mut app.slice_views[Plane::ALL.iter().position(|p| *p == plane).unwrap_or(0)];
                let response = view.show(ui, rect, case, &mut app.prefs);
                hovered = hovered.or(response.hovered_voxel);
            }
            ViewSlot::Scene => {
                let planes = slice_plane_images(app);
                if let Some(command) =
                    app.scene
                        .show(ui, rect, app.case.as_ref(), &app.prefs, &planes)
                {
                    app.command(command);
                }
            }
        }
        // The corner button toggles maximise.
        let button = Rect::from_min_size(
            rect.right_top() + Vec2::new(-58.0, 3.0),
            Vec2::new(54.0, 16.0),
        );
        let icon = if app.prefs.maximised.is_some() {
            "restore"
        } else {
            "max"
        };
        if ui
            .put(button, egui::Button::new(icon).small().frame(false))
            .on_hover_text("Maximise / restore this view")
            .clicked()
        {
            app.prefs.maximised = match app.prefs.maximised {
                Some(_) => None,
                None => Some(slot),
            };
        }
    }
    app.hovered_voxel = hovered;
}

/// The three slice images for the 3D view's planes (none unless the preferences show them),
/// recomposed first where a view was not drawn this frame.
fn slice_plane_images(app: &mut OncoscopeApp) -> Vec<SlicePlaneImage> {
    let Some(case) = app.case.as_ref().filter(|_| app.prefs.show_planes_3d) else {
        return Vec::new();
    };
    app.slice_views
        .iter_mut()
        .filter_map(|view| {
            view.refresh_image(case, &app.prefs);
            let (image, layout, index, version) = view.image()?;
            Some(SlicePlaneImage {
                image,
                layout,
                index,
                version,
            })
        })
        .collect()
}
