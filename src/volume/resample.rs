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
    resample_argmax_where(channels, target, |_| true)
}

/// [`resample_argmax`] at the target voxels `[x, y, z]` for which `keep` holds; the others
/// are 0 and cost nothing (e.g. outside the cube a model of the organ's region saw).
pub fn resample_argmax_where(
    channels: &[Volume<f32>],
    target: &Grid,
    keep: impl Fn([usize; 3]) -> bool + Sync,
) -> Volume<u8> {
    let Some(first) = channels.first() else {
        return Volume::filled(target.clone(), 0);
    };
    debug_assert!(
        channels.iter().all(|c| c.grid == first.grid),
        "channels of one grid"
    );
    let voxels = map_target_voxels_where(&first.grid, target, keep, |p| {
        // One set of corners and weights for every channel (the channels share a grid).
        let taps = Taps::at(&first.grid, p);
        let mut best = (0u8, f32::NEG_INFINITY);
        for (c, channel) in channels.iter().enumerate() {
            let v = taps.apply(&channel.voxels);
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
    map_target_voxels_where(source, target, |_| true, value_at)
}

/// [`map_target_voxels`] at the target voxels for which `keep` holds (default value elsewhere).
fn map_target_voxels_where<T: Copy + Default + Send>(
    source: &Grid,
    target: &Grid,
    keep: impl Fn([usize; 3]) -> bool + Sync,
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
                    if keep([x, y, z]) {
                        *out = value_at([0, 1, 2].map(|a| row_start[a] + step[a] * x as f64));
                    }
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

/// The 8 voxels around a fractional position of a grid and their trilinear weights (positions
/// outside the grid take the edge values).
struct Taps {
    /// Linear indices of the corners, x fastest: (lo,lo,lo), (hi,lo,lo), (lo,hi,lo), …
    index: [usize; 8],
    /// Interpolation weights along x, y, z.
    w: [f32; 3],
}

impl Taps {
    fn at(grid: &Grid, p: [f64; 3]) -> Self {
        let d = grid.dims;
        let mut lo = [0usize; 3];
        let mut hi = [0usize; 3];
        let mut w = [0f32; 3];
        for a in 0..3 {
            // Clamped to ≥ 0, so truncation is the floor (no libm call on baseline x86-64).
            let c = p[a].clamp(0.0, (d[a] - 1) as f64);
            lo[a] = c as usize;
            hi[a] = (lo[a] + 1).min(d[a] - 1);
            w[a] = (c - lo[a] as f64) as f32;
        }
        let index = std::array::from_fn(|k| {
            let pick = |a: usize| if k >> a & 1 == 1 { hi[a] } else { lo[a] };
            grid.index(pick(0), pick(1), pick(2))
        });
        Self { index, w }
    }

    /// The interpolated value of `voxels` (laid out on the grid the taps were made for).
    fn apply<T: Sample>(&self, voxels: &[T]) -> f32 {
        let v = |k: usize| voxels[self.index[k]].to_f32();
        let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
        let [wx, wy, wz] = self.w;
        let c00 = lerp(v(0), v(1), wx);
        let c10 = lerp(v(2), v(3), wx);
        let c01 = lerp(v(4), v(5), wx);
        let c11 = lerp(v(6), v(7), wx);
        lerp(lerp(c00, c10, wy), lerp(c01, c11, wy), wz)
    }
}

fn trilinear<T: Sample>(volume: &Volume<T>, p: [f64; 3]) -> T {
    T::from_f32(Taps::at(&volume.grid, p).apply(&volume.voxels))
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
    fn argmax_of_channels_equals_the_argmax_of_each_channel_resampled() {
        let grid = Grid::axis_aligned([7, 6, 5], [1.5, 1.2, 3.0], [4.0, -2.0, 1.0]).unwrap();
        let channels: Vec<Volume<f32>> = (0..3)
            .map(|c| {
                let voxels = (0..grid.voxel_count())
                    .map(|i| ((i * (7 + 5 * c)) % 11) as f32 * 0.1 + c as f32 * 0.013)
                    .collect();
                Volume::new(grid.clone(), voxels).unwrap()
            })
            .collect();
        // A finer target that reaches past the source on every side (edge values repeat).
        let target = grid_over_box(&grid, [-1.3, -0.7, -2.0], [7.4, 6.2, 5.5], [13, 11, 9]);
        let fused = resample_argmax(&channels, &target);
        let each: Vec<Volume<f32>> = channels
            .iter()
            .map(|c| resample_onto(c, &target, Interpolation::Trilinear))
            .collect();
        for i in 0..target.voxel_count() {
            let values: Vec<f32> = each.iter().map(|c| c.voxels[i]).collect();
            let best = values
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (c, &v)| if v > b.1 { (c, v) } else { b },
                );
            assert_eq!(fused.voxels[i] as usize, best.0, "voxel {i}: {values:?}");
        }
        // Restricted to x < 5: the same labels there, 0 elsewhere.
        let part = resample_argmax_where(&channels, &target, |[x, _, _]| x < 5);
        for i in 0..target.voxel_count() {
            let expected = if target.coords(i)[0] < 5 {
                fused.voxels[i]
            } else {
                0
            };
            assert_eq!(part.voxels[i], expected, "voxel {i}");
        }
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
