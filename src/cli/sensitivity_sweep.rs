//! `eval --sweep-tumour-sensitivity S,S,…`: the segmenter's tumour figures at several tumour
//! sensitivities, each case's labels chosen again from one network pass
//! ([`SegmenterOutput::relabel`]): an operating curve of lesions found against false ones,
//! at the cost of one evaluation.

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;

use oncoscope::mesh::{LesionDetection, LesionMatching, match_lesions};
use oncoscope::model::inference::SegmenterOutput;
use oncoscope::model::metrics::{SegmentationScores, StructureOverlaps, roc_auc};
use oncoscope::volume::{CtVolume, LabelVolume};

/// One case's segmentation at one sensitivity, as the sweep needs it.
pub struct SweepCase {
    scores: SegmentationScores,
    tumour_ml_predicted: f64,
    matching: Option<LesionMatching>,
}

/// Labels `ct` from `output` (`None`: the locator found no organ, so background everywhere)
/// at each of `sensitivities` and scores them against `truth`.
pub fn sweep_case(
    output: Option<&SegmenterOutput>,
    ct: &CtVolume,
    truth: &LabelVolume,
    sensitivities: &[f64],
    min_lesion_ml: f64,
) -> Result<Vec<SweepCase>> {
    sensitivities
        .iter()
        .map(|&sensitivity| {
            let labels = match output {
                Some(output) => output.relabel(ct, sensitivity)?.0,
                None => ct.with_voxels(vec![0u8; ct.voxels.len()])?,
            };
            let overlaps = StructureOverlaps::count(&truth.voxels, &labels.voxels);
            Ok(SweepCase {
                scores: overlaps.scores(),
                tumour_ml_predicted: overlaps
                    .volumes(ct.grid.voxel_volume_ml())
                    .tumour_ml_predicted,
                matching: match_lesions(truth, &labels, min_lesion_ml),
            })
        })
        .collect()
}

/// The tumour figures over every case at one sensitivity.
#[derive(Debug, Serialize)]
pub struct SweepPoint {
    tumour_sensitivity: f64,
    /// Mean tumour Dice over the cases whose truth has a tumour.
    tumour_dice: Option<f64>,
    lesions: Option<LesionDetection>,
    /// Predicted tumour volume (mL) as a cancer score.
    tumour_volume_roc_auc: Option<f64>,
    /// Predicted tumour (mL) summed over the cases without a true tumour, and their number.
    false_tumour_ml: f64,
    tumour_free_cases: usize,
}

/// `cases[i][j]`: case `i` at `sensitivities[j]`; `true_cancer[i]`: whether its truth has a
/// tumour.
pub fn sweep_points(
    sensitivities: &[f64],
    cases: &[Vec<SweepCase>],
    true_cancer: &[bool],
) -> Vec<SweepPoint> {
    (0..sensitivities.len())
        .map(|j| {
            let at: Vec<&SweepCase> = cases.iter().map(|c| &c[j]).collect();
            let with_tumour: Vec<(SegmentationScores, bool)> = at
                .iter()
                .zip(true_cancer)
                .map(|(c, &t)| (c.scores, t))
                .collect();
            let matchings: Vec<LesionMatching> =
                at.iter().filter_map(|c| c.matching.clone()).collect();
            let volumes: Vec<f64> = at.iter().map(|c| c.tumour_ml_predicted).collect();
            let free = || at.iter().zip(true_cancer).filter(|(_, t)| !**t);
            SweepPoint {
                tumour_sensitivity: sensitivities[j],
                tumour_dice: true_cancer
                    .iter()
                    .any(|&t| t)
                    .then(|| SegmentationScores::mean_by_truth(&with_tumour).tumour_dice),
                lesions: (!matchings.is_empty()).then(|| LesionDetection::over(&matchings)),
                tumour_volume_roc_auc: roc_auc(&volumes, true_cancer),
                false_tumour_ml: free().map(|(c, _)| c.tumour_ml_predicted).sum(),
                tumour_free_cases: free().count(),
            }
        })
        .collect()
}

/// The sweep as a table, one row per sensitivity.
pub fn sweep_table(points: &[SweepPoint], min_lesion_ml: f64) -> String {
    let mut s = format!(
        "tumour sensitivity sweep (one network pass per case; lesions ≥ {min_lesion_ml} mL):\n\
         {:>11} {:>11} {:>13} {:>18} {:>17} {:>16}\n",
        "sensitivity",
        "tumour Dice",
        "lesions found",
        "< 10 / 10–20 / ≥ 20",
        "spurious per case",
        "false tumour mL"
    );
    for p in points {
        let dice = p.tumour_dice.map_or("-".into(), |d| format!("{d:.4}"));
        let (found, by_size, spurious) = match &p.lesions {
            Some(l) => (
                format!("{}/{}", l.found, l.true_lesions),
                l.by_size
                    .iter()
                    .map(|c| format!("{}/{}", c.found, c.true_lesions))
                    .collect::<Vec<_>>()
                    .join(" "),
                format!("{:.2}", l.spurious_per_case),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "{:>11} {dice:>11} {found:>13} {by_size:>18} {spurious:>17} {:>16}",
            format!("×{}", p.tumour_sensitivity),
            format!("{:.1} ({})", p.false_tumour_ml, p.tumour_free_cases)
        );
    }
    s
}
