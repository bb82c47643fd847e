//! The body wall of a phantom: outline, skin, subcutaneous fat, muscle wall and the abdominal
//! cavity inside it, as radii around the body axis that vary with angle and height.
//!
//! Angles are measured in the axial plane of the patient frame: `theta = atan2(y, x)`, so 0 points
//! to the patient's right, +π/2 anterior, −π/2 posterior. The profile is tabulated once per case
//! (720 angles × 2 mm heights) and looked up bilinearly, so the renderer and the organ clipping
//! pay one `atan2` and a few loads per query.

use std::f32::consts::{PI, TAU};

use super::geometry::{V3, v3};
use super::noise::ValueNoise;
use super::rng::Rng;

const ANGLES: usize = 720;
const DZ_MM: f32 = 2.0;

/// Number of radii tabulated per angle: body outline, inner edge of the skin, inner edge of the
/// subcutaneous fat (outer edge of the muscle wall), and the cavity (inner edge of the wall).
pub(crate) const LAYERS: usize = 4;
pub(crate) const BODY: usize = 0;
pub(crate) const SKIN_INNER: usize = 1;
pub(crate) const FAT_INNER: usize = 2;
pub(crate) const CAVITY: usize = 3;

/// Drawn size and build of one patient's trunk (mm).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BodyParams {
    /// 0 = very thin, 1 = obese; drives fat thickness and size.
    pub habitus: f32,
    pub half_width_mm: f32,
    pub anterior_mm: f32,
    pub posterior_mm: f32,
    /// Superellipse exponents of the front and back halves (2 = ellipse; larger = boxier).
    pub exponent_anterior: f32,
    pub exponent_posterior: f32,
    pub skin_mm: f32,
    pub fat_anterior_mm: f32,
    pub fat_lateral_mm: f32,
    pub fat_posterior_mm: f32,
    pub muscle_anterior_mm: f32,
    pub muscle_lateral_mm: f32,
    pub muscle_posterior_mm: f32,
    /// Relative change of the body radii per 100 mm of height (the trunk tapers or widens).
    pub taper_per_100mm: f32,
}

impl BodyParams {
    pub fn draw(rng: &mut Rng) -> Self {
        // Habitus: mostly average builds, some thin, some obese.
        let habitus = ((rng.uniform() + rng.uniform() + rng.uniform()) / 3.0 * 1.2 - 0.1)
            .clamp(0.0, 1.0) as f32;
        let h = habitus;
        let fat_scale = rng.range_f32(0.8, 1.25);
        Self {
            habitus,
            half_width_mm: 140.0 + 55.0 * h + rng.jitter(12.0),
            anterior_mm: 100.0 + 45.0 * h + rng.jitter(10.0),
            posterior_mm: 95.0 + 25.0 * h + rng.jitter(6.0),
            exponent_anterior: rng.range_f32(2.0, 2.5),
            exponent_posterior: rng.range_f32(2.4, 3.4),
            skin_mm: rng.range_f32(1.5, 3.0),
            fat_anterior_mm: (8.0 + 45.0 * h) * fat_scale,
            fat_lateral_mm: (7.0 + 40.0 * h) * fat_scale,
            fat_posterior_mm: (7.0 + 28.0 * h) * fat_scale,
            muscle_anterior_mm: rng.range_f32(8.0, 13.0),
            muscle_lateral_mm: rng.range_f32(11.0, 18.0),
            muscle_posterior_mm: rng.range_f32(8.0, 13.0),
            taper_per_100mm: rng.jitter(0.05),
        }
    }

    /// Outline radius (mm) at angle `theta` before noise and taper.
    fn outline_mm(&self, theta: f32) -> f32 {
        let (s, c) = theta.sin_cos();
        let (b, e) = if s >= 0.0 {
            (self.anterior_mm, self.exponent_anterior)
        } else {
            (self.posterior_mm, self.exponent_posterior)
        };
        let t = (c.abs() / self.half_width_mm).powf(e) + (s.abs() / b).powf(e);
        t.powf(-1.0 / e)
    }

    /// Thickness (mm) of a layer whose anterior, lateral and posterior values are given, at
    /// angle `theta`.
    fn around(theta: f32, anterior: f32, lateral: f32, posterior: f32) -> f32 {
        let s = theta.sin();
        if s >= 0.0 {
            lateral + (anterior - lateral) * s * s
        } else {
            lateral + (posterior - lateral) * s * s
        }
    }

    /// Mean cavity half-sizes at the reference height: (half width, anterior, posterior) mm.
    pub fn cavity_extent_mm(&self) -> (f32, f32, f32) {
        (
            self.half_width_mm - self.fat_lateral_mm - self.muscle_lateral_mm,
            self.anterior_mm - self.fat_anterior_mm - self.muscle_anterior_mm,
            self.posterior_mm - self.fat_posterior_mm - self.muscle_posterior_mm,
        )
    }
}

/// The tabulated body-wall radii of one case.
#[derive(Debug, Clone)]
pub(crate) struct BodyProfile {
    z0_mm: f32,
    heights: usize,
    /// `[height][angle][layer]` radii in mm.
    radii: Vec<[f32; LAYERS]>,
}

impl BodyProfile {
    /// Tabulates the body for heights `z_lo_mm..=z_hi_mm` (patient frame).
    pub fn build(params: &BodyParams, z_lo_mm: f32, z_hi_mm: f32, rng: &mut Rng) -> Self {
        let outline_noise = ValueNoise::new(rng, 45.0);
        let fat_noise = ValueNoise::new(rng, 45.0);
        let muscle_noise = ValueNoise::new(rng, 40.0);
        let heights = (((z_hi_mm - z_lo_mm) / DZ_MM).ceil() as usize + 1).max(2);
        let mut radii = Vec::with_capacity(heights * ANGLES);
        for h in 0..heights {
            let z = z_lo_mm + h as f32 * DZ_MM;
            let taper = 1.0 + params.taper_per_100mm * z / 100.0;
            for a in 0..ANGLES {
                let theta = a as f32 / ANGLES as f32 * TAU - PI;
                let (s, c) = theta.sin_cos();
                // Sampling 3D noise on a cylinder keeps every field periodic in the angle.
                // Heights are squeezed so the wall varies slowly from slice to slice.
                let on_cylinder = v3(c * 120.0, s * 120.0, z * 0.35);
                let body = params.outline_mm(theta)
                    * taper
                    * (1.0 + 0.03 * outline_noise.sample(on_cylinder));
                let fat = BodyParams::around(
                    theta,
                    params.fat_anterior_mm,
                    params.fat_lateral_mm,
                    params.fat_posterior_mm,
                ) * (1.0 + 0.3 * fat_noise.sample(on_cylinder));
                let muscle = BodyParams::around(
                    theta,
                    params.muscle_anterior_mm,
                    params.muscle_lateral_mm,
                    params.muscle_posterior_mm,
                ) * (1.0 + 0.15 * muscle_noise.sample(on_cylinder));
                let skin_inner = body - params.skin_mm;
                let fat_inner = skin_inner - fat.max(2.0);
                let cavity = fat_inner - muscle.max(5.0);
                radii.push([body, skin_inner, fat_inner, cavity.max(20.0)]);
            }
        }
        Self {
            z0_mm: z_lo_mm,
            heights,
            radii,
        }
    }

    /// Replaces every tabulated set of layer radii by `f(theta, z_mm, radii)` (the pelvis widens
    /// the hips this way). `f` must keep the layers nested: body ≥ skin ≥ fat ≥ cavity.
    pub fn reshape(&mut self, f: impl Fn(f32, f32, [f32; LAYERS]) -> [f32; LAYERS]) {
        for (i, r) in self.radii.iter_mut().enumerate() {
            let (h, a) = (i / ANGLES, i % ANGLES);
            let theta = a as f32 / ANGLES as f32 * TAU - PI;
            let z = self.z0_mm + h as f32 * DZ_MM;
            *r = f(theta, z, *r);
        }
    }

    /// Radius and angle of `p` around the body axis.
    #[inline]
    pub fn polar(p: V3) -> (f32, f32) {
        ((p.x * p.x + p.y * p.y).sqrt(), fast_atan2(p.y, p.x))
    }

    #[inline]
    fn cell(&self, theta: f32, z_mm: f32) -> (usize, usize, f32, f32) {
        let fa = wrap_angle_index((theta + PI) / TAU * ANGLES as f32);
        let a0 = (fa as usize).min(ANGLES - 1);
        let fh = ((z_mm - self.z0_mm) / DZ_MM).clamp(0.0, (self.heights - 1) as f32);
        let h0 = (fh as usize).min(self.heights - 2);
        (a0, h0 * ANGLES, fa - a0 as f32, fh - h0 as f32)
    }

    /// One layer's radius (mm) at angle `theta` and height `z_mm`.
    #[inline]
    pub fn radius(&self, theta: f32, z_mm: f32, layer: usize) -> f32 {
        let (a0, row0, ta, th) = self.cell(theta, z_mm);
        let a1 = (a0 + 1) % ANGLES;
        let row1 = row0 + ANGLES;
        let r0 = self.radii[row0 + a0][layer]
            + (self.radii[row0 + a1][layer] - self.radii[row0 + a0][layer]) * ta;
        let r1 = self.radii[row1 + a0][layer]
            + (self.radii[row1 + a1][layer] - self.radii[row1 + a0][layer]) * ta;
        r0 + (r1 - r0) * th
    }

    /// All layer radii at height `z_mm` and their change per mm of height, for every tabulated
    /// angle: one slice's lookup table.
    pub fn slice_table(&self, z_mm: f32) -> SliceTable {
        let entries = (0..ANGLES)
            .map(|a| {
                let theta = a as f32 / ANGLES as f32 * TAU - PI;
                let here = self.radii(theta, z_mm);
                let above = self.radii(theta, z_mm + 1.0);
                let mut slope = [0.0f32; LAYERS];
                for l in 0..LAYERS {
                    slope[l] = (above[l] - here[l]).abs();
                }
                (here, slope)
            })
            .collect();
        SliceTable { entries }
    }

    /// The layer radii (mm) at angle `theta` and height `z_mm`, interpolated bilinearly.
    #[inline]
    pub fn radii(&self, theta: f32, z_mm: f32) -> [f32; LAYERS] {
        let (a0, row0, ta, th) = self.cell(theta, z_mm);
        let a1 = (a0 + 1) % ANGLES;
        let row1 = row0 + ANGLES;
        let mut out = [0.0f32; LAYERS];
        for (l, o) in out.iter_mut().enumerate() {
            let r00 = self.radii[row0 + a0][l];
            let r01 = self.radii[row0 + a1][l];
            let r10 = self.radii[row1 + a0][l];
            let r11 = self.radii[row1 + a1][l];
            let r0 = r00 + (r01 - r00) * ta;
            let r1 = r10 + (r11 - r10) * ta;
            *o = r0 + (r1 - r0) * th;
        }
        out
    }

    /// Signed radial distance (mm) of `p` to the inner edge of the abdominal wall: negative in
    /// the cavity.
    #[inline]
    pub fn cavity_sdf(&self, p: V3) -> f32 {
        let (r, theta) = Self::polar(p);
        r - self.radius(theta, p.z, CAVITY)
    }

    /// Extent of the body outline along x and y over all heights: (min x, max x, min y, max y).
    pub fn outline_extent_mm(&self) -> (f32, f32, f32, f32) {
        let mut e = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for (i, r) in self.radii.iter().enumerate() {
            let a = i % ANGLES;
            let theta = a as f32 / ANGLES as f32 * TAU - PI;
            let (s, c) = theta.sin_cos();
            let (x, y) = (r[BODY] * c, r[BODY] * s);
            e = (e.0.min(x), e.1.max(x), e.2.min(y), e.3.max(y));
        }
        e
    }
}

/// Body-wall radii of one axial slice by angle (see [`BodyProfile::slice_table`]).
#[derive(Debug, Clone)]
pub(crate) struct SliceTable {
    /// Per angle: layer radii (mm) and |∂radius/∂z| (mm per mm).
    entries: Vec<([f32; LAYERS], [f32; LAYERS])>,
}

impl SliceTable {
    /// Layer radii and their height slopes at angle `theta` (linear in the angle).
    #[inline]
    pub fn at(&self, theta: f32) -> ([f32; LAYERS], [f32; LAYERS]) {
        let fa = wrap_angle_index((theta + PI) / TAU * ANGLES as f32);
        let a0 = (fa as usize).min(ANGLES - 1);
        let a1 = (a0 + 1) % ANGLES;
        let t = fa - a0 as f32;
        let (r0, s0) = &self.entries[a0];
        let (r1, s1) = &self.entries[a1];
        let mut r = [0.0f32; LAYERS];
        let mut s = [0.0f32; LAYERS];
        for l in 0..LAYERS {
            r[l] = r0[l] + (r1[l] - r0[l]) * t;
            s[l] = s0[l] + (s1[l] - s0[l]) * t;
        }
        (r, s)
    }
}

/// A fractional angle-table index wrapped into `[0, ANGLES)`.
#[inline]
fn wrap_angle_index(f: f32) -> f32 {
    let n = ANGLES as f32;
    if f < 0.0 {
        f + n
    } else if f >= n {
        f - n
    } else {
        f
    }
}

/// `atan2(y, x)` by a minimax polynomial (error below 3e-4 rad, far finer than the 0.5° angle table): pure arithmetic, several times
/// faster than the library call and the same on every platform.
#[inline]
pub(crate) fn fast_atan2(y: f32, x: f32) -> f32 {
    let (ax, ay) = (x.abs(), y.abs());
    let (lo, hi) = if ax < ay { (ax, ay) } else { (ay, ax) };
    if hi == 0.0 {
        return 0.0;
    }
    let a = lo / hi;
    let s = a * a;
    let mut r = ((-0.046_496_475 * s + 0.159_314_22) * s - 0.327_622_76) * s * a + a;
    if ay > ax {
        r = PI / 2.0 - r;
    }
    if x < 0.0 {
        r = PI - r;
    }
    if y < 0.0 { -r } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_nested_and_the_outline_matches_the_parameters() {
        let mut rng = Rng::new(11);
        let params = BodyParams::draw(&mut rng);
        let profile = BodyProfile::build(&params, -100.0, 100.0, &mut rng);
        for a in 0..36 {
            let theta = a as f32 * TAU / 36.0 - PI;
            for z in [-100.0, -3.0, 0.0, 55.5, 100.0] {
                let r = profile.radii(theta, z);
                assert!(r[BODY] > r[SKIN_INNER] && r[SKIN_INNER] > r[FAT_INNER]);
                assert!(r[FAT_INNER] > r[CAVITY] && r[CAVITY] >= 20.0);
            }
        }
        // The lateral outline at mid height is the drawn half width, within noise and taper.
        let r = profile.radii(0.0, 0.0)[BODY];
        assert!((r / params.half_width_mm - 1.0).abs() < 0.05, "{r}");
        assert!(profile.cavity_sdf(v3(0.0, 0.0, 0.0)) < -50.0);
        // The slice table agrees with the full lookup.
        let table = profile.slice_table(12.5);
        for a in 0..50 {
            let theta = a as f32 * 0.1257 - PI;
            let (r, _) = table.at(theta);
            let full = profile.radii(theta, 12.5);
            for l in 0..LAYERS {
                assert!((r[l] - full[l]).abs() < 1e-3);
            }
            assert!((profile.radius(theta, 12.5, CAVITY) - full[CAVITY]).abs() < 1e-4);
        }
    }

    #[test]
    fn fast_atan2_matches_the_library() {
        for i in 0..2000 {
            let t = i as f32 * 0.0031 - 3.1;
            for r in [0.001f32, 1.0, 300.0] {
                let (y, x) = (r * t.sin(), r * t.cos());
                assert!((fast_atan2(y, x) - y.atan2(x)).abs() < 3e-4, "{t} {r}");
            }
        }
        assert_eq!(fast_atan2(0.0, 0.0), 0.0);
        assert!((fast_atan2(0.0, -1.0) - PI).abs() < 1e-6);
    }
}
