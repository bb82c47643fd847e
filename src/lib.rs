//! Oncoscope: abdominal CT cancer analysis — CT volumes, 3D models, surfaces and a viewer.
//!
//! The headless core (`volume`, `mesh`, `model`, `slice`, `jobs`, `atomic_file`) never imports
//! egui or wgpu; `render` uses wgpu but not egui; `ui` and `app` are the egui application.

pub mod app;
pub mod atomic_file;
pub mod jobs;
pub mod memory;
pub mod mesh;
pub mod model;
pub mod render;
pub mod slice;
pub mod ui;
pub mod volume;
