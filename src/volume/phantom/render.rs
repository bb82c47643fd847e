//! Rasterises a phantom scene into HU and label voxels.
//!
//! Parallel over axial slices (rayon); every voxel value is a pure function of its position
//! and the case's drawn parameters, so the result is bit-identical for any thread count.
//! Edges get partial-volume blending: a structure covers the fraction `0.5 − d / w` of a voxel,
//! where `d` is the signed distance at the voxel centre and `w = Σ |∂d/∂xᵢ| · spacingᵢ` is the
//! voxel's extent along the surface normal, so thick slices blur edges along z only.
//! Noise is white Gaussian noise smoothed by a 3×3 binomial kernel in-plane (CT noise is
//! spatially correlated), scaled to the drawn standard deviation.

use rayon::prelude::*;

use super::anatomy::Anatomy;
use super::body::{BODY, BodyProfile, CAVITY, FAT_INNER, LAYERS, SKIN_INNER, SliceTable};
use super::geometry::{Aabb, V3, v3};
use super::rng::{hash_normal, hash3};
use super::scene::{LabelRule, Organ, Sample, SdfFn, Structure};

/// Where the voxels lie in the patient frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RenderGrid {
    pub dims: [usize; 3],
    pub spacing_mm: [f32; 3],
    /// Patient-frame position (mm) of voxel (0, 0, 0).
    pub origin_mm: V3,
}

/// HU and texture amplitudes of the body-wall layers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyHu {
    pub air: f32,
    pub skin: f32,
    pub fat_subcutaneous: f32,
    pub muscle: f32,
    pub fat_visceral: f32,
    /// HU added where the fine texture peaks in visceral fat (small mesenteric vessels).
    pub mesenteric_vessel: f32,
}

/// Image noise of a case.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoiseSpec {
    pub sd_hu: f32,
    pub seed: u64,
}

/// The binomial [1 2 1]/4 kernel applied along both axes keeps Σw² = (6/16)² of the variance.
const BLUR_SD_FACTOR: f32 = 0.375;

/// Renders `structures` over the body wall of `anatomy`. Returns HU (rounded to integers,
/// clamped to −1024..3071) and labels, x-fastest.
pub(crate) fn render(
    grid: &RenderGrid,
    anatomy: &Anatomy,
    body_hu: &BodyHu,
    structures: &[Structure],
    target: Organ,
    noise: NoiseSpec,
) -> (Vec<f32>, Vec<u8>) {
    render_with(grid, anatomy, body_hu, structures, target, noise, true)
}

/// [`render`], with tile culling switchable (off: every structure is evaluated at every voxel
/// of its bounds, for checking that culling changes nothing).
fn render_with(
    grid: &RenderGrid,
    anatomy: &Anatomy,
    body_hu: &BodyHu,
    structures: &[Structure],
    target: Organ,
    noise: NoiseSpec,
    culling: bool,
) -> (Vec<f32>, Vec<u8>) {
    let [nx, ny, nz] = grid.dims;
    let plane = nx * ny;
    let mut hu = vec![0.0f32; plane * nz];
    let mut labels = vec![0u8; plane * nz];
    let [sx, sy, sz] = grid.spacing_mm;
    // A voxel is partly covered only within half its extent along the surface normal,
    // w/2 = Σ|∂d/∂xᵢ|·sᵢ/2 ≤ L·|s|/2 for an SDF with gradient bound L.
    let half_diagonal_mm = 0.5 * (sx * sx + sy * sy + sz * sz).sqrt();
    let reach: Vec<f32> = structures
        .iter()
        .map(|s| s.lipschitz * half_diagonal_mm + s.blur_mm * s.lipschitz)
        .collect();
    let grown: Vec<Aabb> = structures
        .iter()
        .zip(&reach)
        .map(|(s, &r)| s.bounds.grow(r))
        .collect();
    hu.par_chunks_mut(plane)
        .zip(labels.par_chunks_mut(plane))
        .enumerate()
        .for_each(|(k, (hu_slice, label_slice))| {
            let z_mm = grid.origin_mm.z + k as f32 * sz;
            let slice = SliceContext {
                table: anatomy.body.slice_table(z_mm),
                grid,
                anatomy,
                body_hu,
                structures,
                grown: &grown,
                reach: &reach,
                target,
                culling,
                z_mm,
            };
            slice.render(hu_slice, label_slice);
            add_noise(hu_slice, nx, ny, k, noise);
        });
    (hu, labels)
}

/// A structure that may touch a tile.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    index: usize,
    /// The whole tile lies deep inside: no partial-volume work needed.
    wholly_inside: bool,
}

struct SliceContext<'a> {
    table: SliceTable,
    grid: &'a RenderGrid,
    anatomy: &'a Anatomy,
    body_hu: &'a BodyHu,
    structures: &'a [Structure],
    grown: &'a [Aabb],
    /// Per structure: beyond this signed distance (mm) a voxel is wholly outside (or, negated,
    /// inside).
    reach: &'a [f32],
    target: Organ,
    culling: bool,
    z_mm: f32,
}

impl SliceContext<'_> {
    fn render(&self, hu_out: &mut [f32], label_out: &mut [u8]) {
        let [nx, ny, _] = self.grid.dims;
        let [sx, sy, _] = self.grid.spacing_mm;
        let z = self.z_mm;
        let in_slice: Vec<usize> = (0..self.structures.len())
            .filter(|&i| self.grown[i].min.z <= z && z <= self.grown[i].max.z)
            .collect();
        // Tiles of about 3 mm: each structure is tested once per tile at its centre and
        // dropped when it cannot reach any voxel of the tile.
        let tile = ((3.0 / sx.max(sy)).round() as usize).clamp(1, 8);
        let mut candidates: Vec<Candidate> = Vec::with_capacity(in_slice.len());
        for y0 in (0..ny).step_by(tile) {
            let y1 = (y0 + tile).min(ny);
            for x0 in (0..nx).step_by(tile) {
                let x1 = (x0 + tile).min(nx);
                let lo = self.position(x0, y0);
                let hi = self.position(x1 - 1, y1 - 1);
                let centre = (lo + hi) * 0.5;
                let half_diagonal = (hi - lo).length() * 0.5;
                candidates.clear();
                for &si in &in_slice {
                    let g = &self.grown[si];
                    if hi.x < g.min.x || lo.x > g.max.x || hi.y < g.min.y || lo.y > g.max.y {
                        continue;
                    }
                    if !self.culling {
                        candidates.push(Candidate {
                            index: si,
                            wholly_inside: false,
                        });
                        continue;
                    }
                    let s = &self.structures[si];
                    let d = (s.sdf)(centre);
                    let margin = s.lipschitz * half_diagonal + self.reach[si];
                    if d > margin {
                        continue;
                    }
                    candidates.push(Candidate {
                        index: si,
                        wholly_inside: d < -margin,
                    });
                }
                for y in y0..y1 {
                    for x in x0..x1 {
                        let (value, label) = self.voxel(self.position(x, y), &candidates);
                        hu_out[y * nx + x] = value;
                        label_out[y * nx + x] = label;
                    }
                }
            }
        }
    }

    #[inline]
    fn position(&self, x: usize, y: usize) -> V3 {
        let [sx, sy, _] = self.grid.spacing_mm;
        v3(
            self.grid.origin_mm.x + x as f32 * sx,
            self.grid.origin_mm.y + y as f32 * sy,
            self.z_mm,
        )
    }

    /// HU (before noise) and label of the voxel centred at `p`.
    fn voxel(&self, p: V3, candidates: &[Candidate]) -> (f32, u8) {
        let fields = &self.anatomy.fields;
        let mut texture: Option<(f32, f32)> = None;
        let mut tex =
            |p: V3| *texture.get_or_insert_with(|| (fields.texture.sample(p), fields.fine_at(p)));
        let mut hu = self.body_hu.air;

        // Body wall: nested layers, each blended over the previous by its radial coverage.
        let (r, theta) = BodyProfile::polar(p);
        let (radii, slopes) = self.table.at(theta);
        let [sx, sy, sz] = self.grid.spacing_mm;
        if r - radii[BODY] < sx + sy + sz {
            // The radial direction is (x, y) / r.
            let w_radial = (p.x.abs() * sx + p.y.abs() * sy) / r.max(1e-3);
            let (t, f) = tex(p);
            let bh = self.body_hu;
            // Small mesenteric vessels: sparse peaks of the fine texture.
            let vessel = (f - 2.4).clamp(0.0, 0.4) * 2.5;
            let layer_hu: [f32; LAYERS] = [
                bh.skin + 4.0 * t,
                bh.fat_subcutaneous + 7.0 * t + 3.0 * f,
                bh.muscle + 5.0 * t,
                bh.fat_visceral + 9.0 * t + 4.0 * f + vessel * bh.mesenteric_vessel,
            ];
            for (layer, &value) in [BODY, SKIN_INNER, FAT_INNER, CAVITY].iter().zip(&layer_hu) {
                let d = r - radii[*layer];
                let w = w_radial + slopes[*layer] * sz;
                let alpha = coverage_from(d, w);
                if alpha <= 0.0 {
                    break;
                }
                hu += (value - hu) * alpha;
            }
        }

        let mut label = 0u8;
        let mut organ_cover = [0.0f32; 2];
        for c in candidates {
            let g = &self.grown[c.index];
            if !g.contains(p) {
                continue;
            }
            let s = &self.structures[c.index];
            if let LabelRule::Inside { organ, .. } = s.rule
                && organ_cover[organ as usize] <= 0.0
            {
                continue;
            }
            let reach = self.reach[c.index];
            let d = if c.wholly_inside && !s.depth_shaded {
                -reach
            } else {
                (s.sdf)(p)
            };
            if d >= reach {
                continue;
            }
            let alpha = if c.wholly_inside || d <= -reach {
                1.0
            } else {
                coverage(&s.sdf, p, d, self.grid.spacing_mm, s.blur_mm)
            };
            if alpha <= 0.0 {
                continue;
            }
            let (t, f) = tex(p);
            let value = (s.shade)(&Sample {
                p,
                d,
                tex: t,
                fine: f,
            });
            match s.rule {
                LabelRule::Replace { organ } => {
                    hu += (value - hu) * alpha;
                    for c in &mut organ_cover {
                        *c *= 1.0 - alpha;
                    }
                    if let Some(o) = organ {
                        organ_cover[o as usize] += alpha;
                    }
                    if d <= 0.0 {
                        label = u8::from(organ == Some(self.target));
                    }
                }
                LabelRule::Inside { organ, tumour } => {
                    let a = alpha * organ_cover[organ as usize].min(1.0);
                    hu += (value - hu) * a;
                    if tumour && d <= 0.0 && label == 1 && organ == self.target {
                        label = 2;
                    }
                }
            }
        }
        (hu, label)
    }
}

/// Fraction of a voxel inside a surface at signed distance `d` for a voxel extent `w` along
/// the normal.
#[inline]
fn coverage_from(d: f32, w: f32) -> f32 {
    if w <= 1e-4 {
        return if d <= 0.0 { 1.0 } else { 0.0 };
    }
    (0.5 - d / w).clamp(0.0, 1.0)
}

/// Partial-volume coverage from the SDF's gradient (forward differences) and the voxel size.
#[inline]
fn coverage(sdf: &SdfFn, p: V3, d: f32, spacing_mm: [f32; 3], blur_mm: f32) -> f32 {
    const H: f32 = 0.25;
    let gx = (sdf(p + v3(H, 0.0, 0.0)) - d) / H;
    let gy = (sdf(p + v3(0.0, H, 0.0)) - d) / H;
    let gz = (sdf(p + v3(0.0, 0.0, H)) - d) / H;
    let g = (gx * gx + gy * gy + gz * gz).sqrt();
    let w = gx.abs() * spacing_mm[0]
        + gy.abs() * spacing_mm[1]
        + gz.abs() * spacing_mm[2]
        + 2.0 * blur_mm * g;
    coverage_from(d, w)
}

/// Adds in-plane correlated Gaussian noise to one slice, then rounds and clamps to the int16
/// HU range CT files use.
fn add_noise(slice: &mut [f32], nx: usize, ny: usize, k: usize, noise: NoiseSpec) {
    let (w, h) = (nx + 2, ny + 2);
    let mut white = vec![0.0f32; w * h];
    for j in 0..h {
        for i in 0..w {
            white[j * w + i] = hash_normal(hash3(noise.seed, i as i64 - 1, j as i64 - 1, k as i64));
        }
    }
    let mut rows = vec![0.0f32; w * h];
    for j in 0..h {
        for i in 1..w - 1 {
            let c = j * w + i;
            rows[c] = 0.25 * white[c - 1] + 0.5 * white[c] + 0.25 * white[c + 1];
        }
    }
    let scale = noise.sd_hu / BLUR_SD_FACTOR;
    for j in 0..ny {
        for i in 0..nx {
            let c = (j + 1) * w + (i + 1);
            let n = 0.25 * rows[c - w] + 0.5 * rows[c] + 0.25 * rows[c + w];
            let v = &mut slice[j * nx + i];
            *v = (*v + n * scale).round().clamp(-1024.0, 3071.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::phantom::assemble::{build_scene, organ_interior};
    use crate::volume::phantom::lesions::draw_lesions;
    use crate::volume::phantom::rng::Rng;
    use crate::volume::phantom::tissue::{ContrastPhase, TissueHu};
    use std::sync::Arc;

    #[test]
    fn tile_culling_changes_no_voxel() {
        for (seed, spacing) in [(1u64, [2.5f32, 2.5, 4.0]), (2, [1.2, 1.2, 2.0])] {
            let mut rng = Rng::new(seed);
            let anatomy = Arc::new(Anatomy::draw(&mut rng));
            let hu = TissueHu::draw(ContrastPhase::PortalVenous, &mut rng);
            let lesions = Arc::new(draw_lesions(
                &mut rng,
                &anatomy,
                Organ::Liver,
                Some(3),
                ContrastPhase::PortalVenous,
                None,
                &organ_interior(&anatomy, &hu, Organ::Liver),
            ));
            let structures = build_scene(&anatomy, &lesions, &hu, Organ::Liver);
            // A slab through liver, kidneys and spine, a few slices thick.
            let dims = [
                (anatomy.fov.max.x - anatomy.fov.min.x) as usize / spacing[0] as usize,
                (anatomy.fov.max.y - anatomy.fov.min.y) as usize / spacing[1] as usize,
                6,
            ];
            let grid = RenderGrid {
                dims,
                spacing_mm: spacing,
                origin_mm: v3(
                    anatomy.fov.min.x,
                    anatomy.fov.min.y,
                    lesions[0].ellipsoid.center.z,
                ),
            };
            let body_hu = BodyHu {
                air: hu.air,
                skin: hu.skin,
                fat_subcutaneous: hu.fat_subcutaneous,
                muscle: hu.muscle,
                fat_visceral: hu.fat_visceral,
                mesenteric_vessel: 50.0,
            };
            let noise = NoiseSpec {
                sd_hu: 0.0,
                seed: 1,
            };
            let args = (
                &grid,
                &*anatomy,
                &body_hu,
                &structures[..],
                Organ::Liver,
                noise,
            );
            let culled = render_with(args.0, args.1, args.2, args.3, args.4, args.5, true);
            let brute = render_with(args.0, args.1, args.2, args.3, args.4, args.5, false);
            assert_eq!(culled.1, brute.1, "labels differ");
            let worst = culled
                .0
                .iter()
                .zip(&brute.0)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= 1.0, "HU differ by up to {worst}");
            assert!(culled.1.contains(&2) && culled.1.contains(&1));
        }
    }

    #[test]
    fn coverage_is_a_half_on_the_surface_and_follows_the_normal() {
        let plane: SdfFn = Arc::new(|p: V3| p.z);
        let spacing = [0.8, 0.8, 5.0];
        let at = |z: f32| coverage(&plane, v3(0.0, 0.0, z), z, spacing, 0.0);
        assert!((at(0.0) - 0.5).abs() < 1e-5);
        // Along z the voxel is 5 mm thick: 1 mm above the plane it is still 30 % inside.
        assert!((at(1.0) - 0.3).abs() < 1e-4);
        assert_eq!(at(2.6), 0.0);
        assert_eq!(at(-2.6), 1.0);
        let wall: SdfFn = Arc::new(|p: V3| p.x);
        assert_eq!(coverage(&wall, v3(0.5, 0.0, 0.0), 0.5, spacing, 0.0), 0.0);
    }

    #[test]
    fn noise_has_the_requested_standard_deviation() {
        let (nx, ny) = (128, 128);
        let mut slice = vec![0.0f32; nx * ny];
        add_noise(
            &mut slice,
            nx,
            ny,
            3,
            NoiseSpec {
                sd_hu: 15.0,
                seed: 1,
            },
        );
        let n = slice.len() as f64;
        let mean = slice.iter().map(|&v| v as f64).sum::<f64>() / n;
        let sd = (slice
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        assert!(mean.abs() < 1.0 && (sd - 15.0).abs() < 1.5, "{mean} {sd}");
        assert!(slice.iter().all(|v| v.fract() == 0.0));
    }
}
