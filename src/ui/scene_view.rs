//! The 3D view: organ and lesion surfaces rendered by our own pipelines (`render`) into an
//! offscreen colour + depth target, shown in egui as a native texture. Drag orbits, right- or
//! middle-drag pans, the wheel zooms, double-click resets; optional auto-rotation.

use std::path::Path;

use egui::{Color32, Pos2, Rect, Sense};
use egui_wgpu::wgpu;

use crate::app::state::{Case, Command, Preferences};
use crate::jobs::LabelSource;
use crate::mesh::Structure;
use crate::render::{GpuMesh, MeshRenderer, MeshStyle, OrbitCamera, SceneTarget, scene_bounds_mm};

/// Ground-truth surfaces, drawn over the prediction: organ green, lesions yellow.
const TRUTH_ORGAN_SRGB: [u8; 3] = [80, 200, 120];
const TRUTH_LESIONS_SRGB: [u8; 3] = [250, 210, 60];

/// Auto-rotation speed, radians per second.
const AUTO_ROTATE_RAD_PER_S: f32 = 0.5;

/// GPU objects of the view, made once a size is known.
struct SceneGpu {
    renderer: MeshRenderer,
    target: SceneTarget,
    texture_id: egui::TextureId,
}

/// Everything that decides the rendered picture; a new frame is rendered when it changes.
#[derive(Debug, Clone, PartialEq)]
struct RenderKey {
    camera: OrbitCamera,
    size_px: [u32; 2],
    styles: Vec<MeshStyle>,
    meshes: Vec<u64>,
}

/// The 3D view's state.
pub struct SceneView {
    render_state: Option<egui_wgpu::RenderState>,
    gpu: Option<SceneGpu>,
    /// Uploaded surfaces with the layer generation they came from.
    meshes: Vec<(LabelSource, u64, GpuMesh)>,
    camera: OrbitCamera,
    camera_fitted: bool,
    /// Surfaces changed: re-upload before drawing.
    dirty: bool,
    last_key: Option<RenderKey>,
    error: Option<String>,
}

impl SceneView {
    /// `render_state` is eframe's wgpu state; without it the view says 3D is unavailable.
    pub fn new(render_state: Option<egui_wgpu::RenderState>) -> Self {
        Self {
            render_state,
            gpu: None,
            meshes: Vec::new(),
            camera: OrbitCamera::default(),
            camera_fitted: false,
            dirty: true,
            last_key: None,
            error: None,
        }
    }

    /// Forgets the surfaces (a new case was opened).
    pub fn clear(&mut self) {
        self.meshes.clear();
        self.camera_fitted = false;
        self.dirty = true;
        self.last_key = None;
    }

    /// New surfaces are available.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    pub fn reset_camera(&mut self) {
        self.camera.reset();
    }

    /// The number of uploaded meshes (for tests).
    pub fn mesh_count(&self) -> usize {
        self.meshes.len()
    }

    /// Saves the last rendered picture of the 3D view.
    pub fn save_png(&self, path: &Path) -> anyhow::Result<()> {
        let (Some(rs), Some(gpu)) = (&self.render_state, &self.gpu) else {
            anyhow::bail!("the 3D view has not been drawn (no GPU renderer)");
        };
        let image = gpu.target.read_rgba(&rs.device, &rs.queue)?;
        image.save(path)?;
        Ok(())
    }

    /// Draws the view into `rect`; returns a command when the user asks for one.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        rect: Rect,
        case: Option<&Case>,
        prefs: &Preferences,
    ) -> Option<Command> {
        let painter = ui.painter_at(rect);
        let Some(render_state) = self.render_state.clone() else {
            painter.rect_filled(rect, 0.0, Color32::from_gray(20));
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "3D view unavailable: no GPU renderer",
                egui::FontId::proportional(14.0),
                Color32::GRAY,
            );
            return None;
        };
        let response = ui.interact(rect, ui.scope_id().with("scene"), Sense::click_and_drag());
        let mut command = None;
        if response.dragged_by(egui::PointerButton::Primary) {
            let d = response.drag_delta();
            self.camera.orbit(d.x, d.y);
        }
        if response.dragged_by(egui::PointerButton::Secondary)
            || response.dragged_by(egui::PointerButton::Middle)
        {
            let d = response.drag_delta();
            self.camera.pan(d.x, d.y, [rect.width(), rect.height()]);
        }
        if response.double_clicked() {
            command = Some(Command::ResetCamera);
        }
        if response.hovered() {
            let (scroll, zoom) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            if scroll != 0.0 {
                self.camera.zoom((-scroll * 0.002).exp());
            }
            if zoom != 1.0 {
                self.camera.zoom(1.0 / zoom);
            }
        }
        if prefs.auto_rotate {
            let dt = ui.input(|i| i.stable_dt).min(0.1);
            self.camera.turn(AUTO_ROTATE_RAD_PER_S * dt, 0.0);
        }

        if let Err(e) = self.update_meshes(&render_state, case, prefs) {
            self.error = Some(format!("{e:#}"));
        }
        let pixels_per_point = ui.ctx().pixels_per_point();
        let size_px = [
            (rect.width() * pixels_per_point).round().max(1.0) as u32,
            (rect.height() * pixels_per_point).round().max(1.0) as u32,
        ];
        match self.render(&render_state, size_px) {
            Ok(()) => {}
            Err(e) => self.error = Some(format!("{e:#}")),
        }
        if let Some(gpu) = &self.gpu {
            painter.image(
                gpu.texture_id,
                rect,
                Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                Color32::WHITE,
            );
        }
        self.draw_legend(&painter, rect, case, prefs);
        painter.rect_stroke(
            rect,
            0.0,
            egui::Stroke::new(1.0, Color32::from_gray(70)),
            egui::StrokeKind::Inside,
        );
        command
    }

    fn draw_legend(
        &self,
        painter: &egui::Painter,
        rect: Rect,
        case: Option<&Case>,
        prefs: &Preferences,
    ) {
        let font = egui::FontId::proportional(13.0);
        let mut y = rect.min.y + 6.0;
        let mut line = |text: String, colour: Color32| {
            painter.text(
                Pos2::new(rect.min.x + 6.0, y),
                egui::Align2::LEFT_TOP,
                text,
                font.clone(),
                colour,
            );
            y += 16.0;
        };
        line("3D".into(), Color32::from_gray(200));
        if let Some(error) = &self.error {
            line(
                format!("3D error: {error}"),
                Color32::from_rgb(255, 110, 100),
            );
        }
        let Some(case) = case else { return };
        let rgb = |c: [u8; 3]| Color32::from_rgb(c[0], c[1], c[2]);
        let source = if case.prediction.is_some() {
            "prediction"
        } else if case.ground_truth.is_some() {
            "ground truth"
        } else {
            line("no labels yet: run the segmentation".into(), Color32::GRAY);
            return;
        };
        if self.meshes.is_empty() {
            line("building surfaces…".into(), Color32::GRAY);
            return;
        }
        line(
            format!("organ ({source})"),
            rgb(Structure::Organ.colour_rgb()),
        );
        line(
            format!("lesions ({source})"),
            rgb(Structure::Lesions.colour_rgb()),
        );
        if prefs.show_ground_truth_3d && case.prediction.is_some() && case.ground_truth.is_some() {
            line("organ (ground truth)".into(), rgb(TRUTH_ORGAN_SRGB));
            line("lesions (ground truth)".into(), rgb(TRUTH_LESIONS_SRGB));
        }
    }

    /// Uploads the surfaces to show and sets every mesh's style from the preferences.
    fn update_meshes(
        &mut self,
        rs: &egui_wgpu::RenderState,
        case: Option<&Case>,
        prefs: &Preferences,
    ) -> anyhow::Result<()> {
        let Some(case) = case else {
            self.meshes.clear();
            return Ok(());
        };
        // Prediction when there is one; ground truth alone, or over it when asked.
        let mut wanted: Vec<LabelSource> = Vec::new();
        if case.prediction.is_some() {
            wanted.push(LabelSource::Prediction);
            if prefs.show_ground_truth_3d {
                wanted.push(LabelSource::GroundTruth);
            }
        } else if case.ground_truth.is_some() {
            wanted.push(LabelSource::GroundTruth);
        }
        let current: Vec<(LabelSource, u64)> = wanted
            .iter()
            .filter_map(|&s| {
                let layer = case.layer(s)?;
                layer.surfaces.as_ref()?;
                Some((s, layer.generation))
            })
            .collect();
        let uploaded: Vec<(LabelSource, u64)> = {
            let mut v: Vec<_> = self.meshes.iter().map(|(s, g, _)| (*s, *g)).collect();
            v.dedup();
            v
        };
        if self.dirty || uploaded != current {
            self.dirty = false;
            let gpu = self.ensure_gpu(rs, [16, 16])?;
            let mut meshes = Vec::new();
            for (source, generation) in &current {
                let Some(surfaces) = case.layer(*source).and_then(|l| l.surfaces.as_ref()) else {
                    continue;
                };
                for surface in surfaces.iter().filter(|s| !s.mesh.is_empty()) {
                    let style = MeshStyle::for_structure(surface.structure);
                    let mesh = GpuMesh::new(&rs.device, &gpu.renderer, surface, style)?;
                    meshes.push((*source, *generation, mesh));
                }
            }
            self.meshes = meshes;
            if !self.camera_fitted {
                let all: Vec<&GpuMesh> = self.meshes.iter().map(|(_, _, m)| m).collect();
                if let Some((min, max)) = scene_bounds_mm(&all) {
                    self.camera.fit_bounds(min, max);
                    self.camera_fitted = true;
                }
            }
        }
        let both = current.len() > 1;
        for (source, _, mesh) in &mut self.meshes {
            let truth_over_prediction = both && *source == LabelSource::GroundTruth;
            let structure = mesh.structure();
            let mut style = MeshStyle::for_structure(structure);
            match structure {
                Structure::Organ => {
                    style.visible = prefs.show_organ_3d;
                    style.opacity = prefs.organ_opacity_3d;
                    if truth_over_prediction {
                        style.colour_srgb = TRUTH_ORGAN_SRGB;
                        style.opacity = (prefs.organ_opacity_3d * 0.6).min(0.5);
                    }
                }
                Structure::Lesions => {
                    style.visible = prefs.show_lesions_3d;
                    if truth_over_prediction {
                        // Translucent so the predicted lesions inside stay visible.
                        style.colour_srgb = TRUTH_LESIONS_SRGB;
                        style.opacity = 0.45;
                    }
                }
            }
            mesh.style = style;
        }
        Ok(())
    }

    /// Creates the renderer and target on first use and registers the target with egui.
    fn ensure_gpu(
        &mut self,
        rs: &egui_wgpu::RenderState,
        size_px: [u32; 2],
    ) -> anyhow::Result<&SceneGpu> {
        if self.gpu.is_none() {
            let target = SceneTarget::new(&rs.device, size_px, 4)
                .or_else(|_| SceneTarget::new(&rs.device, size_px, 1))?;
            let renderer =
                MeshRenderer::new(&rs.device, target.render_format(), target.sample_count());
            let texture_id = rs.renderer.write().register_native_texture(
                &rs.device,
                target.display_view(),
                wgpu::FilterMode::Linear,
            );
            self.gpu = Some(SceneGpu {
                renderer,
                target,
                texture_id,
            });
        }
        Ok(self.gpu.as_ref().expect("just created"))
    }

    /// Renders a new frame into the target when anything that shows has changed.
    fn render(&mut self, rs: &egui_wgpu::RenderState, size_px: [u32; 2]) -> anyhow::Result<()> {
        self.ensure_gpu(rs, size_px)?;
        let key = RenderKey {
            camera: self.camera.clone(),
            size_px,
            styles: self.meshes.iter().map(|(_, _, m)| m.style).collect(),
            meshes: self.meshes.iter().map(|(_, g, _)| *g).collect(),
        };
        if self.last_key.as_ref() == Some(&key) {
            return Ok(());
        }
        let gpu = self.gpu.as_mut().expect("ensured above");
        if gpu.target.size_px() != size_px {
            gpu.target.resize(&rs.device, size_px)?;
            rs.renderer.write().update_egui_texture_from_wgpu_texture(
                &rs.device,
                gpu.target.display_view(),
                wgpu::FilterMode::Linear,
                gpu.texture_id,
            );
        }
        let meshes: Vec<&GpuMesh> = self.meshes.iter().map(|(_, _, m)| m).collect();
        let mut encoder = rs
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("SceneView"),
            });
        gpu.renderer.render(
            &rs.queue,
            &mut encoder,
            gpu.target.attachments(),
            &self.camera,
            gpu.target.aspect(),
            &meshes,
        );
        rs.queue.submit([encoder.finish()]);
        self.last_key = Some(key);
        self.error = None;
        Ok(())
    }
}
