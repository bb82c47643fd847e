//! CNN3D: the classifier — four stages of ConvBlock + 2×2×2 max pooling (16/32/64/128 channels
//! by default), global average pooling, dropout 0.3, and a linear layer to one logit ("cancer").
//! Mirrors `../shared/bench/torch_models.py` (291,585 parameters at the default width). The
//! global average may be replaced (same parameters) by a global maximum, or by scoring every
//! cell of the last feature map and taking the highest (`GlobalPool::MaxCell`), so that one
//! small lesion can decide.

use candle_core::{Result, Tensor};
use candle_nn::{Init, Linear, Module, VarBuilder};

use super::GlobalPool;
use super::blocks::ConvBlock;
use super::layers3d::{global_avg_pool3d, global_max_pool3d, max_pool3d_2x};

/// Dropout probability before the final linear layer (training only).
pub const DROPOUT: f32 = 0.3;

/// The 3D CNN classifier. Input `(n, c, d, h, w)` (c = 1, the CT, in the reference
/// network), output logits `(n, 1)`.
#[derive(Debug, Clone)]
pub struct CNN3D {
    stages: Vec<ConvBlock>,
    global_pool: GlobalPool,
    fc: Linear,
}

impl CNN3D {
    /// `input_channels`: channels of the input (1: the CT); `channels`: widths of the four
    /// stages, e.g. `[16, 32, 64, 128]`.
    pub fn new(
        input_channels: usize,
        channels: [usize; 4],
        global_pool: GlobalPool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let mut stages = Vec::new();
        let mut ci = input_channels;
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

    /// The global pooling this classifier was built with.
    pub fn global_pool(&self) -> GlobalPool {
        self.global_pool
    }

    /// The last feature map: `(n, c, d, h, w)` → `(n, c', d/16, h/16, w/16)` (sizes floored).
    fn features(&self, xs: &Tensor) -> Result<Tensor> {
        let mut ys = xs.clone();
        for stage in &self.stages {
            ys = max_pool3d_2x(&stage.forward(&ys)?)?;
        }
        Ok(ys)
    }

    /// Per-cell logits: the linear layer applied at every cell of the last feature map,
    /// `(n, c, d, h, w)` → `(n, 1, d/16, h/16, w/16)`. No dropout: it would perturb every cell,
    /// and the maximum over the cells would pick the most perturbed one.
    pub fn cell_logits(&self, xs: &Tensor) -> Result<Tensor> {
        let features = self.features(xs)?;
        let (n, c, d, h, w) = features.dims5()?;
        let per_cell = features
            .permute((0, 2, 3, 4, 1))?
            .reshape((n * d * h * w, c))?;
        self.fc
            .forward(&per_cell)?
            .reshape((n, d, h, w))?
            .unsqueeze(1)
    }

    /// The case logit of per-cell logits: the highest cell's, `(n, 1, d, h, w)` → `(n, 1)`.
    pub fn case_logit(cell_logits: &Tensor) -> Result<Tensor> {
        cell_logits.flatten_from(1)?.max_keepdim(1)
    }

    /// xs: `(n, c, d, h, w)` → logits `(n, 1)`; dropout is applied when `train`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        if self.global_pool == GlobalPool::MaxCell {
            return Self::case_logit(&self.cell_logits(xs)?);
        }
        let ys = self.features(xs)?;
        let mut pooled = match self.global_pool {
            GlobalPool::Average => global_avg_pool3d(&ys)?,
            GlobalPool::Max | GlobalPool::MaxCell => global_max_pool3d(&ys)?,
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
