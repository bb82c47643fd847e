//! Organ shapes of one phantom case: where every structure of the upper abdomen lies and how it
//! is shaped, drawn from a seeded stream, in the patient frame (mm; x toward the patient's
//! right, y anterior, z superior; z = 0 near the first lumbar vertebra, x = y = 0 on the body
//! axis).
//!
//! Shapes are smooth signed distance functions (ellipsoids, tubes along splines) deformed by
//! low-frequency noise and clipped to the abdominal cavity and below the diaphragm. Sizes follow
//! adult anatomy: liver 1.2–1.8 L, pancreas 60–100 mL, spleen 120–320 mL.

use std::f32::consts::PI;

use super::body::{BodyParams, BodyProfile, CAVITY};
use super::geometry::{
    Aabb, Ellipsoid, Rot, Tube, V3, ellipse_sdf, segment_distance, smax, smin, v3,
};
use super::noise::{Fractal, ValueNoise};
use super::pelvis::{Pelvis, ScanCoverage, ScanRange};
use super::rng::Rng;
use super::scene::Organ;

/// Beyond this distance (mm) from a shape's cheap core, SDFs return early with a lower bound
/// of the true distance: the renderer only needs exact values within a few mm of a surface
/// (it skips structures farther than its partial-volume band, at most ~8 mm).
pub(crate) const EARLY_OUT_MM: f32 = 12.0;

/// Noise fields shared by all structures of a case.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    /// Organ outline deformation, features ~25 mm, values in [-1, 1].
    pub shape: ValueNoise,
    /// Lobulated margins (pancreas), features ~5 mm.
    pub lobule: ValueNoise,
    /// Lesion surface bumps; sampled in lesion-normalised coordinates (cell = 1 unit).
    pub bump: ValueNoise,
    /// Coarse tissue texture, zero mean, standard deviation about 1.
    pub texture: Fractal,
    /// Fine tissue texture, zero mean, standard deviation about 1.
    pub fine: ValueNoise,
}

impl Fields {
    pub fn draw(rng: &mut Rng) -> Self {
        Self {
            shape: ValueNoise::new(rng, 25.0),
            lobule: ValueNoise::new(rng, 5.0),
            bump: ValueNoise::new(rng, 1.0),
            texture: Fractal::new(rng, &[(5.0, 2.2), (13.0, 1.6)]),
            fine: ValueNoise::new(rng, 1.7),
        }
    }

    /// Fine texture scaled to unit standard deviation.
    #[inline]
    pub fn fine_at(&self, p: V3) -> f32 {
        self.fine.sample(p) * 3.0
    }
}

/// The diaphragm as a height field: two domes, lower toward the sides, the front and (most) the
/// back, where the lungs reach down behind the liver and spleen.
#[derive(Debug, Clone)]
pub(crate) struct Diaphragm {
    pub right_dome_z: f32,
    pub left_dome_z: f32,
    right_dome_x: f32,
    left_dome_x: f32,
    dome_y: f32,
    lateral_drop_mm: f32,
    anterior_drop_mm: f32,
    posterior_drop_mm: f32,
    half_width_mm: f32,
    anterior_mm: f32,
    posterior_mm: f32,
    /// Muscle thickness (mm).
    pub thickness_mm: f32,
}

impl Diaphragm {
    /// Height (z, mm) of the diaphragm's upper surface above `(x, y)`.
    #[inline]
    pub fn height(&self, x: f32, y: f32) -> f32 {
        let ap = if y < self.dome_y {
            self.posterior_drop_mm * ((y - self.dome_y) / self.posterior_mm).powi(2)
        } else {
            self.anterior_drop_mm * ((y - self.dome_y) / self.anterior_mm).powi(2)
        };
        let lateral =
            |dome_x: f32| self.lateral_drop_mm * ((x - dome_x) / self.half_width_mm).powi(2);
        let right = self.right_dome_z - lateral(self.right_dome_x) - ap;
        let left = self.left_dome_z - lateral(self.left_dome_x) - ap;
        smax(right, left, 25.0)
    }

    /// Negative below the diaphragm muscle (the abdominal side).
    #[inline]
    pub fn below_sdf(&self, p: V3) -> f32 {
        p.z - (self.height(p.x, p.y) - self.thickness_mm)
    }

    /// Negative above the diaphragm (the chest side).
    #[inline]
    pub fn above_sdf(&self, p: V3) -> f32 {
        self.height(p.x, p.y) - p.z
    }
}

/// The lumbar/lower thoracic spine.
#[derive(Debug, Clone)]
pub(crate) struct Spine {
    /// Centre of the vertebral bodies (mm).
    pub y_mm: f32,
    pub body_rx_mm: f32,
    pub body_ry_mm: f32,
    pub period_mm: f32,
    pub disc_mm: f32,
    pub z_ref_mm: f32,
    pub canal_y_mm: f32,
    pub canal_r_mm: f32,
}

impl Spine {
    #[inline]
    fn level(&self, z: f32) -> f32 {
        ((z - self.z_ref_mm) / self.period_mm).round()
    }

    /// Vertebral bodies.
    pub fn body_sdf(&self, p: V3) -> f32 {
        let zc = self.z_ref_mm + self.level(p.z) * self.period_mm;
        let d2 = ellipse_sdf(p.x, p.y - self.y_mm, self.body_rx_mm, self.body_ry_mm);
        // The back of the body is concave where the canal lies.
        let d2 = smax(
            d2,
            self.canal_r_mm + 3.0 - (p.x * p.x + (p.y - self.canal_y_mm).powi(2)).sqrt(),
            3.0,
        );
        let dz = (p.z - zc).abs() - (self.period_mm - self.disc_mm) * 0.5;
        rounded_max(d2, dz)
    }

    /// Intervertebral discs (slightly smaller than the bodies, which are painted over them).
    pub fn disc_sdf(&self, p: V3) -> f32 {
        let k = ((p.z - self.z_ref_mm) / self.period_mm - 0.5).round() + 0.5;
        let zc = self.z_ref_mm + k * self.period_mm;
        let d2 = ellipse_sdf(
            p.x,
            p.y - self.y_mm,
            self.body_rx_mm - 1.0,
            self.body_ry_mm - 1.0,
        );
        d2.max((p.z - zc).abs() - self.disc_mm * 0.5 - 1.5)
    }

    /// The spinal canal (a vertical cylinder).
    pub fn canal_sdf(&self, p: V3) -> f32 {
        (p.x * p.x + (p.y - self.canal_y_mm).powi(2)).sqrt() - self.canal_r_mm
    }

    /// Posterior elements: the arch around the canal, transverse and spinous processes.
    pub fn arch_sdf(&self, p: V3) -> f32 {
        let zc = self.z_ref_mm + self.level(p.z) * self.period_mm + 0.12 * self.period_mm;
        let dz = p.z - zc;
        let half_height = 0.26 * self.period_mm;
        let (x, y) = (p.x, p.y - self.canal_y_mm);
        let ring = ((x * x + y * y).sqrt() - (self.canal_r_mm + 3.5)).abs() - 3.5;
        let ring = ring.max(y - self.canal_r_mm * 0.6);
        let tx = x.abs();
        let (transverse, t) = segment_distance(
            v3(tx, y, 0.0),
            v3(self.canal_r_mm + 3.0, 4.0, 0.0),
            v3(self.body_rx_mm + 18.0, 2.0, 0.0),
        );
        let d2 = ring.min(transverse - (5.0 - 2.0 * t));
        let arch = rounded_max(d2, dz.abs() - half_height);
        // The spinous process slopes down and back, a plate thinning toward its tip.
        let (spinous, t) = segment_distance(
            v3(x * 1.4, y, dz),
            v3(0.0, -self.canal_r_mm - 4.0, 0.0),
            v3(0.0, -self.canal_r_mm - 30.0, -14.0),
        );
        arch.min(spinous - (7.0 - 3.0 * t))
    }
}

/// The ribs: arcs along the inner wall that descend from back to front.
#[derive(Debug, Clone)]
pub(crate) struct Ribs {
    /// Height of the lowest (12th) rib where it leaves the spine.
    pub lowest_origin_z: f32,
    pub spacing_mm: f32,
    pub count: usize,
    pub drop_mm: f32,
    pub radial_mm: f32,
    pub vertical_mm: f32,
    pub start_phi: f32,
    pub cartilage_phi: f32,
}

/// What the rib field found at a point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RibHit {
    pub distance_mm: f32,
    pub cartilage: bool,
}

impl Ribs {
    fn end_phi(k: usize) -> f32 {
        match k {
            0 => 0.40 * PI,
            1 => 0.55 * PI,
            2 => 0.72 * PI,
            _ => 0.92 * PI,
        }
    }

    pub fn hit(&self, p: V3, body: &BodyProfile) -> RibHit {
        let (r, theta) = BodyProfile::polar(p);
        let mut from_back = theta + PI / 2.0;
        if from_back > PI {
            from_back -= 2.0 * PI;
        }
        let phi = from_back.abs();
        let centre_r = body.radius(theta, p.z, CAVITY) + self.radial_mm + 1.0;
        let dr = r - centre_r;
        if dr.abs() > self.radial_mm + EARLY_OUT_MM {
            // Far from the rib ring: a lower bound of the distance is enough.
            return RibHit {
                distance_mm: dr.abs() - self.radial_mm,
                cartilage: false,
            };
        }
        // Ribs run nearly level beside the spine and descend along the side and front.
        let descent = self.drop_mm * ((phi - self.start_phi) / (0.8 * PI)).max(0.0);
        let u = (p.z - self.lowest_origin_z + descent) / self.spacing_mm;
        let mut best = RibHit {
            distance_mm: f32::INFINITY,
            cartilage: false,
        };
        let k0 = u.round() as i64;
        for k in (k0 - 1)..=(k0 + 1) {
            if k < 0 || k as usize >= self.count {
                continue;
            }
            let k = k as usize;
            let dz = p.z - (self.lowest_origin_z + k as f32 * self.spacing_mm - descent);
            let mut d = ellipse_sdf(dr, dz, self.radial_mm, self.vertical_mm);
            let outside_arc = (self.start_phi - phi).max(phi - Self::end_phi(k)).max(0.0) * r;
            if outside_arc > 0.0 {
                d = (d.max(0.0).powi(2) + outside_arc * outside_arc).sqrt();
            }
            if d < best.distance_mm {
                best = RibHit {
                    distance_mm: d,
                    cartilage: k >= 2 && phi > self.cartilage_phi,
                };
            }
        }
        if best.distance_mm.is_infinite() {
            best.distance_mm = 50.0;
        }
        best
    }

    /// Height range (mm) the ribs occupy.
    pub fn z_range(&self) -> (f32, f32) {
        (
            self.lowest_origin_z - self.drop_mm - self.vertical_mm - 5.0,
            self.lowest_origin_z + self.count as f32 * self.spacing_mm + self.vertical_mm + 5.0,
        )
    }
}

/// A vessel or hollow tube with its radius profile.
pub(crate) type Vessel = Tube;

/// What fills a bowel loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Content {
    /// Water-like fluid.
    Fluid,
    /// Fluid with gas floating on top (gas anterior of `level_y_mm`).
    FluidGas { level_y_mm: f32 },
    /// Positive oral contrast.
    OralContrast,
    /// Mottled stool with gas bubbles (colon).
    Stool,
    /// Gas-filled.
    Gas,
}

/// A bowel loop (or the stomach): a tube with a wall and contents.
#[derive(Debug, Clone)]
pub(crate) struct Bowel {
    pub tube: Tube,
    pub wall_mm: f32,
    pub content: Content,
}

/// The liver before clipping: three smoothly joined lobes, deformed.
#[derive(Debug, Clone)]
pub(crate) struct LiverShape {
    pub right: Ellipsoid,
    pub inferior: Ellipsoid,
    pub left: Ellipsoid,
    pub caudate: Ellipsoid,
    pub bump_mm: f32,
    pub bump_offset: V3,
}

impl LiverShape {
    fn scaled(&self, s: f32) -> LiverShape {
        let mut out = self.clone();
        out.right.radii = self.right.radii * s;
        out.inferior.radii = self.inferior.radii * s;
        out.left.radii = self.left.radii * s;
        out.caudate.radii = self.caudate.radii * s;
        out
    }

    #[inline]
    fn raw(&self, p: V3, fields: &Fields) -> f32 {
        let d = smin(self.right.sdf(p), self.inferior.sdf(p), 30.0);
        let d = smin(d, self.left.sdf(p), 30.0);
        let d = smin(d, self.caudate.sdf(p), 15.0);
        d + self.bump_mm * fields.shape.sample(p + self.bump_offset)
    }

    fn bounds(&self) -> Aabb {
        self.right
            .bounds()
            .union(self.inferior.bounds())
            .union(self.left.bounds())
            .union(self.caudate.bounds())
            .grow(self.bump_mm)
    }
}

/// The fat blend's smoothstep edges in a full gland (see [`PancreasShape::fat_edges`]).
pub(crate) const FULL_FAT_EDGES: (f32, f32) = (-0.2, 1.2);
/// The mean of that blend for a unit normal texture.
pub(crate) const FULL_MEAN_FAT_BLEND: f32 = 0.3;

/// The pancreas: a tapered tube from the tail (at the splenic hilum) through body and neck to
/// the head and uncinate process, with lobulated margins.
#[derive(Debug, Clone)]
pub(crate) struct PancreasShape {
    pub tube: Tube,
    pub lobule_mm: f32,
    pub bump_mm: f32,
    pub bump_offset: V3,
    /// Fraction (0–0.35; 0.5–0.9 atrophic) of fat interdigitating between lobules.
    pub fatty_fraction: f32,
    /// Smoothstep edges, in units of the fine texture (a unit normal), of where that fat lies.
    pub fat_edges: (f32, f32),
    /// The mean of that smoothstep over the texture: the share of `fatty_fraction` the gland's
    /// mean HU moves toward fat.
    pub mean_fat_blend: f32,
}

impl PancreasShape {
    pub(crate) fn scaled(&self, s: f32) -> PancreasShape {
        let mut out = self.clone();
        let radii: Vec<f32> = self.tube.radii_mm().iter().map(|r| r * s).collect();
        out.tube = Tube::new(self.tube.points().to_vec(), radii);
        out
    }

    #[inline]
    fn raw(&self, p: V3, fields: &Fields) -> f32 {
        self.tube.sdf(p)
            + self.lobule_mm * fields.lobule.sample(p)
            + self.bump_mm * fields.shape.sample(p + self.bump_offset)
    }

    fn bounds(&self) -> Aabb {
        self.tube.bounds().grow(self.lobule_mm + self.bump_mm)
    }
}

/// Optional extras outside the body.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub top_y_mm: f32,
    pub curvature_radius_mm: f32,
    pub gap_mm: f32,
    pub half_width_mm: f32,
}

#[derive(Debug, Clone)]
pub(crate) struct Arm {
    pub center: V3,
    pub radii_mm: (f32, f32),
    pub fat_mm: f32,
    pub humerus: V3,
    pub humerus_r_mm: f32,
}

/// Everything about one case's anatomy.
#[derive(Debug, Clone)]
pub(crate) struct Anatomy {
    pub params: BodyParams,
    pub body: BodyProfile,
    pub fields: Fields,
    pub diaphragm: Diaphragm,
    pub spine: Spine,
    pub ribs: Ribs,
    pub aorta: Vessel,
    pub iliacs: Vec<Vessel>,
    pub aortic_calcification: bool,
    pub ivc: Vessel,
    pub arteries: Vec<Vessel>,
    pub portal_veins: Vec<Vessel>,
    pub renal_veins: Vec<Vessel>,
    pub hepatic_branches: Vec<Vessel>,
    pub portal_branches: Vec<Vessel>,
    pub liver: LiverShape,
    /// Fat-filled clefts of the liver ([`super::liver_fissures`]); none unless asked for.
    pub liver_fissures: Vec<super::liver_fissures::Fissure>,
    /// Fat sleeves of the liver's hilum ([`super::liver_fissures::HilarFat`]); none unless
    /// asked for.
    pub liver_hilar_fat: Vec<super::liver_fissures::HilarFat>,
    pub pancreas: PancreasShape,
    pub pancreatic_duct: Tube,
    pub kidneys: [Ellipsoid; 2],
    pub kidney_hila: [V3; 2],
    pub spleen: Ellipsoid,
    pub spleen_impression: Ellipsoid,
    pub stomach: Bowel,
    pub duodenum: Bowel,
    pub colon: Vec<Bowel>,
    pub small_bowel: Vec<Bowel>,
    pub gallbladder: Option<Ellipsoid>,
    pub heart: Ellipsoid,
    pub psoas: [Tube; 2],
    /// Diaphragmatic crura: muscle bands either side of the aorta down to L2.
    pub crura: [Tube; 2],
    pub ascites_mm: Option<f32>,
    pub table: Option<Table>,
    pub arms: Vec<Arm>,
    /// The region the scan must cover (patient mm).
    pub fov: Aabb,
    /// The pelvis, drawn only when the scan reaches it (see [`ScanRange`]).
    pub pelvis: Option<Pelvis>,
}

/// Rounded intersection of two distances (keeps a true distance outside corners).
#[inline]
fn rounded_max(a: f32, b: f32) -> f32 {
    let outside = (a.max(0.0).powi(2) + b.max(0.0).powi(2)).sqrt();
    outside + a.max(b).min(0.0)
}

/// Volume (mL) of a tube as the sum of its segments' frustums (joints overlap a little).
pub(crate) fn tube_volume_ml(tube: &Tube) -> f32 {
    let (points, radii) = (tube.points(), tube.radii_mm());
    let mm3: f32 = (1..points.len())
        .map(|i| {
            let length = (points[i] - points[i - 1]).length();
            let (a, b) = (radii[i - 1], radii[i]);
            PI / 3.0 * length * (a * a + a * b + b * b)
        })
        .sum();
    mm3 / 1000.0
}

/// Volume (mL) where `sdf < 0` inside `bounds`, by sampling a grid of `step_mm`.
pub(crate) fn volume_ml(sdf: impl Fn(V3) -> f32, bounds: Aabb, step_mm: f32) -> f32 {
    let n = |lo: f32, hi: f32| (((hi - lo) / step_mm).ceil() as usize).max(1);
    let (nx, ny, nz) = (
        n(bounds.min.x, bounds.max.x),
        n(bounds.min.y, bounds.max.y),
        n(bounds.min.z, bounds.max.z),
    );
    let mut inside = 0usize;
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let p = bounds.min
                    + v3(
                        (i as f32 + 0.5) * step_mm,
                        (j as f32 + 0.5) * step_mm,
                        (k as f32 + 0.5) * step_mm,
                    );
                if sdf(p) < 0.0 {
                    inside += 1;
                }
            }
        }
    }
    inside as f32 * step_mm.powi(3) / 1000.0
}

/// Tight bounds of `sdf < 0` inside `bounds`, by sampling a grid of `step_mm` (grown by one
/// step); `None` when empty.
pub(crate) fn occupied_bounds(sdf: impl Fn(V3) -> f32, bounds: Aabb, step_mm: f32) -> Option<Aabb> {
    let n = |lo: f32, hi: f32| (((hi - lo) / step_mm).ceil() as usize).max(1);
    let (nx, ny, nz) = (
        n(bounds.min.x, bounds.max.x),
        n(bounds.min.y, bounds.max.y),
        n(bounds.min.z, bounds.max.z),
    );
    let mut out: Option<Aabb> = None;
    for k in 0..=nz {
        for j in 0..=ny {
            for i in 0..=nx {
                let p = bounds.min + v3(i as f32, j as f32, k as f32) * step_mm;
                if sdf(p) < 0.0 {
                    let b = Aabb { min: p, max: p };
                    out = Some(out.map_or(b, |o| o.union(b)));
                }
            }
        }
    }
    out.map(|b| b.grow(step_mm))
}

impl Anatomy {
    /// Draws one patient's anatomy.
    pub fn draw(rng: &mut Rng) -> Anatomy {
        let params = BodyParams::draw(rng);
        let fields = Fields::draw(rng);
        let (a_c, b_ca, b_cp) = params.cavity_extent_mm();
        let j = |rng: &mut Rng, w: f32| rng.jitter(w);

        // Diaphragm and levels.
        let right_dome_z = rng.range_f32(100.0, 140.0);
        let left_dome_z = right_dome_z - rng.range_f32(5.0, 22.0);
        let diaphragm = Diaphragm {
            right_dome_z,
            left_dome_z,
            right_dome_x: a_c * rng.range_f32(0.35, 0.5),
            left_dome_x: -a_c * rng.range_f32(0.35, 0.5),
            dome_y: -b_cp * rng.range_f32(0.0, 0.2),
            lateral_drop_mm: rng.range_f32(90.0, 140.0),
            anterior_drop_mm: rng.range_f32(30.0, 60.0),
            posterior_drop_mm: rng.range_f32(60.0, 100.0),
            half_width_mm: a_c,
            anterior_mm: b_ca.max(40.0),
            posterior_mm: b_cp.max(40.0),
            thickness_mm: rng.range_f32(3.5, 6.0),
        };
        let z_p = rng.range_f32(-12.0, 12.0); // pancreas level

        // Spine.
        let spine_y = -params.posterior_mm + params.fat_posterior_mm + rng.range_f32(56.0, 68.0);
        let body_rx = rng.range_f32(19.0, 25.0);
        let body_ry = rng.range_f32(14.0, 18.0);
        let canal_r = rng.range_f32(8.0, 10.5);
        let spine = Spine {
            y_mm: spine_y,
            body_rx_mm: body_rx,
            body_ry_mm: body_ry,
            period_mm: rng.range_f32(30.0, 36.0),
            disc_mm: rng.range_f32(6.0, 10.0),
            z_ref_mm: j(rng, 10.0),
            canal_y_mm: spine_y - body_ry - canal_r - 1.5,
            canal_r_mm: canal_r,
        };
        let ribs = Ribs {
            lowest_origin_z: rng.range_f32(25.0, 45.0),
            spacing_mm: rng.range_f32(22.0, 28.0),
            count: 9,
            drop_mm: rng.range_f32(120.0, 170.0),
            radial_mm: rng.range_f32(3.0, 4.5),
            vertical_mm: rng.range_f32(4.5, 6.5),
            start_phi: rng.range_f32(0.14, 0.2) * PI,
            cartilage_phi: rng.range_f32(0.6, 0.7) * PI,
        };

        // Great vessels.
        let ao_r = rng.range_f32(9.0, 13.0);
        let ao = v3(
            -rng.range_f32(6.0, 16.0),
            spine_y + body_ry + ao_r + rng.range_f32(2.0, 5.0),
            0.0,
        );
        let ivc_r = rng.range_f32(9.0, 12.0);
        let ivc = v3(
            rng.range_f32(18.0, 28.0),
            spine_y + body_ry + rng.range_f32(6.0, 12.0),
            0.0,
        );

        // Liver.
        // Liver: a broad dome under the right hemidiaphragm, a narrower inferior right lobe
        // reaching down along the lateral wall, a thin left lobe in front of the stomach and the
        // caudate lobe beside the IVC.
        let mid_y = (b_ca - b_cp) * 0.5;
        let depth = b_ca + b_cp;
        let liver_base = LiverShape {
            right: Ellipsoid::new(
                v3(
                    a_c * 0.36 + j(rng, 8.0),
                    mid_y + j(rng, 8.0),
                    right_dome_z - 58.0 + j(rng, 8.0),
                ),
                v3(a_c * 0.6, depth * 0.42, rng.range_f32(52.0, 64.0)),
                Rot::from_euler(j(rng, 0.12), j(rng, 0.12), j(rng, 0.15)),
            ),
            inferior: Ellipsoid::new(
                v3(
                    a_c * 0.56 + j(rng, 8.0),
                    mid_y - depth * 0.06 + j(rng, 8.0),
                    right_dome_z - 118.0 + j(rng, 12.0),
                ),
                v3(
                    a_c * rng.range_f32(0.3, 0.4),
                    depth * 0.36,
                    rng.range_f32(45.0, 65.0),
                ),
                Rot::from_euler(j(rng, 0.15), rng.range_f32(0.0, 0.3), j(rng, 0.2)),
            ),
            left: Ellipsoid::new(
                v3(
                    -a_c * 0.08 + j(rng, 10.0),
                    b_ca * 0.38 + j(rng, 8.0),
                    right_dome_z - 48.0 + j(rng, 8.0),
                ),
                v3(
                    a_c * 0.38 * rng.range_f32(0.75, 1.2),
                    b_ca * 0.3,
                    rng.range_f32(26.0, 38.0),
                ),
                Rot::from_euler(j(rng, 0.15), j(rng, 0.25), rng.range_f32(-0.1, 0.35)),
            ),
            caudate: Ellipsoid::new(
                v3(a_c * 0.05, spine_y + body_ry + 32.0, right_dome_z - 75.0),
                v3(18.0, 15.0, 28.0),
                Rot::IDENTITY,
            ),
            bump_mm: rng.range_f32(3.0, 7.0),
            bump_offset: v3(j(rng, 500.0), j(rng, 500.0), j(rng, 500.0)),
        };

        // Kidneys: long axis tilted so the upper poles are medial and posterior.
        let mut kidneys = [Ellipsoid::new(V3::default(), v3(1.0, 1.0, 1.0), Rot::IDENTITY); 2];
        let mut kidney_hila = [V3::default(); 2];
        for (side, kidney) in kidneys.iter_mut().enumerate() {
            let sign = if side == 0 { 1.0 } else { -1.0 };
            let z = if side == 0 { z_p - 42.0 } else { z_p - 27.0 };
            let center = v3(
                sign * (a_c * 0.56 + j(rng, 6.0)),
                spine_y + rng.range_f32(2.0, 12.0),
                z + j(rng, 10.0),
            );
            let radii = v3(
                rng.range_f32(24.0, 30.0),
                rng.range_f32(21.0, 27.0),
                rng.range_f32(48.0, 60.0),
            );
            *kidney = Ellipsoid::new(
                center,
                radii,
                Rot::from_euler(
                    rng.range_f32(0.1, 0.3),
                    -sign * rng.range_f32(0.15, 0.35),
                    sign * rng.range_f32(0.3, 0.6),
                ),
            );
            kidney_hila[side] = center + v3(-sign * radii.x * 0.95, radii.y * 0.45, 0.0);
        }

        // Spleen along the left posterolateral wall.
        let spleen_radii = v3(
            rng.range_f32(18.0, 26.0),
            rng.range_f32(40.0, 55.0),
            rng.range_f32(42.0, 58.0),
        );
        let spleen_center = v3(
            -a_c * 0.66 + j(rng, 6.0),
            -b_cp * 0.32 + j(rng, 8.0),
            left_dome_z - 55.0 + j(rng, 10.0),
        );
        let spleen = Ellipsoid::new(
            spleen_center,
            spleen_radii,
            Rot::from_euler(rng.range_f32(0.1, 0.4), 0.0, -0.7 + j(rng, 0.2)),
        );
        let spleen_impression = Ellipsoid::new(
            spleen_center + v3(spleen_radii.x * 1.9, spleen_radii.y * 0.25, 0.0),
            v3(
                spleen_radii.x * 1.2,
                spleen_radii.y * 0.7,
                spleen_radii.z * 0.8,
            ),
            Rot::IDENTITY,
        );

        // Pancreas from tail to uncinate process.
        let head_x = a_c * 0.24 + j(rng, 6.0);
        let tail_z = z_p + rng.range_f32(12.0, 30.0);
        let pancreas_control = [
            v3(
                spleen_center.x + spleen_radii.x + 10.0,
                spine_y + rng.range_f32(5.0, 25.0),
                tail_z + 5.0,
            ),
            v3(
                -a_c * 0.45 + j(rng, 8.0),
                spine_y + rng.range_f32(25.0, 38.0),
                tail_z,
            ),
            v3(
                -a_c * 0.18 + j(rng, 6.0),
                spine_y + body_ry + rng.range_f32(38.0, 48.0),
                z_p + 6.0 + j(rng, 5.0),
            ),
            v3(
                ao.x + 18.0,
                spine_y + body_ry + rng.range_f32(44.0, 52.0),
                z_p - 2.0,
            ),
            v3(
                head_x,
                spine_y + body_ry + rng.range_f32(30.0, 40.0),
                z_p - 14.0 + j(rng, 4.0),
            ),
            v3(
                head_x - 12.0,
                spine_y + body_ry + 22.0,
                z_p - 32.0 + j(rng, 4.0),
            ),
        ];
        let pancreas_radii = [
            rng.range_f32(7.5, 10.0),
            rng.range_f32(9.0, 12.0),
            rng.range_f32(9.0, 12.0),
            rng.range_f32(8.0, 10.0),
            rng.range_f32(14.0, 18.0),
            rng.range_f32(8.0, 11.0),
        ];
        let pancreas_base = PancreasShape {
            tube: Tube::smooth(&pancreas_control, &pancreas_radii, 6),
            lobule_mm: rng.range_f32(1.0, 2.5),
            bump_mm: rng.range_f32(1.5, 3.5),
            bump_offset: v3(j(rng, 500.0), j(rng, 500.0), j(rng, 500.0)),
            fatty_fraction: if rng.chance(0.4) {
                rng.range_f32(0.05, 0.35)
            } else {
                0.0
            },
            fat_edges: FULL_FAT_EDGES,
            mean_fat_blend: FULL_MEAN_FAT_BLEND,
        };

        let mut anatomy = Anatomy {
            body: BodyProfile::build(&params, -400.0, 400.0, &mut Rng::new(0)),
            params,
            fields,
            diaphragm,
            spine,
            ribs,
            aorta: Tube::new(vec![ao], vec![ao_r]),
            iliacs: Vec::new(),
            aortic_calcification: false,
            ivc: Tube::new(vec![ivc], vec![ivc_r]),
            arteries: Vec::new(),
            portal_veins: Vec::new(),
            renal_veins: Vec::new(),
            hepatic_branches: Vec::new(),
            portal_branches: Vec::new(),
            liver: liver_base.clone(),
            liver_fissures: Vec::new(),
            liver_hilar_fat: Vec::new(),
            pancreas: pancreas_base.clone(),
            pancreatic_duct: Tube::new(vec![V3::default()], vec![1.0]),
            kidneys,
            kidney_hila,
            spleen,
            spleen_impression,
            stomach: Bowel {
                tube: Tube::new(vec![V3::default()], vec![1.0]),
                wall_mm: 4.0,
                content: Content::Fluid,
            },
            duodenum: Bowel {
                tube: Tube::new(vec![V3::default()], vec![1.0]),
                wall_mm: 2.5,
                content: Content::Fluid,
            },
            colon: Vec::new(),
            small_bowel: Vec::new(),
            gallbladder: None,
            heart: Ellipsoid::new(V3::default(), v3(1.0, 1.0, 1.0), Rot::IDENTITY),
            psoas: [
                Tube::new(vec![V3::default()], vec![1.0]),
                Tube::new(vec![V3::default()], vec![1.0]),
            ],
            crura: [
                Tube::new(vec![V3::default()], vec![1.0]),
                Tube::new(vec![V3::default()], vec![1.0]),
            ],
            ascites_mm: None,
            table: None,
            arms: Vec::new(),
            fov: Aabb::around(V3::default(), 1.0),
            pelvis: None,
        };
        // The profile is tabulated over a generous height range, with its own stream.
        anatomy.body = BodyProfile::build(&anatomy.params, -420.0, 420.0, rng);

        // Scale the liver, spleen and pancreas to drawn volumes (the clipping makes the volume a
        // non-linear function of the scale, so iterate).
        let liver_target_ml = rng.range_f32(1150.0, 1850.0);
        let mut scale = 1.0f32;
        for _ in 0..3 {
            anatomy.liver = liver_base.scaled(scale);
            let v = volume_ml(|p| anatomy.liver_sdf(p, &[]), anatomy.liver.bounds(), 6.0).max(1.0);
            scale *= (liver_target_ml / v).powf(1.0 / 3.0).clamp(0.7, 1.4);
        }
        anatomy.liver = liver_base.scaled(scale);
        // The pancreas is not clipped, so its volume is that of its tube (frustums; the
        // lobulation noise has zero mean).
        let pancreas_target_ml = rng.range_f32(60.0, 100.0);
        let tube_ml = tube_volume_ml(&pancreas_base.tube).max(1.0);
        anatomy.pancreas = pancreas_base.scaled((pancreas_target_ml / tube_ml).sqrt());
        let spleen_target_ml = rng.range_f32(120.0, 320.0);
        let v = volume_ml(|p| anatomy.spleen_sdf(p), anatomy.spleen.bounds(), 4.0).max(1.0);
        anatomy.spleen.radii =
            anatomy.spleen.radii * (spleen_target_ml / v).powf(1.0 / 3.0).clamp(0.7, 1.4);

        // Pancreatic duct along the centreline from tail to head (not into the uncinate).
        let duct_points: Vec<V3> = anatomy
            .pancreas
            .tube
            .points()
            .iter()
            .copied()
            .take(6 * 4 + 1)
            .collect();
        let duct_r = rng.range_f32(0.8, 1.6);
        anatomy.pancreatic_duct = Tube::new(duct_points.clone(), vec![duct_r; duct_points.len()]);

        anatomy.draw_vessels(rng, ao, ao_r, ivc, ivc_r, z_p);
        anatomy.draw_hollow_organs(rng, z_p);
        anatomy.draw_extras(rng);
        anatomy.fov = anatomy.field_of_view(rng);
        anatomy
    }

    fn draw_vessels(&mut self, rng: &mut Rng, ao: V3, ao_r: f32, ivc: V3, ivc_r: f32, z_p: f32) {
        let (a_c, b_ca, b_cp) = self.params.cavity_extent_mm();
        let dome = self.diaphragm.right_dome_z;
        let spine = self.spine.clone();
        let j = |rng: &mut Rng, w: f32| rng.jitter(w);
        // Aorta: beside the spine in the chest, in front of it in the abdomen, bifurcating
        // near L4.
        let bifurcation_z = -3.3 * spine.period_mm + j(rng, 10.0);
        self.aorta = Tube::smooth(
            &[
                v3(ao.x - 12.0, spine.y_mm + 2.0, dome + 150.0),
                v3(ao.x - 6.0, ao.y - 6.0, dome + 20.0),
                v3(ao.x, ao.y, z_p + 30.0),
                v3(ao.x + 2.0, ao.y - 1.0, bifurcation_z + 10.0),
                v3(ao.x + 3.0, ao.y - 2.0, bifurcation_z),
            ],
            &[ao_r + 1.5, ao_r + 1.0, ao_r, ao_r * 0.9, ao_r * 0.85],
            3,
        );
        self.iliacs = [-1.0f32, 1.0]
            .iter()
            .map(|&sign| {
                Tube::smooth(
                    &[
                        v3(ao.x + 3.0, ao.y - 2.0, bifurcation_z + 4.0),
                        v3(ao.x + 3.0 + sign * 25.0, ao.y - 4.0, bifurcation_z - 40.0),
                        v3(ao.x + 3.0 + sign * 50.0, ao.y - 10.0, bifurcation_z - 110.0),
                    ],
                    &[ao_r * 0.65, ao_r * 0.6, ao_r * 0.55],
                    3,
                )
            })
            .collect();
        self.aortic_calcification = rng.chance(0.35);
        // IVC: from below, up behind the liver to the right atrium.
        self.ivc = Tube::smooth(
            &[
                v3(ivc.x - 2.0, ivc.y - 4.0, -400.0),
                v3(ivc.x, ivc.y, z_p - 20.0),
                v3(ivc.x - 2.0, ivc.y + 10.0, dome - 50.0),
                v3(ivc.x - 8.0, ivc.y + 18.0, dome - 5.0),
                v3(ivc.x - 14.0, ivc.y + 30.0, dome + 40.0),
            ],
            &[ivc_r, ivc_r, ivc_r * 1.1, ivc_r * 1.2, ivc_r * 1.3],
            3,
        );
        // Portal venous system: splenic vein behind the pancreas joins the SMV behind the neck
        // to form the portal vein, which runs up and right to the liver hilum.
        let ptube = &self.pancreas.tube;
        let points = ptube.points();
        let radii = ptube.radii_mm();
        let neck = points.len() * 3 / 5;
        let confluence = points[neck] - v3(0.0, radii[neck] + 4.0, 0.0);
        let hilum = v3(
            a_c * 0.22 + j(rng, 6.0),
            spine.y_mm + spine.body_ry_mm + 48.0 + j(rng, 6.0),
            dome - 95.0 + j(rng, 8.0),
        );
        let mut splenic: Vec<V3> = points[2..neck]
            .iter()
            .zip(&radii[2..neck])
            .step_by(3)
            .map(|(&p, &r)| p - v3(0.0, r + 2.5, -2.0))
            .collect();
        splenic.insert(
            0,
            self.spleen.center + v3(self.spleen.radii.x * 0.6, self.spleen.radii.y * 0.2, -5.0),
        );
        splenic.push(confluence);
        let splenic_r = rng.range_f32(3.5, 5.0);
        let pv_r = rng.range_f32(6.0, 8.0);
        self.portal_veins = vec![
            Tube::smooth(&splenic, &vec![splenic_r; splenic.len()], 3),
            Tube::smooth(
                &[
                    confluence,
                    confluence.lerp(hilum, 0.5) + v3(0.0, 4.0, 0.0),
                    hilum,
                ],
                &[pv_r, pv_r, pv_r * 0.9],
                3,
            ),
            Tube::smooth(
                &[
                    confluence,
                    confluence + v3(3.0, 6.0, -35.0),
                    confluence + v3(6.0, 10.0, -90.0),
                    confluence + v3(8.0, 14.0, -160.0),
                ],
                &[pv_r * 0.8, pv_r * 0.75, pv_r * 0.65, pv_r * 0.6],
                3,
            ),
        ];
        // Arteries: coeliac trunk with hepatic and splenic arteries, SMA.
        let art_r = rng.range_f32(2.5, 3.5);
        let aorta_front = v3(ao.x, ao.y + ao_r - 2.0, 0.0);
        let coeliac_tip = v3(ao.x + 2.0, ao.y + ao_r + 16.0, z_p + 22.0);
        self.arteries = vec![
            Tube::new(
                vec![aorta_front + v3(0.0, 0.0, z_p + 26.0), coeliac_tip],
                vec![art_r * 1.4, art_r * 1.3],
            ),
            Tube::smooth(
                &[
                    coeliac_tip,
                    coeliac_tip.lerp(hilum, 0.5) + v3(0.0, 8.0, 6.0),
                    hilum + v3(-4.0, 8.0, 0.0),
                ],
                &[art_r, art_r, art_r * 0.8],
                3,
            ),
            Tube::smooth(
                &[
                    coeliac_tip,
                    v3(
                        -a_c * 0.25,
                        spine.y_mm + spine.body_ry_mm + 35.0,
                        z_p + 30.0 + j(rng, 6.0),
                    ),
                    v3(-a_c * 0.45, spine.y_mm + 28.0, z_p + 28.0 + j(rng, 6.0)),
                    self.spleen.center + v3(self.spleen.radii.x, 0.0, 0.0),
                ],
                &[art_r, art_r, art_r, art_r * 0.9],
                5,
            ),
            Tube::smooth(
                &[
                    aorta_front + v3(0.0, 0.0, z_p + 8.0),
                    v3(ao.x + 2.0, ao.y + ao_r + 14.0, z_p - 8.0),
                    v3(ao.x + 5.0, ao.y + ao_r + 20.0, z_p - 60.0),
                    v3(ao.x + 8.0, ao.y + ao_r + 26.0, z_p - 150.0),
                ],
                &[art_r * 1.3, art_r * 1.2, art_r * 1.1, art_r],
                3,
            ),
        ];
        // Renal veins; the left passes between the aorta and the SMA.
        let [hr, hl] = self.kidney_hila;
        let rv_r = rng.range_f32(4.0, 5.5);
        self.renal_veins = vec![
            Tube::smooth(
                &[self.kidneys[0].center, hr, v3(ivc.x, ivc.y, hr.z + 6.0)],
                &[rv_r, rv_r, rv_r],
                3,
            ),
            Tube::smooth(
                &[
                    self.kidneys[1].center,
                    hl,
                    v3(ao.x, ao.y + ao_r + 5.0, hl.z + 4.0),
                    v3(ivc.x, ivc.y, hl.z + 4.0),
                ],
                &[rv_r, rv_r, rv_r * 0.8, rv_r],
                3,
            ),
        ];
        // Hepatic veins fan out from the IVC just below the diaphragm; portal branches from
        // the hilum. Both are drawn only inside the liver.
        let ivc_top = v3(ivc.x - 6.0, ivc.y + 16.0, dome - 20.0);
        let hv_r = rng.range_f32(4.5, 6.5);
        let targets_hv = [
            v3(a_c * 0.8, -b_cp * 0.15, dome - 75.0),
            v3(a_c * 0.35, b_ca * 0.5, dome - 95.0),
            v3(-a_c * 0.25, b_ca * 0.45, dome - 45.0),
        ];
        self.hepatic_branches = targets_hv
            .iter()
            .map(|&t| {
                let t = t + v3(j(rng, 12.0), j(rng, 12.0), j(rng, 12.0));
                let mid = ivc_top.lerp(t, 0.5) + v3(j(rng, 10.0), j(rng, 10.0), j(rng, 10.0));
                Tube::smooth(&[ivc_top, mid, t], &[hv_r, hv_r * 0.6, 1.5], 3)
            })
            .collect();
        let pb_r = rng.range_f32(4.5, 6.0);
        let right_main = v3(a_c * 0.5, (b_ca - b_cp) * 0.2, dome - 85.0);
        let mut portal_branches = vec![
            Tube::smooth(
                &[hilum, right_main, v3(a_c * 0.82, -b_cp * 0.1, dome - 70.0)],
                &[pb_r, pb_r * 0.8, 1.5],
                3,
            ),
            Tube::smooth(
                &[
                    hilum,
                    v3(a_c * 0.02, b_ca * 0.25, dome - 80.0),
                    v3(-a_c * 0.35, b_ca * 0.45, dome - 62.0),
                ],
                &[pb_r * 0.9, pb_r * 0.7, 1.5],
                3,
            ),
        ];
        for _ in 0..rng.int_range(3, 7) {
            let start = right_main.lerp(hilum, rng.range_f32(0.0, 0.6));
            let end = self.liver.right.center
                + v3(
                    j(rng, self.liver.right.radii.x * 0.8),
                    j(rng, self.liver.right.radii.y * 0.8),
                    j(rng, self.liver.right.radii.z * 0.7),
                );
            portal_branches.push(Tube::new(vec![start, end], vec![pb_r * 0.55, 1.2]));
        }
        self.portal_branches = portal_branches;
        let crus_r = rng.range_f32(3.5, 6.0);
        self.crura = [1.0f32, -1.0].map(|sign| {
            Tube::smooth(
                &[
                    v3(ao.x + sign * (ao_r + 9.0), ao.y + 6.0, dome - 60.0),
                    v3(ao.x + sign * (ao_r + 5.0), ao.y - 2.0, z_p + 10.0),
                    v3(
                        sign * spine.body_rx_mm * 0.5,
                        spine.y_mm + spine.body_ry_mm - 3.0,
                        z_p - 45.0,
                    ),
                ],
                &[crus_r, crus_r, crus_r * 0.7],
                3,
            )
        });
        // Psoas muscles grow from thin slips at T12 to thick bellies in the pelvis.
        let psoas_x = spine.body_rx_mm + rng.range_f32(10.0, 16.0);
        self.psoas = [1.0f32, -1.0].map(|sign| {
            Tube::smooth(
                &[
                    v3(sign * (psoas_x - 4.0), spine.y_mm + 4.0, 40.0),
                    v3(sign * psoas_x, spine.y_mm + 2.0, -20.0),
                    v3(sign * (psoas_x + 8.0), spine.y_mm + 4.0, -100.0),
                    v3(sign * (psoas_x + 20.0), spine.y_mm + 10.0, -200.0),
                ],
                &[3.0, 9.0, 20.0, 26.0],
                3,
            )
        });
    }

    fn draw_hollow_organs(&mut self, rng: &mut Rng, z_p: f32) {
        let (a_c, b_ca, b_cp) = self.params.cavity_extent_mm();
        let dome_l = self.diaphragm.left_dome_z;
        let spine_y = self.spine.y_mm;
        let j = |rng: &mut Rng, w: f32| rng.jitter(w);

        // Stomach: fundus under the left dome, body sweeping forward and down, antrum to the
        // pylorus right of the midline.
        let distension = rng.range_f32(0.65, 1.25);
        let pylorus = v3(
            a_c * 0.2 + j(rng, 8.0),
            b_ca * 0.35 + j(rng, 8.0),
            z_p + 8.0 + j(rng, 8.0),
        );
        let control = [
            v3(
                -a_c * 0.42 + j(rng, 8.0),
                -b_cp * 0.05 + j(rng, 8.0),
                dome_l - 38.0,
            ),
            v3(
                -a_c * 0.45 + j(rng, 8.0),
                b_ca * 0.28 + j(rng, 8.0),
                dome_l - 75.0,
            ),
            v3(
                -a_c * 0.22 + j(rng, 8.0),
                b_ca * 0.55 + j(rng, 6.0),
                z_p + 10.0 + j(rng, 10.0),
            ),
            v3(a_c * 0.05, b_ca * 0.58 + j(rng, 6.0), z_p + j(rng, 10.0)),
            pylorus,
        ];
        let radii = [36.0, 33.0, 26.0, 19.0, 10.0].map(|r| r * distension);
        let stomach_tube = Tube::smooth(&control, &radii, 4);
        let gas_level = control[0].y + rng.range_f32(-25.0, 35.0);
        let content = match rng.weighted(&[0.55, 0.3, 0.15]) {
            0 => Content::FluidGas {
                level_y_mm: gas_level,
            },
            1 => Content::Stool, // food: mottled
            _ => Content::Fluid,
        };
        self.stomach = Bowel {
            tube: stomach_tube,
            wall_mm: rng.range_f32(3.0, 5.5),
            content,
        };
        let oral_contrast = rng.chance(0.15);

        // Duodenum: the C-loop around the pancreatic head.
        let head = self.pancreas.tube.points()[self.pancreas.tube.points().len() * 4 / 5];
        let duo_r = rng.range_f32(9.0, 13.0);
        let duodenum_points = [
            pylorus,
            pylorus + v3(22.0, -12.0, -6.0),
            v3(head.x + 30.0, spine_y + 48.0, head.z + 8.0),
            v3(head.x + 32.0, spine_y + 42.0, head.z - 30.0),
            v3(head.x + 5.0, spine_y + 36.0, head.z - 50.0),
            v3(-10.0, spine_y + 40.0, head.z - 52.0),
            v3(-30.0, spine_y + 48.0, head.z - 28.0),
        ];
        self.duodenum = Bowel {
            tube: Tube::smooth(&duodenum_points, &[duo_r; 7], 3),
            wall_mm: rng.range_f32(2.0, 3.0),
            content: if oral_contrast {
                Content::OralContrast
            } else if rng.chance(0.4) {
                Content::FluidGas {
                    level_y_mm: spine_y + 45.0 + j(rng, 10.0),
                }
            } else {
                Content::Fluid
            },
        };

        // Colon: ascending, hepatic flexure, (drooping) transverse, splenic flexure, descending.
        let droop = rng.range_f32(0.0, 50.0);
        let colon_points = [
            v3(a_c * 0.68, -b_cp * 0.05, -400.0),
            v3(a_c * 0.66 + j(rng, 8.0), j(rng, 10.0), z_p - 60.0),
            v3(
                a_c * 0.55 + j(rng, 8.0),
                b_ca * 0.3 + j(rng, 10.0),
                z_p - 38.0 + j(rng, 10.0),
            ),
            v3(
                a_c * 0.2 + j(rng, 10.0),
                b_ca * 0.62 + j(rng, 8.0),
                z_p - 50.0 - droop,
            ),
            v3(
                -a_c * 0.25 + j(rng, 10.0),
                b_ca * 0.58 + j(rng, 8.0),
                z_p - 45.0 - droop,
            ),
            v3(
                -a_c * 0.66 + j(rng, 6.0),
                b_ca * 0.05 + j(rng, 8.0),
                z_p + 8.0 + j(rng, 10.0),
            ),
            v3(-a_c * 0.72, -b_cp * 0.15, z_p - 40.0),
            v3(-a_c * 0.72, -b_cp * 0.1, -400.0),
        ];
        let colon_r: Vec<f32> = (0..colon_points.len())
            .map(|_| rng.range_f32(16.0, 25.0))
            .collect();
        let colon_tube = Tube::smooth(&colon_points, &colon_r, 3);
        // Split into segments so that contents vary along the colon.
        let pts = colon_tube.points().to_vec();
        let rs = colon_tube.radii_mm().to_vec();
        let mut colon = Vec::new();
        let mut start = 0;
        while start + 1 < pts.len() {
            let end = (start + rng.int_range(3, 7)).min(pts.len() - 1);
            let content = match rng.weighted(&[0.6, 0.25, 0.15]) {
                0 => Content::Stool,
                1 => Content::Gas,
                _ => Content::FluidGas {
                    level_y_mm: pts[start].y + rng.range_f32(-5.0, 15.0),
                },
            };
            colon.push(Bowel {
                tube: Tube::new(pts[start..=end].to_vec(), rs[start..=end].to_vec()),
                wall_mm: rng.range_f32(1.5, 2.5),
                content,
            });
            start = end;
        }
        self.colon = colon;

        // Small bowel: random-walk loops in the lower, anterior abdomen.
        let mut loops = Vec::new();
        for _ in 0..rng.int_range(5, 10) {
            let mut p = v3(
                rng.range_f32(-a_c * 0.55, a_c * 0.55),
                rng.range_f32(spine_y + 35.0, b_ca * 0.75),
                rng.range_f32(z_p - 160.0, z_p - 45.0),
            );
            let mut dir = v3(
                rng.normal() as f32,
                rng.normal() as f32,
                rng.normal() as f32 * 0.6,
            );
            let mut points = vec![p];
            for _ in 0..rng.int_range(5, 9) {
                let turn = v3(
                    rng.normal() as f32,
                    rng.normal() as f32,
                    rng.normal() as f32 * 0.6,
                );
                dir = dir + turn * 0.8;
                let len = dir.length().max(1e-3);
                dir = dir * (1.0 / len);
                p = p + dir * rng.range_f32(18.0, 28.0);
                p.x = p.x.clamp(-a_c * 0.65, a_c * 0.65);
                p.y = p.y.clamp(spine_y + 30.0, b_ca * 0.85);
                p.z = p.z.min(z_p - 35.0);
                points.push(p);
            }
            let r = rng.range_f32(9.0, 14.0);
            let n = points.len();
            let content = if oral_contrast {
                Content::OralContrast
            } else {
                match rng.weighted(&[0.6, 0.3, 0.1]) {
                    0 => Content::Fluid,
                    1 => Content::FluidGas {
                        level_y_mm: p.y + rng.range_f32(-5.0, 10.0),
                    },
                    _ => Content::Gas,
                }
            };
            loops.push(Bowel {
                tube: Tube::smooth(&points, &vec![r; n], 3),
                wall_mm: rng.range_f32(1.5, 2.5),
                content,
            });
        }
        self.small_bowel = loops;

        // Gallbladder under the right lobe (absent or collapsed in some).
        self.gallbladder = rng.chance(0.65).then(|| {
            Ellipsoid::new(
                v3(
                    a_c * 0.3 + j(rng, 8.0),
                    b_ca * 0.3 + j(rng, 8.0),
                    self.diaphragm.right_dome_z - 135.0 + j(rng, 12.0),
                ),
                v3(
                    rng.range_f32(12.0, 20.0),
                    rng.range_f32(12.0, 20.0),
                    rng.range_f32(26.0, 42.0),
                ),
                Rot::from_euler(-0.7 + j(rng, 0.3), j(rng, 0.3), 0.3 + j(rng, 0.3)),
            )
        });

        // Heart resting on the central diaphragm, apex to the left and front.
        self.heart = Ellipsoid::new(
            v3(
                -12.0 + j(rng, 10.0),
                b_ca * 0.3 + j(rng, 8.0),
                self.diaphragm.right_dome_z + 40.0,
            ),
            v3(
                rng.range_f32(60.0, 75.0),
                rng.range_f32(44.0, 54.0),
                rng.range_f32(50.0, 62.0),
            ),
            Rot::from_euler(0.2, 0.0, 0.5 + j(rng, 0.2)),
        );
    }

    fn draw_extras(&mut self, rng: &mut Rng) {
        self.ascites_mm = rng.chance(0.08).then(|| rng.range_f32(4.0, 14.0));
        let (min_x, max_x, min_y, _) = self.body.outline_extent_mm();
        self.table = rng.chance(0.7).then(|| Table {
            top_y_mm: min_y - rng.range_f32(5.0, 40.0),
            curvature_radius_mm: rng.range_f32(500.0, 1200.0),
            gap_mm: rng.range_f32(20.0, 45.0),
            half_width_mm: rng.range_f32(200.0, 260.0),
        });
        if rng.chance(0.2) {
            let r = (rng.range_f32(36.0, 46.0), rng.range_f32(42.0, 55.0));
            let gap = rng.range_f32(5.0, 30.0);
            let y = min_y * rng.range_f32(0.0, 0.4);
            for (sign, edge) in [(1.0f32, max_x), (-1.0, min_x)] {
                let center = v3(edge + sign * (gap + r.0), y, 0.0);
                self.arms.push(Arm {
                    center,
                    radii_mm: r,
                    fat_mm: rng.range_f32(6.0, 18.0),
                    humerus: center + v3(rng.jitter(8.0), rng.jitter(8.0), 0.0),
                    humerus_r_mm: rng.range_f32(10.0, 13.0),
                });
            }
        }
    }

    /// The scan range: the whole body width, from a little above the right dome to below the
    /// lowest of liver, pancreas and kidneys.
    fn field_of_view(&self, rng: &mut Rng) -> Aabb {
        let liver_bottom = occupied_bounds(|p| self.liver_sdf(p, &[]), self.liver.bounds(), 6.0)
            .map_or(-60.0, |b| b.min.z);
        let pancreas_bottom = self.pancreas.bounds().min.z;
        let kidney_bottom = self
            .kidneys
            .iter()
            .map(|k| k.center.z - k.radii.z * 0.8)
            .fold(f32::MAX, f32::min);
        let lowest = liver_bottom
            .min(pancreas_bottom)
            .min(kidney_bottom + rng.range_f32(0.0, 40.0));
        let z_lo = lowest - rng.range_f32(8.0, 45.0);
        let z_hi = self.diaphragm.right_dome_z + rng.range_f32(8.0, 50.0);
        self.scan_box(z_lo, z_hi)
    }

    /// The whole body's width and depth (table included), between heights `z_lo` and `z_hi`.
    fn scan_box(&self, z_lo: f32, z_hi: f32) -> Aabb {
        let (min_x, max_x, min_y, max_y) = self.body.outline_extent_mm();
        let table_y = self
            .table
            .as_ref()
            .map_or(min_y, |t| t.top_y_mm - t.gap_mm - 5.0);
        Aabb {
            min: v3(min_x, table_y.max(min_y - 60.0), z_lo),
            max: v3(max_x, max_y, z_hi),
        }
    }

    /// Extends the drawn abdomen to the scan `range` asks for, with draws from `rng` only (so
    /// the rest of the case stays as drawn): for scans through the pelvis, draws it, shapes the
    /// hips and lowers the field of view to the lesser trochanters; for scans that start inside
    /// the liver, lowers the field of view's top. Nothing changes for [`ScanRange::Abdomen`].
    /// Returns what the scan now covers (no cut when the liver could not be found).
    pub fn extend_scan(&mut self, range: ScanRange, rng: &mut Rng) -> ScanCoverage {
        let mut plan = range.plan(rng);
        let (mut z_lo, mut z_hi) = (self.fov.min.z, self.fov.max.z);
        if plan.pelvis {
            let pelvis = Pelvis::draw(self, rng);
            pelvis.shape_body(self, rng);
            z_lo = z_lo.min(pelvis.scan_floor_z);
            self.pelvis = Some(pelvis);
        }
        if let Some(hidden) = plan.liver_hidden_fraction
            && let Some(liver) =
                occupied_bounds(|p| self.liver_sdf(p, &[]), self.liver.bounds(), 4.0)
        {
            z_hi = z_hi.min(liver.max.z - hidden * (liver.max.z - liver.min.z));
        } else {
            plan.liver_hidden_fraction = None;
        }
        if plan != ScanCoverage::default() {
            self.fov = self.scan_box(z_lo, z_hi);
        }
        plan
    }

    // ----- Organ SDFs (final shapes, lesions merged in) -----

    /// The liver: lobes, deformed, merged with its lesions, clipped to the cavity, below the
    /// diaphragm and away from the spine.
    pub fn liver_sdf(&self, p: V3, lesions: &[super::lesions::Lesion]) -> f32 {
        let mut d = self.liver.raw(p, &self.fields);
        for lesion in lesions {
            // Only the liver's own lesions: the other organ's must not grow the liver.
            if lesion.organ == Organ::Liver && lesion.bounds().contains(p) {
                d = smin(d, lesion.sdf(p, &self.fields) + 1.0, 4.0);
            }
        }
        if d > EARLY_OUT_MM {
            return d;
        }
        let spine_gap = (p.x * p.x + (p.y - self.spine.y_mm - 4.0).powi(2)).sqrt()
            - (self.spine.body_rx_mm + 7.0);
        let d = smax(d, -self.renal_fossa_sdf(0, p), 6.0);
        d.max(self.body.cavity_sdf(p) + 1.0)
            .max(self.diaphragm.below_sdf(p))
            .max(-spine_gap)
    }

    pub fn liver_bounds(&self) -> Aabb {
        self.liver.bounds()
    }

    /// The pancreas, merged with its lesions (which may enlarge its contour).
    pub fn pancreas_sdf(&self, p: V3, lesions: &[super::lesions::Lesion]) -> f32 {
        let mut d = self.pancreas.raw(p, &self.fields);
        for lesion in lesions {
            // Only the pancreas's own lesions: a liver lesion must not grow the pancreas.
            if lesion.organ == Organ::Pancreas && lesion.bounds().contains(p) {
                d = smin(d, lesion.sdf(p, &self.fields) + 1.0, 4.0);
            }
        }
        d
    }

    pub fn pancreas_bounds(&self) -> Aabb {
        self.pancreas.bounds()
    }

    /// The kidney grown by its fat capsule, plus the space behind it to the back wall, which
    /// the liver and spleen must leave free.
    fn renal_fossa_sdf(&self, side: usize, p: V3) -> f32 {
        let k = &self.kidneys[side];
        let grown = k.sdf(p) - 4.0;
        let (behind, _) = segment_distance(p, k.center, k.center - v3(0.0, 90.0, 0.0));
        grown.min(behind - k.radii.x * 0.9)
    }

    pub fn spleen_sdf(&self, p: V3) -> f32 {
        let d = smax(self.spleen.sdf(p), -self.spleen_impression.sdf(p), 8.0)
            + 3.0 * self.fields.shape.sample(p + v3(137.0, 0.0, 0.0));
        if d > EARLY_OUT_MM {
            return d;
        }
        let d = smax(d, -self.renal_fossa_sdf(1, p), 6.0);
        d.max(self.body.cavity_sdf(p) + 1.0)
            .max(self.diaphragm.below_sdf(p))
    }

    pub fn kidney_sdf(&self, side: usize, p: V3) -> f32 {
        let k = &self.kidneys[side];
        let hilum = (p - self.kidney_hila[side]).length() - k.radii.x * 0.45;
        smax(k.sdf(p), -hilum, 5.0) + 1.5 * self.fields.shape.sample(p + v3(0.0, 91.0, 0.0))
    }

    /// Renal sinus fat inside each kidney, near its hilum.
    pub fn renal_sinus_sdf(&self, side: usize, p: V3) -> f32 {
        let k = &self.kidneys[side];
        let center = k.center.lerp(self.kidney_hila[side], 0.45);
        let e = Ellipsoid::new(
            center,
            v3(k.radii.x * 0.42, k.radii.y * 0.4, k.radii.z * 0.55),
            k.rot,
        );
        e.sdf(p)
    }

    /// Surface-clipped hollow organ (stomach): the tube deformed a little, inside the cavity and
    /// below the diaphragm.
    pub fn stomach_sdf(&self, p: V3) -> f32 {
        let d = self.stomach.tube.sdf(p) + 4.0 * self.fields.shape.sample(p + v3(0.0, 0.0, 211.0));
        if d > EARLY_OUT_MM {
            return d;
        }
        d.max(self.body.cavity_sdf(p) + 2.0)
            .max(self.diaphragm.below_sdf(p))
    }

    pub fn lung_sdf(&self, p: V3) -> f32 {
        let above = self.diaphragm.above_sdf(p);
        if above > EARLY_OUT_MM {
            return above;
        }
        (self.body.cavity_sdf(p) + 1.0).max(above)
    }

    pub fn diaphragm_sdf(&self, p: V3) -> f32 {
        let h = self.diaphragm.height(p.x, p.y);
        let slab = (p.z - h).max(h - self.diaphragm.thickness_mm - p.z);
        if slab > EARLY_OUT_MM {
            return slab;
        }
        slab.max(self.body.cavity_sdf(p) + 0.5)
    }

    pub fn heart_sdf(&self, p: V3, grow_mm: f32) -> f32 {
        let mut e = self.heart;
        e.radii = e.radii + v3(grow_mm, grow_mm, grow_mm);
        e.sdf(p).max(self.diaphragm.above_sdf(p))
    }

    /// Erector spinae and quadratus lumborum: vertical muscle columns behind and beside the
    /// spine.
    pub fn back_muscle_sdf(&self, p: V3) -> f32 {
        let s = &self.spine;
        let x = p.x.abs();
        let erector = ellipse_sdf(x - 30.0, p.y - (s.canal_y_mm - 22.0), 27.0, 24.0);
        let mut quadratus =
            ellipse_sdf(x - (s.body_rx_mm + 42.0), p.y - (s.y_mm - 10.0), 16.0, 11.0)
                .max(p.z - 25.0);
        if let Some(pelvis) = &self.pelvis {
            // The quadratus lumborum ends on the iliac crest.
            quadratus = quadratus.max(pelvis.crest_z - 10.0 - p.z);
        }
        let d = erector.min(quadratus);
        if d > EARLY_OUT_MM {
            return d;
        }
        d.max(self.body.radii_fat_inner_sdf(p))
    }
}

impl BodyProfile {
    /// Negative inside the outer edge of the muscle wall (inside the subcutaneous fat).
    pub(crate) fn radii_fat_inner_sdf(&self, p: V3) -> f32 {
        let (r, theta) = Self::polar(p);
        r - self.radius(theta, p.z, super::body::FAT_INNER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organ_volumes_are_adult_sized_and_the_liver_is_on_the_right() {
        for seed in 0..6 {
            let mut rng = Rng::new(seed);
            let a = Anatomy::draw(&mut rng);
            let liver_ml = volume_ml(|p| a.liver_sdf(p, &[]), a.liver_bounds(), 4.0);
            assert!(
                (1000.0..2000.0).contains(&liver_ml),
                "seed {seed}: liver {liver_ml} mL"
            );
            let pancreas_ml = volume_ml(|p| a.pancreas_sdf(p, &[]), a.pancreas_bounds(), 2.0);
            assert!(
                (45.0..115.0).contains(&pancreas_ml),
                "seed {seed}: pancreas {pancreas_ml} mL"
            );
            let spleen_ml = volume_ml(|p| a.spleen_sdf(p), a.spleen.bounds(), 3.0);
            assert!(
                (80.0..380.0).contains(&spleen_ml),
                "seed {seed}: spleen {spleen_ml} mL"
            );
            let liver = occupied_bounds(|p| a.liver_sdf(p, &[]), a.liver_bounds(), 5.0).unwrap();
            assert!(
                liver.center().x > 20.0,
                "seed {seed}: liver centre {:?}",
                liver.center()
            );
            assert!(a.spleen.center.x < -20.0);
            // The scan covers liver and pancreas.
            assert!(a.fov.min.z < liver.min.z + 10.0 && a.fov.max.z > liver.max.z);
            assert!(a.fov.min.z < a.pancreas_bounds().min.z + 10.0);
        }
    }
}
