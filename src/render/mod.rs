//! 3D rendering of surfaces and slice planes with wgpu: the orbit camera, the mesh and plane
//! pipelines (`shaders/*.wgsl`),
//! offscreen colour + depth targets and a headless device for tests and the CLI.
//!
//! Responsible for GPU resources and drawing only. Uses wgpu through `egui_wgpu::wgpu` (the same
//! wgpu egui renders with) but never egui itself, and knows nothing of `ui`, so everything here
//! runs offscreen. World space is RAS+ millimetres throughout.

mod camera;
mod error;
mod headless;
mod mesh_renderer;
mod plane;
mod target;

pub use camera::{MAX_PITCH_RAD, ORBIT_RADIANS_PER_PIXEL, OrbitCamera, ViewAxes};
pub use error::RenderError;
pub use headless::headless_device;
pub use mesh_renderer::{
    BACKGROUND_SRGB, GpuMesh, MeshRenderer, MeshStyle, ORGAN_DEFAULT_OPACITY, scene_bounds_mm,
};
pub use plane::GpuPlane;
pub use target::{SCENE_COLOUR_FORMAT, SCENE_DEPTH_FORMAT, SceneAttachments, SceneTarget};
