//! Helpers for the op tests: a tensor's values, and gradients of a weighted sum.

use candle_core::{Tensor, Var};

/// A tensor's values in memory order.
pub fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Arange weights `0, 1, 2, …` shaped like `y`, so that every output element's gradient
/// differs.
pub fn arange_like(y: &Tensor) -> Tensor {
    Tensor::arange(0f32, y.elem_count() as f32, y.device())
        .unwrap()
        .reshape(y.dims())
        .unwrap()
}

/// The gradients of `sum(y · weights)` with respect to each of `vars`, flattened.
pub fn weighted_sum_grads<const N: usize>(
    y: &Tensor,
    weights: &Tensor,
    vars: [&Var; N],
) -> [Vec<f32>; N] {
    let grads = (y * weights)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    vars.map(|v| flat(grads.get(v.as_tensor()).unwrap()))
}
