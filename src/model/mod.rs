//! The 3D deep-learning core on candle: layers candle lacks, the CNN3D classifier, the UNet3D
//! segmenter and their losses. Headless: never imports egui or wgpu.

pub mod blocks;
pub mod cnn;
pub mod layers3d;
pub mod losses;
pub mod unet;

pub use cnn::CNN3D;
pub use unet::UNet3D;
