//! One slice view (axial, coronal or sagittal): the windowed CT with label overlays at its
//! physical aspect ratio, the linked crosshair, orientation letters, and the mouse: click or
//! drag moves the crosshair, the wheel scrolls slices (Ctrl+wheel zooms), right-drag adjusts
//! window/level, middle-drag pans, double-click resets zoom and pan.

use egui::{Color32, Pos2, Rect, Sense, Stroke, TextureHandle, TextureOptions, Vec2};

use crate::app::state::{Case, LabelDisplay, Preferences};
use std::sync::Arc;

use crate::slice::{
    ComparisonOverlay, LabelOverlay, Overlay, OverlayMode, Plane, PlaneLayout, SliceImage,
    compose_slice,
};
use crate::volume::Window;

/// Colour of each plane's crosshair line (the line shows where that plane cuts the view).
pub fn plane_colour(plane: Plane) -> Color32 {
    match plane {
        Plane::Axial => Color32::from_rgb(90, 170, 255),
        Plane::Coronal => Color32::from_rgb(110, 220, 120),
        Plane::Sagittal => Color32::from_rgb(255, 170, 60),
    }
}

/// Everything that decides a slice's pixels; the texture is rebuilt when it changes.
#[derive(Debug, Clone, PartialEq)]
struct SliceKey {
    index: usize,
    window: Window,
    layout: PlaneLayout,
    display: LabelDisplay,
    mode: OverlayMode,
    opacity_percent: u32,
    compared: crate::app::state::ComparedStructure,
    ground_truth: Option<u64>,
    prediction: Option<u64>,
    ct: usize,
}

/// Per-view state: zoom, pan, the composed slice image and its uploaded texture.
pub struct SliceViewState {
    pub plane: Plane,
    /// 1 = fit to the view.
    pub zoom: f32,
    /// Offset of the image centre from the view centre, in points.
    pub pan: Vec2,
    /// The slice as last composed, shared with the 3D view's slice planes.
    image: Option<Arc<SliceImage>>,
    /// Bumped whenever `image` is recomposed.
    image_version: u64,
    texture: Option<TextureHandle>,
    /// The `image_version` the texture holds.
    texture_version: u64,
    key: Option<SliceKey>,
}

/// What happened in a view this frame.
#[derive(Debug, Default, Clone, Copy)]
pub struct SliceViewResponse {
    /// The voxel under the mouse pointer.
    pub hovered_voxel: Option<[usize; 3]>,
}

impl SliceViewState {
    pub fn new(plane: Plane) -> Self {
        Self {
            plane,
            zoom: 1.0,
            pan: Vec2::ZERO,
            image: None,
            image_version: 0,
            texture: None,
            texture_version: 0,
            key: None,
        }
    }

    /// Forgets the texture (a new case was opened).
    pub fn clear(&mut self) {
        self.image = None;
        self.texture = None;
        self.key = None;
        self.zoom = 1.0;
        self.pan = Vec2::ZERO;
    }

    /// Draws the view into `rect` and handles its mouse input.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        rect: Rect,
        case: &mut Case,
        prefs: &mut Preferences,
    ) -> SliceViewResponse {
        let layout = self.plane.layout(prefs.convention);
        let dims = case.ct.grid.dims;
        let normal = self.plane.normal_axis();
        let index = case.cursor_voxel[normal];
        self.refresh_image(case, prefs);
        self.upload_texture(ui.ctx());

        let id = ui.scope_id().with(("slice", self.plane));
        let response = ui.interact(rect, id, Sense::click_and_drag());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::BLACK);

        let (width, height) = layout.image_size(dims);
        let (pixel_w_mm, pixel_h_mm) = layout.pixel_size_mm(case.ct.grid.spacing_mm());
        let physical = Vec2::new(
            (width as f64 * pixel_w_mm) as f32,
            (height as f64 * pixel_h_mm) as f32,
        );
        let fit = (rect.width() / physical.x).min(rect.height() / physical.y);
        let points_per_mm = fit * self.zoom;
        let image_rect = Rect::from_center_size(rect.center() + self.pan, physical * points_per_mm);
        if let Some(texture) = &self.texture {
            painter.image(
                texture.id(),
                image_rect,
                Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        let pixel_at = |pos: Pos2| -> Option<(usize, usize)> {
            let u = (pos.x - image_rect.min.x) / image_rect.width();
            let v = (pos.y - image_rect.min.y) / image_rect.height();
            ((0.0..1.0).contains(&u) && (0.0..1.0).contains(&v))
                .then_some(((u * width as f32) as usize, (v * height as f32) as usize))
        };

        // Mouse: crosshair, slices, zoom, window/level, pan.
        if (response.clicked() || response.dragged_by(egui::PointerButton::Primary))
            && let Some(pos) = response.interact_pointer_pos()
            && let Some((column, row)) = pixel_at(pos)
        {
            case.cursor_voxel = layout.voxel_at(dims, column, row, index);
        }
        if response.dragged_by(egui::PointerButton::Secondary) {
            let delta = response.drag_delta();
            let w = &mut prefs.window;
            w.width_hu = (w.width_hu + delta.x * 4.0).clamp(1.0, 6000.0);
            w.center_hu = (w.center_hu - delta.y * 2.0).clamp(-1500.0, 3000.0);
            prefs.preset = None;
        }
        if response.dragged_by(egui::PointerButton::Middle) {
            self.pan += response.drag_delta();
        }
        if response.double_clicked() {
            self.zoom = 1.0;
            self.pan = Vec2::ZERO;
        }
        if response.hovered() {
            let (scroll, zoom_delta, ctrl) = ui.input(|i| {
                let wheel: f32 = i
                    .raw
                    .events
                    .iter()
                    .map(|e| match e {
                        egui::Event::MouseWheel { delta, .. } => delta.y + delta.x,
                        _ => 0.0,
                    })
                    .sum();
                (
                    wheel,
                    i.zoom_delta(),
                    i.modifiers.ctrl || i.modifiers.command,
                )
            });
            if zoom_delta != 1.0 {
                self.zoom = (self.zoom * zoom_delta).clamp(0.25, 20.0);
            } else if scroll != 0.0 && !ctrl {
                let count = layout.slice_count(dims);
                let step = if scroll > 0.0 { 1 } else { -1 };
                let next = (index as i64 + step).clamp(0, count as i64 - 1) as usize;
                case.cursor_voxel[normal] = next;
            }
        }

        // Crosshair: where the other two planes cut this one.
        let (cursor_column, cursor_row, _) = layout.pixel_of(dims, case.cursor_voxel);
        let x = image_rect.min.x + (cursor_column as f32 + 0.5) / width as f32 * image_rect.width();
        let y = image_rect.min.y + (cursor_row as f32 + 0.5) / height as f32 * image_rect.height();
        let column_plane = plane_of_axis(layout.column_axis);
        let row_plane = plane_of_axis(layout.row_axis);
        painter.line_segment(
            [
                Pos2::new(x, image_rect.min.y),
                Pos2::new(x, image_rect.max.y),
            ],
            Stroke::new(1.0, plane_colour(column_plane).gamma_multiply(0.8)),
        );
        painter.line_segment(
            [
                Pos2::new(image_rect.min.x, y),
                Pos2::new(image_rect.max.x, y),
            ],
            Stroke::new(1.0, plane_colour(row_plane).gamma_multiply(0.8)),
        );

        // Orientation letters and the slice number.
        let letters = layout.edge_letters();
        let font = egui::FontId::proportional(15.0);
        let letter_colour = Color32::from_rgb(240, 220, 120);
        let margin = 6.0;
        for (text, pos, align) in [
            (
                letters.left,
                Pos2::new(rect.min.x + margin, rect.center().y),
                egui::Align2::LEFT_CENTER,
            ),
            (
                letters.right,
                Pos2::new(rect.max.x - margin, rect.center().y),
                egui::Align2::RIGHT_CENTER,
            ),
            (
                letters.top,
                Pos2::new(rect.center().x, rect.min.y + margin),
                egui::Align2::CENTER_TOP,
            ),
            (
                letters.bottom,
                Pos2::new(rect.center().x, rect.max.y - margin),
                egui::Align2::CENTER_BOTTOM,
            ),
        ] {
            painter.text(pos, align, text, font.clone(), letter_colour);
        }
        painter.text(
            rect.left_top() + Vec2::new(margin, margin),
            egui::Align2::LEFT_TOP,
            format!(
                "{} {}/{}",
                self.plane.name(),
                index + 1,
                layout.slice_count(dims)
            ),
            egui::FontId::proportional(13.0),
            plane_colour(self.plane),
        );
        painter.rect_stroke(
            rect,
            0.0,
            Stroke::new(1.0, plane_colour(self.plane).gamma_multiply(0.6)),
            egui::StrokeKind::Inside,
        );

        let hovered_voxel = response
            .hover_pos()
            .and_then(pixel_at)
            .map(|(column, row)| layout.voxel_at(dims, column, row, index));
        SliceViewResponse { hovered_voxel }
    }

    /// Recomposes the slice image when anything it shows changed (slice, window, labels,
    /// overlay settings, convention). Cheap when nothing did; also called for views that are
    /// not drawn (maximised layout), so the 3D view's slice planes stay current.
    pub fn refresh_image(&mut self, case: &Case, prefs: &Preferences) {
        let layout = self.plane.layout(prefs.convention);
        let index = case.cursor_voxel[self.plane.normal_axis()];
        let key = SliceKey {
            index,
            window: prefs.window,
            layout,
            display: prefs.label_display,
            mode: prefs.overlay_mode,
            opacity_percent: (prefs.overlay_opacity * 100.0).round() as u32,
            compared: prefs.compared,
            ground_truth: case.ground_truth.as_ref().map(|l| l.generation),
            prediction: case.prediction.as_ref().map(|l| l.generation),
            ct: Arc::as_ptr(&case.ct) as usize,
        };
        if self.key.as_ref() == Some(&key) && self.image.is_some() {
            return;
        }
        let overlays = overlays_for(case, prefs);
        let image = compose_slice(&case.ct, &layout, index, &prefs.window, &overlays);
        self.image = Some(Arc::new(image));
        self.image_version += 1;
        self.key = Some(key);
    }

    /// The slice last composed, its layout and slice index, and a version that changes with it.
    pub fn image(&self) -> Option<(Arc<SliceImage>, PlaneLayout, usize, u64)> {
        let key = self.key.as_ref()?;
        Some((
            self.image.clone()?,
            key.layout,
            key.index,
            self.image_version,
        ))
    }

    /// Uploads the composed image to egui when it changed.
    fn upload_texture(&mut self, ctx: &egui::Context) {
        let Some(image) = &self.image else { return };
        if self.texture.is_some() && self.texture_version == self.image_version {
            return;
        }
        let colour_image =
            egui::ColorImage::from_rgba_unmultiplied([image.width, image.height], &image.rgba);
        let options = TextureOptions::NEAREST;
        match &mut self.texture {
            Some(texture) => texture.set(colour_image, options),
            None => {
                self.texture =
                    Some(ctx.load_texture(format!("slice-{:?}", self.plane), colour_image, options))
            }
        }
        self.texture_version = self.image_version;
    }
}

/// The overlays the preferences ask for, given which label maps exist.
fn overlays_for<'a>(case: &'a Case, prefs: &Preferences) -> Vec<Overlay<'a>> {
    let labels = |layer: &'a crate::app::state::LabelLayer, mode| {
        Overlay::Labels(LabelOverlay {
            labels: &layer.labels,
            opacity: prefs.overlay_opacity,
            mode,
        })
    };
    let truth = case.ground_truth.as_ref();
    let prediction = case.prediction.as_ref();
    match prefs.label_display {
        LabelDisplay::None => vec![],
        LabelDisplay::Prediction => prediction
            .map(|p| labels(p, prefs.overlay_mode))
            .into_iter()
            .collect(),
        LabelDisplay::GroundTruth => truth
            .map(|t| labels(t, prefs.overlay_mode))
            .into_iter()
            .collect(),
        LabelDisplay::Both => [
            prediction.map(|p| labels(p, OverlayMode::Fill)),
            truth.map(|t| labels(t, OverlayMode::Outline)),
        ]
        .into_iter()
        .flatten()
        .collect(),
        LabelDisplay::Comparison => match (truth, prediction) {
            (Some(t), Some(p)) => vec![Overlay::Comparison(ComparisonOverlay {
                ground_truth: &t.labels,
                prediction: &p.labels,
                in_structure: prefs.compared.selects(),
                opacity: prefs.overlay_opacity.max(0.3),
            })],
            // Only one map: show it rather than nothing.
            (Some(layer), None) | (None, Some(layer)) => vec![labels(layer, prefs.overlay_mode)],
            (None, None) => vec![],
        },
    }
}

fn plane_of_axis(axis: usize) -> Plane {
    match axis {
        0 => Plane::Sagittal,
        1 => Plane::Coronal,
        _ => Plane::Axial,
    }
}
