//! Resampling volumes onto other grids: trilinear for CT intensities, nearest neighbour for
//! labels. Used to bring a CT to the model grid (96³ by default) and predictions back.
//!
//! Every resampling goes through world space: a target voxel is mapped to world millimetres by
//! the target grid's affine and back into the source grid by the source's inverse affine, so
//! any pair of grids (different size, spacing, orientation) is handled by the same code.

use nalgebra::{Matrix4, Vector4};
use rayon::prelude::*;

use super::{Grid, Volume};

/// How values between voxel centres are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// Weighted mean of the 8 surrounding voxels (intensities, probabilities).
    Trilinear,
    /// Value of the closest voxel (labels).
    Nearest,
}

/// A grid with `dims` voxels covering the same box as `grid` (voxel-centre convention: the
/// outer faces of the first and last voxels coincide), same orientation.
pub fn grid_with_dims(grid: &Grid, dims: [usize; 3]) -> Grid {
    let last = grid.dims.map(|n| n as f64 - 1.0);
    grid_over_box(grid, [0.0; 3], last, dims)
}

/// A grid with `dims` voxels covering the box of `grid`'s voxels `first ..= last` (voxel
/// indices, fractional allowed; the box's faces lie half a voxel outside those centres), same
/// orientation. The box may reach outside `grid`; resampling then repeats the edge values.
/// This is how a model grid is laid over a region such as an organ's bounding box.
pub fn grid_over_box(grid: &Grid, first: [f64; 3], last: [f64; 3], dims: [usize; 3]) -> Grid {
    // source voxel s = first − 0.5 + (t + 0.5) · extent / n_t, extent = last − first + 1.
    let mut source_from_target = Matrix4::identity();
    for a in 0..3 {
        let scale = (last[a] - first[a] + 1.0) / dims[a] as f64;
        source_from_target[(a, a)] = scale;
        source_from_target[(a, 3)] = first[a] - 0.5 + 0.5 * scale;
    }
    Grid {
        dims,
        world_from_voxel: grid.world_from_voxel * source_from_target,
    }
}

/// Resamples `volume` onto `target` (its geometry is taken from `target`; the source file
/// link is dropped, since the voxels no longer match it). Points outside the source grid take
/// the nearest edge value.
pub fn resample_onto<T: Sample>(
    volume: &Volume<T>,
    target: &Grid,
    interpolation: Interpolation,
) -> Volume<T> {
    let voxels = map_target_voxels(&volume.grid, target, |p| match interpolation {
        Interpolation::Nearest => nearest(volume, p),
        Interpolation::Trilinear => trilinear(volume, p),
    });
    Volume {
        grid: target.clone(),
        voxels,
        source: None,
    }
}

/// Resamples several channels of one grid (e.g. class probabilities) trilinearly onto
/// `target` and keeps, per voxel, the index of the largest: a smooth label map where nearest
/// resampling of an argmax would give staircases.
pub fn resample_argmax(channels: &[Volume<f32>], target: &Grid) -> Volume<u8> {
    let Some(first) = channels.first() else {
        return Volume::filled(target.clone(), 0);
    };
    let voxels = map_target_voxels(&first.grid, target, |p| {
        let mut best = (0u8, f32::NEG_INFINITY);
        for (c, channel) in channels.iter().enumerate() {
            let v: f32 = trilinear(channel, p);
            if v > best.1 {
                best = (c as u8, v);
            }
        }
        best.0
    });
    Volume {
        grid: target.clone(),
        voxels,
        source: None,
    }
}

/// Evaluates `value_at(source voxel position)` for every voxel of `target`, in parallel over
/// z slabs; positions are fractional voxel indices of `source` (stepped along each row).
fn map_target_voxels<T: Copy + Default + Send>(
    source: &Grid,
    target: &Grid,
    value_at: impl Fn([f64; 3]) -> T + Sync,
) -> Vec<T> {
    let source_from_target = source.voxel_from_world() * target.world_from_voxel;
    let [tx, ty, _] = target.dims;
    let mut voxels = vec![T::default(); target.voxel_count()];
    voxels
        .par_chunks_mut(tx * ty)
        .enumerate()
        .for_each(|(z, slab)| {
            for y in 0..ty {
                let row_start = source_from_target * Vector4::new(0.0, y as f64, z as f64, 1.0);
                let step = source_from_target.column(0);
                for (x, out) in slab[y * tx..(y + 1) * tx].iter_mut().enumerate() {
                    *out = value_at([0, 1, 2].map(|a| row_start[a] + step[a] * x as f64));
                }
            }
        });
    voxels
}

/// Voxel types that can be resampled.
pub trait Sample: Copy + Default + Send + Sync {
    fn to_f32(self) -> f32;
    fn from_f32(v: f32) -> Self;
}

impl Sample for f32 {
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl Sample for u8 {
    fn to_f32(self) -> f32 {
        self as f32
    }
    fn from_f32(v: f32) -> Self {
        v.round().clamp(0.0, 255.0) as u8
    }
}

fn nearest<T: Sample>(volume: &Volume<T>, p: [f64; 3]) -> T {
    let d = volume.grid.dims;
    let i = [0, 1, 2].map(|a| (p[a].round().max(0.0) as usize).min(d[a] - 1));
    volume.at(i[0], i[1], i[2])
}

fn trilinear<T: Sample>(volume: &Volume<T>, p: [f64; 3]) -> T {
    let d = volume.grid.dims;
    let mut lo = [0usize; 3];
    let mut hi = [0usize; 3];
    let mut w = [0f32; 3];
    for a in 0..3 {
        let c = p[a].clamp(0.0, (d[a] - 1) as f64);
        let f = c.floor();
        lo[a] = f as usize;
        hi[a] = (lo[a] + 1).min(d[a] - 1);
        w[a] = (c - f) as f32;
    }
    let v = |x: usize, y: usize, z: usize| volume.at(x, y, z).to_f32();
    let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
    let c00 = lerp(v(lo[0], lo[1], lo[2]), v(hi[0], lo[1], lo[2]), w[0]);
    let c10 = lerp(v(lo[0], hi[1], lo[2]), v(hi[0], hi[1], lo[2]), w[0]);
    let c01 = lerp(v(lo[0], lo[1], hi[2]), v(hi[0], lo[1], hi[2]), w[0]);
    let c11 = lerp(v(lo[0], hi[1], hi[2]), v(hi[0], hi[1], hi[2]), w[0]);
    let c0 = lerp(c00, c10, w[1]);
    let c1 = lerp(c01, c11, w[1]);
    T::from_f32(lerp(c0, c1, w[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(dims: [usize; 3]) -> Volume<f32> {
        let grid = Grid::axis_aligned(dims, [0.8, 0.9, 2.5], [10.0, -20.0, 5.0]).unwrap();
        let voxels = (0..grid.voxel_count())
            .map(|i| {
                let w = grid.world_of_voxel(grid.coords(i).map(|c| c as f64));
                (w.x + 2.0 * w.y - 0.5 * w.z) as f32
            })
            .collect();
        Volume::new(grid, voxels).unwrap()
    }

    #[test]
    fn trilinear_reproduces_a_linear_field_in_world_space() {
        let ct = ramp([20, 18, 9]);
        let target = grid_with_dims(&ct.grid, [13, 11, 17]);
        let out = resample_onto(&ct, &target, Interpolation::Trilinear);
        for i in 0..target.voxel_count() {
            let v = target.coords(i).map(|c| c as f64);
            let w = target.world_of_voxel(v);
            // Inside the source's voxel-centre box the linear field is exact.
            let s = ct.grid.voxel_from_world().transform_point(&w);
            let inside = (0..3).all(|a| s[a] >= 0.0 && s[a] <= (ct.grid.dims[a] - 1) as f64);
            if inside {
                let expected = (w.x + 2.0 * w.y - 0.5 * w.z) as f32;
                assert!((out.voxels[i] - expected).abs() < 1e-3, "{i}");
            }
        }
    }

    #[test]
    fn a_box_grid_of_the_box_size_is_the_sub_volume_and_halving_it_doubles_the_spacing() {
        let ct = ramp([20, 18, 9]);
        let (first, dims) = ([3usize, 5, 2], [7usize, 6, 4]);
        let last = [0, 1, 2].map(|a| (first[a] + dims[a] - 1) as f64);
        let box_grid = grid_over_box(&ct.grid, first.map(|v| v as f64), last, dims);
        let crop = resample_onto(&ct, &box_grid, Interpolation::Nearest);
        for i in 0..box_grid.voxel_count() {
            let [x, y, z] = box_grid.coords(i);
            let source = ct.grid.index(x + first[0], y + first[1], z + first[2]);
            assert_eq!(crop.voxels[i], ct.voxels[source], "box voxel {i}");
        }
        // The same box on half as many voxels: twice the spacing, same outer faces.
        let half = grid_over_box(&ct.grid, first.map(|v| v as f64), last, [7, 3, 2]);
        let spacing = half.spacing_mm();
        let source_spacing = ct.grid.spacing_mm();
        assert!((spacing[0] - source_spacing[0]).abs() < 1e-9);
        assert!((spacing[1] - 2.0 * source_spacing[1]).abs() < 1e-9);
        assert!((spacing[2] - 2.0 * source_spacing[2]).abs() < 1e-9);
        let face = |g: &Grid, v: [f64; 3]| g.world_of_voxel(v);
        let (a, b) = (face(&half, [-0.5; 3]), face(&box_grid, [-0.5; 3]));
        assert!((a - b).norm() < 1e-9, "{a} vs {b}");
    }

    #[test]
    fn the_whole_box_is_grid_with_dims() {
        let grid = Grid::axis_aligned([8, 6, 4], [0.7, 1.1, 3.0], [1.0, 2.0, 3.0]).unwrap();
        let whole = grid_over_box(&grid, [0.0; 3], [7.0, 5.0, 3.0], [5, 5, 5]);
        assert_eq!(whole, grid_with_dims(&grid, [5, 5, 5]));
        // And the identity for its own size.
        assert_eq!(grid_with_dims(&grid, grid.dims), grid);
    }

    #[test]
    fn nearest_keeps_label_values_and_round_trips_on_integer_factors() {
        let grid = Grid::axis_aligned([8, 6, 4], [1.0; 3], [0.0; 3]).unwrap();
        let labels: Vec<u8> = (0..grid.voxel_count()).map(|i| (i % 3) as u8).collect();
        let vol = Volume::new(grid.clone(), labels).unwrap();
        let up = resample_onto(
            &vol,
            &grid_with_dims(&grid, [16, 12, 8]),
            Interpolation::Nearest,
        );
        assert!(up.voxels.iter().all(|&v| v <= 2));
        let back = resample_onto(&up, &grid, Interpolation::Nearest);
        assert_eq!(back.voxels, vol.voxels);
    }

    #[test]
    fn model_grid_covers_the_same_box() {
        let grid = Grid::axis_aligned([512, 512, 100], [0.7, 0.7, 2.0], [0.0; 3]).unwrap();
        let model = grid_with_dims(&grid, [96, 96, 96]);
        // Outer face of voxel 0 and of the last voxel coincide in world space.
        let face = |g: &Grid, a: usize, v: f64| {
            let mut p = [0.0; 3];
            p[a] = v;
            g.world_of_voxel(p)[a]
        };
        for a in 0..3 {
            assert!((face(&grid, a, -0.5) - face(&model, a, -0.5)).abs() < 1e-9);
            let (n, m) = (grid.dims[a] as f64, model.dims[a] as f64);
            assert!((face(&grid, a, n - 0.5) - face(&model, a, m - 0.5)).abs() < 1e-9);
        }
    }
}
