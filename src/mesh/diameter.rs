//! Longest diameter of a voxel set: the largest distance between two voxel centres, in world mm.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::volume::Grid;

/// The largest world distance (mm) between the centres of two voxels of `voxels` (indices in
/// `grid`); 0 for a single voxel. This is the 3D maximum diameter, not the axial RECIST one.
///
/// Exact: the farthest pair of points is a pair of convex-hull vertices, and an affine map keeps
/// hull vertices, so only hull candidates in voxel space are compared: the two ends of every
/// x-row, reduced to the convex hull of each z-slice.
pub fn longest_diameter_mm(voxels: &[[u32; 3]], grid: &Grid) -> f64 {
    let mut rows: HashMap<(u32, u32), (u32, u32)> = HashMap::new();
    for &[x, y, z] in voxels {
        rows.entry((z, y))
            .and_modify(|(lo, hi)| {
                *lo = (*lo).min(x);
                *hi = (*hi).max(x);
            })
            .or_insert((x, x));
    }
    let mut rows: Vec<((u32, u32), (u32, u32))> = rows.into_iter().collect();
    rows.sort_unstable();
    let mut candidates: Vec<[f64; 3]> = Vec::new();
    for slice in rows.chunk_by(|a, b| a.0.0 == b.0.0) {
        let z = slice[0].0.0;
        let mut points: Vec<[i64; 2]> = slice
            .iter()
            .flat_map(|&((_, y), (lo, hi))| {
                [[i64::from(lo), i64::from(y)], [i64::from(hi), i64::from(y)]]
            })
            .collect();
        for [x, y] in convex_hull_2d(&mut points) {
            let p = grid.world_of_voxel([x as f64, y as f64, f64::from(z)]);
            candidates.push([p.x, p.y, p.z]);
        }
    }
    let farthest_from = |i: usize| {
        let a = candidates[i];
        candidates[i + 1..]
            .iter()
            .map(|b| (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f64>())
            .fold(0.0f64, f64::max)
    };
    let max_sq = if candidates.len() > 512 {
        (0..candidates.len())
            .into_par_iter()
            .map(farthest_from)
            .reduce(|| 0.0, f64::max)
    } else {
        (0..candidates.len()).map(farthest_from).fold(0.0, f64::max)
    };
    max_sq.sqrt()
}

/// Vertices of the convex hull of `points` (Andrew's monotone chain), collinear points dropped;
/// a single point or a segment's two ends for degenerate input. Sorts and dedups `points`.
fn convex_hull_2d(points: &mut Vec<[i64; 2]>) -> Vec<[i64; 2]> {
    points.sort_unstable();
    points.dedup();
    if points.len() <= 2 {
        return points.clone();
    }
    let turn = |o: [i64; 2], a: [i64; 2], b: [i64; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<[i64; 2]> = Vec::with_capacity(points.len() + 1);
    for pass in 0..2 {
        let start = hull.len();
        let ordered: Box<dyn Iterator<Item = &[i64; 2]>> = if pass == 0 {
            Box::new(points.iter())
        } else {
            Box::new(points.iter().rev())
        };
        for &p in ordered {
            while hull.len() >= start + 2
                && turn(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0
            {
                hull.pop();
            }
            hull.push(p);
        }
        // The last point of each chain starts the other one.
        hull.pop();
    }
    hull
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_of_square_with_inner_points() {
        let mut pts = vec![[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [1, 0], [0, 1]];
        let mut h = convex_hull_2d(&mut pts);
        h.sort_unstable();
        assert_eq!(h, vec![[0, 0], [0, 2], [2, 0], [2, 2]]);
    }

    #[test]
    fn diameter_matches_brute_force_with_anisotropic_spacing() {
        let grid = Grid::axis_aligned([20, 20, 20], [0.7, 1.3, 2.5], [5.0, -3.0, 1.0]).unwrap();
        // A lumpy set: a ball plus an offset arm.
        let mut voxels = Vec::new();
        for z in 0..12u32 {
            for y in 0..12u32 {
                for x in 0..12u32 {
                    let d = |a: u32, c: f64| (f64::from(a) - c).powi(2);
                    if d(x, 5.0) + d(y, 6.0) + d(z, 5.0) <= 16.0 || (x == 11 && y < 3 && z == 9) {
                        voxels.push([x, y, z]);
                    }
                }
            }
        }
        let world: Vec<_> = voxels
            .iter()
            .map(|v| grid.world_of_voxel(v.map(f64::from)))
            .collect();
        let brute = world
            .iter()
            .flat_map(|a| world.iter().map(move |b| (a - b).norm()))
            .fold(0.0, f64::max);
        let fast = longest_diameter_mm(&voxels, &grid);
        assert!((fast - brute).abs() < 1e-9, "{fast} vs {brute}");
        assert_eq!(longest_diameter_mm(&[[3, 4, 5]], &grid), 0.0);
    }
}
