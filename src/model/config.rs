//! Which network, how wide, and the helpers that build one from variables or from tensors.

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{Module, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::{CNN3D, UNet3D};

/// The two networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// UNet3D segmenter: per-voxel logits for background, organ, tumour.
    Unet,
    /// CNN3D classifier: one logit, "cancer present".
    Cnn,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Unet => "unet",
            Self::Cnn => "cnn",
        }
    }

    /// The name people read: "U-Net" or "CNN".
    pub fn label(self) -> &'static str {
        match self {
            Self::Unet => "U-Net",
            Self::Cnn => "CNN",
        }
    }
}

/// How the classifier turns its last feature map into one vector per case.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum GlobalPool {
    /// Mean over the spatial axes (the reference CNN3D): every region of the input counts.
    #[default]
    Average,
    /// Maximum over the spatial axes: one strongly responding region (a lesion) decides.
    Max,
    /// The linear layer scores every cell of the last feature map (a 16-voxel cube of the
    /// input) and the highest cell's logit is the case's. Training also supervises each cell
    /// with whether its cube holds tumour voxels, so the classifier learns where lesions are
    /// (64 labelled cells per 64³ case instead of one bit).
    #[serde(rename = "max_cell")]
    #[value(name = "max-cell")]
    MaxCell,
}

impl GlobalPool {
    pub fn name(self) -> &'static str {
        match self {
            Self::Average => "average",
            Self::Max => "max",
            Self::MaxCell => "max-cell",
        }
    }
}

/// The shape of a network: kind and channel widths of its four levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    pub kind: ModelKind,
    pub channels: [usize; 4],
    /// The classifier's global pooling (ignored by the U-Net); cards written before it existed
    /// read as `average`.
    #[serde(default)]
    pub global_pool: GlobalPool,
}

impl Architecture {
    /// The reference architectures of `../shared/bench/torch_models.py` (16/32/64/128).
    pub fn reference(kind: ModelKind) -> Self {
        Self {
            kind,
            channels: [16, 32, 64, 128],
            global_pool: GlobalPool::Average,
        }
    }

    /// Number of output classes of the U-Net: background, organ, tumour.
    pub const SEGMENTATION_CLASSES: usize = 3;
}

/// A built network of either kind.
#[derive(Debug, Clone)]
pub enum Network {
    Unet(Box<UNet3D>),
    Cnn(CNN3D),
}

impl Network {
    /// Builds the network for inputs of `input_channels` channels (see
    /// [`crate::model::Preprocessing::input_channels`]) with parameters from `vb`.
    pub fn new(arch: &Architecture, input_channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(match arch.kind {
            ModelKind::Unet => Self::Unet(Box::new(UNet3D::new(
                input_channels,
                arch.channels,
                Architecture::SEGMENTATION_CLASSES,
                vb,
            )?)),
            ModelKind::Cnn => Self::Cnn(CNN3D::new(
                input_channels,
                arch.channels,
                arch.global_pool,
                vb,
            )?),
        })
    }

    /// Forward pass; `train` enables dropout (CNN only).
    /// xs: `(n, c, d, h, w)` → U-Net logits `(n, 3, d, h, w)` or CNN logits `(n, 1)`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        match self {
            Self::Unet(m) => m.forward(xs),
            Self::Cnn(m) => m.forward_t(xs, train),
        }
    }
}

/// A copy of a network's trained parameters as plain tensors (no gradient tracking), so that
/// inference keeps no graph and frees activations as it goes.
pub fn frozen(
    arch: &Architecture,
    input_channels: usize,
    varmap: &VarMap,
    device: &Device,
) -> Result<Network> {
    let tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("variable map lock poisoned".into()))?
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().detach()))
        .collect();
    Network::new(
        arch,
        input_channels,
        VarBuilder::from_tensors(tensors, DType::F32, device),
    )
}
