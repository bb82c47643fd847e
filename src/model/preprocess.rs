//! From a CT in HU to the network's input tensor and back: resampling to the model grid,
//! HU clipping and normalisation, and the one memory-order conversion between `Volume`
//! (x-fastest) and candle tensors (`(n, c, d, h, w)`, w fastest).
//!
//! The conversion needs no copy: x-fastest voxels of an `[nx, ny, nz]` grid *are* a row-major
//! `(nz, ny, nx)` array, so x ↦ W, y ↦ H, z ↦ D.

use candle_core::{Device, Result, Tensor};
use serde::{Deserialize, Serialize};

use super::organ_fill::{OutsideOrgan, fill_outside_organ};
use super::region::{Region, RegionBox};
use crate::volume::decathlon::TUMOUR_LABEL;
use crate::volume::{
    CtVolume, Grid, Interpolation, LabelVolume, Volume, grid_over_box, grid_with_dims,
    resample_onto,
};

/// How a CT becomes network input. Stored with every model so it always runs as trained.
/// Smallest model grid axis (voxels): the classifier halves it four times.
pub const MIN_GRID: usize = 16;
/// Largest model grid axis (voxels): a 256³ U-Net already needs several GB on the CPU.
pub const MAX_GRID: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Model grid (x, y, z voxels); the CT's [`Region`] is resampled onto it.
    pub grid: [usize; 3],
    /// HU values are clipped to this range ...
    pub hu_min: f32,
    pub hu_max: f32,
    /// ... then mapped by `(hu − center) / scale`.
    pub center_hu: f32,
    pub scale_hu: f32,
    /// The part of the CT the model sees (cards written before regions existed: whole box).
    #[serde(default)]
    pub region: Region,
    /// What the model sees around the organ inside its region (cards written before this
    /// existed: the CT as it is). Filling needs the organ's labels, so only an organ-region
    /// model (which has them: ground truth in training, its locator at inference) may fill.
    #[serde(default)]
    pub outside_organ: OutsideOrgan,
    /// A second input channel: the fraction of each model voxel that the locator labels
    /// tumour (0..1), so that a classifier sees where the segmenter found lesions beside the
    /// CT itself. Needs the organ's region and a locator that labels tumour (a region U-Net
    /// such as `liver_unet`). Cards written before this existed: one channel, the CT.
    #[serde(default)]
    pub locator_tumour_channel: bool,
}

impl Preprocessing {
    /// A cubic grid of `size` voxels per axis, soft-tissue HU range −200..300 mapped to about
    /// −2..2.
    pub fn cube(size: usize) -> Self {
        Self {
            grid: [size; 3],
            hu_min: -200.0,
            hu_max: 300.0,
            center_hu: 50.0,
            scale_hu: 125.0,
            region: Region::WholeBox,
            outside_organ: OutsideOrgan::Keep,
            locator_tumour_channel: false,
        }
    }

    /// Input channels of the network: the CT, and the locator's tumour when asked for.
    pub fn input_channels(&self) -> usize {
        1 + usize::from(self.locator_tumour_channel)
    }

    /// Why this preprocessing cannot run, if it cannot: a grid axis outside
    /// [`MIN_GRID`]..=[`MAX_GRID`] or not a multiple of 8 (the U-Net halves it three times,
    /// the classifier four), HU clipping or scaling that is not a finite, increasing range and
    /// a positive scale, a negative or non-finite margin around the organ, or filling or a
    /// tumour channel without the organ's region.
    pub fn check(&self) -> std::result::Result<(), String> {
        if let Some(&bad) = self
            .grid
            .iter()
            .find(|&&n| !(MIN_GRID..=MAX_GRID).contains(&n) || n % 8 != 0)
        {
            return Err(format!(
                "model grid {:?}: each axis must be a multiple of 8 from {MIN_GRID} to \
                 {MAX_GRID} voxels (not {bad})",
                self.grid
            ));
        }
        let finite = [self.hu_min, self.hu_max, self.center_hu, self.scale_hu]
            .iter()
            .all(|v| v.is_finite());
        if !finite || self.hu_min >= self.hu_max || self.scale_hu <= 0.0 {
            return Err(format!(
                "HU clipping {}..{} and scaling (HU − {}) / {}: need finite numbers, the \
                 lower HU bound below the upper and a positive scale",
                self.hu_min, self.hu_max, self.center_hu, self.scale_hu
            ));
        }
        if let Region::OrganCube { margin_mm } = self.region
            && !(margin_mm.is_finite() && margin_mm >= 0.0)
        {
            return Err(format!(
                "the margin of the organ's cube ({margin_mm} mm) must be a number of \
                 millimetres, 0 or more"
            ));
        }
        if let Some(margin_mm) = self.outside_organ.fill_margin_mm() {
            if !margin_mm.is_finite() {
                return Err(format!(
                    "the margin around the organ ({margin_mm} mm) must be a number of millimetres"
                ));
            }
            if self.region == Region::WholeBox {
                return Err(
                    "filling outside the organ needs the organ's region (a locator finds the organ)"
                        .into(),
                );
            }
        }
        if self.locator_tumour_channel && self.region == Region::WholeBox {
            return Err(
                "the locator's tumour channel needs the organ's region (a locator finds the organ)"
                    .into(),
            );
        }
        Ok(())
    }

    /// The model grid for a CT grid: `self.grid` voxels over `region` of it (the whole box
    /// when `None`), same orientation.
    pub fn model_grid(&self, ct_grid: &Grid, region: Option<&RegionBox>) -> Grid {
        match region {
            Some(b) => grid_over_box(ct_grid, b.first, b.last, self.grid),
            None => grid_with_dims(ct_grid, self.grid),
        }
    }

    /// Normalised intensities on the model grid (x-fastest).
    pub fn input_voxels(&self, ct: &CtVolume, region: Option<&RegionBox>) -> Vec<f32> {
        let grid = self.model_grid(&ct.grid, region);
        let resampled = resample_onto(ct, &grid, Interpolation::Trilinear);
        resampled
            .voxels
            .into_iter()
            .map(|hu| (hu.clamp(self.hu_min, self.hu_max) - self.center_hu) / self.scale_hu)
            .collect()
    }

    /// Whether the network input depends on the organ's labels (filling outside the organ, or
    /// the locator's tumour as a second channel) and not only on the CT and its region.
    pub fn reads_organ_labels(&self) -> bool {
        self.outside_organ.fill_margin_mm().is_some() || self.locator_tumour_channel
    }

    /// Network input for `region` of `ct`, channel after channel (each x-fastest on the model
    /// grid): the CT's [`Self::input_voxels`], after, when this preprocessing fills outside the
    /// organ, every CT voxel outside the organ of `organ_labels` (on the CT's grid; labels
    /// ≥ 1) grown by the margin is set to the organ's median HU (at the CT's resolution, before
    /// resampling, so the organ's edge blends with its median rather than with the fat beside
    /// it; without an organ voxel the CT is used as it is); then, with
    /// [`Self::locator_tumour_channel`], the fraction of each model voxel that `organ_labels`
    /// labels tumour (2). `organ_labels` is needed only for those two.
    pub fn network_input(
        &self,
        ct: &CtVolume,
        region: Option<&RegionBox>,
        organ_labels: Option<&LabelVolume>,
    ) -> std::result::Result<Vec<f32>, String> {
        if !self.reads_organ_labels() {
            return Ok(self.input_voxels(ct, region));
        }
        let fill_margin_mm = self.outside_organ.fill_margin_mm();
        let labels = organ_labels.ok_or(
            "this model sees the organ as its locator finds it and needs the organ's labels",
        )?;
        if labels.grid.dims != ct.grid.dims {
            return Err(format!(
                "the organ's labels ({:?} voxels) are not on the CT's grid ({:?})",
                labels.grid.dims, ct.grid.dims
            ));
        }
        let mut input = match fill_margin_mm {
            Some(margin_mm) => {
                let mut filled = ct.clone();
                fill_outside_organ(&mut filled.voxels, &labels.voxels, &ct.grid, margin_mm);
                self.input_voxels(&filled, region)
            }
            None => self.input_voxels(ct, region),
        };
        if self.locator_tumour_channel {
            input.extend(self.tumour_fraction(labels, region));
        }
        Ok(input)
    }

    /// The fraction of each model voxel over `region` that `labels` marks tumour (2), 0..1,
    /// x-fastest (trilinear resampling of the 0/1 tumour mask).
    fn tumour_fraction(&self, labels: &LabelVolume, region: Option<&RegionBox>) -> Vec<f32> {
        let tumour = Volume {
            grid: labels.grid.clone(),
            voxels: labels
                .voxels
                .iter()
                .map(|&l| f32::from(u8::from(l == TUMOUR_LABEL)))
                .collect(),
            source: None,
        };
        let grid = self.model_grid(&labels.grid, region);
        resample_onto(&tumour, &grid, Interpolation::Trilinear).voxels
    }

    /// Labels on the model grid (nearest neighbour), x-fastest.
    pub fn target_labels(&self, labels: &LabelVolume, region: Option<&RegionBox>) -> Vec<u8> {
        let grid = self.model_grid(&labels.grid, region);
        resample_onto(labels, &grid, Interpolation::Nearest).voxels
    }
}

/// Channels of x-fastest voxels of a `[nx, ny, nz]` grid, one after the other, as a
/// `(1, c, nz, ny, nx)` tensor.
pub fn tensor_from_voxels(voxels: &[f32], dims: [usize; 3], device: &Device) -> Result<Tensor> {
    let channels = voxels.len() / dims.iter().product::<usize>().max(1);
    Tensor::from_slice(voxels, (1, channels, dims[2], dims[1], dims[0]), device)
}

/// One `(d, h, w)` = `(nz, ny, nx)` tensor slice back to x-fastest voxels.
pub fn voxels_from_tensor(tensor: &Tensor) -> Result<Vec<f32>> {
    tensor.flatten_all()?.to_vec1::<f32>()
}

/// Wraps model-grid voxels as a volume on the model grid over `region` of `ct_grid`.
pub fn model_volume<T: Copy>(
    pre: &Preprocessing,
    ct_grid: &Grid,
    region: Option<&RegionBox>,
    voxels: Vec<T>,
) -> std::result::Result<Volume<T>, crate::volume::VolumeError> {
    Volume::new(pre.model_grid(ct_grid, region), voxels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voxel_order_maps_x_to_w_y_to_h_z_to_d() {
        let grid = Grid::axis_aligned([2, 3, 4], [1.0; 3], [0.0; 3]).unwrap();
        let voxels: Vec<f32> = (0..24)
            .map(|i| {
                let [x, y, z] = grid.coords(i);
                (x + 10 * y + 100 * z) as f32
            })
            .collect();
        let t = tensor_from_voxels(&voxels, grid.dims, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[1, 1, 4, 3, 2]);
        // Tensor element (d=z, h=y, w=x).
        let v = t
            .squeeze(0)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .get(3)
            .unwrap()
            .get(2)
            .unwrap()
            .get(1)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(v, (1 + 10 * 2 + 100 * 3) as f32);
        assert_eq!(voxels_from_tensor(&t).unwrap(), voxels);
    }

    #[test]
    fn normalisation_clips_to_the_hu_range() {
        let p = Preprocessing::cube(8);
        let grid = Grid::axis_aligned([8, 8, 8], [1.0; 3], [0.0; 3]).unwrap();
        let mut ct = Volume::filled(grid, 1000.0f32);
        ct.voxels[0] = -1000.0;
        let input = p.input_voxels(&ct, None);
        let hi = (300.0 - 50.0) / 125.0;
        assert!(input.iter().all(|&v| (-2.0..=hi).contains(&v)));
        assert!(input.contains(&hi));
    }

    #[test]
    fn preprocessing_that_cannot_run_is_refused_with_its_reason() {
        let good = Preprocessing {
            region: Region::OrganCube { margin_mm: 10.0 },
            ..Preprocessing::cube(64)
        };
        assert_eq!(good.check(), Ok(()));
        assert_eq!(Preprocessing::cube(16).check(), Ok(()));
        let refused = |p: Preprocessing, needle: &str| {
            let why = p.check().expect_err(needle);
            assert!(why.contains(needle), "{why}");
        };
        for grid in [[0, 64, 64], [64, 8, 64], [64, 64, 60], [264, 64, 64]] {
            refused(Preprocessing { grid, ..good }, "multiple of 8");
        }
        refused(
            Preprocessing {
                hu_min: 300.0,
                hu_max: -200.0,
                ..good
            },
            "HU clipping",
        );
        refused(
            Preprocessing {
                scale_hu: 0.0,
                ..good
            },
            "positive scale",
        );
        refused(
            Preprocessing {
                center_hu: f32::NAN,
                ..good
            },
            "finite",
        );
        for margin_mm in [-1.0, f64::INFINITY] {
            refused(
                Preprocessing {
                    region: Region::OrganCube { margin_mm },
                    ..good
                },
                "margin of the organ's cube",
            );
        }
    }
}
