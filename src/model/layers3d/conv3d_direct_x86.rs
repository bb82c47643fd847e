//! Direct 3D convolution with AVX-512 (x86-64, chosen at run time): no im2col matrix and no
//! gemm packing, the two copies that took about 30 % of a U-Net training step.
//!
//! Each sample is copied once into a zero-padded buffer whose rows are `wp = w + 2·pad_w`
//! long. An output slice is then computed on "padded rows": output position `p = oy·wp + ox`
//! reads tap `(dz, dy, dx)` of channel `c` at `c·chan + (z + dz)·plane + dy·wp + dx + p`, a
//! fixed offset per tap, so 16 neighbouring outputs are one unaligned vector load. Columns
//! `ox ≥ ow` of each padded row are computed and thrown away (2 % of the work at 96 voxels
//! per row). The forward kernel keeps 4 output channels × 64 positions in 16 registers; the
//! kernel gradient keeps 4 output channels × up to 3 taps along x.
//!
//! The input gradient is the forward convolution of the gradient with the flipped kernel
//! (`conv3d_cpu`), so it runs here as well.

use std::arch::x86_64::{
    _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_storeu_ps,
};

use rayon::prelude::*;

use super::conv3d_cpu::ConvSizes;

/// f32 lanes of one AVX-512 register.
const LANES: usize = 16;
/// Output positions per forward register block (4 registers).
const POSITION_BLOCK: usize = 4 * LANES;
/// Output channels per register block (forward and kernel gradient).
const CHANNEL_BLOCK: usize = 4;
/// Positions per kernel-gradient chunk: the gradient rows of a chunk stay in L1.
const GRADIENT_CHUNK: usize = 512;
/// The widest kernel (along x) the kernel gradient handles directly.
pub(super) const MAX_KERNEL_WIDTH: usize = 3;

/// Whether this CPU runs the direct kernels.
pub(super) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// The padded-row layout of one convolution.
#[derive(Debug, Clone, Copy)]
struct PaddedLayout {
    sizes: ConvSizes,
    /// Padded row length `w + 2·pad_w`.
    wp: usize,
    /// Padded plane `(h + 2·pad_h) · wp`.
    plane: usize,
    /// Padded channel `(d + 2·pad_d) · plane`.
    chan: usize,
    /// Output positions per slice on padded rows, `oh · wp`, rounded up to [`POSITION_BLOCK`].
    positions: usize,
}

impl PaddedLayout {
    fn new(sizes: ConvSizes) -> Self {
        let [pd, ph, pw] = sizes.pad;
        let wp = sizes.w + 2 * pw;
        let plane = (sizes.h + 2 * ph) * wp;
        let chan = (sizes.d + 2 * pd) * plane;
        let positions = (sizes.oh * wp).div_ceil(POSITION_BLOCK) * POSITION_BLOCK;
        Self {
            sizes,
            wp,
            plane,
            chan,
            positions,
        }
    }

    fn taps(&self) -> usize {
        self.sizes.k.iter().product()
    }

    /// Length of a padded sample: every channel, plus room for the reads of the last
    /// position block of the last slice past the end.
    fn padded_len(&self) -> usize {
        let s = &self.sizes;
        let last_read = (s.ci - 1) * self.chan
            + (s.od - 1 + s.k[0] - 1) * self.plane
            + (s.k[1] - 1) * self.wp
            + (s.k[2] - 1)
            + self.positions;
        last_read.max(s.ci * self.chan)
    }

    /// One sample `(ci, d, h, w)` copied into the zero-padded layout.
    fn pad_sample(&self, sample: &[f32]) -> Vec<f32> {
        let s = &self.sizes;
        let [pd, ph, pw] = s.pad;
        let mut padded = vec![0.0f32; self.padded_len()];
        for (c, channel) in sample.chunks_exact(s.d * s.h * s.w).enumerate() {
            for (z, slice) in channel.chunks_exact(s.h * s.w).enumerate() {
                for (y, row) in slice.chunks_exact(s.w).enumerate() {
                    let start = c * self.chan + (z + pd) * self.plane + (y + ph) * self.wp + pw;
                    padded[start..start + s.w].copy_from_slice(row);
                }
            }
        }
        padded
    }

    /// One sample's output gradient `(co, od, oh, ow)` on padded rows `(co, od, positions)`,
    /// zero in the thrown-away columns and past the last row.
    fn pad_gradient(&self, grad: &[f32]) -> Vec<f32> {
        let s = &self.sizes;
        let mut padded = vec![0.0f32; s.co * s.od * self.positions];
        for (slice_index, slice) in grad.chunks_exact(s.oh * s.ow).enumerate() {
            for (oy, row) in slice.chunks_exact(s.ow).enumerate() {
                let start = slice_index * self.positions + oy * self.wp;
                padded[start..start + s.ow].copy_from_slice(row);
            }
        }
        padded
    }
}

/// `y = conv3d(x, kernel)`: x `(n, ci, d, h, w)`, kernel `(co, ci, kd, kh, kw)`, returns
/// `(n, co, od, oh, ow)` values. Output slices run in parallel; within one, every block of
/// output channels reads the same input rows while they are in cache.
///
/// Panics if [`available`] is false.
pub(super) fn forward(s: &ConvSizes, x: &[f32], kernel: &[f32]) -> Vec<f32> {
    assert!(available(), "conv3d direct: this CPU lacks AVX-512");
    let layout = PaddedLayout::new(*s);
    let per_channel = s.ci * layout.taps();
    let blocks: Vec<Vec<f32>> = kernel
        .chunks(CHANNEL_BLOCK * per_channel)
        .map(|rows| interleave_channels(rows, rows.len() / per_channel))
        .collect();
    let padded: Vec<Vec<f32>> = x
        .chunks_exact(s.in_sample_len())
        .map(|sample| layout.pad_sample(sample))
        .collect();
    let plane = s.oh * s.ow;
    let mut y = vec![0.0f32; s.n * s.out_sample_len()];
    let output = SlicePlanes {
        start: y.as_mut_ptr(),
        len: y.len(),
        plane,
        od: s.od,
    };
    (0..s.n * s.od).into_par_iter().for_each_init(
        || vec![0.0f32; s.co * layout.positions],
        |rows, slice| {
            let (n, z) = (slice / s.od, slice % s.od);
            // SAFETY: `forward` asserted that the CPU has AVX-512.
            unsafe { forward_slice(&layout, &padded[n], &blocks, z, rows) };
            for channel in 0..s.co {
                // SAFETY: only this task, once, writes the planes of slice (n, z).
                let dst = unsafe { output.plane(n * s.co + channel, z) };
                for (oy, dst_row) in dst.chunks_exact_mut(s.ow).enumerate() {
                    let start = channel * layout.positions + oy * layout.wp;
                    dst_row.copy_from_slice(&rows[start..start + s.ow]);
                }
            }
        },
    );
    y
}

/// The output `(n·co, od, oh·ow)` shared by the slice tasks of [`forward`]: the task of slice
/// `(n, z)` writes the planes `(n·co + c, z)` only, so no two tasks touch the same values.
struct SlicePlanes {
    start: *mut f32,
    len: usize,
    plane: usize,
    od: usize,
}

// SAFETY: tasks write disjoint planes (see `SlicePlanes`), and the buffer outlives them.
unsafe impl Sync for SlicePlanes {}

impl SlicePlanes {
    /// Plane `z` of channel `channel_index` (counting over samples and channels).
    ///
    /// # Safety
    /// No other reference to the same plane may be alive while the returned one is.
    #[allow(clippy::mut_from_ref)]
    unsafe fn plane(&self, channel_index: usize, z: usize) -> &mut [f32] {
        let offset = (channel_index * self.od + z) * self.plane;
        assert!(
            offset + self.plane <= self.len,
            "conv3d direct: plane out of range"
        );
        // SAFETY: in bounds (asserted); exclusive by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.start.add(offset), self.plane) }
    }
}

/// Kernel rows of `channels` output channels `(channels, ci·taps)` reordered to
/// `(ci·taps, channels)`, so one tap's weights for the block are adjacent.
fn interleave_channels(rows: &[f32], channels: usize) -> Vec<f32> {
    let per_channel = rows.len() / channels;
    let mut out = vec![0.0f32; rows.len()];
    for (j, row) in rows.chunks_exact(per_channel).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            out[i * channels + j] = v;
        }
    }
    out
}

/// Output slice `z` of every channel on padded rows: `rows` `(co, positions)`. `blocks` holds
/// the interleaved kernel of each block of up to [`CHANNEL_BLOCK`] output channels.
#[target_feature(enable = "avx512f")]
fn forward_slice(
    layout: &PaddedLayout,
    padded: &[f32],
    blocks: &[Vec<f32>],
    z: usize,
    rows: &mut [f32],
) {
    let per_channel = layout.sizes.ci * layout.taps();
    for p0 in (0..layout.positions).step_by(POSITION_BLOCK) {
        let mut first = 0;
        for weights in blocks {
            let channels = weights.len() / per_channel;
            let out = &mut rows[first * layout.positions..];
            match channels {
                4 => forward_block::<4>(layout, padded, weights, z, p0, out),
                3 => forward_block::<3>(layout, padded, weights, z, p0, out),
                2 => forward_block::<2>(layout, padded, weights, z, p0, out),
                _ => forward_block::<1>(layout, padded, weights, z, p0, out),
            }
            first += channels;
        }
    }
}

/// Positions `p0 .. p0 + POSITION_BLOCK` of output slice `z` for `CB` channels, written to
/// `rows` `(CB, positions)`.
#[target_feature(enable = "avx512f")]
fn forward_block<const CB: usize>(
    layout: &PaddedLayout,
    padded: &[f32],
    weights: &[f32],
    z: usize,
    p0: usize,
    rows: &mut [f32],
) {
    let s = &layout.sizes;
    let [kd, kh, kw] = s.k;
    let taps = layout.taps();
    assert!(
        weights.len() >= s.ci * taps * CB,
        "conv3d direct: kernel too short"
    );
    assert!(rows.len() >= (CB - 1) * layout.positions + p0 + POSITION_BLOCK);
    assert!(
        p0 + POSITION_BLOCK <= layout.positions,
        "conv3d direct: bad block"
    );
    assert!(
        z < s.od && padded.len() >= layout.padded_len(),
        "conv3d direct: bad input"
    );
    let input = padded.as_ptr();
    let mut acc = [[_mm512_setzero_ps(); 4]; CB];
    for c in 0..s.ci {
        for dz in 0..kd {
            for dy in 0..kh {
                let row_start = c * layout.chan + (z + dz) * layout.plane + dy * layout.wp + p0;
                for dx in 0..kw {
                    let tap = (dz * kh + dy) * kw + dx;
                    let w = &weights[(c * taps + tap) * CB..][..CB];
                    let mut xv = [_mm512_setzero_ps(); 4];
                    for (v, register) in xv.iter_mut().enumerate() {
                        // SAFETY: the largest index read is (ci−1)·chan + (od−1+kd−1)·plane
                        // + (kh−1)·wp + (kw−1) + positions − 1 < padded_len() ≤ padded.len(),
                        // asserted above.
                        *register =
                            unsafe { _mm512_loadu_ps(input.add(row_start + dx + v * LANES)) };
                    }
                    for j in 0..CB {
                        let wv = _mm512_set1_ps(w[j]);
                        for v in 0..4 {
                            acc[j][v] = _mm512_fmadd_ps(wv, xv[v], acc[j][v]);
                        }
                    }
                }
            }
        }
    }
    for (j, registers) in acc.iter().enumerate() {
        let dst = &mut rows[j * layout.positions + p0..][..POSITION_BLOCK];
        for (v, register) in registers.iter().enumerate() {
            // SAFETY: `dst` holds POSITION_BLOCK = 4·LANES floats.
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr().add(v * LANES), *register) };
        }
    }
}

/// The kernel gradient `(co, ci, kd, kh, kw)` of `y = conv3d(x, kernel)` from x
/// `(n, ci, d, h, w)` and the output gradient `(n, co, od, oh, ow)`. Output channel blocks run
/// in parallel.
///
/// Panics if [`available`] is false or the kernel is wider than [`MAX_KERNEL_WIDTH`].
pub(super) fn kernel_grad(s: &ConvSizes, x: &[f32], grad_y: &[f32]) -> Vec<f32> {
    assert!(available(), "conv3d direct: this CPU lacks AVX-512");
    assert!(s.k[2] <= MAX_KERNEL_WIDTH, "conv3d direct: kernel too wide");
    let layout = PaddedLayout::new(*s);
    let per_channel = s.ci * layout.taps();
    // Per output channel block, 16 partial sums (one per lane) of each weight.
    let mut partials: Vec<Vec<f32>> = (0..s.co.div_ceil(CHANNEL_BLOCK))
        .map(|block| {
            let channels = CHANNEL_BLOCK.min(s.co - block * CHANNEL_BLOCK);
            vec![0.0f32; channels * per_channel * LANES]
        })
        .collect();
    for n in 0..s.n {
        let padded = layout.pad_sample(&x[n * s.in_sample_len()..][..s.in_sample_len()]);
        let gradient = layout.pad_gradient(&grad_y[n * s.out_sample_len()..][..s.out_sample_len()]);
        partials
            .par_iter_mut()
            .enumerate()
            .for_each(|(block, partial)| {
                let channels = partial.len() / (per_channel * LANES);
                for z in 0..s.od {
                    for start in (0..layout.positions).step_by(GRADIENT_CHUNK) {
                        let chunk = Chunk {
                            z,
                            first_channel: block * CHANNEL_BLOCK,
                            positions: start..(start + GRADIENT_CHUNK).min(layout.positions),
                        };
                        // SAFETY: `kernel_grad` asserted that the CPU has AVX-512.
                        unsafe {
                            kernel_grad_dispatch(
                                &layout, &padded, &gradient, &chunk, channels, partial,
                            )
                        };
                    }
                }
            });
    }
    partials
        .iter()
        .flat_map(|partial| partial.chunks_exact(LANES).map(|lanes| lanes.iter().sum()))
        .collect()
}

/// The part of the sums one kernel-gradient call adds: slice `z`, a range of padded-row
/// positions, output channels from `first_channel`.
struct Chunk {
    z: usize,
    first_channel: usize,
    positions: std::ops::Range<usize>,
}

/// [`kernel_grad_chunk`] for `channels` (1–4) output channels and the layout's kernel width.
#[target_feature(enable = "avx512f")]
fn kernel_grad_dispatch(
    layout: &PaddedLayout,
    padded: &[f32],
    gradient: &[f32],
    chunk: &Chunk,
    channels: usize,
    partial: &mut [f32],
) {
    macro_rules! by_width {
        ($cb:literal) => {
            match layout.sizes.k[2] {
                1 => kernel_grad_chunk::<$cb, 1>(layout, padded, gradient, chunk, partial),
                2 => kernel_grad_chunk::<$cb, 2>(layout, padded, gradient, chunk, partial),
                _ => kernel_grad_chunk::<$cb, 3>(layout, padded, gradient, chunk, partial),
            }
        };
    }
    match channels {
        4 => by_width!(4),
        3 => by_width!(3),
        2 => by_width!(2),
        _ => by_width!(1),
    }
}

/// Adds one chunk's products to `partial` `(CB, ci, taps, LANES)` for a kernel `KW` wide.
#[target_feature(enable = "avx512f")]
fn kernel_grad_chunk<const CB: usize, const KW: usize>(
    layout: &PaddedLayout,
    padded: &[f32],
    gradient: &[f32],
    chunk: &Chunk,
    partial: &mut [f32],
) {
    let s = &layout.sizes;
    let [kd, kh, kw] = s.k;
    assert_eq!(kw, KW, "conv3d direct: kernel width");
    let taps = layout.taps();
    let (z, range) = (chunk.z, chunk.positions.clone());
    assert!(z < s.od && range.end <= layout.positions && range.start % LANES == 0);
    assert!(
        padded.len() >= layout.padded_len(),
        "conv3d direct: bad input"
    );
    let gradient_row = |j: usize| ((chunk.first_channel + j) * s.od + z) * layout.positions;
    assert!(gradient.len() >= gradient_row(CB - 1) + layout.positions);
    assert!(partial.len() >= CB * s.ci * taps * LANES);
    let (input, grad) = (padded.as_ptr(), gradient.as_ptr());
    for c in 0..s.ci {
        for dz in 0..kd {
            for dy in 0..kh {
                let row_start = c * layout.chan + (z + dz) * layout.plane + dy * layout.wp;
                let mut acc = [[_mm512_setzero_ps(); KW]; CB];
                for p in range.clone().step_by(LANES) {
                    // SAFETY: p + LANES ≤ positions (a multiple of LANES), so gradient reads stay
                    // inside the rows asserted above; input reads stop at row_start + KW − 1 +
                    // positions − 1 < padded_len(), as in the forward kernel.
                    let mut gv = [_mm512_setzero_ps(); CB];
                    for (j, register) in gv.iter_mut().enumerate() {
                        *register = unsafe { _mm512_loadu_ps(grad.add(gradient_row(j) + p)) };
                    }
                    let mut xv = [_mm512_setzero_ps(); KW];
                    for (dx, register) in xv.iter_mut().enumerate() {
                        // SAFETY: see above.
                        *register = unsafe { _mm512_loadu_ps(input.add(row_start + dx + p)) };
                    }
                    for (acc_j, g) in acc.iter_mut().zip(&gv) {
                        for (a, x) in acc_j.iter_mut().zip(&xv) {
                            *a = _mm512_fmadd_ps(*g, *x, *a);
                        }
                    }
                }
                for (j, registers) in acc.iter().enumerate() {
                    for (dx, register) in registers.iter().enumerate() {
                        let tap = (dz * kh + dy) * KW + dx;
                        let slot = &mut partial[((j * s.ci + c) * taps + tap) * LANES..][..LANES];
                        // SAFETY: `slot` holds LANES floats.
                        unsafe {
                            let sum = _mm512_add_ps(_mm512_loadu_ps(slot.as_ptr()), *register);
                            _mm512_storeu_ps(slot.as_mut_ptr(), sum);
                        }
                    }
                }
            }
        }
    }
}
