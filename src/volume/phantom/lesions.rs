//! Tumours of a phantom's target organ: how many, where, how large and how they look.
//!
//! A lesion is a perturbed ellipsoid (lumpy, irregular outline) placed inside the organ,
//! hypodense by 20–60 HU against the parenchyma, heterogeneous, sometimes with an enhancing rim
//! or a necrotic core. Its nominal diameter (5–50 mm) bounds its largest extent: the radii are
//! shrunk by the bump amplitude so that no bump reaches past it. Lesions never overlap.

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
    let contrast_hu = if phase == ContrastPhase::NonContrast {
        rng.range_f32(20.0, 40.0)
    } else {
        rng.range_f32(20.0, 60.0)
    };
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

/// Draws the lesions of `organ`: `count` of them, or a random number when `None`. Fewer may
/// come back when the organ has no room left for more.
pub(crate) fn draw_lesions(
    rng: &mut Rng,
    anatomy: &Anatomy,
    organ: Organ,
    count: Option<usize>,
    phase: ContrastPhase,
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
                let mut diameter = draw_diameter(rng, lo, hi);
                'attempts: for _round in 0..4 {
                    for _ in 0..200 {
                        let c = v3(
                            rng.range_f32(bounds.min.x, bounds.max.x),
                            rng.range_f32(bounds.min.y, bounds.max.y),
                            rng.range_f32(bounds.min.z, bounds.max.z),
                        );
                        // Mostly inside: the centre at least a third of the radius deep.
                        let depth_needed = (diameter * 0.5 * 0.35).max(2.0);
                        if anatomy.liver_sdf(c, &[]) < -depth_needed
                            && !overlaps(&lesions, c, diameter)
                        {
                            lesions.push(make_lesion(rng, organ, c, diameter, phase));
                            break 'attempts;
                        }
                    }
                    diameter = (diameter * 0.7).max(lo);
                }
            }
        }
        Organ::Pancreas => {
            let tube = &anatomy.pancreas.tube;
            let length = tube.length_mm();
            for _ in 0..count {
                for _ in 0..100 {
                    // About 60 % in the head (the end of the tube), the rest in body and tail.
                    let s = if rng.chance(0.6) {
                        rng.range_f32(0.68, 0.95)
                    } else {
                        rng.range_f32(0.08, 0.68)
                    } * length;
                    let (on_axis, radius) = tube.at_arc(s);
                    // Pancreatic tumours may enlarge the gland, but only so far.
                    let max_d = (2.0 * radius + 16.0).min(hi);
                    let diameter = draw_diameter(rng, lo, max_d);
                    let off = radius * 0.3;
                    let c = on_axis + v3(rng.jitter(off), rng.jitter(off), rng.jitter(off));
                    if !overlaps(&lesions, c, diameter) {
                        lesions.push(make_lesion(rng, organ, c, diameter, phase));
                        break;
                    }
                }
            }
        }
    }
    lesions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lesions_fit_their_nominal_diameter_and_do_not_overlap() {
        let mut rng = Rng::new(5);
        let anatomy = Anatomy::draw(&mut rng);
        for organ in [Organ::Liver, Organ::Pancreas] {
            let lesions = draw_lesions(
                &mut rng,
                &anatomy,
                organ,
                Some(3),
                ContrastPhase::PortalVenous,
            );
            assert!(!lesions.is_empty());
            for (i, l) in lesions.iter().enumerate() {
                assert!((5.0..=50.0).contains(&l.diameter_mm), "{}", l.diameter_mm);
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
        let anatomy = Anatomy::draw(&mut rng);
        for phase in ContrastPhase::ALL {
            let lesions = draw_lesions(&mut rng, &anatomy, Organ::Liver, Some(4), phase);
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
}
