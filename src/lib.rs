//! Oncoscope: abdominal CT cancer analysis — CT volumes, 3D models, surfaces and a viewer.
//!
//! The headless core (`volume`, `mesh`, later `model`) never imports egui or wgpu.

pub mod mesh;
pub mod model;
pub mod volume;
