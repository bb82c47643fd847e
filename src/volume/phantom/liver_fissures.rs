//! Fat-filled fissures of the liver: the cleft of the falciform ligament and ligamentum teres
//! between the left and right lobes (open to the front and underside), and that of the
//! ligamentum venosum between the caudate and left lobes (open behind). Real livers have them
//! (the TotalSegmentator cases: fat of −30 to +5 HU in clefts 3–10 mm wide, left out of the
//! liver label); phantoms drawn without them taught the shipped liver U-Net that any dark cleft
//! inside the liver's outline is a lesion (session 26: 4.9 of the 5.0 mL of false tumour on
//! liver_ts01 lay in its fissures).
//!
//! Also the fat of the liver's hilum (the porta hepatis), where the portal vein's first
//! branches enter the liver in a sleeve of fat 15–30 mm across, wider than the fissures: session
//! 26's liver U-Net, trained with fissures, drew most of its remaining false tumour on
//! liver_ts01 there (session 27's, trained with this fat too, a third as much).
//!
//! Drawn from random streams of their own and only when asked for, so the default phantoms
//! stay exactly as they were. A fissure is a slab of fat across the liver, reaching a drawn
//! depth from where it opens on the surface; the hilar fat a sleeve around the first part of
//! each main portal branch, with the vein running through it; both labelled background, and
//! lesions are placed outside them.

use super::anatomy::Anatomy;
use super::geometry::{Aabb, Tube, V3, v3};
use super::rng::Rng;

/// One fissure: a slab of fat `2 × half_width_mm` thick around the plane through `point`
/// with unit `normal`, within `depth_mm` of `entry` (where it opens on the liver's surface),
/// and only inside the liver. Coordinates in mm (x right, y anterior, z superior).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fissure {
    pub point: V3,
    pub normal: V3,
    pub half_width_mm: f32,
    pub entry: V3,
    pub depth_mm: f32,
}

impl Fissure {
    /// Signed distance (mm; negative inside) to the slab within its reach, not yet clipped to
    /// the liver; exact-ish (the larger of two distances), gradient at most 1.
    #[inline]
    pub fn sdf(&self, p: V3) -> f32 {
        let slab = (p - self.point).dot(self.normal).abs() - self.half_width_mm;
        let reach = (p - self.entry).length() - self.depth_mm;
        slab.max(reach)
    }

    pub fn bounds(&self) -> Aabb {
        Aabb::around(self.entry, self.depth_mm)
    }
}

/// The fat of the liver's hilum around one main portal branch: `sleeve` (the branch's first
/// stretch, each radius grown by the fat's thickness) and `vein` (the same stretch of the
/// branch itself, drawn bright inside the fat). Only the parts inside the liver are drawn; mm.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HilarFat {
    pub sleeve: Tube,
    pub vein: Tube,
}

/// `v` scaled to length 1 (`v` is never near zero here: it joins two lobes' centres).
fn unit(v: V3) -> V3 {
    v * (1.0 / v.length().max(1e-3))
}

impl Anatomy {
    /// Where a ray from `from` along `direction` leaves the liver (first point outside, 2 mm
    /// steps, at most 250 mm); `None` when `from` is not inside it.
    fn liver_exit(&self, from: V3, direction: V3) -> Option<V3> {
        if self.liver_sdf(from, &[]) > 0.0 {
            return None;
        }
        let step = unit(direction) * 2.0;
        let mut p = from;
        for _ in 0..125 {
            p = p + step;
            if self.liver_sdf(p, &[]) > 0.0 {
                return Some(p);
            }
        }
        None
    }

    /// Draws the liver's fissures from `rng` (each present in most cases, of drawn width and
    /// depth) into `liver_fissures`; returns how many.
    pub fn draw_liver_fissures(&mut self, rng: &mut Rng) -> usize {
        let jitter = |rng: &mut Rng, v: V3, amount: f32| {
            unit(
                v + v3(
                    rng.range_f32(-amount, amount),
                    rng.range_f32(-amount, amount),
                    rng.range_f32(-amount, amount),
                ),
            )
        };
        let liver = self.liver.clone();
        let mut fissures = Vec::new();
        // Falciform ligament and ligamentum teres: between the left and right lobes, open to
        // the front and underside.
        if rng.chance(0.9) {
            let across = liver.left.center - liver.right.center;
            let point = liver.right.center + across * rng.range_f32(0.45, 0.65);
            let normal = jitter(rng, unit(across), 0.25);
            let outwards = v3(0.0, 1.0, rng.range_f32(-0.8, 0.0));
            if let Some(entry) = self.liver_exit(point, outwards) {
                fissures.push(Fissure {
                    point,
                    normal,
                    half_width_mm: rng.range_f32(1.0, 4.0),
                    entry,
                    depth_mm: rng.range_f32(25.0, 65.0),
                });
            }
        }
        // Ligamentum venosum: between the caudate and left lobes, open behind.
        if rng.chance(0.75) {
            let across = liver.left.center - liver.caudate.center;
            let point = liver.caudate.center + across * rng.range_f32(0.35, 0.6);
            let normal = jitter(rng, unit(across), 0.3);
            let outwards = v3(0.0, -1.0, rng.range_f32(-0.3, 0.3));
            if let Some(entry) = self.liver_exit(point, outwards) {
                fissures.push(Fissure {
                    point,
                    normal,
                    half_width_mm: rng.range_f32(0.8, 2.5),
                    entry,
                    depth_mm: rng.range_f32(20.0, 45.0),
                });
            }
        }
        self.liver_fissures = fissures;
        self.liver_fissures.len()
    }

    /// Draws the fat of the liver's hilum from `rng` into `liver_hilar_fat`: around the first
    /// 20–45 mm of each of the two main portal branches (right and left, from the hilum), fat
    /// 4–10 mm thick at the hilum thinning to 40 % of that, each present in most cases; returns
    /// how many sleeves.
    pub fn draw_liver_hilar_fat(&mut self, rng: &mut Rng) -> usize {
        const STEPS: usize = 12;
        let mut sleeves = Vec::new();
        for branch in self.portal_branches.iter().take(2) {
            if !rng.chance(0.85) {
                continue;
            }
            let reach_mm = rng.range_f32(20.0, 45.0).min(branch.length_mm());
            let fat_mm = rng.range_f32(4.0, 10.0);
            let (points, radii): (Vec<V3>, Vec<f32>) = (0..=STEPS)
                .map(|i| branch.at_arc(reach_mm * i as f32 / STEPS as f32))
                .unzip();
            let sleeve_radii = (0..=STEPS)
                .map(|i| radii[i] + fat_mm * (1.0 - 0.6 * i as f32 / STEPS as f32))
                .collect();
            sleeves.push(HilarFat {
                sleeve: Tube::new(points.clone(), sleeve_radii),
                vein: Tube::new(points, radii),
            });
        }
        self.liver_hilar_fat = sleeves;
        self.liver_hilar_fat.len()
    }
}

#[cfg(test)]
mod tests {
    use crate::volume::decathlon::Task;
    use crate::volume::phantom::{PhantomCase, PhantomOptions, generate_case};

    /// Tumour-free 2 × 2 × 2.5 mm cases, in RAS order.
    fn plain_options() -> PhantomOptions {
        PhantomOptions {
            spacing_mm: Some([2.0, 2.0, 2.5]),
            lesion_count: Some(0),
            random_file_order: false,
            ..PhantomOptions::default()
        }
    }

    /// The voxels that are liver in `plain` and background in `cut` (the same abdomen drawn
    /// with more fat), after checking that `cut` turned no other voxel into liver.
    fn liver_turned_background(plain: &PhantomCase, cut: &PhantomCase) -> Vec<usize> {
        assert_eq!(cut.ct.grid.dims, plain.ct.grid.dims, "the same abdomen");
        let (before, after) = (&plain.labels.voxels, &cut.labels.voxels);
        let gained = (0..before.len())
            .filter(|&i| before[i] == 0 && after[i] == 1)
            .count();
        assert_eq!(gained, 0, "seed {}: fat only takes liver away", plain.seed);
        (0..before.len())
            .filter(|&i| before[i] == 1 && after[i] == 0)
            .collect()
    }

    /// Checks that `turned` (voxels of `plain`) hold at least `min_ml` mL and under a tenth of
    /// the liver.
    fn assert_share_of_liver(plain: &PhantomCase, turned: &[usize], min_ml: f64) {
        let liver_ml = plain.organ_volume_ml();
        let turned_ml = turned.len() as f64 * plain.labels.grid.voxel_volume_ml();
        assert!(
            (min_ml..0.1 * liver_ml).contains(&turned_ml),
            "seed {}: {turned_ml:.1} mL of {liver_ml:.0} mL",
            plain.seed
        );
    }

    #[test]
    fn fissures_cut_fat_clefts_out_of_the_liver_and_only_when_asked_for() {
        let options = plain_options();
        let with = PhantomOptions {
            liver_fissures: true,
            ..options.clone()
        };
        let mut cut_cases = 0;
        for seed in [3, 18, 41] {
            let plain = generate_case(Task::Liver, seed, &options).unwrap();
            let again = generate_case(Task::Liver, seed, &options).unwrap();
            assert_eq!(plain.liver_fissures, 0);
            assert_eq!(plain.ct.voxels, again.ct.voxels, "unchanged without them");
            let cut = generate_case(Task::Liver, seed, &with).unwrap();
            // Liver voxels turned background, and those are fat-dark (partial volume aside).
            let turned = liver_turned_background(&plain, &cut);
            if cut.liver_fissures == 0 {
                assert!(turned.is_empty());
                continue;
            }
            cut_cases += 1;
            assert_share_of_liver(&plain, &turned, 2.0);
            let mean_hu =
                turned.iter().map(|&i| cut.ct.voxels[i] as f64).sum::<f64>() / turned.len() as f64;
            assert!(
                mean_hu < cut.organ_hu as f64 - 40.0,
                "seed {seed}: fissure voxels at {mean_hu:.0} HU in a {:.0} HU liver",
                cut.organ_hu
            );
        }
        assert!(cut_cases >= 2, "most livers have a fissure");
    }

    #[test]
    fn hilar_fat_surrounds_the_portal_branches_and_only_when_asked_for() {
        let options = plain_options();
        let with = PhantomOptions {
            liver_hilar_fat: true,
            ..options.clone()
        };
        let mut fat_cases = 0;
        for seed in [3, 18, 41] {
            let plain = generate_case(Task::Liver, seed, &options).unwrap();
            assert_eq!(plain.liver_hilar_fat, 0);
            let cut = generate_case(Task::Liver, seed, &with).unwrap();
            let turned = liver_turned_background(&plain, &cut);
            if cut.liver_hilar_fat == 0 {
                assert!(turned.is_empty());
                continue;
            }
            fat_cases += 1;
            assert_share_of_liver(&plain, &turned, 1.0);
            // Mostly fat: the veins running through it are the brighter minority.
            let mut hu: Vec<f32> = turned.iter().map(|&i| cut.ct.voxels[i]).collect();
            hu.sort_by(f32::total_cmp);
            let median_hu = hu[hu.len() / 2];
            assert!(
                median_hu < cut.organ_hu - 40.0,
                "seed {seed}: hilar voxels at a median {median_hu:.0} HU in a {:.0} HU liver",
                cut.organ_hu
            );
            assert!(
                hu[hu.len() * 19 / 20] > median_hu + 60.0,
                "seed {seed}: the portal veins run bright through the fat"
            );
        }
        assert!(fat_cases >= 2, "most livers have hilar fat");
    }
}
