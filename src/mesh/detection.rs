//! Lesion detection over many cases: how many true lesions a segmentation found, by lesion
//! size, and how many spurious lesions it drew.

use serde::Serialize;

use super::LesionMatching;

/// Upper edges of the size classes, as equivalent-sphere diameters in mm: below 10 mm, 10 to
/// 20 mm, 20 mm and above.
const DIAMETER_EDGES_MM: [f64; 2] = [10.0, 20.0];

/// The diameter (mm) of a sphere of `volume_ml` mL.
pub fn equivalent_diameter_mm(volume_ml: f64) -> f64 {
    (6.0 * volume_ml * 1000.0 / std::f64::consts::PI).cbrt()
}

/// True lesions found in one size class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeClass {
    /// E.g. "10–20 mm" (equivalent-sphere diameter).
    pub diameters: String,
    /// True lesions in the class.
    pub true_lesions: usize,
    /// Those the prediction overlaps.
    pub found: usize,
    /// `found / true_lesions`; `None` without true lesions in the class.
    pub sensitivity: Option<f64>,
}

/// Lesion detection summed over cases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LesionDetection {
    /// Cases summed (the segmented ones).
    pub cases: usize,
    /// True lesions over all cases.
    pub true_lesions: usize,
    /// Those the prediction overlaps.
    pub found: usize,
    /// `found / true_lesions`; `None` without true lesions.
    pub sensitivity: Option<f64>,
    /// Predicted lesions overlapping no true lesion.
    pub spurious: usize,
    /// `spurious / cases`.
    pub spurious_per_case: f64,
    /// The same counts by lesion size, smallest class first.
    pub by_size: Vec<SizeClass>,
}

impl LesionDetection {
    /// Sums the matchings of several cases (each made with the same `min_lesion_ml`).
    pub fn over(cases: &[LesionMatching]) -> Self {
        let ratio = |found: usize, total: usize| (total > 0).then(|| found as f64 / total as f64);
        let mut by_size: Vec<SizeClass> = (0..=DIAMETER_EDGES_MM.len())
            .map(|class| SizeClass {
                diameters: match class {
                    0 => format!("< {} mm", DIAMETER_EDGES_MM[0]),
                    c if c == DIAMETER_EDGES_MM.len() => {
                        format!("≥ {} mm", DIAMETER_EDGES_MM[c - 1])
                    }
                    c => format!("{}–{} mm", DIAMETER_EDGES_MM[c - 1], DIAMETER_EDGES_MM[c]),
                },
                true_lesions: 0,
                found: 0,
                sensitivity: None,
            })
            .collect();
        for case in cases {
            for (&found, &volume_ml) in case.truth_found.iter().zip(&case.truth_volume_ml) {
                let diameter = equivalent_diameter_mm(volume_ml);
                let class = DIAMETER_EDGES_MM.iter().filter(|&&e| diameter >= e).count();
                by_size[class].true_lesions += 1;
                by_size[class].found += usize::from(found);
            }
        }
        for class in &mut by_size {
            class.sensitivity = ratio(class.found, class.true_lesions);
        }
        let true_lesions = by_size.iter().map(|c| c.true_lesions).sum();
        let found = by_size.iter().map(|c| c.found).sum();
        let spurious = cases.iter().map(LesionMatching::spurious).sum::<usize>();
        Self {
            cases: cases.len(),
            true_lesions,
            found,
            sensitivity: ratio(found, true_lesions),
            spurious,
            spurious_per_case: spurious as f64 / cases.len().max(1) as f64,
            by_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sphere_of_ten_millimetres_holds_about_half_a_millilitre() {
        // π/6 · (10 mm)³ = 523.6 mm³ = π/6 mL.
        let volume_ml = std::f64::consts::PI / 6.0;
        assert!((equivalent_diameter_mm(volume_ml) - 10.0).abs() < 1e-9);
        assert!((equivalent_diameter_mm(0.5) - 9.847).abs() < 1e-3);
    }

    #[test]
    fn lesions_are_counted_in_their_size_class() {
        let sphere_ml = |d: f64| std::f64::consts::PI / 6.0 * d.powi(3) / 1000.0;
        let case = |found: &[bool], diameters: &[f64], confirmed: &[bool]| LesionMatching {
            truth_found: found.to_vec(),
            truth_volume_ml: diameters.iter().map(|&d| sphere_ml(d)).collect(),
            prediction_confirmed: confirmed.to_vec(),
        };
        let detection = LesionDetection::over(&[
            case(&[true, false], &[25.0, 6.0], &[true, false, false]),
            case(&[true, true, false], &[12.0, 20.5, 9.99], &[true]),
        ]);
        assert_eq!((detection.true_lesions, detection.found), (5, 3));
        assert_eq!(detection.sensitivity, Some(0.6));
        assert_eq!((detection.spurious, detection.spurious_per_case), (2, 1.0));
        let classes: Vec<(&str, usize, usize)> = detection
            .by_size
            .iter()
            .map(|c| (c.diameters.as_str(), c.true_lesions, c.found))
            .collect();
        assert_eq!(
            classes,
            [("< 10 mm", 2, 0), ("10–20 mm", 1, 1), ("≥ 20 mm", 2, 2)]
        );
        assert_eq!(detection.by_size[0].sensitivity, Some(0.0));
        assert_eq!(LesionDetection::over(&[]).sensitivity, None);
    }
}
