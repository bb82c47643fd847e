//! [`MeshRenderer`]: the wgpu pipelines that draw shaded surfaces (`shaders/mesh.wgsl`), and
//! [`GpuMesh`]: one [`Surface`] uploaded to the GPU with its [`MeshStyle`].
//!
//! Drawing order makes translucency depth-correct for our scenes (opaque lesions inside a
//! translucent organ): opaque meshes first with depth writes; then each translucent mesh, farthest
//! first, with depth test on and writes off, its back faces before its front faces.

use std::mem::size_of;

use bytemuck::{Pod, Zeroable};
use egui_wgpu::wgpu;
use egui_wgpu::wgpu::util::DeviceExt;

use super::RenderError;
use super::camera::OrbitCamera;
use super::plane::{GpuPlane, PlanePipeline};
use super::target::{SCENE_DEPTH_FORMAT, SceneAttachments};
use crate::mesh::{Structure, Surface};

/// Background behind the scene, sRGB: near-black blue-grey.
pub const BACKGROUND_SRGB: [u8; 3] = [20, 23, 30];

/// Opacity the organ gets by default, so lesions inside show through.
pub const ORGAN_DEFAULT_OPACITY: f32 = 0.35;

/// How one mesh is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeshStyle {
    /// Hidden meshes are skipped.
    pub visible: bool,
    /// Surface colour, sRGB.
    pub colour_srgb: [u8; 3],
    /// 0 (invisible) .. 1 (opaque); below 1 the mesh is drawn translucent.
    pub opacity: f32,
}

impl MeshStyle {
    /// The default look of a structure: its [`Structure::colour_rgb`]; the organ translucent
    /// ([`ORGAN_DEFAULT_OPACITY`]), lesions opaque.
    pub fn for_structure(structure: Structure) -> Self {
        let opacity = match structure {
            Structure::Organ => ORGAN_DEFAULT_OPACITY,
            Structure::Lesions => 1.0,
        };
        Self {
            visible: true,
            colour_srgb: structure.colour_rgb(),
            opacity,
        }
    }

    /// Opacity limited to 0..1 (NaN counts as 0).
    fn clamped_opacity(&self) -> f32 {
        if self.opacity.is_nan() {
            0.0
        } else {
            self.opacity.clamp(0.0, 1.0)
        }
    }

    fn is_drawn(&self) -> bool {
        self.visible && self.clamped_opacity() > 0.0
    }

    fn is_opaque(&self) -> bool {
        self.clamped_opacity() >= 1.0
    }
}

/// One vertex as the shader reads it: position (world mm) and unit normal (world).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct MeshVertex {
    position_mm: [f32; 3],
    normal_world: [f32; 3],
}

impl MeshVertex {
    const ATTRIBUTES: [wgpu::VertexAttribute; 2] =
        wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3];

    fn layout() -> wgpu::VertexBufferLayout<'static> {
        wgpu::VertexBufferLayout {
            array_stride: size_of::<Self>() as wgpu::BufferAddress,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes: &Self::ATTRIBUTES,
        }
    }
}

/// Per-frame uniforms, bind group 0.
// keep in sync with `FrameUniforms` in shaders/mesh.wgsl
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct FrameUniforms {
    /// Column-major, as WGSL's `mat4x4<f32>`.
    clip_from_world: [[f32; 4]; 4],
    /// xyz: eye, world mm.
    eye_position_mm: [f32; 4],
    /// xyz: unit vector toward the light, world.
    light_direction_world: [f32; 4],
}

/// Per-draw uniforms, bind group 1 (one buffer per [`GpuMesh`]).
// keep in sync with `DrawUniforms` in shaders/mesh.wgsl
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct DrawUniforms {
    /// rgb: linear colour; a: opacity.
    colour_linear: [f32; 4],
}

impl DrawUniforms {
    fn from_style(style: &MeshStyle) -> Self {
        let [r, g, b] = style.colour_srgb.map(linear_from_srgb);
        Self {
            colour_linear: [r, g, b, style.clamped_opacity()],
        }
    }
}

/// A surface on the GPU: interleaved position + normal vertices, `u32` indices, and its own
/// per-draw uniform buffer. Change [`style`](Self::style) freely; [`MeshRenderer::prepare`]
/// uploads it every frame.
#[derive(Debug)]
pub struct GpuMesh {
    /// How the mesh is drawn; read at every [`MeshRenderer::prepare`].
    pub style: MeshStyle,
    structure: Structure,
    vertex_buffer: wgpu::Buffer,
    index_buffer: wgpu::Buffer,
    index_count: u32,
    draw_uniform_buffer: wgpu::Buffer,
    draw_bind_group: wgpu::BindGroup,
    bounds_mm: ([f32; 3], [f32; 3]),
}

impl GpuMesh {
    /// Uploads `surface` (world mm, outward counter-clockwise winding, one normal per vertex) for
    /// drawing with `renderer`.
    pub fn new(
        device: &wgpu::Device,
        renderer: &MeshRenderer,
        surface: &Surface,
        style: MeshStyle,
    ) -> Result<Self, RenderError> {
        let structure = surface.structure;
        let mesh = &surface.mesh;
        if surface.normals.len() != mesh.positions_mm.len() {
            return Err(RenderError::NormalCountMismatch {
                structure: structure.name(),
                positions: mesh.positions_mm.len(),
                normals: surface.normals.len(),
            });
        }
        let bounds_mm =
            mesh.bounds_mm()
                .filter(|_| !mesh.is_empty())
                .ok_or(RenderError::EmptyMesh {
                    structure: structure.name(),
                })?;
        let index_count = mesh
            .triangles
            .len()
            .checked_mul(3)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(RenderError::MeshTooLarge {
                structure: structure.name(),
                triangles: mesh.triangles.len(),
            })?;

        let vertices: Vec<MeshVertex> = mesh
            .positions_mm
            .iter()
            .zip(&surface.normals)
            .map(|(&position_mm, &normal_world)| MeshVertex {
                position_mm,
                normal_world,
            })
            .collect();
        let label = |part: &str| format!("GpuMesh::{}::{part}", structure.name());
        let vertex_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(&label("vertices")),
            contents: bytemuck::cast_slice(&vertices),
            usage: wgpu::BufferUsages::VERTEX,
        });
        let index_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(&label("indices")),
            contents: bytemuck::cast_slice(&mesh.triangles),
            usage: wgpu::BufferUsages::INDEX,
        });
        let draw_uniform_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(&label("draw_uniforms")),
            contents: bytemuck::bytes_of(&DrawUniforms::from_style(&style)),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let draw_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&label("draw_bind_group")),
            layout: &renderer.draw_bind_group_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: draw_uniform_buffer.as_entire_binding(),
            }],
        });
        Ok(Self {
            style,
            structure,
            vertex_buffer,
            index_buffer,
            index_count,
            draw_uniform_buffer,
            draw_bind_group,
            bounds_mm,
        })
    }

    /// Which structure the mesh shows.
    pub fn structure(&self) -> Structure {
        self.structure
    }

    /// Axis-aligned bounds `(min, max)` of the vertices, world mm.
    pub fn bounds_mm(&self) -> ([f32; 3], [f32; 3]) {
        self.bounds_mm
    }

    /// Number of triangles.
    pub fn triangle_count(&self) -> u32 {
        self.index_count / 3
    }

    fn centre_mm(&self) -> nalgebra::Point3<f32> {
        let (min, max) = self.bounds_mm;
        nalgebra::center(&min.into(), &max.into())
    }

    fn draw(&self, pass: &mut wgpu::RenderPass<'_>) {
        pass.set_bind_group(1, &self.draw_bind_group, &[]);
        pass.set_vertex_buffer(0, self.vertex_buffer.slice(..));
        pass.set_index_buffer(self.index_buffer.slice(..), wgpu::IndexFormat::Uint32);
        pass.draw_indexed(0..self.index_count, 0, 0..1);
    }
}

/// Axis-aligned bounds `(min, max)` of all `meshes` in world mm, `None` for no meshes.
pub fn scene_bounds_mm(meshes: &[&GpuMesh]) -> Option<([f32; 3], [f32; 3])> {
    meshes
        .iter()
        .map(|mesh| mesh.bounds_mm)
        .reduce(|(lo, hi), (mesh_lo, mesh_hi)| {
            (
                [0, 1, 2].map(|a| lo[a].min(mesh_lo[a])),
                [0, 1, 2].map(|a| hi[a].max(mesh_hi[a])),
            )
        })
}

/// Pipelines, layouts and the per-frame uniform buffer for drawing [`GpuMesh`]es; created once
/// per colour format and sample count.
///
/// Uniforms are written with `queue.write_buffer`, which takes effect at the next
/// `queue.submit`: render one view per submission (or use one renderer per view).
#[derive(Debug)]
pub struct MeshRenderer {
    colour_format: wgpu::TextureFormat,
    sample_count: u32,
    frame_uniform_buffer: wgpu::Buffer,
    frame_bind_group: wgpu::BindGroup,
    draw_bind_group_layout: wgpu::BindGroupLayout,
    opaque_pipeline: wgpu::RenderPipeline,
    translucent_back_faces_pipeline: wgpu::RenderPipeline,
    translucent_front_faces_pipeline: wgpu::RenderPipeline,
    planes: PlanePipeline,
}

impl MeshRenderer {
    /// Builds the pipelines for colour attachments of `colour_format` (an `*Srgb` format gets
    /// linear output that the hardware encodes; any other format gets sRGB-encoded output) with
    /// `sample_count` samples, depth in [`SCENE_DEPTH_FORMAT`].
    pub fn new(
        device: &wgpu::Device,
        colour_format: wgpu::TextureFormat,
        sample_count: u32,
    ) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("MeshRenderer::shader"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/mesh.wgsl").into()),
        });
        let uniform_layout_entry = |size: usize| wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: wgpu::BufferSize::new(size as u64),
            },
            count: None,
        };
        let frame_bind_group_layout =
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("MeshRenderer::frame_bind_group_layout"),
                entries: &[uniform_layout_entry(size_of::<FrameUniforms>())],
            });
        let draw_bind_group_layout =
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("MeshRenderer::draw_bind_group_layout"),
                entries: &[uniform_layout_entry(size_of::<DrawUniforms>())],
            });
        let frame_uniform_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("MeshRenderer::frame_uniforms"),
            size: size_of::<FrameUniforms>() as wgpu::BufferAddress,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let frame_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("MeshRenderer::frame_bind_group"),
            layout: &frame_bind_group_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: frame_uniform_buffer.as_entire_binding(),
            }],
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("MeshRenderer::pipeline_layout"),
            bind_group_layouts: &[
                Some(&frame_bind_group_layout),
                Some(&draw_bind_group_layout),
            ],
            ..Default::default()
        });
        let factory = PipelineFactory {
            device,
            layout: &layout,
            shader: &shader,
            colour_format,
            sample_count,
        };
        let planes = PlanePipeline::new(
            device,
            &frame_bind_group_layout,
            colour_format,
            sample_count,
        );
        Self {
            colour_format,
            sample_count,
            planes,
            frame_uniform_buffer,
            frame_bind_group,
            draw_bind_group_layout,
            opaque_pipeline: factory.build("MeshRenderer::rp_opaque", wgpu::Face::Back, true),
            translucent_back_faces_pipeline: factory.build(
                "MeshRenderer::rp_translucent_back_faces",
                wgpu::Face::Front,
                false,
            ),
            translucent_front_faces_pipeline: factory.build(
                "MeshRenderer::rp_translucent_front_faces",
                wgpu::Face::Back,
                false,
            ),
        }
    }

    pub(super) fn plane_pipeline(&self) -> &PlanePipeline {
        &self.planes
    }

    /// The colour attachment format the pipelines were built for.
    pub fn colour_format(&self) -> wgpu::TextureFormat {
        self.colour_format
    }

    /// Samples per pixel the pipelines were built for.
    pub fn sample_count(&self) -> u32 {
        self.sample_count
    }

    /// The clear colour matching [`BACKGROUND_SRGB`] for this renderer's colour format.
    pub fn background_colour(&self) -> wgpu::Color {
        let encode = |channel: u8| {
            if self.colour_format.is_srgb() {
                f64::from(linear_from_srgb(channel))
            } else {
                f64::from(channel) / 255.0
            }
        };
        let [r, g, b] = BACKGROUND_SRGB.map(encode);
        wgpu::Color { r, g, b, a: 1.0 }
    }

    /// Writes the camera for a viewport of `aspect` = width / height and every mesh's style.
    /// Call before [`Self::draw`], once per frame.
    pub fn prepare(
        &self,
        queue: &wgpu::Queue,
        camera: &OrbitCamera,
        aspect: f32,
        meshes: &[&GpuMesh],
    ) {
        let axes = camera.axes();
        // A headlight from just above and left of the viewer, so spheres don't look flat.
        let to_light = (-axes.forward + 0.45 * axes.up - 0.3 * axes.right).normalize();
        let [ex, ey, ez] = camera.eye_mm();
        let uniforms = FrameUniforms {
            clip_from_world: camera.clip_from_world(aspect).into(),
            eye_position_mm: [ex, ey, ez, 1.0],
            light_direction_world: [to_light.x, to_light.y, to_light.z, 0.0],
        };
        queue.write_buffer(&self.frame_uniform_buffer, 0, bytemuck::bytes_of(&uniforms));
        for mesh in meshes {
            queue.write_buffer(
                &mesh.draw_uniform_buffer,
                0,
                bytemuck::bytes_of(&DrawUniforms::from_style(&mesh.style)),
            );
        }
    }

    /// Records the draws into `pass` (whose attachments match this renderer's format, sample
    /// count and [`SCENE_DEPTH_FORMAT`]): opaque meshes, then the slice `planes` (opaque), then
    /// translucent meshes farthest first, back faces before front faces. `camera` orders the
    /// translucent meshes.
    pub fn draw(
        &self,
        pass: &mut wgpu::RenderPass<'_>,
        camera: &OrbitCamera,
        meshes: &[&GpuMesh],
        planes: &[&GpuPlane],
    ) {
        let drawn = || meshes.iter().filter(|mesh| mesh.style.is_drawn());
        pass.set_bind_group(0, &self.frame_bind_group, &[]);

        pass.set_pipeline(&self.opaque_pipeline);
        for mesh in drawn().filter(|mesh| mesh.style.is_opaque()) {
            mesh.draw(pass);
        }
        self.planes.draw(pass, planes);

        let eye = nalgebra::Point3::from(camera.eye_mm());
        let mut translucent: Vec<(f32, &GpuMesh)> = drawn()
            .filter(|mesh| !mesh.style.is_opaque())
            .map(|mesh| ((mesh.centre_mm() - eye).norm(), *mesh))
            .collect();
        translucent.sort_by(|(a, _), (b, _)| b.total_cmp(a));
        for (_, mesh) in translucent {
            pass.set_pipeline(&self.translucent_back_faces_pipeline);
            mesh.draw(pass);
            pass.set_pipeline(&self.translucent_front_faces_pipeline);
            mesh.draw(pass);
        }
    }

    /// One complete frame: [`prepare`](Self::prepare), then a render pass that clears to
    /// [`BACKGROUND_SRGB`] and depth 1 and [`draw`](Self::draw)s the meshes and planes.
    #[allow(clippy::too_many_arguments)]
    pub fn render(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        attachments: SceneAttachments<'_>,
        camera: &OrbitCamera,
        aspect: f32,
        meshes: &[&GpuMesh],
        planes: &[&GpuPlane],
    ) {
        self.prepare(queue, camera, aspect, meshes);
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("MeshRenderer::render"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: attachments.colour,
                depth_slice: None,
                resolve_target: attachments.resolve_target,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(self.background_colour()),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: attachments.depth,
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(1.0),
                    store: wgpu::StoreOp::Discard,
                }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        self.draw(&mut pass, camera, meshes, planes);
    }
}

/// What every mesh pipeline shares; [`Self::build`] varies culling and depth writes.
struct PipelineFactory<'a> {
    device: &'a wgpu::Device,
    layout: &'a wgpu::PipelineLayout,
    shader: &'a wgpu::ShaderModule,
    colour_format: wgpu::TextureFormat,
    sample_count: u32,
}

impl PipelineFactory<'_> {
    /// Opaque pipelines write depth and replace colour; the others keep depth and alpha-blend.
    fn build(&self, label: &str, culled_face: wgpu::Face, opaque: bool) -> wgpu::RenderPipeline {
        let constants = [(
            "OUTPUT_ENCODES_SRGB",
            if self.colour_format.is_srgb() {
                0.0
            } else {
                1.0
            },
        )];
        let compilation_options = wgpu::PipelineCompilationOptions {
            constants: &constants,
            ..Default::default()
        };
        self.device
            .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: Some(self.layout),
                vertex: wgpu::VertexState {
                    module: self.shader,
                    entry_point: Some("vs_main"),
                    compilation_options: compilation_options.clone(),
                    buffers: &[Some(MeshVertex::layout())],
                },
                primitive: wgpu::PrimitiveState {
                    topology: wgpu::PrimitiveTopology::TriangleList,
                    front_face: wgpu::FrontFace::Ccw,
                    cull_mode: Some(culled_face),
                    ..Default::default()
                },
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: SCENE_DEPTH_FORMAT,
                    depth_write_enabled: Some(opaque),
                    depth_compare: Some(wgpu::CompareFunction::Less),
                    stencil: wgpu::StencilState::default(),
                    bias: wgpu::DepthBiasState::default(),
                }),
                multisample: wgpu::MultisampleState {
                    count: self.sample_count,
                    ..Default::default()
                },
                fragment: Some(wgpu::FragmentState {
                    module: self.shader,
                    entry_point: Some("fs_main"),
                    compilation_options,
                    targets: &[Some(wgpu::ColorTargetState {
                        format: self.colour_format,
                        blend: Some(if opaque {
                            wgpu::BlendState::REPLACE
                        } else {
                            wgpu::BlendState::ALPHA_BLENDING
                        }),
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
    }
}

/// sRGB-encoded 8-bit channel → linear 0..1.
fn linear_from_srgb(channel: u8) -> f32 {
    let encoded = f32::from(channel) / 255.0;
    if encoded <= 0.04045 {
        encoded / 12.92
    } else {
        ((encoded + 0.055) / 1.055).powf(2.4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rust uniform structs must match the WGSL ones byte for byte.
    #[test]
    fn uniform_structs_match_the_shader_layout() {
        let module = naga::front::wgsl::parse_str(include_str!("../../shaders/mesh.wgsl"))
            .expect("mesh.wgsl parses");
        let mut layouter = naga::proc::Layouter::default();
        layouter
            .update(module.to_ctx())
            .expect("mesh.wgsl has a layout");
        let wgsl_size = |name: &str| {
            let (handle, _) = module
                .types
                .iter()
                .find(|(_, ty)| ty.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("mesh.wgsl defines {name}"));
            layouter[handle].size as usize
        };
        assert_eq!(wgsl_size("FrameUniforms"), size_of::<FrameUniforms>());
        assert_eq!(wgsl_size("DrawUniforms"), size_of::<DrawUniforms>());
        assert_eq!(size_of::<MeshVertex>(), 24);
    }

    #[test]
    fn default_styles_show_a_translucent_organ_and_opaque_lesions() {
        let organ = MeshStyle::for_structure(Structure::Organ);
        let lesions = MeshStyle::for_structure(Structure::Lesions);
        assert!(organ.is_drawn() && !organ.is_opaque());
        assert_eq!(organ.opacity, ORGAN_DEFAULT_OPACITY);
        assert!(lesions.is_drawn() && lesions.is_opaque());
        assert_eq!(organ.colour_srgb, [60, 120, 230]);
        assert_eq!(lesions.colour_srgb, [220, 40, 40]);
    }

    #[test]
    fn hidden_or_zero_opacity_meshes_are_not_drawn() {
        let mut style = MeshStyle::for_structure(Structure::Lesions);
        style.visible = false;
        assert!(!style.is_drawn());
        for opacity in [0.0, -1.0, f32::NAN] {
            let style = MeshStyle {
                opacity,
                ..MeshStyle::for_structure(Structure::Organ)
            };
            assert!(!style.is_drawn(), "opacity {opacity}");
        }
        let over_one = MeshStyle {
            opacity: 7.0,
            ..MeshStyle::for_structure(Structure::Organ)
        };
        assert!(over_one.is_opaque());
        assert_eq!(DrawUniforms::from_style(&over_one).colour_linear[3], 1.0);
    }

    #[test]
    fn srgb_decoding_matches_reference_values() {
        assert_eq!(linear_from_srgb(0), 0.0);
        assert!((linear_from_srgb(255) - 1.0).abs() < 1e-6);
        // 50 % grey: 188/255 encoded ≈ 0.5029 linear.
        assert!((linear_from_srgb(188) - 0.5029).abs() < 1e-3);
        assert!((linear_from_srgb(10) - 0.003_035).abs() < 1e-5);
    }
}
