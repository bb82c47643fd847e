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

/// U-Net loss `CE + (1 − mean Dice)`: CE is the voxel-wise softmax cross-entropy, each voxel
/// weighted by the weight of its true class and the sum divided by the sum of those weights
/// (PyTorch's `CrossEntropyLoss(weight=…)`; all weights 1 give the plain mean); Dice is the
/// soft Dice per sample and class (background included), averaged.
///
/// logits: `(n, classes, d, h, w)`; target: `(n, d, h, w)` labels in `0..classes`;
/// `ce_class_weights`: one positive weight per class.
pub fn dice_ce_loss(logits: &Tensor, target: &Tensor, ce_class_weights: &[f64]) -> Result<Tensor> {
    let classes = logits.dim(1)?;
    if ce_class_weights.len() != classes {
        candle_core::bail!(
            "{} class weights for {classes} classes",
            ce_class_weights.len()
        );
    }
    if let Some(w) = ce_class_weights
        .iter()
        .find(|w| !(w.is_finite() && **w > 0.0))
    {
        candle_core::bail!("class weight {w} is not a finite number above 0");
    }
    let truth = one_hot(target, classes)?;
    let log_p = candle_nn::ops::log_softmax(logits, 1)?;
    let ce = if ce_class_weights.iter().all(|&w| w == 1.0) {
        (truth.mul(&log_p)?.sum(1)?.mean_all()? * -1.0)?
    } else {
        let weights: Vec<f32> = ce_class_weights.iter().map(|&w| w as f32).collect();
        let weights = Tensor::from_vec(weights, (1, classes, 1, 1, 1), logits.device())?;
        let weighted_truth = truth.broadcast_mul(&weights)?;
        let total_weight = weighted_truth.sum_all()?;
        (weighted_truth.mul(&log_p)?.sum_all()?.div(&total_weight)? * -1.0)?
    };
    let p = log_p.exp()?;
    let spatial = |t: &Tensor| t.flatten_from(2)?.sum(D::Minus1);
    let overlap = spatial(&p.mul(&truth)?)?;
    let denominator = (spatial(&p)? + spatial(&truth)?)?;
    let dice = ((overlap * 2.0)? + DICE_EPS)?.div(&(denominator + DICE_EPS)?)?;
    (ce - dice.mean_all()?)? + 1.0
}

/// Cross-entropy class weights for `classes` classes: 1 for each, `tumour_weight` for the
/// tumour label where there is one.
pub fn ce_weights_with_tumour(classes: usize, tumour_weight: f64) -> Vec<f64> {
    (0..classes)
        .map(|c| {
            if c == usize::from(crate::volume::decathlon::TUMOUR_LABEL) {
                tumour_weight
            } else {
                1.0
            }
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two voxels of three classes: one background voxel predicted well, one tumour voxel
    /// predicted badly.
    fn two_voxels() -> (Tensor, Tensor) {
        let device = Device::Cpu;
        // (n=1, classes=3, d=1, h=1, w=2): voxel 0 favours background, voxel 1 too.
        let logits = Tensor::from_vec(
            vec![3.0f32, 2.0, 0.0, 0.0, 0.0, 0.5],
            (1, 3, 1, 1, 2),
            &device,
        )
        .unwrap();
        let target = Tensor::from_vec(vec![0u32, 2], (1, 1, 1, 2), &device).unwrap();
        (logits, target)
    }

    fn scalar(t: Tensor) -> f64 {
        t.to_scalar::<f32>().unwrap() as f64
    }

    #[test]
    fn tumour_weight_moves_the_cross_entropy_towards_the_tumour_voxels() {
        let (logits, target) = two_voxels();
        let uniform = scalar(dice_ce_loss(&logits, &target, &[1.0, 1.0, 1.0]).unwrap());
        let weighted = scalar(dice_ce_loss(&logits, &target, &[1.0, 1.0, 4.0]).unwrap());
        // Per-voxel CE by hand: −log softmax at the true class.
        let ce = |z: [f64; 3], k: usize| {
            let m = z.iter().map(|v| v.exp()).sum::<f64>();
            -(z[k].exp() / m).ln()
        };
        let background = ce([3.0, 0.0, 0.0], 0);
        let tumour = ce([2.0, 0.0, 0.5], 2);
        let dice_part = uniform - (background + tumour) / 2.0;
        let expected = (background + 4.0 * tumour) / 5.0 + dice_part;
        assert!(
            (weighted - expected).abs() < 1e-5,
            "{weighted} vs {expected}"
        );
        assert!(
            weighted > uniform,
            "the badly predicted tumour voxel weighs more"
        );
    }

    #[test]
    fn class_weights_must_match_the_classes() {
        let (logits, target) = two_voxels();
        assert!(dice_ce_loss(&logits, &target, &[1.0, 4.0]).is_err());
        assert!(dice_ce_loss(&logits, &target, &[1.0, 0.0, 4.0]).is_err());
        assert!(dice_ce_loss(&logits, &target, &[1.0, f64::NAN, 4.0]).is_err());
        assert_eq!(ce_weights_with_tumour(3, 4.0), vec![1.0, 1.0, 4.0]);
        assert_eq!(ce_weights_with_tumour(2, 4.0), vec![1.0, 1.0]);
    }
}
