//! Evaluation metrics: overlap of label maps (Dice, IoU per label), their volumes, and
//! classifier figures (accuracy, ROC AUC, sensitivity, specificity).

use serde::{Deserialize, Serialize};

/// Overlap of one structure between ground truth and prediction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    pub true_positive: usize,
    pub false_positive: usize,
    pub false_negative: usize,
}

impl Overlap {
    /// Counts voxels where `truth_has` / `prediction_has` select the structure.
    pub fn count(truth: &[u8], prediction: &[u8], selects: impl Fn(u8) -> bool) -> Self {
        let mut o = Overlap {
            true_positive: 0,
            false_positive: 0,
            false_negative: 0,
        };
        for (&t, &p) in truth.iter().zip(prediction) {
            match (selects(t), selects(p)) {
                (true, true) => o.true_positive += 1,
                (false, true) => o.false_positive += 1,
                (true, false) => o.false_negative += 1,
                (false, false) => {}
            }
        }
        o
    }

    /// Dice = 2·TP / (2·TP + FP + FN); 1 when both are empty (nothing to find, nothing found).
    pub fn dice(&self) -> f64 {
        let denominator = 2 * self.true_positive + self.false_positive + self.false_negative;
        if denominator == 0 {
            1.0
        } else {
            2.0 * self.true_positive as f64 / denominator as f64
        }
    }

    /// IoU = TP / (TP + FP + FN); 1 when both are empty.
    pub fn iou(&self) -> f64 {
        let denominator = self.true_positive + self.false_positive + self.false_negative;
        if denominator == 0 {
            1.0
        } else {
            self.true_positive as f64 / denominator as f64
        }
    }
}

/// Organ (labels ≥ 1: organ and tumour together) and tumour (label 2) volumes of a ground
/// truth and a prediction on the same grid, in mL.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StructureVolumes {
    pub organ_ml_true: f64,
    pub organ_ml_predicted: f64,
    pub tumour_ml_true: f64,
    pub tumour_ml_predicted: f64,
}

impl StructureVolumes {
    /// Volumes of `truth` and `prediction` (label voxels, same grid), `voxel_ml` mL per voxel.
    pub fn measure(truth: &[u8], prediction: &[u8], voxel_ml: f64) -> Self {
        StructureOverlaps::count(truth, prediction).volumes(voxel_ml)
    }
}

/// The organ's (labels ≥ 1) and the tumour's (label 2) overlap of a ground truth and a
/// prediction, counted once for both the scores and the volumes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StructureOverlaps {
    pub organ: Overlap,
    pub tumour: Overlap,
}

impl StructureOverlaps {
    /// Counts both overlaps of `truth` and `prediction` (label voxels, same grid).
    pub fn count(truth: &[u8], prediction: &[u8]) -> Self {
        Self {
            organ: Overlap::count(truth, prediction, |l| l >= 1),
            tumour: Overlap::count(truth, prediction, |l| l == 2),
        }
    }

    pub fn scores(&self) -> SegmentationScores {
        SegmentationScores {
            organ_dice: self.organ.dice(),
            organ_iou: self.organ.iou(),
            tumour_dice: self.tumour.dice(),
            tumour_iou: self.tumour.iou(),
        }
    }

    /// Both structures' volumes, `voxel_ml` mL per voxel.
    pub fn volumes(&self, voxel_ml: f64) -> StructureVolumes {
        let ml = |voxels: usize| voxels as f64 * voxel_ml;
        let (organ, tumour) = (&self.organ, &self.tumour);
        StructureVolumes {
            organ_ml_true: ml(organ.true_positive + organ.false_negative),
            organ_ml_predicted: ml(organ.true_positive + organ.false_positive),
            tumour_ml_true: ml(tumour.true_positive + tumour.false_negative),
            tumour_ml_predicted: ml(tumour.true_positive + tumour.false_positive),
        }
    }
}

/// Dice and IoU of the organ (labels ≥ 1: organ and tumour together) and the tumour (label 2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentationScores {
    pub organ_dice: f64,
    pub organ_iou: f64,
    pub tumour_dice: f64,
    pub tumour_iou: f64,
}

impl SegmentationScores {
    pub fn compare(truth: &[u8], prediction: &[u8]) -> Self {
        StructureOverlaps::count(truth, prediction).scores()
    }

    /// Mean scores in which the tumour counts only where it exists: organ figures over every
    /// case, tumour figures over the cases whose ground truth has a tumour (`has_tumour`), or
    /// over every case when none has one. (A tumour-free case scores tumour Dice 1 for
    /// predicting nothing, so a plain mean would reward a model that never marks a tumour.)
    pub fn mean_by_truth(scores: &[(Self, bool)]) -> Self {
        let all: Vec<Self> = scores.iter().map(|(s, _)| *s).collect();
        let with_tumour: Vec<Self> = scores
            .iter()
            .filter(|(_, has_tumour)| *has_tumour)
            .map(|(s, _)| *s)
            .collect();
        let organ = Self::mean(&all);
        let tumour = if with_tumour.is_empty() {
            organ
        } else {
            Self::mean(&with_tumour)
        };
        Self {
            tumour_dice: tumour.tumour_dice,
            tumour_iou: tumour.tumour_iou,
            ..organ
        }
    }

    /// Mean of the scores of several cases.
    pub fn mean(scores: &[Self]) -> Self {
        let n = scores.len().max(1) as f64;
        let avg = |f: fn(&Self) -> f64| scores.iter().map(f).sum::<f64>() / n;
        Self {
            organ_dice: avg(|s| s.organ_dice),
            organ_iou: avg(|s| s.organ_iou),
            tumour_dice: avg(|s| s.tumour_dice),
            tumour_iou: avg(|s| s.tumour_iou),
        }
    }
}

/// Classifier figures at threshold 0.5.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassifierScores {
    pub accuracy: f64,
    /// Area under the ROC curve; `None` when only one class is present.
    pub roc_auc: Option<f64>,
    /// True-positive rate; `None` without positives.
    pub sensitivity: Option<f64>,
    /// True-negative rate; `None` without negatives.
    pub specificity: Option<f64>,
}

impl ClassifierScores {
    /// `probabilities[i]` of cancer for case i, `truths[i]` whether it has cancer.
    pub fn compute(probabilities: &[f64], truths: &[bool]) -> Self {
        let mut tp = 0usize;
        let mut tn = 0usize;
        let (positives, negatives) =
            truths.iter().fold(
                (0usize, 0usize),
                |(p, n), &t| {
                    if t { (p + 1, n) } else { (p, n + 1) }
                },
            );
        for (&p, &t) in probabilities.iter().zip(truths) {
            match (p >= 0.5, t) {
                (true, true) => tp += 1,
                (false, false) => tn += 1,
                _ => {}
            }
        }
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        Self {
            accuracy: ratio(tp + tn, truths.len()).unwrap_or(0.0),
            roc_auc: roc_auc(probabilities, truths),
            sensitivity: ratio(tp, positives),
            specificity: ratio(tn, negatives),
        }
    }
}

/// ROC AUC as the probability that a random positive scores above a random negative (ties
/// count half). `None` unless both classes occur.
pub fn roc_auc(scores: &[f64], truths: &[bool]) -> Option<f64> {
    let positives: Vec<f64> = scores
        .iter()
        .zip(truths)
        .filter(|(_, t)| **t)
        .map(|(s, _)| *s)
        .collect();
    let negatives: Vec<f64> = scores
        .iter()
        .zip(truths)
        .filter(|(_, t)| !**t)
        .map(|(s, _)| *s)
        .collect();
    if positives.is_empty() || negatives.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in &positives {
        for n in &negatives {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (positives.len() * negatives.len()) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(organ_dice: f64, tumour_dice: f64) -> SegmentationScores {
        SegmentationScores {
            organ_dice,
            organ_iou: organ_dice,
            tumour_dice,
            tumour_iou: tumour_dice,
        }
    }

    #[test]
    fn volumes_count_the_organ_with_its_tumour_and_the_tumour_alone() {
        let truth = [0, 1, 1, 2, 2, 2, 0, 1];
        let prediction = [1, 1, 2, 2, 0, 0, 0, 0];
        let v = StructureVolumes::measure(&truth, &prediction, 0.5);
        assert_eq!(v.organ_ml_true, 3.0, "6 voxels ≥ 1");
        assert_eq!(v.organ_ml_predicted, 2.0, "4 voxels ≥ 1");
        assert_eq!(v.tumour_ml_true, 1.5);
        assert_eq!(v.tumour_ml_predicted, 1.0);
    }

    #[test]
    fn the_tumour_mean_counts_only_cases_with_a_tumour() {
        // Two tumour cases (0.6, 0.2) and a tumour-free one that predicted nothing (Dice 1).
        let cases = [
            (scores(0.9, 0.6), true),
            (scores(0.8, 1.0), false),
            (scores(0.7, 0.2), true),
        ];
        let mean = SegmentationScores::mean_by_truth(&cases);
        assert!((mean.organ_dice - 0.8).abs() < 1e-12);
        assert!((mean.tumour_dice - 0.4).abs() < 1e-12);
        assert!((mean.tumour_iou - 0.4).abs() < 1e-12);
        // Without tumour cases, every case counts.
        let mean = SegmentationScores::mean_by_truth(&cases[1..2]);
        assert!((mean.tumour_dice - 1.0).abs() < 1e-12);
    }

    #[test]
    fn dice_and_iou_of_known_overlaps() {
        let truth = [0, 1, 1, 1, 2, 2, 0, 0];
        let pred = [0, 1, 1, 0, 2, 1, 1, 0];
        let s = SegmentationScores::compare(&truth, &pred);
        // organ (≥1): truth 5 voxels, pred 5, overlap 4 → Dice 8/10, IoU 4/6.
        assert!((s.organ_dice - 0.8).abs() < 1e-12);
        assert!((s.organ_iou - 4.0 / 6.0).abs() < 1e-12);
        // tumour: truth 2, pred 1, overlap 1 → Dice 2/3, IoU 1/2.
        assert!((s.tumour_dice - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.tumour_iou - 0.5).abs() < 1e-12);
        let empty = SegmentationScores::compare(&[0, 0], &[0, 0]);
        assert_eq!(empty.tumour_dice, 1.0);
    }

    #[test]
    fn roc_auc_counts_ranked_pairs() {
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[true, true, false, false]),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[true, true, false, false]),
            Some(0.0)
        );
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), Some(0.5));
        assert_eq!(roc_auc(&[0.5], &[true]), None);
        let s = ClassifierScores::compute(&[0.9, 0.4, 0.6, 0.1], &[true, true, false, false]);
        assert_eq!(s.accuracy, 0.5);
        assert_eq!(s.sensitivity, Some(0.5));
        assert_eq!(s.specificity, Some(0.5));
        assert_eq!(s.roc_auc, Some(0.75));
    }
}
