//! Smooth random fields for phantoms: periodic value noise on a lattice and fractal sums of it,
//! for organ shape deformation and tissue texture.
//!
//! A field is a 32³ table of random values drawn once per case from the case's [`Rng`]; sampling
//! is a pure function of position, so parallel voxel loops stay deterministic.

use super::geometry::V3;
use super::rng::Rng;

const LATTICE: usize = 32;
const MASK: i32 = LATTICE as i32 - 1;

/// Periodic value noise: random values on a cubic lattice of `cell_mm` spacing, blended with
/// smoothstep weights. Values lie in `[-1, 1]`, with a standard deviation of about 0.33.
/// The period is 32 cells along each axis.
#[derive(Debug, Clone)]
pub(crate) struct ValueNoise {
    /// Lattice values in [-1, 1] stored as `i8` (÷127): 32 KiB per field, so all of a case's
    /// fields stay in cache while rendering.
    values: Box<[i8]>,
    inv_cell_mm: f32,
    offset_mm: V3,
}

impl ValueNoise {
    /// A field with lattice spacing `cell_mm` (features about that size).
    pub fn new(rng: &mut Rng, cell_mm: f32) -> Self {
        let values = (0..LATTICE * LATTICE * LATTICE)
            .map(|_| (rng.range_f32(-1.0, 1.0) * 127.0).round() as i8)
            .collect();
        let period = cell_mm * LATTICE as f32;
        let offset_mm = V3 {
            x: rng.range_f32(0.0, period),
            y: rng.range_f32(0.0, period),
            z: rng.range_f32(0.0, period),
        };
        Self {
            values,
            inv_cell_mm: 1.0 / cell_mm,
            offset_mm,
        }
    }

    #[inline]
    fn at(&self, i: i32, j: i32, k: i32) -> f32 {
        let idx =
            (i & MASK) as usize + LATTICE * ((j & MASK) as usize + LATTICE * (k & MASK) as usize);
        self.values[idx] as f32 * (1.0 / 127.0)
    }

    /// The field at `p` (mm).
    #[inline]
    pub fn sample(&self, p: V3) -> f32 {
        let q = (p + self.offset_mm) * self.inv_cell_mm;
        let (i, j, k) = (floor_i32(q.x), floor_i32(q.y), floor_i32(q.z));
        let (fx, fy, fz) = (i as f32, j as f32, k as f32);
        let s = |t: f32| t * t * (3.0 - 2.0 * t);
        let (tx, ty, tz) = (s(q.x - fx), s(q.y - fy), s(q.z - fz));
        let lerp = |a: f32, b: f32, t: f32| a + (b - a) * t;
        let x00 = lerp(self.at(i, j, k), self.at(i + 1, j, k), tx);
        let x10 = lerp(self.at(i, j + 1, k), self.at(i + 1, j + 1, k), tx);
        let x01 = lerp(self.at(i, j, k + 1), self.at(i + 1, j, k + 1), tx);
        let x11 = lerp(self.at(i, j + 1, k + 1), self.at(i + 1, j + 1, k + 1), tx);
        lerp(lerp(x00, x10, ty), lerp(x01, x11, ty), tz)
    }
}

/// `x.floor() as i32` without a library call (for |x| < 2³¹).
#[inline]
fn floor_i32(x: f32) -> i32 {
    let i = x as i32;
    if (i as f32) > x { i - 1 } else { i }
}

/// A sum of value-noise octaves with given amplitudes (a fractal texture).
#[derive(Debug, Clone)]
pub(crate) struct Fractal {
    octaves: Vec<(ValueNoise, f32)>,
}

impl Fractal {
    /// Octaves with the given `(cell_mm, amplitude)` pairs.
    pub fn new(rng: &mut Rng, octaves: &[(f32, f32)]) -> Self {
        Self {
            octaves: octaves
                .iter()
                .map(|&(cell_mm, amplitude)| (ValueNoise::new(rng, cell_mm), amplitude))
                .collect(),
        }
    }

    #[inline]
    pub fn sample(&self, p: V3) -> f32 {
        self.octaves
            .iter()
            .map(|(noise, amplitude)| noise.sample(p) * amplitude)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::super::geometry::v3;
    use super::*;

    #[test]
    fn value_noise_is_bounded_smooth_and_periodic() {
        let mut rng = Rng::new(3);
        let n = ValueNoise::new(&mut rng, 5.0);
        let mut sum = 0.0f64;
        let mut sum2 = 0.0f64;
        let count = 4000;
        for i in 0..count {
            let p = v3(
                i as f32 * 0.37,
                (i % 17) as f32 * 1.3,
                (i % 5) as f32 * 2.1 - 4.0,
            );
            let v = n.sample(p);
            assert!((-1.0..=1.0).contains(&v));
            // Smooth: a 0.05 mm step changes the value by little (5 mm cells).
            assert!((n.sample(p + v3(0.05, 0.0, 0.0)) - v).abs() < 0.05);
            // Periodic over 32 cells.
            assert!((n.sample(p + v3(160.0, 0.0, -160.0)) - v).abs() < 1e-4);
            sum += v as f64;
            sum2 += (v * v) as f64;
        }
        let mean = sum / count as f64;
        let sd = (sum2 / count as f64 - mean * mean).sqrt();
        assert!(mean.abs() < 0.1 && sd > 0.15 && sd < 0.5, "{mean} {sd}");
    }

    #[test]
    fn fields_from_different_streams_differ() {
        let a = ValueNoise::new(&mut Rng::new(1), 4.0);
        let b = ValueNoise::new(&mut Rng::new(2), 4.0);
        let p = v3(1.0, 2.0, 3.0);
        assert_ne!(a.sample(p), b.sample(p));
        let f = Fractal::new(&mut Rng::new(1), &[(4.0, 1.0), (1.0, 0.5)]);
        assert!(f.sample(p).abs() <= 1.5);
    }
}
