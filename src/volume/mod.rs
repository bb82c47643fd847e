//! CT volumes and label maps: NIfTI in and out, RAS reorientation, resampling, HU windows and
//! synthetic phantoms. Headless: never imports egui or wgpu.

pub mod dataset_check;
pub mod decathlon;
mod error;
mod grid;
pub mod nifti;
pub mod orientation;
pub mod phantom;
pub mod phantom_dataset;
pub mod resample;
mod voxels;
pub mod window;

pub use error::VolumeError;
pub use grid::{Grid, ras_axis_letter};
pub use nifti::NiftiSource;
pub use orientation::AxisMap;
pub use resample::{
    Interpolation, grid_over_box, grid_with_dims, resample_argmax, resample_argmax_where,
    resample_onto,
};
pub use voxels::{CtVolume, LabelVolume, Volume};
pub use window::{Window, WindowPreset};
