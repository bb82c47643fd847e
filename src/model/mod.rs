//! The 3D deep-learning core on candle: layers candle lacks, the CNN3D classifier, the UNet3D
//! segmenter, losses, metrics, preprocessing, checkpoints, training and inference.
//! Headless: never imports egui or wgpu.

pub mod blocks;
pub mod checkpoint;
pub mod cnn;
pub mod config;
pub mod inference;
pub mod layers3d;
pub mod losses;
pub mod metrics;
pub mod organ_fill;
pub mod postprocess;
pub mod preprocess;
pub mod progress;
pub mod region;
pub mod tiles;
pub mod training;
pub mod unet;
pub mod weights;
pub mod widen;

pub use cnn::CNN3D;
pub use config::{Architecture, GlobalPool, ModelKind, Network};
pub use unet::UNet3D;
