//! Tumours of a phantom's target organ: how many, where, how large and how they look.
//!
//! A lesion is a perturbed ellipsoid (lumpy, irregular outline) placed inside the organ,
//! hypodense by 20–60 HU against the parenchyma, heterogeneous, sometimes with an enhancing rim
//! or a necrotic core. Its nominal diameter (5–50 mm) bounds its largest extent: the radii are
//! shrunk by the bump amplitude so that no bump reaches past it. Lesions never overlap, and each
//! lies almost wholly where its organ is labelled: it is shrunk until a centre fits.

use std::f32::consts::PI;

use super::anatomy::{Anatomy, Fields, occupied_bounds};
use super::geometry::{Aabb, Ellipsoid, Rot, V3, v3};
use super::rng::Rng;
use super::scene::{Organ, Sample};
use super::tissue::ContrastPhase;

/// Smallest and largest nominal lesion diameter (mm).
pub const LESION_DIAMETER_RANGE_MM: (f64, f64) = (5.0, 50.0);

/// How a lesion's inside looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LesionKind {
    /// Nearly uniform, sharply marginated.
    Homogeneous,
    /// Mottled inside.
    Heterogeneous,
    /// A brighter rim around a darker centre (e.g. a metastasis in the portal-venous phase).
    RimEnhancing,
    /// A markedly darker, necrotic centre.
    NecroticCore,
}

impl LesionKind {
    /// A short lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            LesionKind::Homogeneous => "homogeneous",
            LesionKind::Heterogeneous => "heterogeneous",
            LesionKind::RimEnhancing => "rim-enhancing",
            LesionKind::NecroticCore => "necrotic",
        }
    }
}

/// How a lesion's margin, rim and mottling relate to its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LesionLook {
    /// As drawn since the first phantoms: margin blur (up to 2.5 mm), enhancing rim (1.5–3 mm)
    /// and mottling whatever the lesion's size, so a sub-centimetre lesion shows about half of
    /// its drawn hypodensity (19 of 20–60 HU at 2 mm voxels; a real case shows 41).
    #[default]
    Soft,
    /// In proportion to the lesion: margin blur at most 5 % of its diameter, no enhancing rim
    /// under 15 mm and rims at most 12 % of the diameter above, mottling at full amplitude
    /// from 20 mm and scaled down below. Same lesions, places and sizes as [`LesionLook::Soft`].
    Crisp,
}

impl LesionLook {
    /// A short lower-case name, as `oncoscope synth --lesion-look` takes it.
    pub fn name(self) -> &'static str {
        match self {
            LesionLook::Soft => "soft",
            LesionLook::Crisp => "crisp",
        }
    }
}

/// [`LesionLook::Crisp`]: the largest margin blur per millimetre of diameter.
const CRISP_BLUR_PER_DIAMETER: f32 = 0.05;
/// [`LesionLook::Crisp`]: lesions smaller than this (mm) show no enhancing rim.
const CRISP_SMALLEST_RIM_DIAMETER_MM: f32 = 15.0;
/// [`LesionLook::Crisp`]: the thickest rim per millimetre of diameter.
const CRISP_RIM_PER_DIAMETER: f32 = 0.12;
/// [`LesionLook::Crisp`]: mottling reaches its drawn amplitude at this diameter (mm).
const CRISP_FULL_MOTTLE_DIAMETER_MM: f32 = 20.0;

/// One lesion in the patient frame.
#[derive(Debug, Clone)]
pub(crate) struct Lesion {
    pub organ: Organ,
    pub ellipsoid: Ellipsoid,
    /// Bump amplitude relative to the mean radius.
    pub bumpiness: f32,
    pub bump_offset: V3,
    /// How much darker than the parenchyma (HU, positive).
    pub contrast_hu: f32,
    pub heterogeneity_hu: f32,
    pub kind: LesionKind,
    pub rim_hu: f32,
    /// Rim thickness (mm).
    pub rim_mm: f32,
    pub necrosis_hu: f32,
    pub margin_blur_mm: f32,
    pub diameter_mm: f32,
}

impl Lesion {
    fn mean_radius_mm(&self) -> f32 {
        (self.ellipsoid.radii.x + self.ellipsoid.radii.y + self.ellipsoid.radii.z) / 3.0
    }

    /// Redraws this lesion's margin, rim and mottling for `look` from its placed diameter
    /// (nothing changes for [`LesionLook::Soft`]).
    pub fn apply_look(&mut self, look: LesionLook) {
        if look == LesionLook::Soft {
            return;
        }
        let d = self.diameter_mm;
        self.margin_blur_mm = self.margin_blur_mm.min(CRISP_BLUR_PER_DIAMETER * d);
        if self.kind == LesionKind::RimEnhancing && d < CRISP_SMALLEST_RIM_DIAMETER_MM {
            self.kind = LesionKind::Heterogeneous;
        }
        self.rim_mm = self.rim_mm.min(CRISP_RIM_PER_DIAMETER * d);
        self.heterogeneity_hu *= (d / CRISP_FULL_MOTTLE_DIAMETER_MM).clamp(0.25, 1.0);
    }

    /// Signed distance (mm) to the lesion's lumpy surface.
    #[inline]
    pub fn sdf(&self, p: V3, fields: &Fields) -> f32 {
        let q = self.ellipsoid.normalized(p);
        let bump = fields.bump.sample(q * 1.8 + self.bump_offset);
        self.ellipsoid.sdf(p) - self.bumpiness * self.ellipsoid.radii.max_component() * bump
    }

    /// Where the lesion can be (grown by its bumps).
    pub fn bounds(&self) -> Aabb {
        self.ellipsoid
            .bounds()
            .grow(self.bumpiness * self.ellipsoid.radii.max_component() + 1.0)
    }

    /// HU at a sample of this lesion given the mean HU of the parenchyma around it.
    pub fn shade(&self, s: &Sample, organ_hu: f32) -> f32 {
        let depth = (-s.d / self.mean_radius_mm()).clamp(0.0, 1.0);
        let mut hu =
            organ_hu - self.contrast_hu + self.heterogeneity_hu * (0.5 * s.tex + 0.9 * s.fine);
        match self.kind {
            LesionKind::RimEnhancing => {
                let rim = self.rim_mm.min(self.mean_radius_mm() * 0.4);
                hu += self.rim_hu * (1.0 - smoothstep(rim * 0.5, rim * 1.5, -s.d));
            }
            LesionKind::NecroticCore => {
                hu -= self.necrosis_hu * smoothstep(0.35, 0.65, depth);
            }
            LesionKind::Homogeneous | LesionKind::Heterogeneous => {}
        }
        hu
    }
}

#[inline]
pub(crate) fn smoothstep(lo: f32, hi: f32, x: f32) -> f32 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// How many lesions to draw when not fixed: about 28 % of cases none; liver up to 5,
/// pancreas up to 3.
fn draw_count(rng: &mut Rng, organ: Organ) -> usize {
    match organ {
        Organ::Liver => rng.weighted(&[0.28, 0.24, 0.16, 0.13, 0.10, 0.09]),
        Organ::Pancreas => rng.weighted(&[0.28, 0.45, 0.17, 0.10]),
    }
}

/// Log-uniform diameter in `[lo, hi]` mm.
fn draw_diameter(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    let hi = hi.max(lo);
    (rng.range(lo.ln() as f64, hi.ln() as f64) as f32)
        .exp()
        .clamp(lo, hi)
}

/// A lesion of nominal diameter `diameter_mm` at `center`, with drawn shape and look.
fn make_lesion(
    rng: &mut Rng,
    organ: Organ,
    center: V3,
    diameter_mm: f32,
    phase: ContrastPhase,
    contrast_range_hu: Option<(f32, f32)>,
) -> Lesion {
    let bumpiness = rng.range_f32(0.04, 0.18);
    let r_max = diameter_mm * 0.5 / (1.0 + bumpiness);
    let mut radii = [
        r_max,
        r_max * rng.range_f32(0.72, 1.0),
        r_max * rng.range_f32(0.72, 1.0),
    ];
    // Which axis is the longest varies.
    let first = rng.int_range(0, 2);
    radii.swap(0, first);
    let kind = match rng.weighted(&[0.25, 0.35, 0.25, 0.15]) {
        0 => LesionKind::Homogeneous,
        1 => LesionKind::Heterogeneous,
        2 => LesionKind::RimEnhancing,
        _ => LesionKind::NecroticCore,
    };
    let (lo, hi) = contrast_range_hu.unwrap_or(if phase == ContrastPhase::NonContrast {
        (20.0, 40.0)
    } else {
        (20.0, 60.0)
    });
    let contrast_hu = rng.range_f32(lo, hi);
    // The rim reaches about the parenchyma's brightness (a little above with contrast).
    let rim_hu = if phase == ContrastPhase::NonContrast {
        contrast_hu * rng.range_f32(0.3, 0.6)
    } else {
        contrast_hu + rng.range_f32(-10.0, 10.0)
    };
    Lesion {
        organ,
        ellipsoid: Ellipsoid::new(
            center,
            v3(radii[0], radii[1], radii[2]),
            Rot::from_euler(
                rng.range_f32(0.0, PI),
                rng.range_f32(0.0, PI),
                rng.range_f32(0.0, PI),
            ),
        ),
        bumpiness,
        bump_offset: v3(rng.jitter(500.0), rng.jitter(500.0), rng.jitter(500.0)),
        contrast_hu,
        heterogeneity_hu: match kind {
            LesionKind::Homogeneous => rng.range_f32(2.0, 5.0),
            _ => rng.range_f32(6.0, 14.0),
        },
        kind,
        rim_hu,
        rim_mm: rng.range_f32(1.5, 3.0),
        necrosis_hu: rng.range_f32(15.0, 35.0),
        margin_blur_mm: match kind {
            LesionKind::Homogeneous => rng.range_f32(0.0, 0.5),
            _ => rng.range_f32(0.3, 2.5),
        },
        diameter_mm,
    }
}

fn overlaps(lesions: &[Lesion], center: V3, diameter_mm: f32) -> bool {
    lesions
        .iter()
        .any(|l| (l.ellipsoid.center - center).length() < (l.diameter_mm + diameter_mm) * 0.5 + 4.0)
}

/// Points spread evenly through the unit ball (a spiral in radius and direction), for
/// estimating how much of a lesion lies in its organ.
const FIT_POINTS: usize = 96;

fn unit_ball_point(i: usize) -> V3 {
    let n = FIT_POINTS as f32;
    let r = ((i as f32 + 0.5) / n).cbrt();
    // A Fibonacci sphere visited in a scrambled order, so radius and direction decorrelate.
    let j = (i * 37) % FIT_POINTS;
    let z = 1.0 - 2.0 * (j as f32 + 0.5) / n;
    let rho = (1.0 - z * z).max(0.0).sqrt();
    let phi = j as f32 * 2.399_963;
    v3(rho * phi.cos(), rho * phi.sin(), z) * r
}

/// Share of a lesion's ellipsoid that must lie in the labelled organ (a liver lesion may bulge
/// a little past the capsule).
const MIN_INSIDE_FRACTION: f32 = 0.92;
/// Depth of the centre below the organ's surface, in units of the largest radius.
const MIN_CENTRE_DEPTH: f32 = 0.8;
/// Centres tried per size before the lesion is shrunk.
const TRIES_PER_SIZE: usize = 120;
/// Each shrink multiplies the lesion's size by this.
const SHRINK: f32 = 0.8;

/// Whether `lesion`, centred at `center`, lies (almost) wholly where `interior` is negative.
fn fits(lesion: &Lesion, center: V3, interior: &dyn Fn(V3) -> f32) -> bool {
    let e = &lesion.ellipsoid;
    if interior(center) > -MIN_CENTRE_DEPTH * e.radii.max_component() {
        return false;
    }
    let allowed_out = ((1.0 - MIN_INSIDE_FRACTION) * FIT_POINTS as f32) as usize;
    let mut out = 0;
    for i in 0..FIT_POINTS {
        let p = center + e.rot.apply(unit_ball_point(i).mul_elem(e.radii));
        if interior(p) >= 0.0 {
            out += 1;
            if out > allowed_out {
                return false;
            }
        }
    }
    true
}

/// Scales a lesion's size by `k` (about its centre), keeping its shape.
fn shrink(lesion: &mut Lesion, k: f32) {
    lesion.ellipsoid.radii = lesion.ellipsoid.radii * k;
    lesion.diameter_mm *= k;
}

/// Places `lesion` at the first centre from `propose` where it fits its organ and overlaps no
/// other lesion, shrinking it (never below `min_diameter`) when no centre is found. `None`
/// when even the smallest size finds no room.
fn place(
    rng: &mut Rng,
    mut lesion: Lesion,
    lesions: &[Lesion],
    min_diameter: f32,
    interior: &dyn Fn(V3) -> f32,
    mut propose: impl FnMut(&mut Rng) -> V3,
) -> Option<Lesion> {
    loop {
        for _ in 0..TRIES_PER_SIZE {
            let c = propose(rng);
            if !overlaps(lesions, c, lesion.diameter_mm) && fits(&lesion, c, interior) {
                lesion.ellipsoid.center = c;
                return Some(lesion);
            }
        }
        if lesion.diameter_mm <= min_diameter {
            return None;
        }
        let k = (lesion.diameter_mm * SHRINK).max(min_diameter) / lesion.diameter_mm;
        shrink(&mut lesion, k);
    }
}

/// Draws the lesions of `organ`: `count` of them, or a random number when `None`. Fewer may
/// come back when the organ has no room left for more. Their hypodensity is drawn from
/// `contrast_range_hu` (HU), or from the phase's default range when `None`.
///
/// `interior` tells where the organ is labelled (negative inside; see
/// `assemble::organ_interior`): each lesion lies almost wholly there, its centre deep inside,
/// and is shrunk from its drawn size until it fits. Its recorded diameter and radii are those
/// of the lesion as placed.
pub(crate) fn draw_lesions(
    rng: &mut Rng,
    anatomy: &Anatomy,
    organ: Organ,
    count: Option<usize>,
    phase: ContrastPhase,
    contrast_range_hu: Option<(f32, f32)>,
    interior: &dyn Fn(V3) -> f32,
) -> Vec<Lesion> {
    let count = count.unwrap_or_else(|| draw_count(rng, organ));
    let (lo, hi) = (
        LESION_DIAMETER_RANGE_MM.0 as f32,
        LESION_DIAMETER_RANGE_MM.1 as f32,
    );
    let mut lesions: Vec<Lesion> = Vec::with_capacity(count);
    match organ {
        Organ::Liver => {
            let Some(bounds) =
                occupied_bounds(|p| anatomy.liver_sdf(p, &[]), anatomy.liver_bounds(), 5.0)
            else {
                return lesions;
            };
            for _ in 0..count {
                let diameter = draw_diameter(rng, lo, hi);
                let lesion = make_lesion(
                    rng,
                    organ,
                    bounds.center(),
                    diameter,
                    phase,
                    contrast_range_hu,
                );
                let propose = |rng: &mut Rng| {
                    v3(
                        rng.range_f32(bounds.min.x, bounds.max.x),
                        rng.range_f32(bounds.min.y, bounds.max.y),
                        rng.range_f32(bounds.min.z, bounds.max.z),
                    )
                };
                if let Some(l) = place(rng, lesion, &lesions, lo, interior, propose) {
                    lesions.push(l);
                }
            }
        }
        Organ::Pancreas => {
            let tube = &anatomy.pancreas.tube;
            let length = tube.length_mm();
            // About 60 % in the head (the end of the tube), the rest in body and tail; near
            // the axis. Returns the centre and the gland's radius there.
            let site = |rng: &mut Rng| {
                let s = if rng.chance(0.6) {
                    rng.range_f32(0.68, 0.95)
                } else {
                    rng.range_f32(0.08, 0.68)
                } * length;
                let (on_axis, radius) = tube.at_arc(s);
                let off = radius * 0.3;
                let c = on_axis + v3(rng.jitter(off), rng.jitter(off), rng.jitter(off));
                (c, radius)
            };
            for _ in 0..count {
                // Sized after the gland where it is first proposed (pancreatic tumours may
                // enlarge it, but only so far), then shrunk to its thickness where it is placed.
                let (c, radius) = site(rng);
                let max_d = (2.0 * radius + 16.0).min(hi);
                let diameter = draw_diameter(rng, lo, max_d);
                let lesion = make_lesion(rng, organ, c, diameter, phase, contrast_range_hu);
                let propose = |rng: &mut Rng| site(rng).0;
                if let Some(l) = place(rng, lesion, &lesions, lo, interior, propose) {
                    lesions.push(l);
                }
            }
        }
    }
    lesions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::phantom::assemble::organ_interior;
    use crate::volume::phantom::tissue::TissueHu;
    use std::sync::Arc;

    #[test]
    fn lesions_fit_their_nominal_diameter_and_do_not_overlap() {
        let mut rng = Rng::new(5);
        let anatomy = Arc::new(Anatomy::draw(&mut rng));
        let hu = TissueHu::draw(ContrastPhase::PortalVenous, &mut rng);
        for organ in [Organ::Liver, Organ::Pancreas] {
            let interior = organ_interior(&anatomy, &hu, organ);
            let lesions = draw_lesions(
                &mut rng,
                &anatomy,
                organ,
                Some(3),
                ContrastPhase::PortalVenous,
                None,
                &interior,
            );
            assert!(!lesions.is_empty());
            for (i, l) in lesions.iter().enumerate() {
                assert!((5.0..=50.0).contains(&l.diameter_mm), "{}", l.diameter_mm);
                // Placed deep in the organ, almost wholly inside.
                assert!(
                    fits(l, l.ellipsoid.center, &interior),
                    "{organ:?} lesion {i}"
                );
                // Sample the surface along many directions: no point lies beyond d/2.
                for k in 0..200 {
                    let dir = v3(
                        ((k * 7) % 13) as f32 - 6.0,
                        ((k * 5) % 11) as f32 - 5.0,
                        ((k * 3) % 7) as f32 - 3.0,
                    );
                    let len = dir.length();
                    if len == 0.0 {
                        continue;
                    }
                    let far = l.ellipsoid.center + dir * (l.diameter_mm * 0.5 / len + 0.01);
                    assert!(
                        l.sdf(far, &anatomy.fields) > -0.05,
                        "lesion {i} exceeds its diameter"
                    );
                }
                for other in &lesions[i + 1..] {
                    let gap = (other.ellipsoid.center - l.ellipsoid.center).length();
                    assert!(gap > (other.diameter_mm + l.diameter_mm) * 0.5);
                }
            }
        }
    }

    #[test]
    fn lesions_are_darker_than_parenchyma() {
        let mut rng = Rng::new(9);
        let anatomy = Arc::new(Anatomy::draw(&mut rng));
        let hu = TissueHu::draw(ContrastPhase::PortalVenous, &mut rng);
        let interior = organ_interior(&anatomy, &hu, Organ::Liver);
        for phase in ContrastPhase::ALL {
            let lesions = draw_lesions(
                &mut rng,
                &anatomy,
                Organ::Liver,
                Some(4),
                phase,
                None,
                &interior,
            );
            for l in &lesions {
                assert!((20.0..=60.0).contains(&l.contrast_hu));
                let centre = Sample {
                    p: l.ellipsoid.center,
                    d: -l.mean_radius_mm(),
                    tex: 0.0,
                    fine: 0.0,
                };
                assert!(l.shade(&centre, 110.0) <= 90.0);
            }
        }
    }

    #[test]
    fn a_contrast_range_changes_only_the_lesions_contrast() {
        let anatomy = Arc::new(Anatomy::draw(&mut Rng::new(5)));
        let hu = TissueHu::draw(ContrastPhase::NonContrast, &mut Rng::new(6));
        let interior = organ_interior(&anatomy, &hu, Organ::Liver);
        let draw = |range| {
            draw_lesions(
                &mut Rng::new(7),
                &anatomy,
                Organ::Liver,
                Some(3),
                ContrastPhase::NonContrast,
                range,
                &interior,
            )
        };
        let (default, bright) = (draw(None), draw(Some((70.0, 90.0))));
        assert_eq!(default.len(), bright.len());
        assert!(!default.is_empty());
        for (a, b) in default.iter().zip(&bright) {
            assert!((20.0..=40.0).contains(&a.contrast_hu), "{}", a.contrast_hu);
            assert!((70.0..=90.0).contains(&b.contrast_hu), "{}", b.contrast_hu);
            assert_eq!(a.ellipsoid.center, b.ellipsoid.center);
            assert_eq!(a.diameter_mm, b.diameter_mm);
            assert_eq!(a.kind, b.kind);
        }
    }
}
