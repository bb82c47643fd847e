//! Ground truth against prediction as surfaces: the true-positive, false-positive and
//! false-negative regions of one structure, for the 3D comparison view.

use super::surfaces::surface_of_field;
use super::{MeshError, PaddedField, Structure, Surface, TaubinParams};
use crate::volume::{LabelVolume, Volume};

/// How a voxel of a structure fares when prediction is compared with ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agreement {
    /// In both.
    TruePositive,
    /// Predicted, not in the ground truth.
    FalsePositive,
    /// In the ground truth, missed by the prediction.
    FalseNegative,
}

impl Agreement {
    /// Every kind, in drawing order.
    pub const ALL: [Agreement; 3] = [
        Agreement::TruePositive,
        Agreement::FalsePositive,
        Agreement::FalseNegative,
    ];

    /// The kind of a voxel that is `in_truth` and/or `in_prediction`; `None` when in neither.
    pub fn of(in_truth: bool, in_prediction: bool) -> Option<Agreement> {
        match (in_truth, in_prediction) {
            (true, true) => Some(Agreement::TruePositive),
            (false, true) => Some(Agreement::FalsePositive),
            (true, false) => Some(Agreement::FalseNegative),
            (false, false) => None,
        }
    }

    /// Short name: "true positive" …
    pub fn name(self) -> &'static str {
        match self {
            Agreement::TruePositive => "true positive",
            Agreement::FalsePositive => "false positive",
            Agreement::FalseNegative => "false negative",
        }
    }

    /// Display colour as sRGB, the same in slices and 3D: green, yellow, magenta.
    pub const fn colour_rgb(self) -> [u8; 3] {
        match self {
            Agreement::TruePositive => [40, 200, 80],
            Agreement::FalsePositive => [250, 200, 30],
            Agreement::FalseNegative => [220, 60, 220],
        }
    }

    /// Code of the kind in the combined field (0 is "neither").
    fn code(self) -> u8 {
        match self {
            Agreement::TruePositive => 1,
            Agreement::FalsePositive => 2,
            Agreement::FalseNegative => 3,
        }
    }
}

/// The surface of one [`Agreement`] region of a structure, world (RAS+) mm.
#[derive(Debug, Clone)]
pub struct AgreementSurface {
    pub agreement: Agreement,
    /// `surface.structure` is the structure compared.
    pub surface: Surface,
}

/// The true-positive, false-positive and false-negative regions of `structure`, each as a
/// smoothed surface with normals, in [`Agreement::ALL`] order; empty regions are left out.
/// `truth` and `prediction` must share one grid (the viewer aligns both to the CT).
pub fn agreement_surfaces(
    truth: &LabelVolume,
    prediction: &LabelVolume,
    structure: Structure,
    smoothing: &TaubinParams,
) -> Result<Vec<AgreementSurface>, MeshError> {
    if truth.grid.dims != prediction.grid.dims {
        return Err(MeshError::InvalidArgument(format!(
            "ground truth {:?} and prediction {:?} are on different grids",
            truth.grid.dims, prediction.grid.dims
        )));
    }
    let codes: Vec<u8> = truth
        .voxels
        .iter()
        .zip(&prediction.voxels)
        .map(|(&t, &p)| {
            Agreement::of(structure.contains(t), structure.contains(p)).map_or(0, |a| a.code())
        })
        .collect();
    let coded = Volume {
        grid: truth.grid.clone(),
        voxels: codes,
        source: None,
    };
    let mut surfaces = Vec::new();
    for agreement in Agreement::ALL {
        let lut: [u8; 256] =
            std::array::from_fn(|code| u8::from(code == agreement.code() as usize));
        let Some(field) = PaddedField::from_labels(&coded, &lut) else {
            continue;
        };
        let surface = surface_of_field(field, &coded.grid, structure, smoothing)?;
        surfaces.push(AgreementSurface { agreement, surface });
    }
    Ok(surfaces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Grid;

    fn volume(dims: [usize; 3], label_at: impl Fn(usize, usize, usize) -> u8) -> LabelVolume {
        let grid = Grid::axis_aligned(dims, [1.0; 3], [0.0; 3]).unwrap();
        let mut voxels = vec![0u8; dims.iter().product()];
        for z in 0..dims[2] {
            for y in 0..dims[1] {
                for x in 0..dims[0] {
                    voxels[grid.index(x, y, z)] = label_at(x, y, z);
                }
            }
        }
        Volume {
            grid,
            voxels,
            source: None,
        }
    }

    fn x_range(surface: &Surface) -> (f32, f32) {
        let (min, max) = surface.mesh.bounds_mm().expect("non-empty");
        (min[0], max[0])
    }

    #[test]
    fn overlapping_boxes_split_into_the_three_regions_where_they_lie() {
        let dims = [30, 12, 12];
        let inside = |x: usize, y: usize, z: usize, x0: usize, x1: usize| {
            (x0..x1).contains(&x) && (3..9).contains(&y) && (3..9).contains(&z)
        };
        // Truth tumour x 3..15, prediction tumour x 9..21: FN 3..9, TP 9..15, FP 15..21.
        let truth = volume(dims, |x, y, z| if inside(x, y, z, 3, 15) { 2 } else { 0 });
        let prediction = volume(dims, |x, y, z| if inside(x, y, z, 9, 21) { 2 } else { 0 });
        let surfaces = agreement_surfaces(
            &truth,
            &prediction,
            Structure::Lesions,
            &TaubinParams::with_iterations(0),
        )
        .unwrap();
        let kinds: Vec<Agreement> = surfaces.iter().map(|s| s.agreement).collect();
        assert_eq!(kinds, Agreement::ALL);
        for s in &surfaces {
            let (lo, hi) = x_range(&s.surface);
            let (want_lo, want_hi) = match s.agreement {
                Agreement::FalseNegative => (2.5, 8.5),
                Agreement::TruePositive => (8.5, 14.5),
                Agreement::FalsePositive => (14.5, 20.5),
            };
            assert!(
                (lo - want_lo).abs() < 0.6 && (hi - want_hi).abs() < 0.6,
                "{:?}: x {lo}..{hi}, want {want_lo}..{want_hi}",
                s.agreement
            );
            assert_eq!(s.surface.structure, Structure::Lesions);
            assert_eq!(s.surface.normals.len(), s.surface.mesh.positions_mm.len());
        }
    }

    #[test]
    fn the_organ_counts_its_tumour_and_identical_maps_agree_everywhere() {
        let dims = [16, 16, 16];
        let labels = volume(dims, |x, y, z| match (x, y, z) {
            (4..8, 4..12, 4..12) => 1,
            (8..12, 4..12, 4..12) => 2,
            _ => 0,
        });
        let surfaces = agreement_surfaces(
            &labels,
            &labels,
            Structure::Organ,
            &TaubinParams::with_iterations(0),
        )
        .unwrap();
        assert_eq!(surfaces.len(), 1);
        assert_eq!(surfaces[0].agreement, Agreement::TruePositive);
        let (lo, hi) = x_range(&surfaces[0].surface);
        assert!(
            (lo - 3.5).abs() < 0.6 && (hi - 11.5).abs() < 0.6,
            "{lo}..{hi}"
        );
    }

    #[test]
    fn different_grids_are_an_error() {
        let a = volume([8, 8, 8], |_, _, _| 1);
        let b = volume([8, 8, 9], |_, _, _| 1);
        let err = agreement_surfaces(&a, &b, Structure::Organ, &TaubinParams::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("different grids"), "{err}");
    }
}
