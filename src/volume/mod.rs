//! CT volumes and label maps: NIfTI in and out, RAS reorientation, resampling, HU windows and
//! synthetic phantoms. Headless: never imports egui or wgpu.

mod error;
mod grid;
pub mod nifti;
pub mod orientation;
pub mod phantom;
mod voxels;

pub use error::VolumeError;
pub use grid::Grid;
pub use nifti::NiftiSource;
pub use orientation::AxisMap;
pub use voxels::{CtVolume, LabelVolume, Volume};
