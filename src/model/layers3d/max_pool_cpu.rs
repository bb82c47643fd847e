//! 2×2×2 max pooling with stride 2 as one CPU custom op with a hand-written backward. The
//! composed form (reshape to 8-D, three `max` reductions) allocates the intermediate maxima
//! and, backward, broadcasts and compares whole tensors three times; here the forward is one
//! pass and the backward routes each output gradient to its window's maximum.
//!
//! Odd sizes drop the last row, column or slice, as PyTorch does. On ties the first maximum in
//! (depth, height, width) order gets the gradient, as PyTorch's `max_pool3d` does.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Storage, Tensor, bail};
use rayon::prelude::*;

use super::conv3d_cpu::contiguous_f32;

/// The op: input `(n, c, d, h, w)` → `(n, c, d/2, h/2, w/2)`.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2Cpu;

/// Offsets of the 8 window voxels in an input plane of `h × w`, in (depth, height, width)
/// order, relative to the window's first voxel.
fn window_offsets(h: usize, w: usize) -> [usize; 8] {
    std::array::from_fn(|i| {
        let (dz, dy, dx) = (i >> 2, (i >> 1) & 1, i & 1);
        dz * h * w + dy * w + dx
    })
}

/// Input and output sizes of one `(n, c)` volume.
struct Sizes {
    input: [usize; 3],
    output: [usize; 3],
}

impl Sizes {
    fn of(dims: &[usize]) -> Result<Self> {
        let &[_, _, d, h, w] = dims else {
            bail!("max pool: input must be (n, c, d, h, w), got {dims:?}");
        };
        Ok(Self {
            input: [d, h, w],
            output: [d / 2, h / 2, w / 2],
        })
    }

    fn input_len(&self) -> usize {
        self.input.iter().product()
    }

    fn output_len(&self) -> usize {
        self.output.iter().product()
    }

    /// The input index of the first voxel of the windows of output row `row_index` (counting
    /// rows over depth and height) of one volume.
    fn window_row_start(&self, row_index: usize) -> usize {
        let [_, h, w] = self.input;
        let oh = self.output[1];
        let (z, y) = (row_index / oh, row_index % oh);
        2 * z * h * w + 2 * y * w
    }

    /// The four input rows under output row `row_index`, in (depth, height) order: rows
    /// (2z, 2y), (2z, 2y + 1), (2z + 1, 2y), (2z + 1, 2y + 1), each `2·ow` long.
    fn window_rows<'a>(&self, input: &'a [f32], row_index: usize) -> [&'a [f32]; 4] {
        let [_, h, w] = self.input;
        let start = self.window_row_start(row_index);
        let len = 2 * self.output[2];
        [0, w, h * w, h * w + w].map(|offset| &input[start + offset..][..len])
    }
}

impl CustomOp1 for MaxPool2Cpu {
    fn name(&self) -> &'static str {
        "max-pool3d-2x"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = layout.shape().dims();
        let sizes = Sizes::of(dims)?;
        let x = contiguous_f32(storage, layout, "input")?;
        let (in_len, out_len) = (sizes.input_len(), sizes.output_len());
        let mut y = vec![0.0f32; dims[0] * dims[1] * out_len];
        if out_len > 0 {
            y.par_chunks_mut(out_len)
                .zip(x.par_chunks(in_len.max(1)))
                .for_each(|(out, input)| {
                    let ow = sizes.output[2];
                    for (row_index, out_row) in out.chunks_exact_mut(ow).enumerate() {
                        let rows = sizes.window_rows(input, row_index);
                        for (ox, o) in out_row.iter_mut().enumerate() {
                            let x = 2 * ox;
                            let [a, b, c, d] = rows.map(|r| r[x].max(r[x + 1]));
                            *o = a.max(b).max(c.max(d));
                        }
                    }
                });
        }
        let [od, oh, ow] = sizes.output;
        Ok((
            CpuStorage::F32(y),
            Shape::from((dims[0], dims[1], od, oh, ow)),
        ))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad_y: &Tensor) -> Result<Option<Tensor>> {
        let x = x.contiguous()?;
        let grad_y = grad_y.contiguous()?;
        let sizes = Sizes::of(x.dims())?;
        let (x_storage, x_layout) = x.storage_and_layout();
        let (g_storage, g_layout) = grad_y.storage_and_layout();
        let (Storage::Cpu(xs), Storage::Cpu(gs)) = (&*x_storage, &*g_storage) else {
            bail!("max pool backward: tensors must be on the CPU");
        };
        let xv = contiguous_f32(xs, x_layout, "input")?;
        let gv = contiguous_f32(gs, g_layout, "gradient")?;
        let offsets = window_offsets(sizes.input[1], sizes.input[2]);
        let (in_len, out_len) = (sizes.input_len(), sizes.output_len());
        let mut grad_x = vec![0.0f32; xv.len()];
        if out_len > 0 {
            let ow = sizes.output[2];
            grad_x
                .par_chunks_mut(in_len)
                .zip(xv.par_chunks(in_len))
                .zip(gv.par_chunks(out_len))
                .for_each(|((dx, input), grad)| {
                    for (row_index, grad_row) in grad.chunks_exact(ow).enumerate() {
                        let first = sizes.window_row_start(row_index);
                        let rows = sizes.window_rows(input, row_index);
                        for (ox, &g) in grad_row.iter().enumerate() {
                            let x = 2 * ox;
                            // The first maximum in (depth, height, width) order, as PyTorch.
                            let values = [
                                rows[0][x],
                                rows[0][x + 1],
                                rows[1][x],
                                rows[1][x + 1],
                                rows[2][x],
                                rows[2][x + 1],
                                rows[3][x],
                                rows[3][x + 1],
                            ];
                            let mut best = 0;
                            for (k, &v) in values.iter().enumerate().skip(1) {
                                if v > values[best] {
                                    best = k;
                                }
                            }
                            dx[first + x + offsets[best]] += g;
                        }
                    }
                });
        }
        drop((x_storage, g_storage));
        Ok(Some(Tensor::from_vec(grad_x, x.shape(), x.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{arange_like, flat, weighted_sum_grads};
    use super::*;
    use candle_core::{Device, Var};

    /// The op against the composed candle form, forward and gradient, on odd sizes.
    #[test]
    fn matches_the_composed_form_forward_and_backward() {
        let dims = (2, 3, 5, 6, 7);
        let count = 2 * 3 * 5 * 6 * 7;
        // Distinct values in a scrambled order, so no window has ties.
        let values: Vec<f32> = (0..count)
            .map(|i| ((i * 7919) % count) as f32 * 0.01 - 3.0)
            .collect();
        let x = Var::from_vec(values, dims, &Device::Cpu).unwrap();
        let fused = x.as_tensor().apply_op1(MaxPool2Cpu).unwrap();
        let composed = x
            .as_tensor()
            .narrow(2, 0, 4)
            .unwrap()
            .narrow(3, 0, 6)
            .unwrap()
            .narrow(4, 0, 6)
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape(vec![2, 3, 2, 2, 3, 2, 3, 2])
            .unwrap()
            .max(7)
            .unwrap()
            .max(5)
            .unwrap()
            .max(3)
            .unwrap();
        assert_eq!(fused.dims(), &[2, 3, 2, 3, 3]);
        assert_eq!(flat(&fused), flat(&composed));
        let weights = arange_like(&fused);
        let grad = |y: &Tensor| weighted_sum_grads(y, &weights, [&x]);
        assert_eq!(grad(&fused), grad(&composed));
    }

    #[test]
    fn ties_send_the_gradient_to_the_first_maximum_only() {
        let x = Var::from_vec(vec![1.0f32; 8], (1, 1, 2, 2, 2), &Device::Cpu).unwrap();
        let y = x.as_tensor().apply_op1(MaxPool2Cpu).unwrap();
        let [dx] = weighted_sum_grads(&y, &Tensor::ones_like(&y).unwrap(), [&x]);
        assert_eq!(dx, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
