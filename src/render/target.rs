//! [`SceneTarget`]: the offscreen colour + depth textures the 3D view renders into, shown in egui
//! as a native texture or read back to an image.

use egui_wgpu::wgpu;

use super::RenderError;

/// Storage format of the colour texture: 8-bit RGBA holding **sRGB-encoded** values, as
/// `egui_wgpu::Renderer::register_native_texture` requires.
pub const SCENE_COLOUR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// Depth buffer format: 32-bit float, 0 near .. 1 far.
pub const SCENE_DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

/// The attachments one scene render pass draws into.
#[derive(Debug, Clone, Copy)]
pub struct SceneAttachments<'a> {
    /// Colour attachment: multisampled when `resolve_target` is `Some`.
    pub colour: &'a wgpu::TextureView,
    /// Single-sample texture the multisampled colour resolves into.
    pub resolve_target: Option<&'a wgpu::TextureView>,
    /// Depth attachment in [`SCENE_DEPTH_FORMAT`], same size and sample count as `colour`.
    pub depth: &'a wgpu::TextureView,
}

/// Offscreen colour and depth textures of one size (pixels), optionally multisampled.
///
/// The colour texture is [`SCENE_COLOUR_FORMAT`] (`Rgba8Unorm`, usable as `TEXTURE_BINDING`,
/// `RENDER_ATTACHMENT` and `COPY_SRC`), so its [`display_view`](Self::display_view) can be
/// registered with egui and its bytes read back as an sRGB PNG. Where the backend allows texture
/// view formats (Vulkan, Metal, DX12; not GL) the scene is rendered through an `Rgba8UnormSrgb`
/// view, so lighting and alpha blending happen in linear light and the hardware encodes to sRGB;
/// on GL the shader encodes instead (blending then happens on encoded values). Build the
/// [`MeshRenderer`](super::MeshRenderer) with [`render_format`](Self::render_format) and
/// [`sample_count`](Self::sample_count).
#[derive(Debug)]
pub struct SceneTarget {
    size_px: [u32; 2],
    sample_count: u32,
    render_format: wgpu::TextureFormat,
    colour_texture: wgpu::Texture,
    display_view: wgpu::TextureView,
    render_view: wgpu::TextureView,
    multisampled_colour_view: Option<wgpu::TextureView>,
    depth_view: wgpu::TextureView,
}

impl SceneTarget {
    /// Allocates the textures for `size_px` = `[width, height]` pixels with `sample_count` 1 (no
    /// anti-aliasing) or 4.
    pub fn new(
        device: &wgpu::Device,
        size_px: [u32; 2],
        sample_count: u32,
    ) -> Result<Self, RenderError> {
        if !matches!(sample_count, 1 | 4) {
            return Err(RenderError::UnsupportedSampleCount(sample_count));
        }
        let max_side_px = device.limits().max_texture_dimension_2d;
        let [width, height] = size_px;
        if width == 0 || height == 0 || width > max_side_px || height > max_side_px {
            return Err(RenderError::InvalidTargetSize {
                width,
                height,
                max_side_px,
            });
        }
        let render_format = if device.adapter_info().backend == wgpu::Backend::Gl {
            SCENE_COLOUR_FORMAT
        } else {
            SCENE_COLOUR_FORMAT.add_srgb_suffix()
        };
        let extent = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };
        let view_formats = [render_format];
        let colour_texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("SceneTarget::colour"),
            size: extent,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: SCENE_COLOUR_FORMAT,
            usage: wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: if render_format == SCENE_COLOUR_FORMAT {
                &[]
            } else {
                &view_formats
            },
        });
        let display_view = colour_texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some("SceneTarget::display_view"),
            format: Some(SCENE_COLOUR_FORMAT),
            ..Default::default()
        });
        let render_view = colour_texture.create_view(&wgpu::TextureViewDescriptor {
            label: Some("SceneTarget::render_view"),
            format: Some(render_format),
            ..Default::default()
        });
        let multisampled_colour_view = (sample_count > 1).then(|| {
            device
                .create_texture(&wgpu::TextureDescriptor {
                    label: Some("SceneTarget::multisampled_colour"),
                    size: extent,
                    mip_level_count: 1,
                    sample_count,
                    dimension: wgpu::TextureDimension::D2,
                    format: render_format,
                    usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
                    view_formats: &[],
                })
                .create_view(&wgpu::TextureViewDescriptor::default())
        });
        let depth_view = device
            .create_texture(&wgpu::TextureDescriptor {
                label: Some("SceneTarget::depth"),
                size: extent,
                mip_level_count: 1,
                sample_count,
                dimension: wgpu::TextureDimension::D2,
                format: SCENE_DEPTH_FORMAT,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
                view_formats: &[],
            })
            .create_view(&wgpu::TextureViewDescriptor::default());
        Ok(Self {
            size_px,
            sample_count,
            render_format,
            colour_texture,
            display_view,
            render_view,
            multisampled_colour_view,
            depth_view,
        })
    }

    /// Reallocates the textures when `size_px` differs from the current size. Returns whether it
    /// did: the old [`display_view`](Self::display_view) is then stale and must be re-registered
    /// with egui (`Renderer::update_egui_texture_from_wgpu_texture`).
    pub fn resize(
        &mut self,
        device: &wgpu::Device,
        size_px: [u32; 2],
    ) -> Result<bool, RenderError> {
        if size_px == self.size_px {
            return Ok(false);
        }
        *self = Self::new(device, size_px, self.sample_count)?;
        Ok(true)
    }

    /// `[width, height]` in pixels.
    pub fn size_px(&self) -> [u32; 2] {
        self.size_px
    }

    /// Width / height.
    pub fn aspect(&self) -> f32 {
        self.size_px[0] as f32 / self.size_px[1] as f32
    }

    /// Samples per pixel of the colour and depth attachments (1 or 4).
    pub fn sample_count(&self) -> u32 {
        self.sample_count
    }

    /// The format pipelines drawing into this target must use: `Rgba8UnormSrgb`, or
    /// `Rgba8Unorm` on GL.
    pub fn render_format(&self) -> wgpu::TextureFormat {
        self.render_format
    }

    /// The resolved colour texture ([`SCENE_COLOUR_FORMAT`]).
    pub fn colour_texture(&self) -> &wgpu::Texture {
        &self.colour_texture
    }

    /// `Rgba8Unorm` view of the resolved colour, for `egui_wgpu::Renderer::register_native_texture`.
    pub fn display_view(&self) -> &wgpu::TextureView {
        &self.display_view
    }

    /// The views a render pass draws into.
    pub fn attachments(&self) -> SceneAttachments<'_> {
        match &self.multisampled_colour_view {
            Some(multisampled) => SceneAttachments {
                colour: multisampled,
                resolve_target: Some(&self.render_view),
                depth: &self.depth_view,
            },
            None => SceneAttachments {
                colour: &self.render_view,
                resolve_target: None,
                depth: &self.depth_view,
            },
        }
    }

    /// Copies the resolved colour back to the CPU (blocking until the GPU is done): RGBA,
    /// sRGB-encoded, rows top to bottom.
    pub fn read_rgba(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
    ) -> Result<image::RgbaImage, RenderError> {
        let [width, height] = self.size_px;
        let row_bytes = 4 * width as usize;
        // Buffer copies need rows padded to 256 bytes.
        let padded_row_bytes =
            row_bytes.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT as usize);
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("SceneTarget::read_rgba"),
            size: (padded_row_bytes * height as usize) as wgpu::BufferAddress,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("SceneTarget::read_rgba"),
        });
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &self.colour_texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded_row_bytes as u32),
                    rows_per_image: Some(height),
                },
            },
            self.colour_texture.size(),
        );
        queue.submit([encoder.finish()]);

        let (sender, receiver) = std::sync::mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, .., move |result| {
            // The receiver outlives the poll below; a failed send only means we already gave up.
            let _ = sender.send(result);
        });
        device.poll(wgpu::PollType::wait_indefinitely())?;
        receiver
            .try_recv()
            .map_err(|_| RenderError::MapCallbackLost)??;

        let mut pixels = Vec::with_capacity(row_bytes * height as usize);
        {
            let mapped = buffer.get_mapped_range(..)?;
            for row in mapped.chunks_exact(padded_row_bytes) {
                pixels.extend_from_slice(&row[..row_bytes]);
            }
        }
        buffer.unmap();
        Ok(image::RgbaImage::from_raw(width, height, pixels)
            .expect("the copy holds exactly height rows of width RGBA pixels"))
    }
}
