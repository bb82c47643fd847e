//! One slice of a CT as RGBA pixels: the HU window applied, then label overlays blended over
//! it (filled or outlined), or a ground-truth-versus-prediction comparison.

use super::PlaneLayout;
use crate::mesh::Agreement;
use crate::volume::{CtVolume, LabelVolume, Window};

/// An sRGB image, rows top to bottom, 4 bytes per pixel (alpha always 255).
#[derive(Debug, Clone, PartialEq)]
pub struct SliceImage {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

impl SliceImage {
    /// RGBA of pixel `(column, row)`.
    pub fn pixel(&self, column: usize, row: usize) -> [u8; 4] {
        let i = 4 * (row * self.width + column);
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }
}

/// How a label map is drawn over the CT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum OverlayMode {
    /// Every labelled pixel tinted.
    #[default]
    Fill,
    /// Only pixels on the boundary of a label (4-neighbourhood in the slice), fully coloured.
    Outline,
}

/// Colours of labels 1 (organ) and 2 (tumour), sRGB.
pub const ORGAN_RGB: [u8; 3] = [60, 120, 230];
pub const TUMOUR_RGB: [u8; 3] = [220, 40, 40];

/// Comparison colours: true positive, false positive (predicted, not in the ground truth),
/// false negative (in the ground truth, missed).
pub const TRUE_POSITIVE_RGB: [u8; 3] = Agreement::TruePositive.colour_rgb();
pub const FALSE_POSITIVE_RGB: [u8; 3] = Agreement::FalsePositive.colour_rgb();
pub const FALSE_NEGATIVE_RGB: [u8; 3] = Agreement::FalseNegative.colour_rgb();

/// The colour a label value is drawn in, if any.
pub fn label_rgb(label: u8) -> Option<[u8; 3]> {
    match label {
        0 => None,
        1 => Some(ORGAN_RGB),
        _ => Some(TUMOUR_RGB),
    }
}

/// A label map drawn over the slice.
#[derive(Debug, Clone, Copy)]
pub struct LabelOverlay<'a> {
    /// On the CT's grid.
    pub labels: &'a LabelVolume,
    /// 0 (invisible) to 1 (opaque).
    pub opacity: f32,
    pub mode: OverlayMode,
}

/// Ground truth against prediction for the voxels where `in_structure(label)` holds.
#[derive(Debug, Clone, Copy)]
pub struct ComparisonOverlay<'a> {
    pub ground_truth: &'a LabelVolume,
    pub prediction: &'a LabelVolume,
    /// Which labels count: `|l| l >= 1` for the organ with its tumours, `|l| l == 2` for tumour.
    pub in_structure: fn(u8) -> bool,
    pub opacity: f32,
}

/// What is drawn over the windowed CT.
#[derive(Debug, Clone, Copy)]
pub enum Overlay<'a> {
    Labels(LabelOverlay<'a>),
    Comparison(ComparisonOverlay<'a>),
}

/// Slice `index` of `ct` through `layout`, windowed, with `overlays` blended in order.
/// Label volumes must share the CT's grid dimensions (they are aligned at load time).
pub fn compose_slice(
    ct: &CtVolume,
    layout: &PlaneLayout,
    index: usize,
    window: &Window,
    overlays: &[Overlay],
) -> SliceImage {
    let dims = ct.grid.dims;
    let index = index.min(layout.slice_count(dims).saturating_sub(1));
    let (width, height) = layout.image_size(dims);
    let voxel_index = |column: usize, row: usize| {
        let [x, y, z] = layout.voxel_at(dims, column, row, index);
        ct.grid.index(x, y, z)
    };
    let mut rgba = vec![255u8; width * height * 4];
    for row in 0..height {
        for column in 0..width {
            let grey = window.grey_u8(ct.voxels[voxel_index(column, row)]);
            let i = 4 * (row * width + column);
            rgba[i..i + 3].fill(grey);
        }
    }
    for overlay in overlays {
        match overlay {
            Overlay::Labels(o) if o.labels.grid.dims == dims => {
                let label = |c: usize, r: usize| o.labels.voxels[voxel_index(c, r)];
                blend_labels(&mut rgba, width, height, &label, o.opacity, o.mode);
            }
            Overlay::Comparison(o)
                if o.ground_truth.grid.dims == dims && o.prediction.grid.dims == dims =>
            {
                for row in 0..height {
                    for column in 0..width {
                        let v = voxel_index(column, row);
                        let truth = (o.in_structure)(o.ground_truth.voxels[v]);
                        let predicted = (o.in_structure)(o.prediction.voxels[v]);
                        if let Some(agreement) = Agreement::of(truth, predicted) {
                            let i = 4 * (row * width + column);
                            blend(&mut rgba, i, agreement.colour_rgb(), o.opacity);
                        }
                    }
                }
            }
            _ => {} // A mismatched grid is refused at load time; never draw misaligned labels.
        }
    }
    SliceImage {
        width,
        height,
        rgba,
    }
}

fn blend_labels(
    rgba: &mut [u8],
    width: usize,
    height: usize,
    label: &dyn Fn(usize, usize) -> u8,
    opacity: f32,
    mode: OverlayMode,
) {
    for row in 0..height {
        for column in 0..width {
            let value = label(column, row);
            let Some(colour) = label_rgb(value) else {
                continue;
            };
            let i = 4 * (row * width + column);
            match mode {
                OverlayMode::Fill => blend(rgba, i, colour, opacity),
                OverlayMode::Outline => {
                    let differs = |c: usize, r: usize| label(c, r) != value;
                    let on_edge = column == 0
                        || row == 0
                        || column + 1 == width
                        || row + 1 == height
                        || differs(column - 1, row)
                        || differs(column + 1, row)
                        || differs(column, row - 1)
                        || differs(column, row + 1);
                    if on_edge {
                        blend(rgba, i, colour, opacity.max(0.9));
                    }
                }
            }
        }
    }
}

fn blend(rgba: &mut [u8], i: usize, colour: [u8; 3], opacity: f32) {
    let a = opacity.clamp(0.0, 1.0);
    for (channel, &c) in rgba[i..i + 3].iter_mut().zip(&colour) {
        *channel = (f32::from(*channel) * (1.0 - a) + f32::from(c) * a).round() as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slice::{Convention, Plane};
    use crate::volume::{Grid, Volume};

    fn ramp_ct() -> CtVolume {
        // HU = 100·x − 200 so that each column has a known grey under a known window.
        let grid = Grid::axis_aligned([5, 3, 2], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]).unwrap();
        let voxels = (0..grid.voxel_count())
            .map(|i| 100.0 * grid.coords(i)[0] as f32 - 200.0)
            .collect();
        Volume::new(grid, voxels).unwrap()
    }

    #[test]
    fn window_gives_expected_grey_levels_in_radiological_order() {
        let ct = ramp_ct();
        let layout = Plane::Axial.layout(Convention::Radiological);
        // Window −100..100 HU: −200 → black, 0 → mid grey, ≥100 → white.
        let image = compose_slice(&ct, &layout, 0, &Window::new(0.0, 200.0), &[]);
        assert_eq!((image.width, image.height), (5, 3));
        // Radiological: column 0 is the highest x (HU 200), column 4 is x = 0 (HU −200).
        let greys: Vec<u8> = (0..5).map(|c| image.pixel(c, 1)[0]).collect();
        assert_eq!(greys[0], 255);
        assert_eq!(greys[4], 0);
        assert!((greys[2] as i32 - 128).abs() <= 1, "{greys:?}");
    }

    #[test]
    fn fill_tints_labelled_pixels_and_outline_spares_the_inside() {
        let ct = ramp_ct();
        let mut labels: LabelVolume = ct.with_voxels(vec![0u8; ct.voxels.len()]).unwrap();
        for y in 0..3 {
            for x in 1..4 {
                let i = labels.grid.index(x, y, 0);
                labels.voxels[i] = 2;
            }
        }
        let layout = Plane::Axial.layout(Convention::Neurological);
        let window = Window::new(0.0, 200.0);
        let fill = LabelOverlay {
            labels: &labels,
            opacity: 1.0,
            mode: OverlayMode::Fill,
        };
        let image = compose_slice(&ct, &layout, 0, &window, &[Overlay::Labels(fill)]);
        assert_eq!(image.pixel(2, 1), [220, 40, 40, 255]);
        assert_eq!(image.pixel(0, 1)[..3], [0, 0, 0]);
        let outline = LabelOverlay {
            mode: OverlayMode::Outline,
            ..fill
        };
        let image = compose_slice(&ct, &layout, 0, &window, &[Overlay::Labels(outline)]);
        // (2, 1) has labelled neighbours on all four sides: left grey; (1, 1) borders x = 0.
        assert_eq!(image.pixel(2, 1)[0], image.pixel(2, 1)[1]);
        assert_ne!(image.pixel(1, 1)[..3], image.pixel(2, 1)[..3]);
    }

    #[test]
    fn comparison_colours_true_false_positives_and_misses() {
        let ct = ramp_ct();
        let n = ct.voxels.len();
        let mut truth: LabelVolume = ct.with_voxels(vec![0u8; n]).unwrap();
        let mut predicted = truth.clone();
        let at = |x| ct.grid.index(x, 1, 0);
        truth.voxels[at(0)] = 1; // missed
        truth.voxels[at(1)] = 1; // found
        predicted.voxels[at(1)] = 1;
        predicted.voxels[at(2)] = 1; // spurious
        let overlay = Overlay::Comparison(ComparisonOverlay {
            ground_truth: &truth,
            prediction: &predicted,
            in_structure: |l| l >= 1,
            opacity: 1.0,
        });
        let layout = Plane::Axial.layout(Convention::Neurological);
        let image = compose_slice(&ct, &layout, 0, &Window::new(0.0, 200.0), &[overlay]);
        // Neurological, rows reversed: voxel (x, y=1) is at column x, row 3 − 1 − 1 = 1.
        assert_eq!(image.pixel(0, 1)[..3], FALSE_NEGATIVE_RGB);
        assert_eq!(image.pixel(1, 1)[..3], TRUE_POSITIVE_RGB);
        assert_eq!(image.pixel(2, 1)[..3], FALSE_POSITIVE_RGB);
        assert_eq!(image.pixel(3, 1)[0], image.pixel(3, 1)[1]);
    }
}
