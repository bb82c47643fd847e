//! [`GpuPlane`]: one slice image stretched over its quad in world space, for showing the slice
//! planes in place in the 3D view (`shaders/plane.wgsl`), and the pipeline that draws planes.

use std::mem::size_of;

use bytemuck::{Pod, Zeroable};
use egui_wgpu::wgpu;
use egui_wgpu::wgpu::util::DeviceExt;

use super::RenderError;
use super::target::SCENE_DEPTH_FORMAT;

/// One corner as the shader reads it: position (world mm) and texture coordinates.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
struct PlaneVertex {
    position_mm: [f32; 3],
    texture_coordinates: [f32; 2],
}

impl PlaneVertex {
    const ATTRIBUTES: [wgpu::VertexAttribute; 2] =
        wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x2];

    fn layout() -> wgpu::VertexBufferLayout<'static> {
        wgpu::VertexBufferLayout {
            array_stride: size_of::<Self>() as wgpu::BufferAddress,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes: &Self::ATTRIBUTES,
        }
    }
}

/// Texture coordinates of the quad's corners, in the order [`GpuPlane::new`] takes them.
const CORNER_TEXTURE_COORDINATES: [[f32; 2]; 4] = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];

/// Two triangles over the four corners; both sides are drawn, so winding does not matter.
const QUAD_INDICES: [u16; 6] = [0, 1, 2, 0, 2, 3];

/// The plane pipeline with its texture bind group layout and sampler; part of
/// [`super::MeshRenderer`], which shares its frame uniforms with it.
#[derive(Debug)]
pub(super) struct PlanePipeline {
    pipeline: wgpu::RenderPipeline,
    texture_bind_group_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
}

impl PlanePipeline {
    /// Opaque, depth-writing, unculled; `frame_bind_group_layout` is the mesh renderer's
    /// group 0.
    pub(super) fn new(
        device: &wgpu::Device,
        frame_bind_group_layout: &wgpu::BindGroupLayout,
        colour_format: wgpu::TextureFormat,
        sample_count: u32,
    ) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("PlanePipeline::shader"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/plane.wgsl").into()),
        });
        let texture_bind_group_layout =
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("PlanePipeline::texture_bind_group_layout"),
                entries: &[
                    wgpu::BindGroupLayoutEntry {
                        binding: 0,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Texture {
                            sample_type: wgpu::TextureSampleType::Float { filterable: true },
                            view_dimension: wgpu::TextureViewDimension::D2,
                            multisampled: false,
                        },
                        count: None,
                    },
                    wgpu::BindGroupLayoutEntry {
                        binding: 1,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                        count: None,
                    },
                ],
            });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("PlanePipeline::pipeline_layout"),
            bind_group_layouts: &[
                Some(frame_bind_group_layout),
                Some(&texture_bind_group_layout),
            ],
            ..Default::default()
        });
        let constants = [(
            "OUTPUT_ENCODES_SRGB",
            if colour_format.is_srgb() { 0.0 } else { 1.0 },
        )];
        let compilation_options = wgpu::PipelineCompilationOptions {
            constants: &constants,
            ..Default::default()
        };
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("PlanePipeline::rp"),
            layout: Some(&layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_main"),
                compilation_options: compilation_options.clone(),
                buffers: &[Some(PlaneVertex::layout())],
            },
            primitive: wgpu::PrimitiveState {
                topology: wgpu::PrimitiveTopology::TriangleList,
                cull_mode: None,
                ..Default::default()
            },
            depth_stencil: Some(wgpu::DepthStencilState {
                format: SCENE_DEPTH_FORMAT,
                depth_write_enabled: Some(true),
                depth_compare: Some(wgpu::CompareFunction::Less),
                stencil: wgpu::StencilState::default(),
                bias: wgpu::DepthBiasState::default(),
            }),
            multisample: wgpu::MultisampleState {
                count: sample_count,
                ..Default::default()
            },
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_main"),
                compilation_options,
                targets: &[Some(wgpu::ColorTargetState {
                    format: colour_format,
                    blend: Some(wgpu::BlendState::REPLACE),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        // Nearest: each voxel stays a crisp square, as in the slice views.
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("PlanePipeline::sampler"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Nearest,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Self {
            pipeline,
            texture_bind_group_layout,
            sampler,
        }
    }

    /// Draws `planes` into `pass`; group 0 (frame uniforms) must already be bound.
    pub(super) fn draw(&self, pass: &mut wgpu::RenderPass<'_>, planes: &[&GpuPlane]) {
        if planes.is_empty() {
            return;
        }
        pass.set_pipeline(&self.pipeline);
        for plane in planes {
            pass.set_bind_group(1, &plane.texture_bind_group, &[]);
            pass.set_vertex_buffer(0, plane.vertex_buffer.slice(..));
            pass.set_index_buffer(plane.index_buffer.slice(..), wgpu::IndexFormat::Uint16);
            pass.draw_indexed(0..QUAD_INDICES.len() as u32, 0, 0..1);
        }
    }
}

/// A slice image on the GPU, stretched over a quad in world space.
#[derive(Debug)]
pub struct GpuPlane {
    vertex_buffer: wgpu::Buffer,
    index_buffer: wgpu::Buffer,
    texture_bind_group: wgpu::BindGroup,
    bounds_mm: ([f32; 3], [f32; 3]),
}

impl GpuPlane {
    /// Uploads an sRGB `rgba` image of `size_px` = `[width, height]` (rows top to bottom, 4
    /// bytes per pixel) onto the quad with world (RAS+ mm) corners top-left, top-right,
    /// bottom-right, bottom-left of the image, for drawing with `renderer`.
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        renderer: &super::MeshRenderer,
        corners_mm: [[f32; 3]; 4],
        size_px: [u32; 2],
        rgba: &[u8],
    ) -> Result<Self, RenderError> {
        let [width, height] = size_px;
        let max_side_px = device.limits().max_texture_dimension_2d;
        let expected_len = width as usize * height as usize * 4;
        if width == 0 || height == 0 || width > max_side_px || height > max_side_px {
            return Err(RenderError::InvalidTargetSize {
                width,
                height,
                max_side_px,
            });
        }
        if rgba.len() != expected_len {
            return Err(RenderError::ImageSizeMismatch {
                width,
                height,
                bytes: rgba.len(),
            });
        }
        let texture = device.create_texture_with_data(
            queue,
            &wgpu::TextureDescriptor {
                label: Some("GpuPlane::texture"),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8UnormSrgb,
                usage: wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            rgba,
        );
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let pipeline = renderer.plane_pipeline();
        let texture_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("GpuPlane::texture_bind_group"),
            layout: &pipeline.texture_bind_group_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&view),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&pipeline.sampler),
                },
            ],
        });
        let vertices: [PlaneVertex; 4] = std::array::from_fn(|i| PlaneVertex {
            position_mm: corners_mm[i],
            texture_coordinates: CORNER_TEXTURE_COORDINATES[i],
        });
        let vertex_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("GpuPlane::vertices"),
            contents: bytemuck::cast_slice(&vertices),
            usage: wgpu::BufferUsages::VERTEX,
        });
        let index_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("GpuPlane::indices"),
            contents: bytemuck::cast_slice(&QUAD_INDICES),
            usage: wgpu::BufferUsages::INDEX,
        });
        let bounds_mm = (
            std::array::from_fn(|a| {
                corners_mm
                    .iter()
                    .map(|c| c[a])
                    .fold(f32::INFINITY, f32::min)
            }),
            std::array::from_fn(|a| {
                corners_mm
                    .iter()
                    .map(|c| c[a])
                    .fold(f32::NEG_INFINITY, f32::max)
            }),
        );
        Ok(Self {
            vertex_buffer,
            index_buffer,
            texture_bind_group,
            bounds_mm,
        })
    }

    /// Axis-aligned bounds `(min, max)` of the quad, world mm.
    pub fn bounds_mm(&self) -> ([f32; 3], [f32; 3]) {
        self.bounds_mm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vertex_matches_the_shader_input_and_the_quad_covers_all_corners() {
        assert_eq!(size_of::<PlaneVertex>(), 20);
        let mut used = QUAD_INDICES.to_vec();
        used.sort_unstable();
        used.dedup();
        assert_eq!(used, [0, 1, 2, 3]);
        let module = naga::front::wgsl::parse_str(include_str!("../../shaders/plane.wgsl"))
            .expect("plane.wgsl parses");
        let vertex_stage = module
            .entry_points
            .iter()
            .find(|ep| ep.name == "vs_main")
            .expect("vs_main");
        assert_eq!(vertex_stage.function.arguments.len(), 1);
    }
}
