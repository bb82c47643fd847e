//! `Volume<T>`: a grid of voxels with its geometry, plus where it came from on disk.

use std::sync::Arc;

use super::{Grid, NiftiSource, VolumeError};

/// A CT volume in Hounsfield units, RAS voxel order after loading.
pub type CtVolume = Volume<f32>;
/// A label map: 0 background, 1 organ, 2 tumour (any value up to 255 is kept).
pub type LabelVolume = Volume<u8>;

/// Voxels of type `T` on a [`Grid`], stored x-fastest.
#[derive(Debug, Clone)]
pub struct Volume<T> {
    pub grid: Grid,
    /// `grid.voxel_count()` values, index `x + nx * (y + ny * z)`.
    pub voxels: Vec<T>,
    /// The file this volume was read from and how its voxels were reoriented; `None` when
    /// the volume was made in memory.
    pub source: Option<Arc<NiftiSource>>,
}

impl<T: Copy> Volume<T> {
    /// Wraps voxels on a grid, checking that the count matches.
    pub fn new(grid: Grid, voxels: Vec<T>) -> Result<Self, VolumeError> {
        if voxels.len() != grid.voxel_count() {
            return Err(VolumeError::geometry(format!(
                "{} voxels given for a {:?} grid",
                voxels.len(),
                grid.dims
            )));
        }
        Ok(Self {
            grid,
            voxels,
            source: None,
        })
    }

    /// A volume filled with one value.
    pub fn filled(grid: Grid, value: T) -> Self {
        let voxels = vec![value; grid.voxel_count()];
        Self {
            grid,
            voxels,
            source: None,
        }
    }

    /// The voxel at `(x, y, z)`.
    #[inline]
    pub fn at(&self, x: usize, y: usize, z: usize) -> T {
        self.voxels[self.grid.index(x, y, z)]
    }

    /// A volume of the same geometry and source with other voxels.
    pub fn with_voxels<U: Copy>(&self, voxels: Vec<U>) -> Result<Volume<U>, VolumeError> {
        let mut out = Volume::new(self.grid.clone(), voxels)?;
        out.source = self.source.clone();
        Ok(out)
    }
}

impl CtVolume {
    /// Smallest and largest finite HU value.
    pub fn hu_range(&self) -> (f32, f32) {
        self.voxels
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            })
    }
}

impl LabelVolume {
    /// Voxel count per label value, for the values that occur, in ascending label order.
    pub fn label_counts(&self) -> Vec<(u8, usize)> {
        let mut counts = [0usize; 256];
        for &v in &self.voxels {
            counts[v as usize] += 1;
        }
        (0..=255u8)
            .filter(|&l| counts[l as usize] > 0)
            .map(|l| (l, counts[l as usize]))
            .collect()
    }
}
