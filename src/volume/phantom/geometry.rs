//! Small 3D geometry for phantoms: a point type, rotations, bounding boxes and signed distance
//! functions (SDFs) of ellipsoids, capsules and tubes.
//!
//! Every SDF here works in the phantom's patient frame in millimetres (x toward the patient's
//! right, y anterior, z superior) and returns a value that is negative inside, zero on the
//! surface and roughly the Euclidean distance near it. `f32` throughout: these run per voxel.

use std::ops::{Add, Mul, Neg, Sub};

/// A point or vector in millimetres.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct V3 {
    pub x: f32,
    pub y: f32,
    pub z: f32,
}

/// Shorthand constructor for [`V3`].
#[inline]
pub(crate) const fn v3(x: f32, y: f32, z: f32) -> V3 {
    V3 { x, y, z }
}

impl V3 {
    #[inline]
    pub fn dot(self, o: V3) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    #[inline]
    pub fn length(self) -> f32 {
        self.dot(self).sqrt()
    }

    /// Component-wise product.
    #[inline]
    pub fn mul_elem(self, o: V3) -> V3 {
        v3(self.x * o.x, self.y * o.y, self.z * o.z)
    }

    /// Component-wise quotient.
    #[inline]
    pub fn div_elem(self, o: V3) -> V3 {
        v3(self.x / o.x, self.y / o.y, self.z / o.z)
    }

    #[inline]
    pub fn min_elem(self, o: V3) -> V3 {
        v3(self.x.min(o.x), self.y.min(o.y), self.z.min(o.z))
    }

    #[inline]
    pub fn max_elem(self, o: V3) -> V3 {
        v3(self.x.max(o.x), self.y.max(o.y), self.z.max(o.z))
    }

    /// The largest component.
    #[inline]
    pub fn max_component(self) -> f32 {
        self.x.max(self.y).max(self.z)
    }

    /// The smallest component.
    #[inline]
    pub fn min_component(self) -> f32 {
        self.x.min(self.y).min(self.z)
    }

    /// Linear interpolation from `self` (t = 0) to `o` (t = 1).
    #[inline]
    pub fn lerp(self, o: V3, t: f32) -> V3 {
        self + (o - self) * t
    }

    /// The point as `f64` millimetres.
    pub fn to_f64(self) -> [f64; 3] {
        [self.x as f64, self.y as f64, self.z as f64]
    }
}

impl Add for V3 {
    type Output = V3;
    #[inline]
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl Sub for V3 {
    type Output = V3;
    #[inline]
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Mul<f32> for V3 {
    type Output = V3;
    #[inline]
    fn mul(self, s: f32) -> V3 {
        v3(self.x * s, self.y * s, self.z * s)
    }
}

impl Neg for V3 {
    type Output = V3;
    #[inline]
    fn neg(self) -> V3 {
        v3(-self.x, -self.y, -self.z)
    }
}

/// A rotation, stored as the rows of its matrix (`world_from_local`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rot {
    rows: [[f32; 3]; 3],
}

impl Rot {
    pub const IDENTITY: Rot = Rot {
        rows: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
    };

    /// Rotation by `rx`, then `ry`, then `rz` radians about the fixed x, y and z axes.
    pub fn from_euler(rx: f32, ry: f32, rz: f32) -> Rot {
        let (sx, cx) = rx.sin_cos();
        let (sy, cy) = ry.sin_cos();
        let (sz, cz) = rz.sin_cos();
        // Rz * Ry * Rx
        Rot {
            rows: [
                [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx],
                [sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx],
                [-sy, cy * sx, cy * cx],
            ],
        }
    }

    /// `world_from_local * v`.
    #[inline]
    pub fn apply(&self, v: V3) -> V3 {
        let r = &self.rows;
        v3(
            r[0][0] * v.x + r[0][1] * v.y + r[0][2] * v.z,
            r[1][0] * v.x + r[1][1] * v.y + r[1][2] * v.z,
            r[2][0] * v.x + r[2][1] * v.y + r[2][2] * v.z,
        )
    }

    /// `local_from_world * v` (the transpose).
    #[inline]
    pub fn apply_inverse(&self, v: V3) -> V3 {
        let r = &self.rows;
        v3(
            r[0][0] * v.x + r[1][0] * v.y + r[2][0] * v.z,
            r[0][1] * v.x + r[1][1] * v.y + r[2][1] * v.z,
            r[0][2] * v.x + r[1][2] * v.y + r[2][2] * v.z,
        )
    }
}

/// An axis-aligned box in millimetres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Aabb {
    pub min: V3,
    pub max: V3,
}

impl Aabb {
    /// The box of a sphere.
    pub fn around(center: V3, radius: f32) -> Aabb {
        let r = v3(radius, radius, radius);
        Aabb {
            min: center - r,
            max: center + r,
        }
    }

    /// The box of an ellipsoid with semi-axes `radii` under any rotation (uses the largest).
    pub fn around_ellipsoid(center: V3, radii: V3) -> Aabb {
        Self::around(center, radii.max_component())
    }

    /// The smallest box holding both.
    pub fn union(self, o: Aabb) -> Aabb {
        Aabb {
            min: self.min.min_elem(o.min),
            max: self.max.max_elem(o.max),
        }
    }

    /// The box grown by `margin_mm` on every side.
    pub fn grow(self, margin_mm: f32) -> Aabb {
        let m = v3(margin_mm, margin_mm, margin_mm);
        Aabb {
            min: self.min - m,
            max: self.max + m,
        }
    }

    #[inline]
    pub fn contains(&self, p: V3) -> bool {
        p.x >= self.min.x
            && p.x <= self.max.x
            && p.y >= self.min.y
            && p.y <= self.max.y
            && p.z >= self.min.z
            && p.z <= self.max.z
    }

    /// Squared Euclidean distance from `p` to the box (0 inside).
    #[inline]
    pub fn distance_squared(&self, p: V3) -> f32 {
        let dx = (self.min.x - p.x).max(p.x - self.max.x).max(0.0);
        let dy = (self.min.y - p.y).max(p.y - self.max.y).max(0.0);
        let dz = (self.min.z - p.z).max(p.z - self.max.z).max(0.0);
        dx * dx + dy * dy + dz * dz
    }

    pub fn center(&self) -> V3 {
        (self.min + self.max) * 0.5
    }
}

/// Approximate signed distance to an axis-aligned ellipsoid with semi-axes `radii` centred at
/// the origin, evaluated at `q` (exact on the surface, a close bound near it).
#[inline]
pub(crate) fn ellipsoid_sdf(q: V3, radii: V3) -> f32 {
    let k0 = q.div_elem(radii).length();
    let k1 = q.div_elem(radii.mul_elem(radii)).length();
    if k1 <= f32::MIN_POSITIVE {
        return -radii.min_component();
    }
    k0 * (k0 - 1.0) / k1
}

/// Approximate signed distance to a 2D ellipse with semi-axes `(rx, ry)` at `(x, y)`.
#[inline]
pub(crate) fn ellipse_sdf(x: f32, y: f32, rx: f32, ry: f32) -> f32 {
    let k0 = ((x / rx).powi(2) + (y / ry).powi(2)).sqrt();
    let k1 = ((x / (rx * rx)).powi(2) + (y / (ry * ry)).powi(2)).sqrt();
    if k1 <= f32::MIN_POSITIVE {
        return -rx.min(ry);
    }
    k0 * (k0 - 1.0) / k1
}

/// An ellipsoid placed and rotated in the patient frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ellipsoid {
    pub center: V3,
    pub radii: V3,
    pub rot: Rot,
}

impl Ellipsoid {
    pub fn new(center: V3, radii: V3, rot: Rot) -> Self {
        Self { center, radii, rot }
    }

    #[inline]
    pub fn sdf(&self, p: V3) -> f32 {
        ellipsoid_sdf(self.rot.apply_inverse(p - self.center), self.radii)
    }

    /// Coordinates of `p` in the ellipsoid's own frame, divided by its radii (|q| = 1 on the
    /// surface).
    #[inline]
    pub fn normalized(&self, p: V3) -> V3 {
        self.rot.apply_inverse(p - self.center).div_elem(self.radii)
    }

    pub fn bounds(&self) -> Aabb {
        Aabb::around_ellipsoid(self.center, self.radii)
    }
}

/// Distance from `p` to the segment `a`–`b`, and the segment parameter (0 at `a`, 1 at `b`) of
/// the closest point.
#[inline]
pub(crate) fn segment_distance(p: V3, a: V3, b: V3) -> (f32, f32) {
    let ab = b - a;
    let len2 = ab.dot(ab);
    let t = if len2 > 0.0 {
        ((p - a).dot(ab) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((p - a.lerp(b, t)).length(), t)
}

/// Segment boxes are grown by this much beyond the tube radius, so that distances within it of
/// the surface are exact; farther away [`Tube::hit`] returns a lower bound.
const TUBE_EXACT_MM: f32 = 6.0;

/// A tube of varying radius along a polyline: the union of tapered capsules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tube {
    points: Vec<V3>,
    radii_mm: Vec<f32>,
    /// Bounds of each segment's capsule, for a quick reject.
    segment_bounds: Vec<Aabb>,
    /// Arc length (mm) at each point.
    arc_mm: Vec<f32>,
}

/// Where on a tube a point is closest to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TubeHit {
    /// Signed distance to the tube surface (mm).
    pub distance_mm: f32,
    /// Arc length along the centreline of the closest point (mm).
    pub arc_mm: f32,
    /// Tube radius there (mm).
    pub radius_mm: f32,
}

impl Tube {
    /// A tube through `points` with the given radius at each point (at least one point; a
    /// single point makes a sphere).
    pub fn new(points: Vec<V3>, radii_mm: Vec<f32>) -> Self {
        debug_assert_eq!(points.len(), radii_mm.len());
        debug_assert!(!points.is_empty());
        let n = points.len();
        let mut segment_bounds = Vec::with_capacity(n.saturating_sub(1).max(1));
        let mut arc_mm = vec![0.0f32; n];
        for i in 1..n {
            arc_mm[i] = arc_mm[i - 1] + (points[i] - points[i - 1]).length();
        }
        if n == 1 {
            segment_bounds.push(Aabb::around(points[0], radii_mm[0] + TUBE_EXACT_MM));
        }
        for i in 1..n {
            let r = radii_mm[i - 1].max(radii_mm[i]);
            segment_bounds.push(
                Aabb {
                    min: points[i - 1].min_elem(points[i]),
                    max: points[i - 1].max_elem(points[i]),
                }
                .grow(r + TUBE_EXACT_MM),
            );
        }
        Self {
            points,
            radii_mm,
            segment_bounds,
            arc_mm,
        }
    }

    /// A smooth tube: the control points are refined by a Catmull–Rom spline with
    /// `subdivisions` segments per span, radii interpolated linearly.
    pub fn smooth(control: &[V3], radii_mm: &[f32], subdivisions: usize) -> Self {
        let (points, radii) = catmull_rom(control, radii_mm, subdivisions);
        Self::new(points, radii)
    }

    /// Bounds of the tube itself.
    pub fn bounds(&self) -> Aabb {
        self.segment_bounds
            .iter()
            .copied()
            .reduce(Aabb::union)
            .unwrap_or_else(|| Aabb::around(V3::default(), 0.0))
            .grow(-TUBE_EXACT_MM)
    }

    pub fn points(&self) -> &[V3] {
        &self.points
    }

    pub fn radii_mm(&self) -> &[f32] {
        &self.radii_mm
    }

    /// Total centreline length (mm).
    pub fn length_mm(&self) -> f32 {
        self.arc_mm.last().copied().unwrap_or(0.0)
    }

    /// Centreline point and radius at arc length `arc_mm` (clamped to the ends).
    pub fn at_arc(&self, arc_mm: f32) -> (V3, f32) {
        let n = self.points.len();
        if n == 1 || arc_mm <= 0.0 {
            return (self.points[0], self.radii_mm[0]);
        }
        for i in 1..n {
            if arc_mm <= self.arc_mm[i] || i == n - 1 {
                let span = (self.arc_mm[i] - self.arc_mm[i - 1]).max(1e-6);
                let t = ((arc_mm - self.arc_mm[i - 1]) / span).clamp(0.0, 1.0);
                let r = self.radii_mm[i - 1] + (self.radii_mm[i] - self.radii_mm[i - 1]) * t;
                return (self.points[i - 1].lerp(self.points[i], t), r);
            }
        }
        (self.points[n - 1], self.radii_mm[n - 1])
    }

    /// Signed distance (mm) to the tube surface.
    #[inline]
    pub fn sdf(&self, p: V3) -> f32 {
        self.hit(p).distance_mm
    }

    /// Signed distance plus where along the tube the closest point lies. Exact within
    /// `TUBE_EXACT_MM` of the surface; farther out, segments whose boxes do not contain `p`
    /// contribute a lower bound (the distance to their box plus the padding), so the result
    /// never overestimates the distance.
    pub fn hit(&self, p: V3) -> TubeHit {
        let mut best = TubeHit {
            distance_mm: f32::INFINITY,
            arc_mm: 0.0,
            radius_mm: self.radii_mm[0],
        };
        if self.points.len() == 1 {
            let d = (p - self.points[0]).length() - self.radii_mm[0];
            best.distance_mm = d;
            return best;
        }
        let mut nearest_box_squared = f32::INFINITY;
        for (i, b) in self.segment_bounds.iter().enumerate() {
            if !b.contains(p) {
                nearest_box_squared = nearest_box_squared.min(b.distance_squared(p));
                continue;
            }
            let (a, c) = (self.points[i], self.points[i + 1]);
            let (dist, t) = segment_distance(p, a, c);
            let r = self.radii_mm[i] + (self.radii_mm[i + 1] - self.radii_mm[i]) * t;
            let d = dist - r;
            if d < best.distance_mm {
                best = TubeHit {
                    distance_mm: d,
                    arc_mm: self.arc_mm[i] + t * (self.arc_mm[i + 1] - self.arc_mm[i]),
                    radius_mm: r,
                };
            }
        }
        if nearest_box_squared.is_finite() {
            best.distance_mm = best
                .distance_mm
                .min(nearest_box_squared.sqrt() + TUBE_EXACT_MM);
        }
        best
    }
}

/// Refines a polyline with a centripetal-free (uniform) Catmull–Rom spline through every
/// control point; radii are interpolated linearly per span.
pub(crate) fn catmull_rom(
    control: &[V3],
    radii: &[f32],
    subdivisions: usize,
) -> (Vec<V3>, Vec<f32>) {
    let n = control.len();
    if n < 3 || subdivisions < 2 {
        return (control.to_vec(), radii.to_vec());
    }
    let mut points = Vec::with_capacity((n - 1) * subdivisions + 1);
    let mut out_radii = Vec::with_capacity(points.capacity());
    for i in 0..n - 1 {
        let p0 = control[i.saturating_sub(1)];
        let p1 = control[i];
        let p2 = control[i + 1];
        let p3 = control[(i + 2).min(n - 1)];
        for s in 0..subdivisions {
            let t = s as f32 / subdivisions as f32;
            let t2 = t * t;
            let t3 = t2 * t;
            let p = (p1 * 2.0
                + (p2 - p0) * t
                + (p0 * 2.0 - p1 * 5.0 + p2 * 4.0 - p3) * t2
                + (-p0 + p1 * 3.0 - p2 * 3.0 + p3) * t3)
                * 0.5;
            points.push(p);
            out_radii.push(radii[i] + (radii[i + 1] - radii[i]) * t);
        }
    }
    points.push(control[n - 1]);
    out_radii.push(radii[n - 1]);
    (points, out_radii)
}

/// Smooth minimum (union) of two distances with blend radius `k_mm`.
#[inline]
pub(crate) fn smin(a: f32, b: f32, k_mm: f32) -> f32 {
    let h = (k_mm - (a - b).abs()).max(0.0) / k_mm;
    a.min(b) - h * h * k_mm * 0.25
}

/// Smooth maximum (intersection) of two distances with blend radius `k_mm`.
#[inline]
pub(crate) fn smax(a: f32, b: f32, k_mm: f32) -> f32 {
    -smin(-a, -b, k_mm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsoid_distance_is_exact_on_axes() {
        let r = v3(10.0, 20.0, 30.0);
        assert!((ellipsoid_sdf(v3(10.0, 0.0, 0.0), r)).abs() < 1e-5);
        assert!((ellipsoid_sdf(v3(0.0, 25.0, 0.0), r) - 5.0).abs() < 1e-4);
        assert!(ellipsoid_sdf(v3(0.0, 0.0, 0.0), r) < -9.0);
        let e = Ellipsoid::new(v3(1.0, 2.0, 3.0), r, Rot::from_euler(0.0, 0.0, 0.5));
        let on_axis = v3(1.0, 2.0, 3.0) + Rot::from_euler(0.0, 0.0, 0.5).apply(v3(0.0, 20.0, 0.0));
        assert!(e.sdf(on_axis).abs() < 1e-4);
    }

    #[test]
    fn rotation_inverse_round_trips() {
        let r = Rot::from_euler(0.3, -0.7, 1.1);
        let v = v3(1.5, -2.0, 0.25);
        let back = r.apply_inverse(r.apply(v));
        assert!((back - v).length() < 1e-5);
        assert!((r.apply(v).length() - v.length()).abs() < 1e-5);
    }

    #[test]
    fn tube_distance_and_arc() {
        let tube = Tube::new(
            vec![v3(0.0, 0.0, 0.0), v3(10.0, 0.0, 0.0), v3(10.0, 10.0, 0.0)],
            vec![2.0, 2.0, 4.0],
        );
        assert!((tube.length_mm() - 20.0).abs() < 1e-5);
        let h = tube.hit(v3(5.0, 3.0, 0.0));
        assert!((h.distance_mm - 1.0).abs() < 1e-5);
        assert!((h.arc_mm - 5.0).abs() < 1e-5);
        assert!(tube.sdf(v3(10.0, 5.0, 0.0)) < -2.9);
        assert!(tube.sdf(v3(50.0, 50.0, 50.0)) > 10.0);
        let (p, r) = tube.at_arc(15.0);
        assert!((p - v3(10.0, 5.0, 0.0)).length() < 1e-5 && (r - 3.0).abs() < 1e-5);
    }

    #[test]
    fn catmull_rom_passes_through_control_points() {
        let control = [v3(0.0, 0.0, 0.0), v3(10.0, 5.0, 0.0), v3(20.0, 0.0, 3.0)];
        let (points, radii) = catmull_rom(&control, &[1.0, 2.0, 3.0], 4);
        assert_eq!(points.len(), 9);
        assert_eq!(points[0], control[0]);
        assert!((points[4] - control[1]).length() < 1e-5);
        assert_eq!(points[8], control[2]);
        assert!((radii[2] - 1.5).abs() < 1e-6);
    }

    #[test]
    fn smooth_min_and_max_bound_the_plain_ones() {
        assert!(smin(1.0, 1.2, 2.0) < 1.0);
        assert_eq!(smin(1.0, 5.0, 2.0), 1.0);
        assert!(smax(1.0, 1.2, 2.0) > 1.2);
        assert_eq!(smax(1.0, 5.0, 2.0), 5.0);
    }
}
