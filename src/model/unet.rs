//! UNet3D: the segmenter — 4 levels (16/32/64/128 channels by default), two ConvBlocks per
//! level, max pooling down, 2×2×2 transposed convolutions up with skip concatenation, a 1×1×1
//! head to per-voxel class logits. Mirrors `../shared/bench/torch_models.py` (1,402,003
//! parameters at the default width) so speed comparisons are like for like.

use candle_core::{Result, Tensor};
use candle_nn::{Init, Module, VarBuilder};

use super::blocks::{Conv3d, DoubleConv};
use super::layers3d::{conv_transpose3d_2x, max_pool3d_2x};

/// A 2×2×2, stride-2 transposed convolution with bias; weight `(ci, co, 2, 2, 2)`.
#[derive(Debug, Clone)]
struct UpConv {
    weight: Tensor,
    bias: Tensor,
}

impl UpConv {
    fn new(ci: usize, co: usize, vb: VarBuilder) -> Result<Self> {
        // PyTorch computes fan_in of a transposed conv from weight dim 1: co · 8.
        let bound = 1.0 / ((co * 8) as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        Ok(Self {
            weight: vb.get_with_hints((ci, co, 2, 2, 2), "weight", init)?,
            bias: vb.get_with_hints(co, "bias", init)?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        conv_transpose3d_2x(xs, &self.weight, Some(&self.bias))
    }
}

/// The 3D U-Net. Input `(n, c, d, h, w)` (c = 1, the CT, in the reference network) with d, h, w divisible by 8; output logits
/// `(n, classes, d, h, w)` (no softmax).
#[derive(Debug, Clone)]
pub struct UNet3D {
    enc1: DoubleConv,
    enc2: DoubleConv,
    enc3: DoubleConv,
    bott: DoubleConv,
    up3: UpConv,
    dec3: DoubleConv,
    up2: UpConv,
    dec2: DoubleConv,
    up1: UpConv,
    dec1: DoubleConv,
    head: Conv3d,
}

impl UNet3D {
    /// `channels`: widths of the four levels, e.g. `[16, 32, 64, 128]`; `classes`: output
    /// classes (3: background, organ, tumour).
    pub fn new(
        input_channels: usize,
        channels: [usize; 4],
        classes: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let [c1, c2, c3, c4] = channels;
        Ok(Self {
            enc1: DoubleConv::new(input_channels, c1, vb.pp("enc1"))?,
            enc2: DoubleConv::new(c1, c2, vb.pp("enc2"))?,
            enc3: DoubleConv::new(c2, c3, vb.pp("enc3"))?,
            bott: DoubleConv::new(c3, c4, vb.pp("bott"))?,
            up3: UpConv::new(c4, c3, vb.pp("up3"))?,
            dec3: DoubleConv::new(2 * c3, c3, vb.pp("dec3"))?,
            up2: UpConv::new(c3, c2, vb.pp("up2"))?,
            dec2: DoubleConv::new(2 * c2, c2, vb.pp("dec2"))?,
            up1: UpConv::new(c2, c1, vb.pp("up1"))?,
            dec1: DoubleConv::new(2 * c1, c1, vb.pp("dec1"))?,
            head: Conv3d::new(c1, classes, 1, vb.pp("head"))?,
        })
    }
}

impl Module for UNet3D {
    /// xs: `(n, c, d, h, w)` → logits `(n, classes, d, h, w)`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (_, _, d, h, w) = xs.dims5()?;
        if d % 8 != 0 || h % 8 != 0 || w % 8 != 0 {
            candle_core::bail!("UNet3D input {d}×{h}×{w} must be divisible by 8 on every axis");
        }
        let e1 = self.enc1.forward(xs)?;
        let e2 = self.enc2.forward(&max_pool3d_2x(&e1)?)?;
        let e3 = self.enc3.forward(&max_pool3d_2x(&e2)?)?;
        let b = self.bott.forward(&max_pool3d_2x(&e3)?)?;
        let d3 = self
            .dec3
            .forward(&Tensor::cat(&[&self.up3.forward(&b)?, &e3], 1)?)?;
        let d2 = self
            .dec2
            .forward(&Tensor::cat(&[&self.up2.forward(&d3)?, &e2], 1)?)?;
        let d1 = self
            .dec1
            .forward(&Tensor::cat(&[&self.up1.forward(&d2)?, &e1], 1)?)?;
        self.head.forward(&d1)
    }
}
