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
    if ce_class_weights.iter().all(|&w| w == 1.0) {
        return ce_plus_dice(logits, &truth, None);
    }
    let weights: Vec<f32> = ce_class_weights.iter().map(|&w| w as f32).collect();
    let weights = Tensor::from_vec(weights, (1, classes, 1, 1, 1), logits.device())?;
    let voxel_weights = truth.broadcast_mul(&weights)?.sum_keepdim(1)?;
    ce_plus_dice(logits, &truth, Some(&voxel_weights))
}

/// [`dice_ce_loss`] with a weight per voxel instead of per class: the CE sums each voxel's
/// cross-entropy times its weight and divides by the sum of the weights.
///
/// logits: `(n, classes, d, h, w)`; target: `(n, d, h, w)`; voxel_weights: `(n, 1, d, h, w)`,
/// positive (see [`lesion_balanced_weights`]).
pub fn dice_voxel_weighted_ce_loss(
    logits: &Tensor,
    target: &Tensor,
    voxel_weights: &Tensor,
) -> Result<Tensor> {
    let truth = one_hot(target, logits.dim(1)?)?;
    ce_plus_dice(logits, &truth, Some(voxel_weights))
}

/// `CE + (1 − mean soft Dice)` against the one-hot `truth`, the CE weighted per voxel by
/// `voxel_weights` `(n, 1, d, h, w)` (none: the plain mean).
fn ce_plus_dice(logits: &Tensor, truth: &Tensor, voxel_weights: Option<&Tensor>) -> Result<Tensor> {
    let log_p = candle_nn::ops::log_softmax(logits, 1)?;
    let ce = match voxel_weights {
        None => (truth.mul(&log_p)?.sum(1)?.mean_all()? * -1.0)?,
        Some(weights) => {
            let per_voxel = truth.mul(&log_p)?.sum_keepdim(1)?;
            (per_voxel
                .mul(weights)?
                .sum_all()?
                .div(&weights.sum_all()?)?
                * -1.0)?
        }
    };
    let p = log_p.exp()?;
    let spatial = |t: &Tensor| t.flatten_from(2)?.sum(D::Minus1);
    let overlap = spatial(&p.mul(truth)?)?;
    let denominator = (spatial(&p)? + spatial(truth)?)?;
    let dice = ((overlap * 2.0)? + DICE_EPS)?.div(&(denominator + DICE_EPS)?)?;
    (ce - dice.mean_all()?)? + 1.0
}

/// A lesion of this many voxels or more (in the training cube) weighs like any tumour voxel
/// in a lesion-balanced loss; a smaller one's voxels weigh more (about a 10-voxel sphere: a
/// 15–20 mm lesion in a 96³ cube of the organ's region).
pub const BALANCED_LESION_VOXELS: usize = 500;

/// The most a small lesion's voxels are boosted in a lesion-balanced loss (a lesion of
/// `BALANCED_LESION_VOXELS / MAX_LESION_BOOST` voxels or fewer gets all of it).
pub const MAX_LESION_BOOST: f64 = 25.0;

/// Per-voxel cross-entropy weights that give small lesions their share: 1 for every voxel
/// that is not tumour; for the voxels of each true lesion (26-connected component of tumour
/// label) of `s` voxels, `tumour_weight × min(MAX_LESION_BOOST, max(1, BALANCED_LESION_VOXELS
/// / s))`. So every lesion under `BALANCED_LESION_VOXELS` weighs about as much in all as one
/// of that size (down to the boost's cap), and a 6 mm lesion is no longer lost among the
/// cube's million voxels.
///
/// labels: `n` cubes of `grid = [nx, ny, nz]` voxels, x fastest, z slowest, then case; the
/// result has the same layout.
pub fn lesion_balanced_weights(labels: &[u32], grid: [usize; 3], tumour_weight: f64) -> Vec<f32> {
    let mut weights = vec![1f32; labels.len()];
    for component in tumour_components(labels, grid) {
        let boost =
            (BALANCED_LESION_VOXELS as f64 / component.len() as f64).clamp(1.0, MAX_LESION_BOOST);
        let weight = (tumour_weight * boost) as f32;
        for &i in &component {
            weights[i] = weight;
        }
    }
    weights
}

/// The true lesions of label cubes: the 26-connected components of the tumour label, each as
/// the indices of its voxels into `labels`, in the order their first voxel comes.
///
/// labels: `n` cubes of `grid = [nx, ny, nz]` voxels, x fastest, z slowest, then case (no
/// component crosses from one cube to the next).
pub fn tumour_components(labels: &[u32], grid: [usize; 3]) -> Vec<Vec<usize>> {
    let tumour = u32::from(crate::volume::decathlon::TUMOUR_LABEL);
    let [nx, ny, nz] = grid;
    let cube = nx * ny * nz;
    let mut seen = vec![false; labels.len()];
    let mut components = Vec::new();
    let mut stack = Vec::new();
    for seed in 0..labels.len() {
        if labels[seed] != tumour || seen[seed] {
            continue;
        }
        let case_start = seed / cube * cube;
        seen[seed] = true;
        stack.push(seed);
        let mut component = Vec::new();
        while let Some(i) = stack.pop() {
            component.push(i);
            let local = i - case_start;
            let (x, y, z) = (local % nx, (local / nx) % ny, local / (nx * ny));
            for qz in z.saturating_sub(1)..=(z + 1).min(nz - 1) {
                for qy in y.saturating_sub(1)..=(y + 1).min(ny - 1) {
                    for qx in x.saturating_sub(1)..=(x + 1).min(nx - 1) {
                        let q = case_start + qx + nx * (qy + ny * qz);
                        if labels[q] == tumour && !seen[q] {
                            seen[q] = true;
                            stack.push(q);
                        }
                    }
                }
            }
        }
        components.push(component);
    }
    components
}

/// Per-voxel weights for [`lesion_mean_ce`]: for the voxels of each true lesion (26-connected
/// component of the tumour label) of `s` voxels, `1 / (L × s)` where `L` is the number of
/// lesions in all the cubes; 0 for every other voxel. So each lesion's mean cross-entropy
/// counts equally, whatever its size. `None` when there is no lesion.
///
/// labels: `n` cubes of `grid = [nx, ny, nz]` voxels, x fastest, z slowest, then case; the
/// result has the same layout.
pub fn lesion_mean_weights(labels: &[u32], grid: [usize; 3]) -> Option<Vec<f32>> {
    mean_over_pieces(&tumour_components(labels, grid), labels.len())
}

/// Weights that average over `pieces` (each the indices of its voxels into a buffer of `len`):
/// `1 / (P × s)` for the voxels of each of the `P` pieces of `s` voxels, 0 elsewhere, so that
/// a weighted sum is the mean over pieces of each piece's mean. `None` when there is no piece.
fn mean_over_pieces(pieces: &[Vec<usize>], len: usize) -> Option<Vec<f32>> {
    if pieces.is_empty() {
        return None;
    }
    let count = pieces.len() as f64;
    let mut weights = vec![0f32; len];
    for piece in pieces {
        let weight = (1.0 / (count * piece.len() as f64)) as f32;
        for &i in piece {
            weights[i] = weight;
        }
    }
    Some(weights)
}

/// The mean over true lesions of each lesion's mean tumour cross-entropy `−log p(tumour)`:
/// `−Σ wᵢ log p_tumour(i)` with the weights of [`lesion_mean_weights`]. A 20-voxel lesion
/// then counts as much as a 2,000-voxel one, and far more than in the voxel-mean
/// cross-entropy, where it is 20 of a cube's million voxels.
///
/// logits: `(n, classes, d, h, w)`; weights: `(n, 1, d, h, w)`.
pub fn lesion_mean_ce(logits: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let tumour = usize::from(crate::volume::decathlon::TUMOUR_LABEL);
    let log_p_tumour = candle_nn::ops::log_softmax(logits, 1)?.narrow(1, tumour, 1)?;
    log_p_tumour.mul(weights)?.sum_all()? * -1.0
}

/// Per-voxel weights for [`false_piece_ce`]: for the voxels of each false tumour piece (a
/// 26-connected component of the predicted tumour label with no voxel of true tumour) of `s`
/// voxels, `1 / (F × s)` where `F` is the number of false pieces in all the cubes; 0 for
/// every other voxel. So each false piece counts once, whatever its size, as each true lesion
/// does in [`lesion_mean_weights`]. `None` when no predicted piece is false.
///
/// predicted, truth: `n` cubes of `grid = [nx, ny, nz]` labels, x fastest, z slowest, then
/// case; the result has the same layout.
pub fn false_piece_weights(predicted: &[u32], truth: &[u32], grid: [usize; 3]) -> Option<Vec<f32>> {
    let tumour = u32::from(crate::volume::decathlon::TUMOUR_LABEL);
    let false_pieces: Vec<Vec<usize>> = tumour_components(predicted, grid)
        .into_iter()
        .filter(|piece| piece.iter().all(|&i| truth[i] != tumour))
        .collect();
    mean_over_pieces(&false_pieces, predicted.len())
}

/// The mean over false tumour pieces of each piece's mean cross-entropy against "not tumour",
/// `−Σ wᵢ log(1 − p_tumour(i))` with the weights of [`false_piece_weights`]: a speck of ten
/// voxels in healthy liver costs as much as a large false lesion. `log(1 − p_tumour)` is
/// taken as the log-sum-exp of the other classes' logits less that of all classes, so it
/// stays finite as `p_tumour` nears 1. The tumour label must be the last class.
///
/// logits: `(n, classes, d, h, w)`; weights: `(n, 1, d, h, w)`.
pub fn false_piece_ce(logits: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let tumour = usize::from(crate::volume::decathlon::TUMOUR_LABEL);
    let classes = logits.dim(1)?;
    if tumour + 1 != classes {
        candle_core::bail!("the false-piece loss needs tumour as the last of {classes} classes");
    }
    let log_not_tumour =
        (logits.narrow(1, 0, tumour)?.log_sum_exp(1)? - logits.log_sum_exp(1)?)?.unsqueeze(1)?;
    log_not_tumour.mul(weights)?.sum_all()? * -1.0
}

/// The U-Net's lesion-level loss terms, each with its weight (0: off): λ for
/// [`lesion_mean_ce`], μ for [`false_piece_ce`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LesionTerms {
    pub lesion: f64,
    pub false_piece: f64,
}

impl LesionTerms {
    /// `λ × lesion term + μ × false-piece term` for a step's logits `(n, classes, d, h, w)` and
    /// its label cubes (`labels`: `n` cubes of `grid = [w, h, d]`, x fastest); `None` when both
    /// are off or find nothing to score (no true lesion, no false piece).
    pub fn loss(
        &self,
        logits: &Tensor,
        labels: &[u32],
        grid: [usize; 3],
    ) -> Result<Option<Tensor>> {
        if self.lesion <= 0.0 && self.false_piece <= 0.0 {
            return Ok(None);
        }
        let (n, _, d, h, w) = logits.dims5()?;
        let as_tensor =
            |weights: Vec<f32>| Tensor::from_vec(weights, (n, 1, d, h, w), logits.device());
        let mut terms = Vec::new();
        if self.lesion > 0.0
            && let Some(weights) = lesion_mean_weights(labels, grid)
        {
            terms.push((lesion_mean_ce(logits, &as_tensor(weights)?)? * self.lesion)?);
        }
        if self.false_piece > 0.0 {
            let predicted = logits.detach().argmax(1)?.flatten_all()?.to_vec1::<u32>()?;
            if let Some(weights) = false_piece_weights(&predicted, labels, grid) {
                terms.push((false_piece_ce(logits, &as_tensor(weights)?)? * self.false_piece)?);
            }
        }
        let mut terms = terms.into_iter();
        let Some(first) = terms.next() else {
            return Ok(None);
        };
        terms.try_fold(first, |sum, term| sum + term).map(Some)
    }
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

    #[test]
    fn voxel_weights_equal_to_class_weights_give_the_class_weighted_loss() {
        let (logits, target) = two_voxels();
        let by_class = scalar(dice_ce_loss(&logits, &target, &[1.0, 1.0, 4.0]).unwrap());
        let weights = Tensor::from_vec(vec![1f32, 4.0], (1, 1, 1, 1, 2), &Device::Cpu).unwrap();
        let by_voxel = scalar(dice_voxel_weighted_ce_loss(&logits, &target, &weights).unwrap());
        assert!(
            (by_class - by_voxel).abs() < 1e-6,
            "{by_class} vs {by_voxel}"
        );
    }

    #[test]
    fn tumour_components_join_corner_neighbours_but_never_two_cubes() {
        let grid = [4usize, 3, 2];
        let cube = 4 * 3 * 2;
        let at = |case: usize, x: usize, y: usize, z: usize| case * cube + x + 4 * (y + 3 * z);
        let mut labels = vec![0u32; 2 * cube];
        // Cube 0: two voxels touching by a corner, a lone voxel at the far end, organ between.
        labels[at(0, 0, 0, 0)] = 2;
        labels[at(0, 1, 1, 1)] = 2;
        labels[at(0, 2, 1, 1)] = 1;
        labels[at(0, 3, 2, 1)] = 2;
        // Cube 1 starts right after cube 0's last voxel, which is tumour.
        labels[at(1, 0, 0, 0)] = 2;
        let components = tumour_components(&labels, grid);
        let mut sizes: Vec<(usize, usize)> = components.iter().map(|c| (c[0], c.len())).collect();
        sizes.sort();
        assert_eq!(
            sizes,
            vec![
                (at(0, 0, 0, 0), 2),
                (at(0, 3, 2, 1), 1),
                (at(1, 0, 0, 0), 1)
            ]
        );
        assert!(tumour_components(&vec![1u32; cube], grid).is_empty());
    }

    #[test]
    fn small_lesions_weigh_more_per_voxel_and_touching_voxels_are_one_lesion() {
        // Two cubes of 12 × 12 × 12: the first holds a 2-voxel lesion (touching by a corner)
        // and a 3 × 3 × 3 one; the second a 1-voxel lesion and organ.
        let grid = [12usize, 12, 12];
        let cube = 12 * 12 * 12;
        let at = |case: usize, x: usize, y: usize, z: usize| case * cube + x + 12 * (y + 12 * z);
        let mut labels = vec![0u32; 2 * cube];
        labels[at(0, 1, 1, 1)] = 2;
        labels[at(0, 2, 2, 2)] = 2;
        for z in 6..9 {
            for y in 6..9 {
                for x in 6..9 {
                    labels[at(0, x, y, z)] = 2;
                }
            }
        }
        labels[at(1, 0, 0, 0)] = 2;
        labels[at(1, 5, 5, 5)] = 1;
        let w = lesion_balanced_weights(&labels, grid, 2.0);
        let boost = |voxels: f64| (BALANCED_LESION_VOXELS as f64 / voxels).min(MAX_LESION_BOOST);
        assert_eq!(w[at(0, 1, 1, 1)], (2.0 * boost(2.0)) as f32);
        assert_eq!(w[at(0, 2, 2, 2)], w[at(0, 1, 1, 1)]);
        assert_eq!(w[at(0, 7, 7, 7)], (2.0 * boost(27.0)) as f32);
        assert!(w[at(0, 1, 1, 1)] >= w[at(0, 7, 7, 7)]);
        // The lesion at the second cube's corner is not joined to anything in the first.
        assert_eq!(w[at(1, 0, 0, 0)], (2.0 * boost(1.0)) as f32);
        assert_eq!(w[at(1, 5, 5, 5)], 1.0);
        assert_eq!(w[at(0, 0, 0, 0)], 1.0);
        // A lesion of the reference size or larger keeps the plain tumour weight.
        let big = vec![2u32; 8 * 8 * 8];
        let w = lesion_balanced_weights(&big, [8, 8, 8], 3.0);
        assert!(w.iter().all(|&v| v == 3.0));
    }

    #[test]
    fn each_lesion_counts_once_in_the_lesion_term_whatever_its_size() {
        let grid = [4, 4, 4];
        let at = |x: usize, y: usize, z: usize| x + 4 * (y + 4 * z);
        let mut labels = vec![1u32; 64];
        assert_eq!(
            lesion_mean_weights(&labels, grid),
            None,
            "no lesion, no term"
        );
        // Lesion A: one voxel; lesion B: a 2×2×2 block in the far corner.
        labels[at(0, 0, 0)] = 2;
        let block: Vec<usize> = (2..4)
            .flat_map(|z| (2..4).flat_map(move |y| (2..4).map(move |x| at(x, y, z))))
            .collect();
        for &i in &block {
            labels[i] = 2;
        }
        let w = lesion_mean_weights(&labels, grid).unwrap();
        assert_eq!(w[at(0, 0, 0)], 0.5);
        let block_sum: f32 = block.iter().map(|&i| w[i]).sum();
        assert!((block_sum - 0.5).abs() < 1e-6, "{block_sum}");
        assert_eq!(
            w.iter().filter(|&&v| v > 0.0).count(),
            9,
            "only lesion voxels weigh"
        );

        // p(tumour) = 1/2 at lesion A, 1/10 throughout lesion B (background and organ logits
        // 0, tumour logit ln 2 and ln 2/9), anything elsewhere.
        let mut logits = vec![0f32; 3 * 64];
        for (i, &label) in labels.iter().enumerate() {
            logits[2 * 64 + i] = if label != 2 {
                5.0
            } else if i == at(0, 0, 0) {
                2f32.ln()
            } else {
                (2f32 / 9.0).ln()
            };
        }
        let logits = Tensor::from_vec(logits, (1, 3, 4, 4, 4), &Device::Cpu).unwrap();
        let weights = Tensor::from_vec(w, (1, 1, 4, 4, 4), &Device::Cpu).unwrap();
        let term = scalar(lesion_mean_ce(&logits, &weights).unwrap());
        let expected = (-(0.5f64).ln() - (0.1f64).ln()) / 2.0;
        assert!((term - expected).abs() < 1e-5, "{term} vs {expected}");
    }
    #[test]
    fn each_false_piece_counts_once_and_pieces_touching_a_lesion_are_not_false() {
        let grid = [4, 4, 4];
        let at = |x: usize, y: usize, z: usize| x + 4 * (y + 4 * z);
        let mut truth = vec![1u32; 64];
        truth[at(0, 0, 0)] = 2;
        let mut predicted = truth.clone();
        predicted[at(1, 0, 0)] = 2;
        assert_eq!(
            false_piece_weights(&predicted, &truth, grid),
            None,
            "a piece that overlaps a true lesion is not false, however far it spills"
        );
        // False pieces: one voxel at (3, 0, 0) (two voxels from the found lesion's piece) and
        // a 2×2×2 block in the far corner.
        predicted[at(3, 0, 0)] = 2;
        let block: Vec<usize> = (2..4)
            .flat_map(|z| (2..4).flat_map(move |y| (2..4).map(move |x| at(x, y, z))))
            .collect();
        for &i in &block {
            predicted[i] = 2;
        }
        let w = false_piece_weights(&predicted, &truth, grid).unwrap();
        assert_eq!(w[at(3, 0, 0)], 0.5);
        let block_sum: f32 = block.iter().map(|&i| w[i]).sum();
        assert!((block_sum - 0.5).abs() < 1e-6, "{block_sum}");
        assert_eq!(w.iter().filter(|&&v| v > 0.0).count(), 9);

        // p(tumour) = 1/2 at the speck, 9/10 throughout the block (other logits 0, tumour
        // logit ln 2 and ln 18); near 1 everywhere else, which must not matter or overflow.
        let tumour_logit = |i: usize| {
            if i == at(3, 0, 0) {
                2f32.ln()
            } else if block.contains(&i) {
                18f32.ln()
            } else {
                100.0
            }
        };
        let mut logits = vec![0f32; 3 * 64];
        for i in 0..64 {
            logits[2 * 64 + i] = tumour_logit(i);
        }
        let logits = Tensor::from_vec(logits, (1, 3, 4, 4, 4), &Device::Cpu).unwrap();
        let weights = Tensor::from_vec(w, (1, 1, 4, 4, 4), &Device::Cpu).unwrap();
        let term = scalar(false_piece_ce(&logits, &weights).unwrap());
        let expected = (-(0.5f64).ln() - (0.1f64).ln()) / 2.0;
        assert!((term - expected).abs() < 1e-5, "{term} vs {expected}");
    }
}
