//! [`RenderError`]: what can go wrong setting up the GPU, uploading meshes and reading images back.

use egui_wgpu::wgpu;

/// Errors of the `render` module.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No adapter on any backend wgpu was built with (and allowed by `WGPU_BACKEND`).
    #[error(
        "no GPU adapter found (backends tried: {backends_tried}); for a software adapter on \
         Linux install mesa-vulkan-drivers and libvulkan1 (lavapipe)"
    )]
    NoAdapter {
        /// The backends enumerated, e.g. `"VULKAN | GL"`.
        backends_tried: String,
    },
    /// Adapters exist but none of them could open a device.
    #[error("no adapter could open a device: {attempts}")]
    NoDevice {
        /// One `adapter (backend): error` entry per adapter tried, `; `-separated.
        attempts: String,
    },
    /// A surface without triangles cannot be drawn.
    #[error("the {structure} surface has no triangles")]
    EmptyMesh { structure: &'static str },
    /// A surface needs one normal per vertex.
    #[error("the {structure} surface has {positions} vertices but {normals} normals")]
    NormalCountMismatch {
        structure: &'static str,
        positions: usize,
        normals: usize,
    },
    /// A surface too large for 32-bit index draws.
    #[error("the {structure} surface has {triangles} triangles, too many for one draw call")]
    MeshTooLarge {
        structure: &'static str,
        triangles: usize,
    },
    /// A render target must be at least 1×1 and at most the device's texture limit.
    #[error("render target size {width}×{height} px is outside 1..={max_side_px} px per side")]
    InvalidTargetSize {
        width: u32,
        height: u32,
        max_side_px: u32,
    },
    /// An image's byte count does not match its size.
    #[error("a {width}×{height} px RGBA image needs {} bytes, got {bytes}", *width as usize * *height as usize * 4)]
    ImageSizeMismatch {
        width: u32,
        height: u32,
        bytes: usize,
    },
    /// Only the sample counts WebGPU guarantees for our formats are accepted.
    #[error("multisample count {0} is not supported (use 1 or 4)")]
    UnsupportedSampleCount(u32),
    /// Waiting for the GPU failed (device lost or timed out).
    #[error("waiting for the GPU failed: {0}")]
    Poll(#[from] wgpu::PollError),
    /// Mapping the read-back buffer failed.
    #[error("mapping the read-back buffer failed: {0}")]
    BufferMap(#[from] wgpu::BufferAsyncError),
    /// Accessing the mapped read-back buffer failed.
    #[error("reading the mapped buffer failed: {0}")]
    MapRange(#[from] wgpu::MapRangeError),
    /// The map callback never ran (the device was dropped mid-read).
    #[error("the read-back buffer was never mapped")]
    MapCallbackLost,
}
