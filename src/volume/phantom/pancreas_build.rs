//! How full a phantom's pancreas is: the plump gland of a young adult (every phantom until
//! session 24), or the thin, fat-laced gland of older patients, as in the real CT cases we have
//! (TotalSegmentator's pancreases: 17 and 22 mL, strands 6–9 mm thick in the body, median −9 HU
//! over the label at 3 mm voxels, fat between the lobules throughout).
//!
//! The atrophy is drawn from a random stream of its own and only when asked for, so the
//! default phantoms stay exactly as they were. It shrinks the drawn gland in place (the fat
//! around it fills the space, as in life) and fills it with fat between its lobules; lesions are
//! drawn afterwards, inside the thinner gland.

use super::anatomy::{Anatomy, PancreasShape, tube_volume_ml};
use super::lesions::smoothstep;
use super::rng::Rng;

/// How full a phantom's pancreas is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum PancreasBuild {
    /// 60–100 mL, a little fat between the lobules in 40 % of cases: every phantom until
    /// session 24, and every shipped model's training data.
    #[default]
    Full,
    /// Thinned to 15–40 mL, with more lobulated margins and fat between the lobules throughout
    /// (in portal-venous phase a median of about 0–30 HU over its label at 3 mm), as in older
    /// patients.
    Atrophic,
    /// Drawn per case: half full, half atrophic.
    Mixed,
}

impl PancreasBuild {
    /// Every build, in the order a menu lists them.
    pub const ALL: [PancreasBuild; 3] = [
        PancreasBuild::Full,
        PancreasBuild::Atrophic,
        PancreasBuild::Mixed,
    ];

    /// The name `synth --pancreas-build` takes.
    pub fn name(self) -> &'static str {
        match self {
            PancreasBuild::Full => "full",
            PancreasBuild::Atrophic => "atrophic",
            PancreasBuild::Mixed => "mixed",
        }
    }
}

/// The smoothstep edges (in units of the fine texture, a unit normal) of the fat blend inside
/// an atrophic gland: fat wherever the texture exceeds about −1 σ, half of it on average.
const ATROPHIC_FAT_EDGES: (f32, f32) = (-1.0, 1.0);

impl Anatomy {
    /// Makes the pancreas as `build` asks, with draws from `rng` only (so the rest of the case
    /// stays as drawn). Returns whether the gland was made atrophic.
    pub fn build_pancreas(&mut self, build: PancreasBuild, rng: &mut Rng) -> bool {
        let atrophic = match build {
            PancreasBuild::Full => return false,
            PancreasBuild::Atrophic => true,
            PancreasBuild::Mixed => rng.chance(0.5),
        };
        if atrophic {
            let target_ml = rng.range_f32(15.0, 40.0);
            let tube_ml = tube_volume_ml(&self.pancreas.tube).max(1.0);
            let mut gland = self.pancreas.scaled((target_ml / tube_ml).min(1.0).sqrt());
            gland.lobule_mm = rng.range_f32(2.0, 3.5);
            gland.fatty_fraction = rng.range_f32(0.5, 0.9);
            gland.fat_edges = ATROPHIC_FAT_EDGES;
            gland.mean_fat_blend = mean_blend_of_unit_normal(ATROPHIC_FAT_EDGES);
            self.pancreas = gland;
        }
        atrophic
    }
}

impl PancreasShape {
    /// The fraction (0–1) of fat at a point whose fine texture is `fine` (a unit normal).
    pub(crate) fn fat_blend(&self, fine: f32) -> f32 {
        let (lo, hi) = self.fat_edges;
        self.fatty_fraction * smoothstep(lo, hi, fine)
    }
}

/// The mean of `smoothstep(lo, hi, x)` for x a unit normal, by the midpoint rule over ±6 σ.
fn mean_blend_of_unit_normal((lo, hi): (f32, f32)) -> f32 {
    let steps = 2400;
    let dx = 12.0 / steps as f64;
    let mut sum = 0.0;
    for i in 0..steps {
        let x = -6.0 + (i as f64 + 0.5) * dx;
        let density = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        sum += smoothstep(lo, hi, x as f32) as f64 * density * dx;
    }
    sum as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::phantom::anatomy::{FULL_FAT_EDGES, FULL_MEAN_FAT_BLEND};

    #[test]
    fn the_mean_blend_matches_the_full_glands_constant_and_grows_with_lower_edges() {
        // The full gland's edges, whose mean the shading constant stands for.
        let full = mean_blend_of_unit_normal(FULL_FAT_EDGES);
        assert!((full - FULL_MEAN_FAT_BLEND).abs() < 0.02, "{full}");
        let atrophic = mean_blend_of_unit_normal(ATROPHIC_FAT_EDGES);
        assert!((0.45..0.55).contains(&atrophic), "{atrophic}");
    }
}
