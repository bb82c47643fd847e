//! Synthetic abdominal CT phantoms: seeded, CT-like volumes in HU with a label map (0
//! background, 1 liver or pancreas, 2 tumour), for tests, the sample case and training.
//!
//! A case has a body outline with skin, subcutaneous fat and a muscle wall; spine and ribs;
//! aorta, IVC, portal and renal veins; kidneys, spleen, liver, pancreas, stomach, duodenum,
//! colon and small bowel with gas; gallbladder, lung bases, heart and diaphragm; sometimes a
//! table, arms or ascites. With [`ScanRange::AbdomenPelvis`] (or some [`ScanRange::Mixed`] cases)
//! the scan goes on down through the pelvis (sacrum, iliac wings, hips, femora, pubic rami,
//! bladder, rectum and sigmoid, pelvic small bowel), and a mixed case may start inside the liver
//! instead of above it. Organ HU depend on a random contrast phase; textures, partial-volume
//! edges and correlated noise make it look scanned. Lesions (0–5, hypodense, 5–50 mm) sit in the
//! target organ only. Spacing, size and the voxel order of the written file vary per case.
//!
//! Everything is a pure function of the seed: same seed, same voxels, on any number of threads
//! (per-voxel values come from position-hashed noise, never from a shared sequential RNG).
//!
//! Volumes are in RAS voxel order in memory; [`PhantomCase::file_order`] is the order to write
//! them in. Depends only on the rest of `volume`.

mod anatomy;
mod assemble;
mod body;
mod geometry;
mod lesions;
mod liver_fissures;
mod noise;
mod pancreas_build;
mod pelvis;
mod render;
mod rng;
mod scene;
mod tissue;

use std::sync::Arc;

pub use lesions::{LESION_DIAMETER_RANGE_MM, LesionKind, LesionLook};
pub use pancreas_build::PancreasBuild;
pub use pelvis::{ScanCoverage, ScanRange};
pub use rng::Rng;
pub use tissue::ContrastPhase;

use super::decathlon::Task;
use super::{AxisMap, CtVolume, Grid, LabelVolume, Volume, VolumeError};
use anatomy::Anatomy;
use geometry::{V3, v3};
use render::{BodyHu, NoiseSpec, RenderGrid};
use scene::Organ;
use tissue::TissueHu;

/// The most voxels a case may have (about 4 GiB of HU as `f32`).
const MAX_VOXELS: usize = 1 << 30;

/// How to size and vary generated cases.
#[derive(Debug, Clone, PartialEq)]
pub struct PhantomOptions {
    /// Fixed voxel counts (x, y, z) of the RAS grid; `None`: from the field of view.
    pub shape: Option<[usize; 3]>,
    /// Fixed voxel spacing (mm) along x, y, z; `None`: drawn, or derived from `shape`.
    pub spacing_mm: Option<[f64; 3]>,
    /// Range (mm) the in-plane spacing is drawn from when neither `shape` nor `spacing_mm` is
    /// set and `voxels_per_axis` is `None`.
    pub in_plane_spacing_range_mm: (f64, f64),
    /// Range (mm) the slice spacing is drawn from (typical values 1, 1.25, 1.5, 2, 2.5, 3, 4, 5
    /// within the range are preferred).
    pub slice_spacing_range_mm: (f64, f64),
    /// In-plane matrix (voxels along x and y) of "clinical" cases, as scanners reconstruct.
    pub matrix: usize,
    /// When set, voxel counts per axis are drawn from this inclusive range and the spacing
    /// follows from the field of view (small, coarse volumes for tests and training).
    pub voxels_per_axis: Option<(usize, usize)>,
    /// Exactly this many lesions (fewer if the organ has no room); `None`: 0–5 at random, about
    /// 28 % of cases none.
    pub lesion_count: Option<usize>,
    /// Fixed contrast phase; `None`: drawn (35 % non-contrast, 15 % arterial, 50 %
    /// portal-venous).
    pub phase: Option<ContrastPhase>,
    /// Draw a random voxel order for the written file (RAS, LPS, LAS, reversed slices, permuted
    /// axes); `false` keeps RAS.
    pub random_file_order: bool,
    /// Range (HU) the image noise standard deviation is drawn from.
    pub noise_sd_range_hu: (f32, f32),
    /// Range (HU) each lesion's hypodensity against its organ is drawn from, whatever the
    /// phase; `None`: 20–40 HU without contrast, 20–60 HU with it. Lesions keep their shape,
    /// place and look otherwise, so a data set redrawn with another range differs only here.
    pub lesion_contrast_hu: Option<(f32, f32)>,
    /// How margins, rims and mottling follow a lesion's size; only the look changes, as with
    /// `lesion_contrast_hu`.
    pub lesion_look: LesionLook,
    /// How far the scan runs along the body: the abdomen only (default), on through the
    /// pelvis, or drawn per case (some also starting inside the liver).
    pub scan_range: ScanRange,
    /// How full the pancreas is: full (default), atrophic (thin and fat-laced, as in older
    /// patients) or drawn per case.
    pub pancreas_build: PancreasBuild,
    /// Draw the liver's fat-filled fissures (falciform / teres and venosum clefts, labelled
    /// background), as real livers have; off by default, so earlier data sets stay the same.
    pub liver_fissures: bool,
    /// Draw the fat of the liver's hilum around the main portal branches (labelled
    /// background, the veins bright within it), as real livers have; off by default.
    pub liver_hilar_fat: bool,
}

impl Default for PhantomOptions {
    /// Clinical-looking cases: 512×512 slices of 0.6–1.0 mm, 1–5 mm apart.
    fn default() -> Self {
        Self {
            shape: None,
            spacing_mm: None,
            in_plane_spacing_range_mm: (0.6, 1.0),
            slice_spacing_range_mm: (1.0, 5.0),
            matrix: 512,
            voxels_per_axis: None,
            lesion_count: None,
            phase: None,
            random_file_order: true,
            noise_sd_range_hu: (8.0, 20.0),
            lesion_contrast_hu: None,
            lesion_look: LesionLook::Soft,
            scan_range: ScanRange::Abdomen,
            pancreas_build: PancreasBuild::Full,
            liver_fissures: false,
            liver_hilar_fat: false,
        }
    }
}

impl PhantomOptions {
    /// Small, coarse cases (64–96 voxels per axis, 2.5–6 mm voxels) for tests and training.
    pub fn small() -> Self {
        Self {
            voxels_per_axis: Some((64, 96)),
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), VolumeError> {
        let bad = |m: String| Err(VolumeError::geometry(m));
        if let Some(s) = self.spacing_mm
            && s.iter().any(|v| !v.is_finite() || *v <= 0.0)
        {
            return bad(format!(
                "phantom spacing {s:?} mm must be finite and positive"
            ));
        }
        if let Some(d) = self.shape {
            if d.contains(&0) {
                return bad(format!("phantom shape {d:?} has an empty axis"));
            }
            if d.iter()
                .try_fold(1usize, |a, &b| a.checked_mul(b))
                .is_none_or(|n| n > MAX_VOXELS)
            {
                return bad(format!("phantom shape {d:?} is too large"));
            }
        }
        for (name, (lo, hi)) in [
            ("in-plane spacing", self.in_plane_spacing_range_mm),
            ("slice spacing", self.slice_spacing_range_mm),
        ] {
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
                return bad(format!(
                    "phantom {name} range {lo}..{hi} mm is not a positive range"
                ));
            }
        }
        if let Some((lo, hi)) = self.voxels_per_axis
            && (lo < 8 || lo > hi || hi > 2048)
        {
            return bad(format!(
                "phantom voxels per axis {lo}..{hi} must lie in 8..=2048"
            ));
        }
        if self.matrix < 8 || self.matrix > 2048 {
            return bad(format!(
                "phantom matrix {} must lie in 8..=2048",
                self.matrix
            ));
        }
        let (lo, hi) = self.noise_sd_range_hu;
        if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && lo <= hi) {
            return bad(format!("phantom noise range {lo}..{hi} HU is not a range"));
        }
        if let Some(range) = self.lesion_contrast_hu {
            check_lesion_contrast_hu(range).map_err(VolumeError::geometry)?;
        }
        Ok(())
    }
}

/// Checks a lesion hypodensity range `(lo, hi)` in HU: 0 < lo ≤ hi ≤ 500.
pub fn check_lesion_contrast_hu((lo, hi): (f32, f32)) -> Result<(), String> {
    if lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi && hi <= 500.0 {
        Ok(())
    } else {
        Err(format!(
            "lesion contrast {lo},{hi} HU: expected 0 < LO <= HI <= 500 HU"
        ))
    }
}

/// One lesion of a generated case, as rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct LesionInfo {
    /// Centre in RAS world millimetres.
    pub center_mm: [f64; 3],
    /// Nominal diameter (mm) of the lesion as placed (after any shrinking to fit its organ): no
    /// point of the lesion lies farther than half of it from the centre. Within
    /// [`LESION_DIAMETER_RANGE_MM`].
    pub diameter_mm: f64,
    /// Semi-axes (mm) of the underlying ellipsoid, before surface bumps.
    pub radii_mm: [f64; 3],
    /// How much darker (HU) than the parenchyma its base intensity is: drawn from
    /// [`PhantomOptions::lesion_contrast_hu`] (default 20–40 HU without contrast, 20–60 HU
    /// with it).
    pub contrast_hu: f64,
    pub kind: LesionKind,
    /// Tumour-labelled voxels attributed to this lesion (0 when it fell between voxels).
    pub voxel_count: usize,
    /// `voxel_count` in millilitres.
    pub volume_ml: f64,
}

/// A generated case.
#[derive(Debug, Clone)]
pub struct PhantomCase {
    pub task: Task,
    pub seed: u64,
    /// HU (integer values, −1024..3071), RAS voxel order.
    pub ct: CtVolume,
    /// 0 background, 1 organ, 2 tumour; same grid as `ct`.
    pub labels: LabelVolume,
    /// The voxel order to write the files in (applied to the RAS order).
    pub file_order: AxisMap,
    pub phase: ContrastPhase,
    /// Mean parenchymal HU drawn for the target organ (before texture and noise).
    pub organ_hu: f32,
    /// Standard deviation (HU) of the added image noise.
    pub noise_sd_hu: f32,
    /// What the scan covers beyond the abdomen (pelvis, a liver cut at the top).
    pub scan: ScanCoverage,
    /// Whether the pancreas was drawn atrophic ([`PancreasBuild`]).
    pub atrophic_pancreas: bool,
    /// How many fat-filled fissures the liver was drawn with
    /// ([`PhantomOptions::liver_fissures`]).
    pub liver_fissures: usize,
    /// How many fat sleeves the liver's hilum was drawn with
    /// ([`PhantomOptions::liver_hilar_fat`]).
    pub liver_hilar_fat: usize,
    /// Lesions in the target organ, in the order drawn, including any that lie outside the
    /// scan (`voxel_count` 0).
    pub lesions: Vec<LesionInfo>,
}

impl PhantomCase {
    /// Volume (mL) labelled organ or tumour.
    pub fn organ_volume_ml(&self) -> f64 {
        let n = self.labels.voxels.iter().filter(|&&l| l >= 1).count();
        n as f64 * self.labels.grid.voxel_volume_ml()
    }

    /// Volume (mL) labelled tumour.
    pub fn tumour_volume_ml(&self) -> f64 {
        let n = self.labels.voxels.iter().filter(|&&l| l == 2).count();
        n as f64 * self.labels.grid.voxel_volume_ml()
    }

    /// Whether any voxel is labelled tumour.
    pub fn has_tumour(&self) -> bool {
        self.labels.voxels.contains(&2)
    }
}

/// The seed of case `index` of a dataset generated from `dataset_seed` (well mixed, so
/// neighbouring datasets share no cases).
pub fn case_seed(dataset_seed: u64, index: u64) -> u64 {
    rng::splitmix64(rng::splitmix64(dataset_seed) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

fn organ_of(task: Task) -> Organ {
    match task {
        Task::Liver => Organ::Liver,
        Task::Pancreas => Organ::Pancreas,
    }
}

/// Generates the case of `task` for `seed`.
pub fn generate_case(
    task: Task,
    seed: u64,
    options: &PhantomOptions,
) -> Result<PhantomCase, VolumeError> {
    options.validate()?;
    let target = organ_of(task);
    let mut anatomy = Anatomy::draw(&mut Rng::stream(seed, "anatomy"));
    let scan = anatomy.extend_scan(options.scan_range, &mut Rng::stream(seed, "scan range"));
    let atrophic_pancreas = anatomy.build_pancreas(
        options.pancreas_build,
        &mut Rng::stream(seed, "pancreas build"),
    );
    let liver_fissures = if options.liver_fissures {
        anatomy.draw_liver_fissures(&mut Rng::stream(seed, "liver fissures"))
    } else {
        0
    };
    let liver_hilar_fat = if options.liver_hilar_fat {
        anatomy.draw_liver_hilar_fat(&mut Rng::stream(seed, "liver hilar fat"))
    } else {
        0
    };
    let anatomy = Arc::new(anatomy);
    let mut rng = Rng::stream(seed, "appearance");
    let phase = options
        .phase
        .unwrap_or_else(|| ContrastPhase::draw(&mut rng));
    let hu = TissueHu::draw(phase, &mut rng);
    let (lo, hi) = options.noise_sd_range_hu;
    let noise_sd_hu = rng.range_f32(lo, hi.max(lo));
    let interior = assemble::organ_interior(&anatomy, &hu, target);
    let mut lesions = lesions::draw_lesions(
        &mut Rng::stream(seed, "lesions"),
        &anatomy,
        target,
        options.lesion_count,
        phase,
        options.lesion_contrast_hu,
        &interior,
    );
    for lesion in &mut lesions {
        lesion.apply_look(options.lesion_look);
    }
    let lesions = Arc::new(lesions);
    let mut rng = Rng::stream(seed, "grid");
    let (render_grid, world_offset) = choose_grid(&anatomy.fov, options, &mut rng)?;
    let file_order = if options.random_file_order {
        draw_file_order(&mut rng)
    } else {
        AxisMap::IDENTITY
    };

    let structures = assemble::build_scene(&anatomy, &lesions, &hu, target);
    let body_hu = BodyHu {
        air: hu.air,
        skin: hu.skin,
        fat_subcutaneous: hu.fat_subcutaneous,
        muscle: hu.muscle,
        fat_visceral: hu.fat_visceral,
        mesenteric_vessel: (hu.portal_vein - hu.fat_visceral) * 0.6,
    };
    let noise = NoiseSpec {
        sd_hu: noise_sd_hu,
        seed: rng::splitmix64(seed ^ 0x006E_6F69_7365),
    };
    let (voxels, label_voxels) =
        render::render(&render_grid, &anatomy, &body_hu, &structures, target, noise);

    let origin_world = render_grid.origin_mm + world_offset;
    let spacing = render_grid.spacing_mm.map(|s| s as f64);
    let grid = Grid::axis_aligned(render_grid.dims, spacing, origin_world.to_f64())?;
    let lesion_infos = lesion_infos(
        &lesions,
        &anatomy,
        &label_voxels,
        &render_grid,
        world_offset,
        &grid,
    );
    let organ_hu = match target {
        Organ::Liver => hu.liver,
        Organ::Pancreas => hu.pancreas,
    };
    Ok(PhantomCase {
        task,
        seed,
        ct: Volume::new(grid.clone(), voxels)?,
        labels: Volume::new(grid, label_voxels)?,
        file_order,
        phase,
        organ_hu,
        noise_sd_hu,
        scan,
        atrophic_pancreas,
        liver_fissures,
        liver_hilar_fat,
        lesions: lesion_infos,
    })
}

/// Attributes every tumour voxel to the lesion whose surface it is deepest inside.
fn lesion_infos(
    lesions: &[lesions::Lesion],
    anatomy: &Anatomy,
    labels: &[u8],
    grid: &RenderGrid,
    world_offset: V3,
    world_grid: &Grid,
) -> Vec<LesionInfo> {
    let mut counts = vec![0usize; lesions.len()];
    let [nx, ny, _] = grid.dims;
    for (index, _) in labels.iter().enumerate().filter(|&(_, &l)| l == 2) {
        let (x, y, z) = (index % nx, (index / nx) % ny, index / (nx * ny));
        let p = grid.origin_mm
            + v3(
                x as f32 * grid.spacing_mm[0],
                y as f32 * grid.spacing_mm[1],
                z as f32 * grid.spacing_mm[2],
            );
        let owner = lesions
            .iter()
            .enumerate()
            .map(|(i, l)| (i, l.sdf(p, &anatomy.fields)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _)) = owner {
            counts[i] += 1;
        }
    }
    let voxel_ml = world_grid.voxel_volume_ml();
    lesions
        .iter()
        .zip(counts)
        .map(|(l, n)| LesionInfo {
            center_mm: (l.ellipsoid.center + world_offset).to_f64(),
            diameter_mm: l.diameter_mm as f64,
            radii_mm: l.ellipsoid.radii.to_f64(),
            contrast_hu: l.contrast_hu as f64,
            kind: l.kind,
            voxel_count: n,
            volume_ml: n as f64 * voxel_ml,
        })
        .collect()
}

/// Typical reconstructed slice spacings (mm).
const TYPICAL_SLICE_MM: [f64; 8] = [1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0];

/// Picks voxel counts, spacing and position so the grid covers `fov` (patient mm), plus the
/// offset from patient to world coordinates.
fn choose_grid(
    fov: &geometry::Aabb,
    options: &PhantomOptions,
    rng: &mut Rng,
) -> Result<(RenderGrid, V3), VolumeError> {
    let margin = rng.range(4.0, 20.0);
    let size = [
        (fov.max.x - fov.min.x) as f64 + 2.0 * margin,
        (fov.max.y - fov.min.y) as f64 + 2.0 * margin,
        (fov.max.z - fov.min.z) as f64,
    ];
    let ceil = |v: f64| (v.ceil() as usize).max(1);
    let (dims, spacing) = match (options.shape, options.spacing_mm, options.voxels_per_axis) {
        (Some(d), Some(s), _) => (d, s),
        (None, Some(s), _) => (
            [
                ceil(size[0] / s[0]),
                ceil(size[1] / s[1]),
                ceil(size[2] / s[2]),
            ],
            s,
        ),
        (Some(d), None, _) => {
            let in_plane = (size[0] / d[0] as f64).max(size[1] / d[1] as f64);
            (d, [in_plane, in_plane, size[2] / d[2] as f64])
        }
        (None, None, Some((lo, hi))) => {
            let n = [
                rng.int_range(lo, hi),
                rng.int_range(lo, hi),
                rng.int_range(lo, hi),
            ];
            let in_plane = (size[0] / n[0] as f64).max(size[1] / n[1] as f64);
            // Square-ish voxels look odd when the drawn counts differ a lot; keep y the same
            // physical extent as needed.
            (n, [in_plane, in_plane, size[2] / n[2] as f64])
        }
        (None, None, None) => {
            let (lo, hi) = options.in_plane_spacing_range_mm;
            let m = options.matrix as f64;
            let needed = size[0].max(size[1]) / m;
            let in_plane = rng.range(lo, hi).max(needed).min(hi);
            let (zlo, hi_z) = options.slice_spacing_range_mm;
            let typical: Vec<f64> = TYPICAL_SLICE_MM
                .iter()
                .copied()
                .filter(|s| (zlo..=hi_z).contains(s))
                .collect();
            let slice = if typical.is_empty() {
                rng.range(zlo, hi_z)
            } else {
                typical[rng.int_range(0, typical.len() - 1)]
            };
            (
                [options.matrix, options.matrix, ceil(size[2] / slice)],
                [in_plane, in_plane, slice],
            )
        }
    };
    if dims.contains(&0)
        || dims
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .is_none_or(|n| n > MAX_VOXELS)
    {
        return Err(VolumeError::geometry(format!(
            "phantom grid {dims:?} at {spacing:?} mm is empty or too large"
        )));
    }
    // Centre the grid on the field of view, off by a little as a technician would be.
    let center = fov.center();
    let jitter = v3(rng.jitter(12.0), rng.jitter(12.0), 0.0);
    let spacing_f32 = spacing.map(|s| s as f32);
    let half = v3(
        (dims[0] - 1) as f32 * spacing_f32[0] * 0.5,
        (dims[1] - 1) as f32 * spacing_f32[1] * 0.5,
        (dims[2] - 1) as f32 * spacing_f32[2] * 0.5,
    );
    let origin = center + jitter - half;
    // Scanner coordinates: the patient somewhere on the table.
    let world_offset = v3(
        rng.jitter(30.0),
        rng.range_f32(-80.0, 40.0),
        rng.range_f32(-600.0, 200.0),
    );
    Ok((
        RenderGrid {
            dims,
            spacing_mm: spacing_f32,
            origin_mm: origin,
        },
        world_offset,
    ))
}

/// A voxel order for the written file: mostly the common scanner orders, sometimes permuted.
fn draw_file_order(rng: &mut Rng) -> AxisMap {
    let map = |source_axis: [usize; 3], flip: [bool; 3]| AxisMap { source_axis, flip };
    match rng.weighted(&[0.15, 0.35, 0.12, 0.12, 0.06, 0.1, 0.1]) {
        0 => AxisMap::IDENTITY,                                         // RAS
        1 => map([0, 1, 2], [true, true, false]),                       // LPS (DICOM)
        2 => map([0, 1, 2], [true, false, false]),                      // LAS (FSL-like)
        3 => map([0, 1, 2], [true, true, true]),                        // LPI: slices reversed
        4 => map([0, 1, 2], [false, false, true]),                      // RAI
        5 => map([1, 0, 2], [rng.chance(0.5), rng.chance(0.5), false]), // in-plane swapped
        _ => {
            const PERMUTATIONS: [[usize; 3]; 6] = [
                [0, 1, 2],
                [0, 2, 1],
                [1, 0, 2],
                [1, 2, 0],
                [2, 0, 1],
                [2, 1, 0],
            ];
            let p = PERMUTATIONS[rng.int_range(0, 5)];
            map(p, [rng.chance(0.5), rng.chance(0.5), rng.chance(0.5)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated() {
        let mut o = PhantomOptions::small();
        o.spacing_mm = Some([1.0, 0.0, 1.0]);
        assert!(generate_case(Task::Liver, 1, &o).is_err());
        let mut o = PhantomOptions::small();
        o.shape = Some([10, 0, 10]);
        assert!(generate_case(Task::Liver, 1, &o).is_err());
        let o = PhantomOptions {
            slice_spacing_range_mm: (3.0, 1.0),
            ..PhantomOptions::default()
        };
        assert!(generate_case(Task::Liver, 1, &o).is_err());
    }

    #[test]
    fn grids_follow_the_options() {
        let anatomy = Anatomy::draw(&mut Rng::new(3));
        let fov = anatomy.fov;
        let mut rng = Rng::new(1);
        let (g, _) = choose_grid(&fov, &PhantomOptions::default(), &mut rng).unwrap();
        assert_eq!(&g.dims[..2], &[512, 512]);
        assert!((0.6..=1.0).contains(&g.spacing_mm[0]) && g.spacing_mm[0] == g.spacing_mm[1]);
        assert!((1.0..=5.0).contains(&g.spacing_mm[2]));
        // The grid covers the field of view in z.
        let z_top = g.origin_mm.z + (g.dims[2] - 1) as f32 * g.spacing_mm[2];
        assert!(
            g.origin_mm.z <= fov.min.z + g.spacing_mm[2] && z_top >= fov.max.z - g.spacing_mm[2]
        );
        let (g, _) = choose_grid(&fov, &PhantomOptions::small(), &mut rng).unwrap();
        assert!(g.dims.iter().all(|d| (64..=96).contains(d)));
        let o = PhantomOptions {
            spacing_mm: Some([0.8, 0.8, 2.5]),
            ..PhantomOptions::default()
        };
        let (g, _) = choose_grid(&fov, &o, &mut rng).unwrap();
        assert_eq!(g.spacing_mm, [0.8, 0.8, 2.5]);
        let o = PhantomOptions {
            shape: Some([40, 50, 30]),
            ..PhantomOptions::default()
        };
        let (g, _) = choose_grid(&fov, &o, &mut rng).unwrap();
        assert_eq!(g.dims, [40, 50, 30]);
    }

    #[test]
    fn file_orders_vary_and_are_valid() {
        let mut rng = Rng::new(4);
        let orders: Vec<AxisMap> = (0..200).map(|_| draw_file_order(&mut rng)).collect();
        assert!(orders.iter().any(|o| o.is_identity()));
        assert!(
            orders
                .iter()
                .any(|o| o.flip == [true, true, false] && o.source_axis == [0, 1, 2])
        );
        assert!(orders.iter().any(|o| o.source_axis != [0, 1, 2]));
        for o in orders {
            let mut axes = o.source_axis;
            axes.sort_unstable();
            assert_eq!(axes, [0, 1, 2]);
        }
    }
}
