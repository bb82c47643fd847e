//! Seeded pseudo-random numbers for phantoms: our own SplitMix64 and xoshiro256** so a seed
//! gives the same phantom whatever version of any random-number crate is around.
//!
//! Two kinds of randomness: [`Rng`], a sequential stream for drawing case parameters (used on
//! one thread only), and [`hash3`], a stateless hash of integer coordinates for per-voxel
//! values, so parallel loops give the same result in any order and on any number of threads.

/// The SplitMix64 finaliser: a fast, well-mixed bijection of 64-bit values.
#[inline]
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stateless hash of a seed and three signed integer coordinates (e.g. voxel indices).
#[inline]
pub(crate) fn hash3(seed: u64, i: i64, j: i64, k: i64) -> u64 {
    let h = splitmix64(seed ^ (i as u64));
    let h = splitmix64(h ^ (j as u64).rotate_left(21));
    splitmix64(h ^ (k as u64).rotate_left(42))
}

/// An approximately standard normal value from one 64-bit hash: the sum of four 16-bit
/// uniforms (Irwin–Hall), centred and scaled to unit variance. Cheap enough for every voxel.
#[inline]
pub(crate) fn hash_normal(h: u64) -> f32 {
    let sum = (h & 0xFFFF) + ((h >> 16) & 0xFFFF) + ((h >> 32) & 0xFFFF) + (h >> 48);
    // Four uniforms on [0, 1): mean 2, variance 4/12.
    let u = sum as f32 / 65536.0;
    (u - 2.0) * 3.0f32.sqrt()
}

/// The xoshiro256** generator, seeded through SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng {
    state: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut state = [0u64; 4];
        for s in &mut state {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            *s = splitmix64(x);
        }
        // xoshiro must not start from all zeros; SplitMix64 never yields four zeros in a row,
        // but keep the guarantee explicit.
        if state == [0; 4] {
            state[0] = 1;
        }
        Self { state }
    }

    /// An independent stream for a named part of the generator (body, organs, lesions, …), so
    /// that drawing more numbers in one part does not shift the others.
    pub fn stream(seed: u64, name: &str) -> Self {
        let tag = name.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01B3)
        });
        Self::new(splitmix64(seed) ^ tag)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.state;
        let result = s1.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// Uniform on `[0, 1)` with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform on `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform on `[lo, hi)` as `f32`.
    pub fn range_f32(&mut self, lo: f32, hi: f32) -> f32 {
        self.range(lo as f64, hi as f64) as f32
    }

    /// A symmetric draw on `[-half_width, half_width)`.
    pub fn jitter(&mut self, half_width: f32) -> f32 {
        self.range_f32(-half_width, half_width)
    }

    /// Uniform integer on `lo..=hi` (`lo` when `hi < lo`).
    pub fn int_range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        let n = (hi - lo + 1) as u128;
        // Lemire's multiply-shift: unbiased enough for any n far below 2^64.
        lo + ((self.next_u64() as u128 * n) >> 64) as usize
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// A standard normal value (Box–Muller; one of the pair is dropped so the stream stays
    /// simple to reason about).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1], so ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A normal value with mean `mean` and standard deviation `sd`, clamped to `[lo, hi]`.
    pub fn normal_clamped(&mut self, mean: f64, sd: f64, lo: f64, hi: f64) -> f64 {
        (mean + sd * self.normal()).clamp(lo, hi)
    }

    /// An index drawn with probability proportional to `weights` (non-negative, not all zero;
    /// falls back to the last index otherwise).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.uniform() * total;
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_values() {
        // First outputs of the reference SplitMix64 generator seeded with 1234567
        // (state += golden gamma, then finalise), from Vigna's splitmix64.c.
        let mut state = 1_234_567u64;
        let mut next = || {
            let out = splitmix64(state);
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            out
        };
        assert_eq!(next(), 6_457_827_717_110_365_317);
        assert_eq!(next(), 3_203_168_211_198_807_973);
        assert_eq!(next(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let a: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..8)
            .scan(Rng::new(8), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut s1 = Rng::stream(7, "body");
        let mut s2 = Rng::stream(7, "lesions");
        assert_ne!(s1.next_u64(), s2.next_u64());
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut rng = Rng::new(42);
        let n = 20_000;
        let normals: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = normals.iter().sum::<f64>() / n as f64;
        let var = normals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        let hashed: Vec<f64> = (0..n as i64)
            .map(|i| hash_normal(hash3(9, i, 2, 3)) as f64)
            .collect();
        let mean = hashed.iter().sum::<f64>() / n as f64;
        let var = hashed.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        for _ in 0..1000 {
            let k = rng.int_range(3, 5);
            assert!((3..=5).contains(&k));
            let u = rng.range(-2.0, 1.0);
            assert!((-2.0..1.0).contains(&u));
        }
        let counts = (0..3000).fold([0usize; 3], |mut c, _| {
            c[rng.weighted(&[1.0, 0.0, 2.0])] += 1;
            c
        });
        assert_eq!(counts[1], 0);
        assert!(counts[2] > counts[0] * 3 / 2, "{counts:?}");
    }
}
