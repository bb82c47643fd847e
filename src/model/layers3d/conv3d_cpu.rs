//! 3D convolution on the CPU as candle custom ops: for every output depth slice an im2col
//! matrix `(Ci·kd·kh·kw, H'·W')` is built with row copies and multiplied by the kernel with
//! `gemm`; slices run in parallel. The backward pass is hand-written: the input gradient is the
//! same convolution with the flipped, channel-swapped kernel, the kernel gradient a sum over
//! slices of `grad_slice · colsᵀ`.
//!
//! Composing conv3d from candle's conv2d is correct but about 10× slower on CPU
//! (`../shared/STACK-NOTES.md` §1); this op is what makes CPU training practical.
//! f32, stride 1, dilation 1, zero padding; any kernel size.
//!
//! On x86-64 CPUs with AVX-512 the products run instead in the direct kernels of
//! `conv3d_direct_x86` ([`ConvAlgorithm`]): at 96³ with 16–32 channels about 2× faster
//! forward and 2.3–2.6× backward (docs/DEVELOPING.md, session 10).

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

use super::channel_bias_cpu::{add_channel_bias_in_place, channel_sums};
#[cfg(target_arch = "x86_64")]
use super::conv3d_direct_x86 as direct;
use super::gemm_f32::{MatrixView, matmul};

/// Sizes of one convolution. Input `(n, ci, d, h, w)`, kernel `(co, ci, kd, kh, kw)`,
/// output `(n, co, od, oh, ow)` with `od = d + 2·pad_d − kd + 1` etc.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConvSizes {
    pub(super) n: usize,
    pub(super) ci: usize,
    pub(super) d: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) co: usize,
    pub(super) k: [usize; 3],
    pub(super) pad: [usize; 3],
    pub(super) od: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
}

impl ConvSizes {
    fn new(input: &Shape, kernel: &Shape, pad: [usize; 3]) -> Result<Self> {
        let (n, ci, d, h, w) = input.dims5()?;
        let (co, kci, kd, kh, kw) = kernel.dims5()?;
        if kci != ci {
            bail!("conv3d: input has {ci} channels, kernel expects {kci}");
        }
        let out = |size: usize, k: usize, p: usize| (size + 2 * p).checked_sub(k).map(|v| v + 1);
        let (Some(od), Some(oh), Some(ow)) =
            (out(d, kd, pad[0]), out(h, kh, pad[1]), out(w, kw, pad[2]))
        else {
            bail!("conv3d: kernel {kd}×{kh}×{kw} larger than padded input {d}×{h}×{w}");
        };
        if pad.iter().zip([kd, kh, kw]).any(|(&p, k)| p >= k) {
            bail!("conv3d: padding {pad:?} must be smaller than the kernel");
        }
        Ok(Self {
            n,
            ci,
            d,
            h,
            w,
            co,
            k: [kd, kh, kw],
            pad,
            od,
            oh,
            ow,
        })
    }

    /// Rows of the im2col matrix: `ci · kd · kh · kw`.
    fn patch_len(&self) -> usize {
        self.ci * self.k[0] * self.k[1] * self.k[2]
    }

    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }

    pub(super) fn in_sample_len(&self) -> usize {
        self.ci * self.d * self.h * self.w
    }

    pub(super) fn out_sample_len(&self) -> usize {
        self.co * self.od * self.out_plane()
    }
}

/// Fills `cols` `(patch_len, oh·ow)` with the input patches of output depth slice `z`.
/// `x` is one sample `(ci, d, h, w)`.
fn im2col_slice(s: &ConvSizes, x: &[f32], z: usize, cols: &mut [f32]) {
    let plane = s.out_plane();
    let [kd, kh, kw] = s.k;
    let [pd, ph, pw] = s.pad.map(|p| p as isize);
    for c in 0..s.ci {
        for dz in 0..kd {
            let iz = z as isize + dz as isize - pd;
            for dy in 0..kh {
                for dx in 0..kw {
                    let row = ((c * kd + dz) * kh + dy) * kw + dx;
                    let dst = &mut cols[row * plane..(row + 1) * plane];
                    if iz < 0 || iz >= s.d as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    let src_plane = &x[(c * s.d + iz as usize) * s.h * s.w..][..s.h * s.w];
                    // Output columns ox whose input column ox + dx − pw lies inside [0, w).
                    let shift = dx as isize - pw;
                    let lo = (-shift).clamp(0, s.ow as isize) as usize;
                    let hi = (s.w as isize - shift).clamp(0, s.ow as isize) as usize;
                    for oy in 0..s.oh {
                        let iy = oy as isize + dy as isize - ph;
                        let out_row = &mut dst[oy * s.ow..(oy + 1) * s.ow];
                        if iy < 0 || iy >= s.h as isize || lo >= hi {
                            out_row.fill(0.0);
                            continue;
                        }
                        let src_row = &src_plane[iy as usize * s.w..][..s.w];
                        out_row[..lo].fill(0.0);
                        out_row[hi..].fill(0.0);
                        let first = (lo as isize + shift) as usize;
                        out_row[lo..hi].copy_from_slice(&src_row[first..first + (hi - lo)]);
                    }
                }
            }
        }
    }
}

/// `y = conv3d(x, kernel)` by im2col + gemm: x `(n, ci, d, h, w)`, kernel
/// `(co, ci, kd, kh, kw)`, returns `(n, co, od, oh, ow)` values. Slices run in parallel.
fn forward_im2col(s: &ConvSizes, x: &[f32], kernel: &[f32]) -> Vec<f32> {
    let plane = s.out_plane();
    let patch = s.patch_len();
    // Slices are computed as (n, z, co, plane) and then moved to (n, co, z, plane).
    let mut by_slice = vec![0.0f32; s.n * s.out_sample_len()];
    by_slice
        .par_chunks_mut(s.co * plane)
        .enumerate()
        .for_each_init(
            || vec![0.0f32; patch * plane],
            |cols, (slice, out)| {
                let (n, z) = (slice / s.od, slice % s.od);
                let sample = &x[n * s.in_sample_len()..][..s.in_sample_len()];
                im2col_slice(s, sample, z, cols);
                matmul(
                    out,
                    MatrixView::dense(s.co, plane),
                    kernel,
                    MatrixView::dense(s.co, patch),
                    cols,
                    MatrixView::dense(patch, plane),
                    false,
                );
            },
        );
    let mut y = vec![0.0f32; by_slice.len()];
    y.par_chunks_mut(plane).enumerate().for_each(|(i, dst)| {
        // i indexes (n, co, z) in the output.
        let z = i % s.od;
        let co = (i / s.od) % s.co;
        let n = i / (s.od * s.co);
        let src = ((n * s.od + z) * s.co + co) * plane;
        dst.copy_from_slice(&by_slice[src..src + plane]);
    });
    y
}

/// The contiguous f32 values of a CPU tensor (shared by the CPU custom ops).
pub(super) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        bail!("cpu op: {what} must be f32");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        bail!("cpu op: {what} must be contiguous");
    };
    Ok(&values[start..end])
}

/// How the CPU op computes its products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvAlgorithm {
    /// [`ConvAlgorithm::Direct`] where the CPU has AVX-512, else [`ConvAlgorithm::Im2colGemm`].
    #[default]
    Auto,
    /// im2col matrix per output slice times the kernel with `gemm` (any CPU).
    Im2colGemm,
    /// The direct AVX-512 kernels of `conv3d_direct_x86` (an error on other CPUs). The kernel
    /// gradient of kernels wider than 3 voxels along x still goes through im2col.
    Direct,
}

impl ConvAlgorithm {
    /// Whether this CPU runs [`ConvAlgorithm::Direct`].
    pub fn direct_available() -> bool {
        direct::available()
    }

    /// Whether to run the direct kernels; an error when they were asked for and cannot run.
    fn use_direct(self) -> Result<bool> {
        match self {
            Self::Auto => Ok(Self::direct_available()),
            Self::Im2colGemm => Ok(false),
            Self::Direct if Self::direct_available() => Ok(true),
            Self::Direct => bail!("conv3d: the direct kernels need an x86-64 CPU with AVX-512"),
        }
    }
}

/// `y = conv3d(x, kernel)` (no bias), stride 1, zero padding.
#[derive(Debug, Clone, Copy)]
pub struct Conv3dCpu {
    /// Zero padding before and after, per spatial axis (depth, height, width).
    pub padding: [usize; 3],
    /// Which implementation runs (forward and backward).
    pub algorithm: ConvAlgorithm,
}

impl CustomOp2 for Conv3dCpu {
    fn name(&self) -> &'static str {
        "conv3d-cpu"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let s = ConvSizes::new(xl.shape(), kl.shape(), self.padding)?;
        let x = contiguous_f32(xs, xl, "input")?;
        let kernel = contiguous_f32(ks, kl, "kernel")?;
        // The direct kernels need at least one input channel (a 0-channel input is all
        // padding: im2col gives its zeros).
        let y = if self.algorithm.use_direct()? && s.ci > 0 {
            direct::forward(&s, x, kernel)
        } else {
            forward_im2col(&s, x, kernel)
        };
        let shape = Shape::from((s.n, s.co, s.od, s.oh, s.ow));
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        _y: &Tensor,
        grad_y: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (grad_x, grad_k) = self.backward(x, kernel, grad_y)?;
        Ok((grad_x, Some(grad_k)))
    }
}

impl Conv3dCpu {
    /// The input and kernel gradients for the output gradient `grad_y`. No input gradient when
    /// the input depends on no variable (a network's first layer reading the CT): nothing
    /// would use it.
    fn backward(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        grad_y: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor)> {
        let grad_y = grad_y.contiguous()?;
        let (_, _, kd, kh, kw) = kernel.dims5()?;
        let k = [kd, kh, kw];
        // dL/dx: full correlation of grad_y with the flipped kernel, channels swapped.
        let grad_x = if x.track_op() {
            let flipped = flip_and_swap_channels(kernel)?;
            let back_pad = [0, 1, 2].map(|a| k[a] - 1 - self.padding[a]);
            Some(grad_y.apply_op2_no_bwd(
                &flipped,
                &Conv3dCpu {
                    padding: back_pad,
                    algorithm: self.algorithm,
                },
            )?)
        } else {
            None
        };
        // dL/dk: Σ over samples and positions of grad · input.
        let grad_k = x.contiguous()?.apply_op2_no_bwd(
            &grad_y,
            &Conv3dKernelGrad {
                padding: self.padding,
                kernel_size: k,
                algorithm: self.algorithm,
            },
        )?;
        Ok((grad_x, grad_k))
    }
}

/// [`Conv3dCpu`] with a per-output-channel bias added to its output: inputs `x`, `kernel`,
/// `bias` `(co)`. One op instead of two, so a network's graph never holds the output before
/// the bias (one activation less per convolution during training).
#[derive(Debug, Clone, Copy)]
pub struct Conv3dBiasCpu(pub Conv3dCpu);

impl CustomOp3 for Conv3dBiasCpu {
    fn name(&self) -> &'static str {
        "conv3d-bias"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let bias = contiguous_f32(bs, bl, "bias")?;
        let (CpuStorage::F32(mut y), shape) = self.0.cpu_fwd(xs, xl, ks, kl)? else {
            bail!("conv3d: expected an f32 output");
        };
        add_channel_bias_in_place(&mut y, shape.dims(), bias)?;
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        kernel: &Tensor,
        bias: &Tensor,
        _y: &Tensor,
        grad_y: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (grad_x, grad_k) = self.0.backward(x, kernel, grad_y)?;
        let grad_b = channel_sums(&grad_y.contiguous()?)?;
        Ok((
            grad_x,
            Some(grad_k),
            Some(Tensor::from_vec(grad_b, bias.shape(), bias.device())?),
        ))
    }
}

/// `(co, ci, kd, kh, kw)` → `(ci, co, kd, kh, kw)` with every spatial axis reversed.
fn flip_and_swap_channels(kernel: &Tensor) -> Result<Tensor> {
    let (co, ci, kd, kh, kw) = kernel.dims5()?;
    let values = kernel.flatten_all()?.to_vec1::<f32>()?;
    let taps = kd * kh * kw;
    let mut out = vec![0.0f32; values.len()];
    for o in 0..co {
        for i in 0..ci {
            let src = &values[(o * ci + i) * taps..][..taps];
            let dst = &mut out[(i * co + o) * taps..][..taps];
            for (t, v) in src.iter().enumerate() {
                dst[taps - 1 - t] = *v;
            }
        }
    }
    Tensor::from_vec(out, (ci, co, kd, kh, kw), kernel.device())
}

/// The kernel gradient of [`Conv3dCpu`]: inputs `x` `(n, ci, d, h, w)` and `grad_y`
/// `(n, co, od, oh, ow)`, output `(co, ci, kd, kh, kw)`.
#[derive(Debug, Clone, Copy)]
struct Conv3dKernelGrad {
    padding: [usize; 3],
    kernel_size: [usize; 3],
    algorithm: ConvAlgorithm,
}

impl CustomOp2 for Conv3dKernelGrad {
    fn name(&self) -> &'static str {
        "conv3d-kernel-grad"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, ci, ..) = xl.shape().dims5()?;
        let (_, co, ..) = gl.shape().dims5()?;
        let [kd, kh, kw] = self.kernel_size;
        let kernel_shape = Shape::from((co, ci, kd, kh, kw));
        let s = ConvSizes::new(xl.shape(), &kernel_shape, self.padding)?;
        if gl.shape().dims() != [s.n, s.co, s.od, s.oh, s.ow] {
            bail!(
                "conv3d backward: gradient shape {:?} does not match the output",
                gl.shape()
            );
        }
        let x = contiguous_f32(xs, xl, "input")?;
        let grad_y = contiguous_f32(gs, gl, "gradient")?;
        let grad_k =
            if self.algorithm.use_direct()? && s.ci > 0 && s.k[2] <= direct::MAX_KERNEL_WIDTH {
                direct::kernel_grad(&s, x, grad_y)
            } else {
                kernel_grad_im2col(&s, x, grad_y)
            };
        Ok((CpuStorage::F32(grad_k), kernel_shape))
    }
}

/// The kernel gradient `(co, ci, kd, kh, kw)` by im2col + gemm: Σ over samples and slices of
/// `grad_slice · colsᵀ`; slices run in parallel.
fn kernel_grad_im2col(s: &ConvSizes, x: &[f32], grad_y: &[f32]) -> Vec<f32> {
    let plane = s.out_plane();
    let patch = s.patch_len();
    (0..s.n * s.od)
        .into_par_iter()
        .fold(
            || (vec![0.0f32; s.co * patch], vec![0.0f32; patch * plane]),
            |(mut acc, mut cols), slice| {
                let (n, z) = (slice / s.od, slice % s.od);
                let sample = &x[n * s.in_sample_len()..][..s.in_sample_len()];
                im2col_slice(s, sample, z, &mut cols);
                // grad slice (co, plane) at rows strided by od·plane inside the sample.
                let offset = n * s.out_sample_len() + z * plane;
                matmul(
                    &mut acc,
                    MatrixView::dense(s.co, patch),
                    &grad_y[offset..],
                    MatrixView {
                        rows: s.co,
                        cols: plane,
                        row_stride: s.od * plane,
                        col_stride: 1,
                    },
                    &cols,
                    MatrixView::dense(patch, plane).transposed(),
                    true,
                );
                (acc, cols)
            },
        )
        .map(|(acc, _)| acc)
        .reduce(
            || vec![0.0f32; s.co * patch],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

/// Where the build has no direct kernels: never available, so never called.
#[cfg(not(target_arch = "x86_64"))]
mod direct {
    use super::ConvSizes;

    pub(super) const MAX_KERNEL_WIDTH: usize = 0;

    pub(super) fn available() -> bool {
        false
    }

    pub(super) fn forward(_: &ConvSizes, _: &[f32], _: &[f32]) -> Vec<f32> {
        unreachable!("conv3d: no direct kernels on this architecture")
    }

    pub(super) fn kernel_grad(_: &ConvSizes, _: &[f32], _: &[f32]) -> Vec<f32> {
        unreachable!("conv3d: no direct kernels on this architecture")
    }
}
