//! Training losses: cross-entropy + soft Dice for the U-Net, BCE with logits for the CNN.

use candle_core::{D, DType, Result, Tensor};

/// Smoothing term of the soft Dice.
pub const DICE_EPS: f64 = 1e-5;

/// `(n, d, h, w)` integer labels → one-hot `(n, classes, d, h, w)` f32.
pub fn one_hot(target: &Tensor, classes: usize) -> Result<Tensor> {
    let (n, d, h, w) = target.dims4()?;
    let ids =
        Tensor::arange(0u32, classes as u32, target.device())?.reshape((1, classes, 1, 1, 1))?;
    target
        .to_dtype(DType::U32)?
        .reshape((n, 1, d, h, w))?
        .broadcast_eq(&ids)?
        .to_dtype(DType::F32)
}

/// U-Net loss `CE + (1 − mean Dice)`: CE is the mean voxel-wise softmax cross-entropy; Dice
/// is the soft Dice per sample and class (background included), averaged.
///
/// logits: `(n, classes, d, h, w)`; target: `(n, d, h, w)` labels in `0..classes`.
pub fn dice_ce_loss(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let classes = logits.dim(1)?;
    let truth = one_hot(target, classes)?;
    let log_p = candle_nn::ops::log_softmax(logits, 1)?;
    let ce = (truth.mul(&log_p)?.sum(1)?.mean_all()? * -1.0)?;
    let p = log_p.exp()?;
    let spatial = |t: &Tensor| t.flatten_from(2)?.sum(D::Minus1);
    let overlap = spatial(&p.mul(&truth)?)?;
    let denominator = (spatial(&p)? + spatial(&truth)?)?;
    let dice = ((overlap * 2.0)? + DICE_EPS)?.div(&(denominator + DICE_EPS)?)?;
    (ce - dice.mean_all()?)? + 1.0
}

/// Mean binary cross-entropy with logits; `pos_weight` scales the loss of positive targets
/// (PyTorch's `BCEWithLogitsLoss(pos_weight=…)`).
///
/// logits, targets: `(n, 1)`; targets 0 or 1.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor, pos_weight: f64) -> Result<Tensor> {
    // loss = (1 − y)·z + (1 + (w − 1)·y)·(log(1 + e^(−|z|)) + max(−z, 0))
    let softplus_neg = ((logits.abs()? * -1.0)?.exp()? + 1.0)?
        .log()?
        .add(&(logits * -1.0)?.relu()?)?;
    let weight = ((targets * (pos_weight - 1.0))? + 1.0)?;
    let linear = (targets.affine(-1.0, 1.0)?).mul(logits)?;
    (linear + weight.mul(&softplus_neg)?)?.mean_all()
}
