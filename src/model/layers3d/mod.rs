//! 3D layers that candle 0.11 lacks — conv3d, 2×2×2 transposed conv3d, 2×2×2 max pooling —
//! differentiable and running on any candle device.
//!
//! Tensors are `(batch, channels, depth, height, width)` (NCDHW). On the CPU with f32,
//! [`conv3d`] uses the custom op of `conv3d_cpu` (direct AVX-512 kernels or im2col + gemm,
//! hand-written backward, bias inside the op); elsewhere it composes candle's conv2d over depth
//! taps (the portable path for CUDA/Metal).

mod channel_bias_cpu;
mod conv3d_cpu;
#[cfg(target_arch = "x86_64")]
mod conv3d_direct_x86;
mod gemm_f32;
mod max_pool_cpu;
mod norm_act_cpu;
#[cfg(test)]
mod test_support;

use candle_core::{D, DType, Result, Tensor};

pub use channel_bias_cpu::ChannelBiasCpu;
pub use conv3d_cpu::{Conv3dBiasCpu, Conv3dCpu, ConvAlgorithm};
pub use max_pool_cpu::MaxPool2Cpu;
pub use norm_act_cpu::InstanceNormLeakyCpu;

/// 3D convolution, stride 1, `padding` zeros on every side of every spatial axis.
///
/// xs: `(n, ci, d, h, w)`; kernel: `(co, ci, kd, kh, kw)`; bias: `(co)`.
/// Returns `(n, co, d + 2p − kd + 1, h + 2p − kh + 1, w + 2p − kw + 1)`.
pub fn conv3d(
    xs: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    padding: usize,
) -> Result<Tensor> {
    if xs.device().is_cpu() && xs.dtype() == DType::F32 {
        conv3d_cpu(xs, kernel, bias, [padding; 3], ConvAlgorithm::Auto)
    } else {
        add_channel_bias(&conv3d_portable(xs, kernel, padding)?, bias)
    }
}

/// [`conv3d`] on the CPU (f32) with a chosen algorithm and per-axis padding (depth, height,
/// width); the bias is added inside the same op.
pub fn conv3d_cpu(
    xs: &Tensor,
    kernel: &Tensor,
    bias: Option<&Tensor>,
    padding: [usize; 3],
    algorithm: ConvAlgorithm,
) -> Result<Tensor> {
    let op = Conv3dCpu { padding, algorithm };
    let (xs, kernel) = (xs.contiguous()?, kernel.contiguous()?);
    match bias {
        Some(b) => xs.apply_op3(&kernel, &b.contiguous()?, Conv3dBiasCpu(op)),
        None => xs.apply_op2(&kernel, op),
    }
}

/// [`conv3d`] composed of candle's conv2d: one conv2d per depth tap over all depth slices,
/// summed. Device-generic and differentiable through candle's own backward.
pub fn conv3d_portable(xs: &Tensor, kernel: &Tensor, padding: usize) -> Result<Tensor> {
    let (n, ci, d, h, w) = xs.dims5()?;
    let (co, _, kd, _, _) = kernel.dims5()?;
    let padded = if padding > 0 {
        xs.pad_with_zeros(2, padding, padding)?
    } else {
        xs.clone()
    };
    let od = d + 2 * padding + 1 - kd;
    let mut sum: Option<Tensor> = None;
    for dz in 0..kd {
        let slab = padded
            .narrow(2, dz, od)?
            .permute((0, 2, 1, 3, 4))?
            .contiguous()?
            .reshape((n * od, ci, h, w))?;
        let taps = kernel.narrow(2, dz, 1)?.squeeze(2)?.contiguous()?;
        let ys = slab.conv2d(&taps, padding, 1, 1, 1)?;
        sum = Some(match sum {
            None => ys,
            Some(acc) => (acc + ys)?,
        });
    }
    let ys = sum.ok_or_else(|| candle_core::Error::Msg("conv3d: empty kernel".into()))?;
    let (_, _, oh, ow) = ys.dims4()?;
    ys.reshape((n, od, co, oh, ow))?
        .permute((0, 2, 1, 3, 4))?
        .contiguous()
}

/// Transposed 3D convolution with kernel 2 and stride 2 (the U-Net's up-sampling): every input
/// voxel writes its own 2×2×2 output block, so it is exactly one matrix product.
///
/// xs: `(n, ci, d, h, w)`; kernel: `(ci, co, 2, 2, 2)` (PyTorch's layout); bias: `(co)`.
/// Returns `(n, co, 2d, 2h, 2w)`.
pub fn conv_transpose3d_2x(xs: &Tensor, kernel: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (n, ci, d, h, w) = xs.dims5()?;
    let (kci, co, ..) = kernel.dims5()?;
    if kci != ci {
        candle_core::bail!("conv_transpose3d: input has {ci} channels, kernel expects {kci}");
    }
    let rows = xs
        .permute((0, 2, 3, 4, 1))?
        .contiguous()?
        .reshape((n * d * h * w, ci))?;
    let blocks = rows.matmul(&kernel.reshape((ci, co * 8))?)?;
    let ys = blocks
        .reshape(vec![n, d, h, w, co, 2, 2, 2])?
        .permute(vec![0usize, 4, 1, 5, 2, 6, 3, 7])?
        .contiguous()?
        .reshape((n, co, 2 * d, 2 * h, 2 * w))?;
    add_channel_bias(&ys, bias)
}

/// Max pooling with kernel 2 and stride 2; odd sizes drop the last row (as PyTorch). A fused
/// op on the CPU with f32 (`max_pool_cpu`), composed from reshapes and reductions elsewhere.
///
/// xs: `(n, c, d, h, w)` → `(n, c, d/2, h/2, w/2)`.
pub fn max_pool3d_2x(xs: &Tensor) -> Result<Tensor> {
    if xs.device().is_cpu() && xs.dtype() == DType::F32 {
        return xs.contiguous()?.apply_op1(MaxPool2Cpu);
    }
    let (n, c, d, h, w) = xs.dims5()?;
    let (od, oh, ow) = (d / 2, h / 2, w / 2);
    let xs = if (d, h, w) == (2 * od, 2 * oh, 2 * ow) {
        xs.clone()
    } else {
        xs.narrow(2, 0, 2 * od)?
            .narrow(3, 0, 2 * oh)?
            .narrow(4, 0, 2 * ow)?
    };
    xs.contiguous()?
        .reshape(vec![n, c, od, 2, oh, 2, ow, 2])?
        .max(7)?
        .max(5)?
        .max(3)
}

/// Instance normalisation (per sample and channel over the spatial axes, biased variance) with
/// a per-channel scale and shift, then LeakyReLU with `slope` (1.0: no activation).
///
/// xs: `(n, c, d, h, w)`; gamma, beta: `(c)`. Fused CPU op for f32; composed elsewhere.
pub fn instance_norm_leaky_relu(
    xs: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    slope: f32,
) -> Result<Tensor> {
    if xs.device().is_cpu() && xs.dtype() == DType::F32 {
        return xs.contiguous()?.apply_op3(
            &gamma.contiguous()?,
            &beta.contiguous()?,
            InstanceNormLeakyCpu::new(eps, slope),
        );
    }
    let channels = xs.dim(1)?;
    let norm = candle_nn::GroupNorm::new(gamma.clone(), beta.clone(), channels, channels, eps)?;
    let ys = candle_nn::Module::forward(&norm, xs)?;
    if slope == 1.0 {
        Ok(ys)
    } else {
        candle_nn::ops::leaky_relu(&ys, slope as f64)
    }
}

/// Mean over the spatial axes: `(n, c, d, h, w)` → `(n, c)`.
pub fn global_avg_pool3d(xs: &Tensor) -> Result<Tensor> {
    xs.flatten_from(2)?.mean(D::Minus1)
}

/// Maximum over the spatial axes: `(n, c, d, h, w)` → `(n, c)`; the gradient flows to the
/// voxel that holds the maximum (to each of them on ties).
pub fn global_max_pool3d(xs: &Tensor) -> Result<Tensor> {
    xs.flatten_from(2)?.max(D::Minus1)
}

/// `ys + bias` per channel: `(n, c, d, h, w)` + `(c)`. A custom op on the CPU with f32 (a
/// parallel backward; see `channel_bias_cpu`), candle's broadcast add elsewhere.
fn add_channel_bias(ys: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) if ys.device().is_cpu() && ys.dtype() == DType::F32 => {
            ys.contiguous()?.apply_op2(&b.contiguous()?, ChannelBiasCpu)
        }
        Some(b) => ys.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1, 1))?),
        None => Ok(ys.clone()),
    }
}

#[cfg(test)]
mod global_pool_tests {
    use super::test_support::{flat, weighted_sum_grads};
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn global_max_pool_takes_each_channels_maximum_and_routes_the_gradient_there() {
        // (1, 2, 2, 2, 3): channel 0 peaks at flat index 7, channel 1 at index 0.
        let mut values: Vec<f32> = (0..12).map(|i| i as f32 * 0.1).collect();
        values[7] = 5.0;
        values.extend((0..12).map(|i| -(i as f32)));
        let x = Var::from_vec(values, (1, 2, 2, 2, 3), &Device::Cpu).unwrap();
        let pooled = global_max_pool3d(x.as_tensor()).unwrap();
        assert_eq!(pooled.dims(), &[1, 2]);
        assert_eq!(flat(&pooled), [5.0, 0.0]);
        let weights = Tensor::new(&[[2f32, 3.0]], &Device::Cpu).unwrap();
        let [dx] = weighted_sum_grads(&pooled, &weights, [&x]);
        let mut expected = vec![0f32; 24];
        expected[7] = 2.0;
        expected[12] = 3.0;
        assert_eq!(dx, expected);
    }
}
