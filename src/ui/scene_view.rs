//! The 3D view: organ and lesion surfaces rendered by our own pipelines (`render`) into an
//! offscreen colour + depth target, shown in egui as a native texture. Drag orbits, right- or
//! middle-drag pans, the wheel zooms, double-click resets; optional auto-rotation.

use std::path::Path;
use std::sync::Arc;

use egui::{Color32, Pos2, Rect, Sense};
use egui_wgpu::wgpu;

use crate::app::state::{Case, Command, LabelDisplay, Preferences};
use crate::jobs::LabelSource;
use crate::mesh::{Agreement, Structure, Surface};
use crate::render::{
    GpuMesh, GpuPlane, MeshRenderer, MeshStyle, OrbitCamera, SceneTarget, scene_bounds_mm,
};
use crate::slice::{PlaneLayout, SliceImage};

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
    content: SceneContent,
    /// Versions of the slice images on the planes shown.
    planes: Vec<u64>,
}

/// A slice view's current image, to be shown in place as a plane.
#[derive(Debug, Clone)]
pub struct SlicePlaneImage {
    pub image: Arc<SliceImage>,
    pub layout: PlaneLayout,
    /// Slice index along the plane's normal.
    pub index: usize,
    /// Changes whenever the image does.
    pub version: u64,
}

/// What one uploaded mesh shows.
#[derive(Debug, Clone, Copy, PartialEq)]
enum MeshRole {
    /// A surface of a label map.
    Layer(LabelSource),
    /// A true-positive / false-positive / false-negative region.
    Agreement(Agreement),
}

/// Which surfaces the view shows; the meshes are re-uploaded when it changes.
#[derive(Debug, Clone, PartialEq)]
enum SceneContent {
    Nothing,
    /// Label-map surfaces, by (source, layer generation); the first is drawn normally, a
    /// second (the ground truth) in its own colours over it.
    Layers(Vec<(LabelSource, u64)>),
    /// The agreement surfaces of one structure for a (truth, prediction) generation pair.
    Agreement {
        structure: Structure,
        generations: (u64, u64),
    },
}

impl SceneContent {
    /// What the preferences ask to see of `case`, among what is ready. The 3D view follows the
    /// slices' label choice: comparison shows agreement surfaces (once computed), ground truth
    /// shows the ground truth, both shows both; otherwise the prediction, with the ground truth
    /// over it when asked, or the ground truth when there is no prediction.
    fn wanted(case: &Case, prefs: &Preferences) -> SceneContent {
        if prefs.label_display == LabelDisplay::Comparison
            && let Some(comparison) = case.current_comparison()
        {
            return SceneContent::Agreement {
                structure: prefs.compared.structure(),
                generations: comparison.generations,
            };
        }
        use LabelSource::{GroundTruth, Prediction};
        let sources: &[LabelSource] = match prefs.label_display {
            LabelDisplay::GroundTruth => &[GroundTruth],
            LabelDisplay::Both => &[Prediction, GroundTruth],
            _ if case.prediction.is_none() => &[GroundTruth],
            _ if prefs.show_ground_truth_3d => &[Prediction, GroundTruth],
            _ => &[Prediction],
        };
        let ready: Vec<(LabelSource, u64)> = sources
            .iter()
            .filter_map(|&s| {
                let layer = case.layer(s)?;
                layer.surfaces.as_ref()?;
                Some((s, layer.generation))
            })
            .collect();
        if ready.is_empty() {
            SceneContent::Nothing
        } else {
            SceneContent::Layers(ready)
        }
    }

    /// The surfaces of `case` this content stands for.
    fn surfaces<'a>(&self, case: &'a Case) -> Vec<(MeshRole, &'a Surface)> {
        match self {
            SceneContent::Nothing => Vec::new(),
            SceneContent::Layers(layers) => layers
                .iter()
                .filter_map(|(source, _)| Some((*source, case.layer(*source)?.surfaces.as_ref()?)))
                .flat_map(|(source, surfaces)| {
                    surfaces.iter().map(move |s| (MeshRole::Layer(source), s))
                })
                .collect(),
            SceneContent::Agreement { structure, .. } => case
                .current_comparison()
                .map(|c| {
                    c.agreement
                        .iter()
                        .filter(|a| a.surface.structure == *structure)
                        .map(|a| (MeshRole::Agreement(a.agreement), &a.surface))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Opacity of false-positive and false-negative surfaces in the 3D comparison.
const AGREEMENT_SHELL_OPACITY: f32 = 0.55;

/// How a mesh is drawn: its structure's look, visibility and organ opacity from the
/// preferences; ground truth over a prediction in its own colours, translucent; agreement
/// regions in the comparison colours: the true-positive organ at the organ opacity, the
/// false-positive and false-negative shells translucent.
fn mesh_style(
    role: MeshRole,
    structure: Structure,
    truth_over_prediction: bool,
    prefs: &Preferences,
) -> MeshStyle {
    let mut style = MeshStyle::for_structure(structure);
    match structure {
        Structure::Organ => {
            style.visible = prefs.show_organ_3d;
            style.opacity = prefs.organ_opacity_3d;
        }
        Structure::Lesions => style.visible = prefs.show_lesions_3d,
    }
    match role {
        MeshRole::Layer(LabelSource::GroundTruth) if truth_over_prediction => match structure {
            Structure::Organ => {
                style.colour_srgb = TRUTH_ORGAN_SRGB;
                style.opacity = (prefs.organ_opacity_3d * 0.6).min(0.5);
            }
            Structure::Lesions => {
                // Translucent so the predicted lesions inside stay visible.
                style.colour_srgb = TRUTH_LESIONS_SRGB;
                style.opacity = 0.45;
            }
        },
        MeshRole::Layer(_) => {}
        MeshRole::Agreement(agreement) => {
            style.colour_srgb = agreement.colour_rgb();
            style.opacity = match (structure, agreement) {
                (Structure::Organ, Agreement::TruePositive) => prefs.organ_opacity_3d,
                (Structure::Lesions, Agreement::TruePositive) => 1.0,
                // A false-positive shell around an over-segmented lesion (or a false-negative
                // one around an under-segmented one) encloses its true-positive core: drawn
                // translucent, so the core stays visible.
                (_, Agreement::FalsePositive | Agreement::FalseNegative) => AGREEMENT_SHELL_OPACITY,
            };
        }
    }
    style
}

/// The 3D view's state.
pub struct SceneView {
    render_state: Option<egui_wgpu::RenderState>,
    gpu: Option<SceneGpu>,
    /// Uploaded surfaces, standing for `content`.
    meshes: Vec<(MeshRole, GpuMesh)>,
    content: SceneContent,
    /// Uploaded slice planes with the image version each holds.
    planes: Vec<(u64, GpuPlane)>,
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
            content: SceneContent::Nothing,
            planes: Vec::new(),
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
        self.content = SceneContent::Nothing;
        self.planes.clear();
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

    /// What the uploaded meshes show: `"prediction"`, `"ground truth"` or the agreement
    /// region's name, with the structure (for tests).
    pub fn mesh_descriptions(&self) -> Vec<String> {
        self.meshes
            .iter()
            .map(|(role, mesh)| {
                let what = match role {
                    MeshRole::Layer(LabelSource::Prediction) => "prediction",
                    MeshRole::Layer(LabelSource::GroundTruth) => "ground truth",
                    MeshRole::Agreement(a) => a.name(),
                };
                format!("{} {what}", mesh.structure().name())
            })
            .collect()
    }

    /// The number of slice planes uploaded (for tests).
    pub fn plane_count(&self) -> usize {
        self.planes.len()
    }

    /// Saves the last rendered picture of the 3D view.
    pub fn save_png(&self, path: &Path) -> anyhow::Result<()> {
        let (Some(rs), Some(gpu)) = (&self.render_state, &self.gpu) else {
            anyhow::bail!("the 3D view has not been drawn (no GPU renderer)");
        };
        let image = gpu.target.read_rgba(&rs.device, &rs.queue)?;
        super::write_png(path, &image).map_err(anyhow::Error::msg)
    }

    /// Draws the view into `rect`, with `slice_planes` in place when the preferences ask for
    /// them; returns a command when the user asks for one.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        rect: Rect,
        case: Option<&Case>,
        prefs: &Preferences,
        slice_planes: &[SlicePlaneImage],
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
        let shown_planes = match case {
            Some(_) if prefs.show_planes_3d => slice_planes,
            _ => &[],
        };
        if let Err(e) = self.update_planes(&render_state, case, shown_planes) {
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
        if case.prediction.is_none() && case.ground_truth.is_none() {
            line("no labels yet: run the segmentation".into(), Color32::GRAY);
            return;
        }
        match &self.content {
            SceneContent::Nothing => {
                line("building surfaces…".into(), Color32::GRAY);
                return;
            }
            SceneContent::Agreement { structure, .. } if self.meshes.is_empty() => {
                line(
                    format!("no {} in either label map", structure.name()),
                    Color32::GRAY,
                );
                return;
            }
            _ => {}
        }
        if prefs.label_display == LabelDisplay::Comparison
            && matches!(self.content, SceneContent::Layers(_))
        {
            line("comparing…".into(), Color32::GRAY);
        }
        for (role, mesh) in &self.meshes {
            let [r, g, b] = mesh.style.colour_srgb;
            let structure = mesh.structure().name();
            let text = match role {
                MeshRole::Layer(LabelSource::Prediction) => format!("{structure} (prediction)"),
                MeshRole::Layer(LabelSource::GroundTruth) => format!("{structure} (ground truth)"),
                MeshRole::Agreement(a) => format!("{structure}: {}", a.name()),
            };
            let hidden = if mesh.style.visible { "" } else { " (hidden)" };
            line(format!("{text}{hidden}"), Color32::from_rgb(r, g, b));
        }
    }

    /// Uploads the surfaces to show and sets every mesh's style from the preferences.
    fn update_meshes(
        &mut self,
        rs: &egui_wgpu::RenderState,
        case: Option<&Case>,
        prefs: &Preferences,
    ) -> anyhow::Result<()> {
        let content = case.map_or(SceneContent::Nothing, |c| SceneContent::wanted(c, prefs));
        if self.dirty || content != self.content {
            self.dirty = false;
            let gpu = self.ensure_gpu(rs, [16, 16])?;
            let mut meshes = Vec::new();
            if let Some(case) = case {
                for (role, surface) in content.surfaces(case) {
                    if surface.mesh.is_empty() {
                        continue;
                    }
                    let style = MeshStyle::for_structure(surface.structure);
                    meshes.push((
                        role,
                        GpuMesh::new(&rs.device, &gpu.renderer, surface, style)?,
                    ));
                }
            }
            self.meshes = meshes;
            self.content = content;
            if !self.camera_fitted {
                let all: Vec<&GpuMesh> = self.meshes.iter().map(|(_, m)| m).collect();
                if let Some((min, max)) = scene_bounds_mm(&all) {
                    self.camera.fit_bounds(min, max);
                    self.camera_fitted = true;
                }
            }
        }
        let truth_over_prediction = matches!(&self.content, SceneContent::Layers(l) if l.len() > 1);
        for (role, mesh) in &mut self.meshes {
            mesh.style = mesh_style(*role, mesh.structure(), truth_over_prediction, prefs);
        }
        Ok(())
    }

    /// Uploads the slice images that changed; drops the planes when none are to be shown.
    fn update_planes(
        &mut self,
        rs: &egui_wgpu::RenderState,
        case: Option<&Case>,
        slice_planes: &[SlicePlaneImage],
    ) -> anyhow::Result<()> {
        let Some(case) = case.filter(|_| !slice_planes.is_empty()) else {
            self.planes.clear();
            return Ok(());
        };
        let current: Vec<u64> = self.planes.iter().map(|(v, _)| *v).collect();
        let wanted: Vec<u64> = slice_planes.iter().map(|p| p.version).collect();
        if current == wanted {
            return Ok(());
        }
        self.ensure_gpu(rs, [16, 16])?;
        let gpu = self.gpu.as_ref().expect("ensured above");
        let mut planes = Vec::with_capacity(slice_planes.len());
        for plane in slice_planes {
            let corners = plane
                .layout
                .world_corners_mm(&case.ct.grid, plane.index)
                .map(|c| c.map(|v| v as f32));
            let size_px = [plane.image.width as u32, plane.image.height as u32];
            let uploaded = GpuPlane::new(
                &rs.device,
                &rs.queue,
                &gpu.renderer,
                corners,
                size_px,
                &plane.image.rgba,
            )?;
            planes.push((plane.version, uploaded));
        }
        self.planes = planes;
        if !self.camera_fitted && self.meshes.is_empty() {
            // Frame the planes until there are surfaces to frame.
            let bounds = self
                .planes
                .iter()
                .map(|(_, p)| p.bounds_mm())
                .reduce(|a, b| {
                    (
                        std::array::from_fn(|i| a.0[i].min(b.0[i])),
                        std::array::from_fn(|i| a.1[i].max(b.1[i])),
                    )
                });
            if let Some((min, max)) = bounds {
                self.camera.fit_bounds(min, max);
            }
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
            styles: self.meshes.iter().map(|(_, m)| m.style).collect(),
            content: self.content.clone(),
            planes: self.planes.iter().map(|(v, _)| *v).collect(),
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
        let meshes: Vec<&GpuMesh> = self.meshes.iter().map(|(_, m)| m).collect();
        let planes: Vec<&GpuPlane> = self.planes.iter().map(|(_, p)| p).collect();
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
            &planes,
        );
        rs.queue.submit([encoder.finish()]);
        self.last_key = Some(key);
        self.error = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_shells_are_translucent_so_the_true_positive_core_shows() {
        let prefs = Preferences::default();
        let style = |structure, agreement| {
            mesh_style(MeshRole::Agreement(agreement), structure, false, &prefs)
        };
        assert_eq!(
            style(Structure::Lesions, Agreement::TruePositive).opacity,
            1.0
        );
        for agreement in [Agreement::FalsePositive, Agreement::FalseNegative] {
            for structure in [Structure::Organ, Structure::Lesions] {
                let shell = style(structure, agreement).opacity;
                assert!(
                    shell > 0.0 && shell < 1.0,
                    "{structure:?} {agreement:?}: {shell}"
                );
            }
        }
    }
}
