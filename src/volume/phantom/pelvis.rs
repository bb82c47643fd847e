//! How far down (and up) a phantom's scan runs, and the pelvis it shows when the scan runs
//! below the iliac crests: iliac wings, sacrum, hip joints and pubic rami, the bladder, caecum,
//! sigmoid and rectum, bowel loops in the pelvis, and hips that widen the body wall.
//!
//! The pelvis is drawn from a random stream of its own and only for scan ranges that need it,
//! so the default abdomen-only phantoms (every shipped model's training data) stay exactly as
//! they were. Coordinates are the patient frame of `anatomy.rs` (mm; x to the patient's right,
//! y anterior, z up; the first lumbar vertebra near z = 0).

use super::anatomy::{Anatomy, Bowel, Content};
use super::body::{BODY, CAVITY, FAT_INNER, LAYERS, SKIN_INNER};
use super::geometry::{Aabb, Ellipsoid, Rot, Tube, V3, ellipse_sdf, ellipsoid_sdf, v3};
use super::lesions::smoothstep;
use super::rng::Rng;

/// How far a phantom's scan runs along the body.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ScanRange {
    /// From a little above the right diaphragm dome to a little below the lowest of liver,
    /// pancreas and kidneys, as every phantom until session 22 (and every shipped model's
    /// training data): no pelvis, the whole liver.
    #[default]
    Abdomen,
    /// Abdomen and pelvis: down to the ischial tuberosities and lesser trochanters, through
    /// iliac wings, sacrum, hip joints, bladder and rectum (the commonest abdominal CT).
    AbdomenPelvis,
    /// Drawn per case: 55 % abdomen and pelvis, the rest abdomen; independently, one case in
    /// four starts inside the liver (10–45 % of its height above the scan), as scans planned
    /// for the pelvis or cut short do.
    Mixed,
}

impl ScanRange {
    /// Every range, in the order a menu lists them.
    pub const ALL: [ScanRange; 3] = [
        ScanRange::Abdomen,
        ScanRange::AbdomenPelvis,
        ScanRange::Mixed,
    ];

    /// A short lower-case name, as `oncoscope synth --scan-range` takes it.
    pub fn name(self) -> &'static str {
        match self {
            ScanRange::Abdomen => "abdomen",
            ScanRange::AbdomenPelvis => "abdomen-pelvis",
            ScanRange::Mixed => "mixed",
        }
    }

    /// What one case's scan covers, drawn from `rng` (nothing is drawn for `Abdomen`).
    pub(crate) fn plan(self, rng: &mut Rng) -> ScanCoverage {
        match self {
            ScanRange::Abdomen => ScanCoverage::default(),
            ScanRange::AbdomenPelvis => ScanCoverage {
                pelvis: true,
                liver_hidden_fraction: None,
            },
            ScanRange::Mixed => {
                let pelvis = rng.chance(0.55);
                let cut = rng.chance(0.25);
                let fraction = rng.range_f32(0.1, 0.45);
                ScanCoverage {
                    pelvis,
                    liver_hidden_fraction: cut.then_some(fraction),
                }
            }
        }
    }
}

/// What one case's scan covers beyond the abdomen (the default covers neither).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScanCoverage {
    /// Whether the scan runs down through the pelvis.
    pub pelvis: bool,
    /// The fraction (0–1) of the liver's height that lies above the scan's top, if it is cut.
    pub liver_hidden_fraction: Option<f32>,
}

/// One iliac wing: in every axial slice an arc bulging laterally from the sacroiliac joint to
/// the anterior superior spine, shrinking onto the acetabular roof below.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IliacWing {
    /// +1 on the patient's right, −1 on the left.
    pub sign: f32,
    /// Height (mm) of the acetabular roof, where the wing ends below.
    pub base_z: f32,
    /// Height (mm) of the crest's top.
    pub crest_z: f32,
    /// Posterior (sacroiliac) end of the arc in the slice (x, y mm), at the base and the crest.
    pub posterior_end: [(f32, f32); 2],
    /// Anterior end (anterior inferior, then superior, iliac spine), at the base and the crest.
    pub anterior_end: [(f32, f32); 2],
    /// How far the arc bulges laterally from its chord (mm), at the base and the crest.
    pub bulge_mm: [f32; 2],
    /// Half the bone's thickness (mm), at the base and in the thin wing.
    pub half_thickness_mm: [f32; 2],
    /// Thickness of the iliacus muscle lining the wing's inner face (mm).
    pub iliacus_mm: f32,
}

/// The arc of one slice in the wing's own coordinates.
struct WingSlice {
    /// Along the chord from its midpoint (mm).
    u: f32,
    /// Across the chord, positive on the lateral (bulging) side (mm).
    v: f32,
    half_chord: f32,
    bulge: f32,
    half_thickness: f32,
    /// Height (mm) of the crest above this point (lower at the ends).
    top_z: f32,
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

impl IliacWing {
    fn slice(&self, p: V3) -> WingSlice {
        let t = ((p.z - self.base_z) / (self.crest_z - self.base_z)).clamp(0.0, 1.0);
        let tp = smoothstep(0.0, 0.55, t);
        let ta = smoothstep(0.1, 0.8, t);
        let [p0, p1] = self.posterior_end;
        let [a0, a1] = self.anterior_end;
        let post = (lerp(p0.0, p1.0, tp), lerp(p0.1, p1.1, tp));
        let ant = (lerp(a0.0, a1.0, ta), lerp(a0.1, a1.1, ta));
        let (dx, dy) = (ant.0 - post.0, ant.1 - post.1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        // The lateral normal: the one pointing away from the midline.
        let (mut nx, mut ny) = (uy, -ux);
        if nx * self.sign < 0.0 {
            (nx, ny) = (-nx, -ny);
        }
        let (mx, my) = ((post.0 + ant.0) * 0.5, (post.1 + ant.1) * 0.5);
        let (qx, qy) = (p.x - mx, p.y - my);
        let u = qx * ux + qy * uy;
        let half_chord = len * 0.5;
        let rim = 3.0 * smoothstep(0.85, 1.0, t);
        WingSlice {
            u,
            v: qx * nx + qy * ny,
            half_chord,
            bulge: lerp(self.bulge_mm[0], self.bulge_mm[1], t),
            half_thickness: lerp(
                self.half_thickness_mm[0],
                self.half_thickness_mm[1],
                smoothstep(0.0, 0.35, t),
            ) + rim,
            top_z: self.crest_z - 30.0 * (u / half_chord).clamp(-1.0, 1.0).powi(2),
        }
    }

    /// The wing's bone (mm; negative inside).
    pub fn bone_sdf(&self, p: V3) -> f32 {
        let s = self.slice(p);
        let e = ellipse_sdf(s.u, s.v, s.half_chord, s.bulge.max(1.0));
        (e.abs() - s.half_thickness)
            .max(-s.v - s.half_thickness * 0.5)
            .max(p.z - s.top_z)
            .max(self.base_z - p.z)
    }

    /// The iliacus: muscle lining the wing's inner (medial) face.
    pub fn iliacus_sdf(&self, p: V3) -> f32 {
        let s = self.slice(p);
        let e = ellipse_sdf(s.u, s.v, s.half_chord, s.bulge.max(1.0));
        let half = self.iliacus_mm * 0.5;
        ((e + s.half_thickness + half).abs() - half)
            .max(-s.v - 2.0)
            .max(p.z - (s.top_z - 8.0))
            .max(self.base_z + 10.0 - p.z)
    }

    pub fn bounds(&self) -> Aabb {
        let pts = self.posterior_end.iter().chain(&self.anterior_end);
        let (mut lo, mut hi) = (
            v3(f32::MAX, f32::MAX, self.base_z),
            v3(f32::MIN, f32::MIN, 0.0),
        );
        for &(x, y) in pts {
            lo = lo.min_elem(v3(x, y, self.base_z));
            hi = hi.max_elem(v3(x, y, self.crest_z));
        }
        let reach = self.bulge_mm[1].max(self.bulge_mm[0]) + 20.0;
        Aabb { min: lo, max: hi }.grow(reach + self.iliacus_mm)
    }
}

/// The sacrum and coccyx: a plate curving back and narrowing from the first sacral vertebra
/// down, whose wings (alae) meet the iliac wings at the sacroiliac joints.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sacrum {
    /// Height (mm) of the first sacral vertebra's upper end plate; the lumbar spine stops here.
    pub top_z: f32,
    /// Height (mm) of the coccyx's tip.
    pub bottom_z: f32,
    /// Centre (y, mm) of the plate at the top; it curves back as it descends.
    pub top_y: f32,
    /// How far back (mm) the plate's centre lies at its deepest.
    pub curve_mm: f32,
    /// Half width (mm) at the top (across the alae) and at the tip.
    pub half_width_mm: [f32; 2],
    /// Half thickness (mm) at the top and at the tip.
    pub half_depth_mm: [f32; 2],
}

impl Sacrum {
    /// Centre y (mm) and half sizes of the plate at height `z`.
    fn section(&self, z: f32) -> (f32, f32, f32) {
        let tau = ((self.top_z - z) / (self.top_z - self.bottom_z)).clamp(0.0, 1.0);
        // Back, then forward again at the coccyx.
        let y = self.top_y - self.curve_mm * (2.2 * tau - 1.2 * tau * tau);
        let w = lerp(self.half_width_mm[0], self.half_width_mm[1], tau.powf(0.8));
        let d = lerp(self.half_depth_mm[0], self.half_depth_mm[1], tau);
        (y, w, d)
    }

    pub fn sdf(&self, p: V3) -> f32 {
        let (y, w, d) = self.section(p.z);
        ellipse_sdf(p.x, p.y - y, w, d)
            .max(p.z - self.top_z)
            .max(self.bottom_z - p.z)
    }

    /// The front (anterior) surface's y (mm) at height `z`.
    pub fn front_y(&self, z: f32) -> f32 {
        let (y, _, d) = self.section(z);
        y + d
    }

    pub fn bounds(&self) -> Aabb {
        let w = self.half_width_mm[0].max(self.half_width_mm[1]) + 2.0;
        Aabb {
            min: v3(-w, self.top_y - self.curve_mm - 40.0, self.bottom_z),
            max: v3(w, self.top_y + 40.0, self.top_z),
        }
    }
}

/// A bone drawn as a tube (femoral necks and shafts, pubic and ischial rami).
#[derive(Debug, Clone)]
pub(crate) struct TubeBone {
    pub name: &'static str,
    pub tube: Tube,
    /// Cortex thickness (mm); a thick cortex around fatty marrow reads as a long bone's shaft.
    pub cortex_mm: f32,
    /// Whether the marrow is fatty (long bone shafts) rather than red (flat and short bones).
    pub fatty_marrow: bool,
}

/// The drawn pelvis of one case.
#[derive(Debug, Clone)]
pub(crate) struct Pelvis {
    /// Height (mm) of the iliac crests' tops.
    pub crest_z: f32,
    /// Height (mm) of the femoral heads' centres.
    pub hip_z: f32,
    pub sacrum: Sacrum,
    pub wings: [IliacWing; 2],
    /// Femoral head centres (right, left) and their radius (mm).
    pub femoral_heads: [V3; 2],
    pub head_radius_mm: f32,
    /// Bony cups around the heads (spheres, open laterally).
    pub acetabula: [V3; 2],
    pub trochanters: [Ellipsoid; 2],
    /// Femoral necks and shafts, pubic and ischial rami.
    pub tube_bones: Vec<TubeBone>,
    /// The iliopsoas either side: on from the psoas over the pubic ramus to the lesser
    /// trochanter.
    pub iliopsoas: Vec<Tube>,
    /// The pubic bodies either side of the symphysis.
    pub pubic_bodies: [Ellipsoid; 2],
    pub bladder: Ellipsoid,
    pub bladder_wall_mm: f32,
    /// Caecum, sigmoid and rectum.
    pub large_bowel: Vec<Bowel>,
    /// Small-bowel loops in the pelvis.
    pub loops: Vec<Bowel>,
    /// Where the abdomen's ascending and descending colon end below (mm): the caecum and the
    /// sigmoid take over.
    pub colon_floor_z: f32,
    /// The lowest height (mm) a scan of this pelvis shows.
    pub scan_floor_z: f32,
}

impl Pelvis {
    /// Draws the pelvis that fits `anatomy`.
    pub fn draw(anatomy: &Anatomy, rng: &mut Rng) -> Pelvis {
        let spine = &anatomy.spine;
        let (a_c, b_ca, b_cp) = anatomy.params.cavity_extent_mm();
        let j = |rng: &mut Rng, w: f32| rng.jitter(w);
        let spine_y = spine.y_mm;

        // Levels: crest at the L4/L5 disc, sacrum from the L5/S1 disc, hips below.
        let crest_z = spine.z_ref_mm - 3.5 * spine.period_mm + j(rng, 8.0);
        let sacrum_top = spine.z_ref_mm - 4.5 * spine.period_mm - spine.disc_mm * 0.5;
        let hip_z = crest_z - rng.range_f32(115.0, 140.0);
        let symphysis_y = spine_y + rng.range_f32(105.0, 125.0);
        let symphysis_z = hip_z - rng.range_f32(8.0, 16.0);
        let hip_x = rng.range_f32(80.0, 95.0);
        let hip_y = symphysis_y - rng.range_f32(50.0, 60.0);
        let head_r = rng.range_f32(21.0, 26.0);

        let si_x = rng.range_f32(38.0, 46.0);
        let sacrum = Sacrum {
            top_z: sacrum_top,
            bottom_z: sacrum_top - rng.range_f32(105.0, 125.0),
            top_y: spine_y,
            curve_mm: rng.range_f32(30.0, 45.0),
            half_width_mm: [si_x + 4.0, rng.range_f32(8.0, 12.0)],
            half_depth_mm: [spine.body_ry_mm, rng.range_f32(5.0, 7.0)],
        };

        let asis_x = rng.range_f32(108.0, 128.0);
        let asis_y = symphysis_y + rng.range_f32(-5.0, 10.0);
        let bulge = rng.range_f32(28.0, 40.0);
        let wing_half = rng.range_f32(3.0, 4.5);
        let iliacus = rng.range_f32(12.0, 20.0);
        let wings = [1.0f32, -1.0].map(|s| {
            let roof = (s * (hip_x - 6.0), hip_y - 2.0);
            IliacWing {
                sign: s,
                base_z: hip_z + head_r - 2.0,
                crest_z,
                posterior_end: [
                    (roof.0 - s * 14.0, roof.1 - 12.0),
                    (s * si_x, spine_y - 12.0),
                ],
                anterior_end: [(roof.0 + s * 6.0, roof.1 + 16.0), (s * asis_x, asis_y)],
                bulge_mm: [6.0, bulge],
                half_thickness_mm: [12.0, wing_half],
                iliacus_mm: iliacus,
            }
        });

        let femoral_heads = [1.0f32, -1.0].map(|s| v3(s * hip_x, hip_y, hip_z));
        let acetabula = [1.0f32, -1.0].map(|s| v3(s * (hip_x - 6.0), hip_y - 3.0, hip_z + 4.0));
        let neck = v3(rng.range_f32(38.0, 46.0), -rng.range_f32(6.0, 12.0), -22.0);
        let trochanter_centres = [1.0f32, -1.0].map(|s| {
            let h = v3(s * hip_x, hip_y, hip_z);
            h + v3(s * neck.x, neck.y, neck.z)
        });
        let trochanters = [0usize, 1].map(|i| {
            let s = if i == 0 { 1.0 } else { -1.0 };
            Ellipsoid::new(
                trochanter_centres[i] + v3(s * 8.0, -10.0, 8.0),
                v3(15.0, 17.0, 24.0),
                Rot::IDENTITY,
            )
        });
        let mut tube_bones = Vec::new();
        for (i, s) in [1.0f32, -1.0].into_iter().enumerate() {
            let h = femoral_heads[i];
            let g = trochanter_centres[i];
            tube_bones.push(TubeBone {
                name: "femoral neck",
                tube: Tube::new(vec![h, g], vec![15.0, 17.0]),
                cortex_mm: 2.0,
                fatty_marrow: false,
            });
            tube_bones.push(TubeBone {
                name: "femoral shaft",
                tube: Tube::new(
                    vec![
                        g,
                        g + v3(-s * 12.0, 4.0, -120.0),
                        g + v3(-s * 24.0, 8.0, -320.0),
                    ],
                    vec![15.0, 14.0, 13.0],
                ),
                cortex_mm: 5.0,
                fatty_marrow: true,
            });
            let pubis = v3(s * 15.0, symphysis_y, symphysis_z);
            tube_bones.push(TubeBone {
                name: "superior pubic ramus",
                tube: Tube::new(
                    vec![h + v3(-s * 20.0, 16.0, 4.0), pubis + v3(s * 6.0, 0.0, 6.0)],
                    vec![11.0, 9.0],
                ),
                cortex_mm: 1.5,
                fatty_marrow: false,
            });
            let tuberosity = v3(s * (hip_x - 30.0), hip_y - 38.0, hip_z - 45.0);
            tube_bones.push(TubeBone {
                name: "ischium",
                tube: Tube::new(
                    vec![h + v3(-s * 8.0, -20.0, -10.0), tuberosity],
                    vec![15.0, 14.0],
                ),
                cortex_mm: 1.5,
                fatty_marrow: false,
            });
            tube_bones.push(TubeBone {
                name: "inferior pubic ramus",
                tube: Tube::new(
                    vec![tuberosity, pubis + v3(0.0, -8.0, -20.0)],
                    vec![9.0, 8.0],
                ),
                cortex_mm: 1.5,
                fatty_marrow: false,
            });
        }
        let iliopsoas = [0usize, 1]
            .map(|i| {
                let s = if i == 0 { 1.0 } else { -1.0 };
                let psoas = &anatomy.psoas[i];
                let (end, r) = (*psoas.points().last().unwrap_or(&V3::default()), 16.0);
                let h = femoral_heads[i];
                Tube::smooth(
                    &[
                        end + v3(0.0, 0.0, 10.0),
                        v3(s * (hip_x - 22.0), hip_y + 24.0, hip_z + 45.0),
                        v3(s * (hip_x - 8.0), hip_y + 34.0, hip_z + 5.0),
                        h + v3(s * 12.0, -4.0, -55.0),
                    ],
                    &[r, r, r * 0.9, r * 0.7],
                    3,
                )
            })
            .to_vec();
        let pubic_bodies = [1.0f32, -1.0].map(|s| {
            Ellipsoid::new(
                v3(s * 14.0, symphysis_y, symphysis_z),
                v3(10.0, 13.0, 20.0),
                Rot::IDENTITY,
            )
        });

        // Bladder behind the symphysis, its size set by how full it is.
        let fill = rng.range_f32(0.2, 1.0);
        let radii = v3(25.0 + 25.0 * fill, 18.0 + 22.0 * fill, 18.0 + 30.0 * fill);
        let bladder = Ellipsoid::new(
            v3(
                j(rng, 10.0),
                symphysis_y - 16.0 - radii.y,
                symphysis_z + 10.0 + radii.z * 0.8,
            ),
            radii,
            Rot::from_euler(j(rng, 0.15), j(rng, 0.15), j(rng, 0.2)),
        );
        let bladder_wall_mm = lerp(4.0, 2.0, fill);

        // Large bowel: the caecum in the right iliac fossa, the sigmoid from the descending
        // colon across to the midline, the rectum down the front of the sacrum.
        let colon_floor_z = crest_z - rng.range_f32(15.0, 35.0);
        let mut large_bowel = Vec::new();
        let caecum_r = rng.range_f32(22.0, 30.0);
        large_bowel.push(Bowel {
            tube: Tube::new(
                vec![
                    v3(a_c * 0.68, -b_cp * 0.05, colon_floor_z + 20.0),
                    v3(a_c * 0.55 + j(rng, 6.0), b_ca * 0.1, colon_floor_z - 25.0),
                ],
                vec![caecum_r * 0.8, caecum_r],
            ),
            wall_mm: rng.range_f32(1.5, 2.5),
            content: large_bowel_content(rng, b_ca * 0.1),
        });
        let rectum_y = |z: f32| sacrum.front_y(z);
        let rectum_r = rng.range_f32(13.0, 18.0);
        let sigmoid = [
            v3(-a_c * 0.72, -b_cp * 0.1, colon_floor_z + 20.0),
            v3(
                -a_c * 0.55 + j(rng, 8.0),
                spine_y + 45.0 + j(rng, 10.0),
                colon_floor_z - 30.0,
            ),
            v3(
                -25.0 + j(rng, 10.0),
                spine_y + 70.0 + j(rng, 10.0),
                crest_z - 80.0,
            ),
            v3(
                12.0 + j(rng, 8.0),
                spine_y + 40.0 + j(rng, 8.0),
                crest_z - 100.0,
            ),
            v3(
                2.0,
                rectum_y(sacrum_top - 70.0) + rectum_r + 3.0,
                sacrum_top - 70.0,
            ),
            v3(
                0.0,
                rectum_y(sacrum.bottom_z + 20.0) + rectum_r + 6.0,
                sacrum.bottom_z + 10.0,
            ),
            v3(0.0, hip_y - 20.0, hip_z - 70.0),
        ];
        let sigmoid_tube = Tube::smooth(&sigmoid, &[rectum_r; 7], 3);
        let (points, radii_mm) = (
            sigmoid_tube.points().to_vec(),
            sigmoid_tube.radii_mm().to_vec(),
        );
        let mut start = 0;
        while start + 1 < points.len() {
            let end = (start + rng.int_range(3, 7)).min(points.len() - 1);
            large_bowel.push(Bowel {
                tube: Tube::new(points[start..=end].to_vec(), radii_mm[start..=end].to_vec()),
                wall_mm: rng.range_f32(1.5, 3.0),
                content: large_bowel_content(rng, points[start].y),
            });
            start = end;
        }

        // Small-bowel loops above the bladder, between the wings.
        let top = bladder.center.z + bladder.radii.z;
        let mut loops = Vec::new();
        for _ in 0..rng.int_range(2, 5) {
            let mut p = v3(
                rng.range_f32(-50.0, 50.0),
                rng.range_f32(spine_y + 45.0, symphysis_y - 15.0),
                rng.range_f32(top + 5.0, crest_z - 20.0),
            );
            let mut points = vec![p];
            let mut dir = v3(
                rng.normal() as f32,
                rng.normal() as f32,
                rng.normal() as f32 * 0.5,
            );
            for _ in 0..rng.int_range(4, 8) {
                let turn = v3(
                    rng.normal() as f32,
                    rng.normal() as f32,
                    rng.normal() as f32 * 0.5,
                );
                dir = dir + turn * 0.8;
                dir = dir * (1.0 / dir.length().max(1e-3));
                p = p + dir * rng.range_f32(18.0, 26.0);
                p.x = p.x.clamp(-60.0, 60.0);
                p.y = p.y.clamp(spine_y + 40.0, symphysis_y - 10.0);
                p.z = p.z.clamp(top - 10.0, crest_z);
                points.push(p);
            }
            let n = points.len();
            let content = match rng.weighted(&[0.6, 0.3, 0.1]) {
                0 => Content::Fluid,
                1 => Content::FluidGas {
                    level_y_mm: p.y + rng.range_f32(-5.0, 10.0),
                },
                _ => Content::Gas,
            };
            loops.push(Bowel {
                tube: Tube::smooth(&points, &vec![rng.range_f32(9.0, 13.0); n], 3),
                wall_mm: rng.range_f32(1.5, 2.5),
                content,
            });
        }

        Pelvis {
            crest_z,
            hip_z,
            sacrum,
            wings,
            femoral_heads,
            head_radius_mm: head_r,
            acetabula,
            trochanters,
            tube_bones,
            iliopsoas,
            pubic_bodies,
            bladder,
            bladder_wall_mm,
            large_bowel,
            loops,
            colon_floor_z,
            scan_floor_z: hip_z - rng.range_f32(40.0, 75.0),
        }
    }

    /// The bony cup of a hip joint: a shell around the head, open laterally (mm; negative
    /// inside the bone).
    pub fn acetabulum_sdf(&self, side: usize, p: V3) -> f32 {
        let c = self.acetabula[side];
        let head = self.femoral_heads[side];
        let sign = if side == 0 { 1.0 } else { -1.0 };
        let outer = (p - c).length() - (self.head_radius_mm + 13.0);
        let joint = self.head_radius_mm + 2.5 - (p - head).length();
        outer
            .max(joint)
            .max(sign * (p.x - head.x) - 0.4 * self.head_radius_mm)
    }

    /// The femoral head (mm; negative inside).
    pub fn femoral_head_sdf(&self, side: usize, p: V3) -> f32 {
        (p - self.femoral_heads[side]).length() - self.head_radius_mm
    }

    /// The bladder, wall included (mm; negative inside).
    pub fn bladder_sdf(&self, p: V3) -> f32 {
        let b = &self.bladder;
        ellipsoid_sdf(b.rot.apply_inverse(p - b.center), b.radii)
    }

    /// Shapes the body wall below the crests, in place: hips widened to hold the greater
    /// trochanters and the glutei, room in front for the symphysis, and the abdominal cavity
    /// (visceral fat) narrowed from the iliac fossae to the true pelvis, the muscle layer filling
    /// the space between (glutei, obturator and thigh muscles).
    pub fn shape_body(&self, anatomy: &mut Anatomy, rng: &mut Rng) {
        let extra_muscle_mm = rng.range_f32(15.0, 30.0);
        let true_pelvis_half_mm = rng.range_f32(52.0, 64.0);
        let (crest_z, hip_z) = (self.crest_z, self.hip_z);
        let fat_lateral = anatomy.params.fat_lateral_mm;
        let skin = anatomy.params.skin_mm;
        let hip_x = self.femoral_heads[0].x.abs();
        let needed_half_width = hip_x + 65.0 + extra_muscle_mm + fat_lateral + skin;
        let needed_front = self.pubic_bodies[0].center.y + 16.0;
        // The iliac fossae's lateral edge at the crest: inside the wings.
        let fossa_half_mm = self
            .wings
            .iter()
            .map(|w| w.anterior_end[1].0.abs())
            .fold(f32::MAX, f32::min)
            - 15.0;
        anatomy.body.reshape(|theta, z, r: [f32; LAYERS]| {
            let w = smoothstep(crest_z + 10.0, crest_z - 60.0, z);
            if w <= 0.0 {
                return r;
            }
            let (s, c) = theta.sin_cos();
            let k = 1.0 + ((needed_half_width / r[BODY].max(1.0)).max(1.0) - 1.0) * w;
            let mut grow = r[BODY] * ((k * c).powi(2) + s * s).sqrt() - r[BODY];
            if s > 0.0 {
                grow += (needed_front - r[CAVITY] * s).max(0.0) * w * s * s;
            }
            let skin_t = r[BODY] - r[SKIN_INNER];
            let fat_t = r[SKIN_INNER] - r[FAT_INNER];
            let body_r = r[BODY] + grow;
            let skin_inner = body_r - skin_t;
            let fat_inner = skin_inner - fat_t;
            // The cavity's half width: the fossae at the crest, the true pelvis at the hips.
            let target = lerp(
                fossa_half_mm,
                true_pelvis_half_mm,
                smoothstep(crest_z - 20.0, hip_z + 10.0, z),
            );
            let now = (r[CAVITY] + grow * s * s).max(1.0);
            let q = 1.0 - (1.0 - (target / now).min(1.0)) * w;
            let cavity = (r[CAVITY] + grow * s * s) / ((c / q).powi(2) + s * s).sqrt();
            [
                body_r,
                skin_inner,
                fat_inner,
                cavity.min(fat_inner - 5.0).max(20.0),
            ]
        });
    }
}

/// Contents of a large-bowel segment: mostly stool, some gas, some fluid with gas on top.
fn large_bowel_content(rng: &mut Rng, y_mm: f32) -> Content {
    match rng.weighted(&[0.6, 0.25, 0.15]) {
        0 => Content::Stool,
        1 => Content::Gas,
        _ => Content::FluidGas {
            level_y_mm: y_mm + rng.range_f32(-5.0, 15.0),
        },
    }
}
