//! Building blocks shared by the networks: Conv3d, InstanceNorm3d, and the ConvBlock
//! (Conv3d 3×3×3 → InstanceNorm → LeakyReLU(0.01)) of the reference architectures.
//!
//! Parameter names follow PyTorch's (`conv.weight`, `norm.bias`, …) so checkpoint keys read
//! like `../shared/bench/torch_models.py`'s state dict.

use candle_core::{Result, Tensor};
use candle_nn::{Init, Module, VarBuilder};

use super::layers3d::{conv3d, instance_norm_leaky_relu};

/// Negative slope of every LeakyReLU in the networks.
pub const LEAKY_SLOPE: f64 = 0.01;
/// Epsilon of every InstanceNorm.
pub const NORM_EPS: f64 = 1e-5;

/// A 3D convolution with bias, stride 1, "same" padding for odd kernels.
#[derive(Debug, Clone)]
pub struct Conv3d {
    /// `(co, ci, k, k, k)`.
    pub weight: Tensor,
    /// `(co)`.
    pub bias: Tensor,
    padding: usize,
}

impl Conv3d {
    /// PyTorch's default initialisation: weight and bias uniform in ±1/√fan_in.
    pub fn new(ci: usize, co: usize, kernel: usize, vb: VarBuilder) -> Result<Self> {
        let fan_in = (ci * kernel.pow(3)) as f64;
        let bound = 1.0 / fan_in.sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        Ok(Self {
            weight: vb.get_with_hints((co, ci, kernel, kernel, kernel), "weight", init)?,
            bias: vb.get_with_hints(co, "bias", init)?,
            padding: kernel / 2,
        })
    }
}

impl Module for Conv3d {
    /// xs: `(n, ci, d, h, w)` → `(n, co, d, h, w)`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        conv3d(xs, &self.weight, Some(&self.bias), self.padding)
    }
}

/// Conv3d 3×3×3 (padding 1) → InstanceNorm3d → LeakyReLU(0.01).
#[derive(Debug, Clone)]
pub struct ConvBlock {
    conv: Conv3d,
    /// InstanceNorm scale and shift, `(co)` each.
    norm_weight: Tensor,
    norm_bias: Tensor,
}

impl ConvBlock {
    pub fn new(ci: usize, co: usize, vb: VarBuilder) -> Result<Self> {
        let norm = vb.pp("norm");
        Ok(Self {
            conv: Conv3d::new(ci, co, 3, vb.pp("conv"))?,
            norm_weight: norm.get_with_hints(co, "weight", Init::Const(1.0))?,
            norm_bias: norm.get_with_hints(co, "bias", Init::Const(0.0))?,
        })
    }
}

impl Module for ConvBlock {
    /// xs: `(n, ci, d, h, w)` → `(n, co, d, h, w)`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        instance_norm_leaky_relu(
            &self.conv.forward(xs)?,
            &self.norm_weight,
            &self.norm_bias,
            NORM_EPS,
            LEAKY_SLOPE as f32,
        )
    }
}

/// Two ConvBlocks: `ci → co → co`, named `0` and `1` as PyTorch's `nn.Sequential`.
#[derive(Debug, Clone)]
pub struct DoubleConv {
    first: ConvBlock,
    second: ConvBlock,
}

impl DoubleConv {
    pub fn new(ci: usize, co: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            first: ConvBlock::new(ci, co, vb.pp("0"))?,
            second: ConvBlock::new(co, co, vb.pp("1"))?,
        })
    }
}

impl Module for DoubleConv {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.second.forward(&self.first.forward(xs)?)
    }
}
