//! Instance normalisation followed by LeakyReLU, fused into one CPU custom op with a
//! hand-written backward. Composed from candle ops the pair costs about as much as the
//! convolution before it (8+ full passes and allocations forward, more backward); fused it is
//! two passes forward and three backward per channel.
//!
//! Per sample `n` and channel `c`, over the `S = d·h·w` voxels:
//! `x̂ = (x − μ) / √(σ² + ε)` (biased σ²), `z = γ_c·x̂ + β_c`, `y = z if z > 0 else slope·z`.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Storage, Tensor, bail};
use rayon::prelude::*;

/// The fused op: inputs `x` `(n, c, d, h, w)`, `gamma` `(c)`, `beta` `(c)`.
#[derive(Debug, Clone, Copy)]
pub struct InstanceNormLeakyCpu {
    pub eps: f64,
    /// Negative slope of the LeakyReLU (1.0 gives plain instance norm).
    pub slope: f32,
}

use super::conv3d_cpu::contiguous_f32 as f32_slice;

/// Mean and 1/√(var + eps) of one channel's voxels.
fn moments(x: &[f32], eps: f64) -> (f32, f32) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, (1.0 / (var + eps).sqrt()) as f32)
}

impl CustomOp3 for InstanceNormLeakyCpu {
    fn name(&self) -> &'static str {
        "instance-norm-leaky-relu"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = xl.shape().dims();
        if dims.len() < 3 {
            bail!("instance norm: input must be (n, c, spatial...), got {dims:?}");
        }
        let channels = dims[1];
        let x = f32_slice(xs, xl, "input")?;
        let gamma = f32_slice(gs, gl, "weight")?;
        let beta = f32_slice(bs, bl, "bias")?;
        if gamma.len() != channels || beta.len() != channels {
            bail!(
                "instance norm: {channels} channels but {} weights",
                gamma.len()
            );
        }
        let spatial: usize = dims[2..].iter().product();
        let mut y = vec![0.0f32; x.len()];
        y.par_chunks_mut(spatial.max(1))
            .zip(x.par_chunks(spatial.max(1)))
            .enumerate()
            .for_each(|(i, (out, input))| {
                let c = i % channels;
                let (mean, inv_std) = moments(input, self.eps);
                let scale = gamma[c] * inv_std;
                let shift = beta[c] - mean * scale;
                for (o, &v) in out.iter_mut().zip(input) {
                    let z = v * scale + shift;
                    *o = if z > 0.0 { z } else { self.slope * z };
                }
            });
        Ok((CpuStorage::F32(y), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        y: &Tensor,
        grad_y: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let x = x.contiguous()?;
        let grad_y = grad_y.contiguous()?;
        let gamma = gamma.contiguous()?;
        let channels = x.dim(1)?;
        let spatial: usize = x.dims()[2..].iter().product();
        let (x_storage, x_layout) = x.storage_and_layout();
        let (y_storage, y_layout) = y.storage_and_layout();
        let (g_storage, g_layout) = grad_y.storage_and_layout();
        let (w_storage, w_layout) = gamma.storage_and_layout();
        let (Storage::Cpu(xs), Storage::Cpu(ys), Storage::Cpu(gs), Storage::Cpu(ws)) =
            (&*x_storage, &*y_storage, &*g_storage, &*w_storage)
        else {
            bail!("instance norm backward: tensors must be on the CPU");
        };
        let xv = f32_slice(xs, x_layout, "input")?;
        let yv = f32_slice(ys, y_layout, "output")?;
        let gv = f32_slice(gs, g_layout, "gradient")?;
        let wv = f32_slice(ws, w_layout, "weight")?;
        let mut grad_x = vec![0.0f32; xv.len()];
        // Per (sample, channel): (dγ, dβ) contributions.
        let partial: Vec<(f64, f64)> = grad_x
            .par_chunks_mut(spatial.max(1))
            .enumerate()
            .map(|(i, dx)| {
                let c = i % channels;
                let range = i * spatial..(i + 1) * spatial;
                let (input, output, grad) = (&xv[range.clone()], &yv[range.clone()], &gv[range]);
                let (mean, inv_std) = moments(input, self.eps);
                // g = dL/dz (through the LeakyReLU: z > 0 exactly when y > 0).
                let mut sum_g = 0.0f64;
                let mut sum_g_xhat = 0.0f64;
                for ((&v, &out), &g) in input.iter().zip(output).zip(grad) {
                    let g = if out > 0.0 { g } else { g * self.slope };
                    let xhat = (v - mean) * inv_std;
                    sum_g += g as f64;
                    sum_g_xhat += (g * xhat) as f64;
                }
                let n = spatial as f64;
                let (mean_g, mean_g_xhat) = ((sum_g / n) as f32, (sum_g_xhat / n) as f32);
                let scale = wv[c] * inv_std;
                for (((d, &v), &out), &g) in dx.iter_mut().zip(input).zip(output).zip(grad) {
                    let g = if out > 0.0 { g } else { g * self.slope };
                    let xhat = (v - mean) * inv_std;
                    *d = scale * (g - mean_g - xhat * mean_g_xhat);
                }
                (sum_g_xhat, sum_g)
            })
            .collect();
        let mut grad_gamma = vec![0.0f32; channels];
        let mut grad_beta = vec![0.0f32; channels];
        for (i, (dg, db)) in partial.iter().enumerate() {
            grad_gamma[i % channels] += *dg as f32;
            grad_beta[i % channels] += *db as f32;
        }
        drop((x_storage, y_storage, g_storage, w_storage));
        let device = x.device();
        Ok((
            Some(Tensor::from_vec(grad_x, x.shape(), device)?),
            Some(Tensor::from_vec(grad_gamma, channels, device)?),
            Some(Tensor::from_vec(grad_beta, channels, device)?),
        ))
    }
}
