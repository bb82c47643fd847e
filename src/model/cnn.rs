//! CNN3D: the classifier — four stages of ConvBlock + 2×2×2 max pooling (16/32/64/128 channels
//! by default), global average pooling, dropout 0.3, and a linear layer to one logit ("cancer").
//! Mirrors `../shared/bench/torch_models.py` (291,585 parameters at the default width); global
//! max pooling may replace the average (same parameters), so that one small lesion can decide.

use candle_core::{Result, Tensor};
use candle_nn::{Init, Linear, Module, VarBuilder};

use super::GlobalPool;
use super::blocks::ConvBlock;
use super::layers3d::{global_avg_pool3d, global_max_pool3d, max_pool3d_2x};

/// Dropout probability before the final linear layer (training only).
pub const DROPOUT: f32 = 0.3;

/// The 3D CNN classifier. Input `(n, 1, d, h, w)`, output logits `(n, 1)`.
#[derive(Debug, Clone)]
pub struct CNN3D {
    stages: Vec<ConvBlock>,
    global_pool: GlobalPool,
    fc: Linear,
}

impl CNN3D {
    /// `channels`: widths of the four stages, e.g. `[16, 32, 64, 128]`.
    pub fn new(channels: [usize; 4], global_pool: GlobalPool, vb: VarBuilder) -> Result<Self> {
        let mut stages = Vec::new();
        let mut ci = 1;
        // PyTorch's `features` Sequential holds ConvBlock, MaxPool pairs: blocks at 0, 2, 4, 6.
        for (i, &co) in channels.iter().enumerate() {
            stages.push(ConvBlock::new(
                ci,
                co,
                vb.pp(format!("features.{}", 2 * i)),
            )?);
            ci = co;
        }
        let bound = 1.0 / (ci as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let fc_vb = vb.pp("fc");
        let fc = Linear::new(
            fc_vb.get_with_hints((1, ci), "weight", init)?,
            Some(fc_vb.get_with_hints(1, "bias", init)?),
        );
        Ok(Self {
            stages,
            global_pool,
            fc,
        })
    }

    /// xs: `(n, 1, d, h, w)` → logits `(n, 1)`; dropout is applied when `train`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut ys = xs.clone();
        for stage in &self.stages {
            ys = max_pool3d_2x(&stage.forward(&ys)?)?;
        }
        let mut pooled = match self.global_pool {
            GlobalPool::Average => global_avg_pool3d(&ys)?,
            GlobalPool::Max => global_max_pool3d(&ys)?,
        };
        if train {
            pooled = candle_nn::ops::dropout(&pooled, DROPOUT)?;
        }
        self.fc.forward(&pooled)
    }
}

impl Module for CNN3D {
    /// Inference forward (no dropout).
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_t(xs, false)
    }
}
