//! Tissue intensities of one phantom case: mean HU per tissue, drawn per case from ranges that
//! depend on the contrast phase. The ranges follow published values and the measured tables in
//! `../shared/data/README.md` (e.g. liver 44 HU without contrast, 118 HU portal-venous).

use super::rng::Rng;

/// When the scan was taken relative to an intravenous contrast injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContrastPhase {
    /// No contrast: organs 30–65 HU, vessels like blood (~40 HU).
    NonContrast,
    /// Late arterial (~35 s): bright aorta, corticomedullary kidneys, liver barely enhanced.
    Arterial,
    /// Portal-venous (~70 s): liver 100–130 HU, veins bright, kidneys nephrographic.
    PortalVenous,
}

impl ContrastPhase {
    /// Every phase, in a fixed order.
    pub const ALL: [ContrastPhase; 3] = [
        ContrastPhase::NonContrast,
        ContrastPhase::Arterial,
        ContrastPhase::PortalVenous,
    ];

    /// A short lower-case name, e.g. `"portal-venous"`.
    pub fn name(self) -> &'static str {
        match self {
            ContrastPhase::NonContrast => "non-contrast",
            ContrastPhase::Arterial => "arterial",
            ContrastPhase::PortalVenous => "portal-venous",
        }
    }

    /// The range (HU) the mean liver parenchyma is drawn from in this phase. Non-contrast
    /// includes fatty livers (down to 25 HU).
    pub fn liver_hu_range(self) -> (f32, f32) {
        match self {
            ContrastPhase::NonContrast => (25.0, 65.0),
            ContrastPhase::Arterial => (65.0, 85.0),
            ContrastPhase::PortalVenous => (100.0, 130.0),
        }
    }

    /// The range (HU) the mean pancreatic parenchyma is drawn from in this phase.
    pub fn pancreas_hu_range(self) -> (f32, f32) {
        match self {
            ContrastPhase::NonContrast => (30.0, 45.0),
            ContrastPhase::Arterial => (100.0, 130.0),
            ContrastPhase::PortalVenous => (80.0, 110.0),
        }
    }

    /// Draws a phase: 35 % non-contrast, 15 % arterial, 50 % portal-venous.
    pub(crate) fn draw(rng: &mut Rng) -> ContrastPhase {
        match rng.weighted(&[0.35, 0.15, 0.5]) {
            0 => ContrastPhase::NonContrast,
            1 => ContrastPhase::Arterial,
            _ => ContrastPhase::PortalVenous,
        }
    }
}

/// Mean HU of every tissue in one case.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TissueHu {
    pub air: f32,
    pub lung: f32,
    pub fat_subcutaneous: f32,
    pub fat_visceral: f32,
    pub skin: f32,
    pub muscle: f32,
    pub liver: f32,
    pub spleen: f32,
    /// Amplitude (HU) of the spleen's heterogeneous ("zebra") arterial enhancement.
    pub spleen_mottle: f32,
    pub pancreas: f32,
    pub kidney_cortex: f32,
    pub kidney_medulla: f32,
    pub urine: f32,
    pub aorta: f32,
    pub portal_vein: f32,
    pub ivc: f32,
    pub hepatic_vein: f32,
    pub heart_blood: f32,
    pub myocardium: f32,
    pub bowel_wall: f32,
    pub bowel_fluid: f32,
    pub oral_contrast: f32,
    pub stool: f32,
    pub gallbladder: f32,
    pub vertebral_marrow: f32,
    pub rib_marrow: f32,
    pub cortical_bone: f32,
    pub disc: f32,
    pub csf: f32,
    pub cartilage: f32,
    pub table: f32,
    pub ascites: f32,
}

impl TissueHu {
    /// Draws every tissue's mean HU for `phase`.
    pub fn draw(phase: ContrastPhase, rng: &mut Rng) -> Self {
        use ContrastPhase::*;
        let by_phase = |nc: (f32, f32), art: (f32, f32), pv: (f32, f32)| match phase {
            NonContrast => nc,
            Arterial => art,
            PortalVenous => pv,
        };
        let mut u = |(lo, hi): (f32, f32)| rng.range_f32(lo, hi);
        let blood = u((35.0, 48.0));
        let (lo, hi) = phase.liver_hu_range();
        // Non-contrast: most livers 45–65 HU, about one in five fatty (25–45 HU).
        let liver = if phase == NonContrast {
            if u((0.0, 1.0)) < 0.2 {
                u((lo, 45.0))
            } else {
                u((45.0, hi))
            }
        } else {
            u((lo, hi))
        };
        Self {
            air: u((-1010.0, -990.0)),
            lung: u((-880.0, -820.0)),
            fat_subcutaneous: u((-115.0, -90.0)),
            fat_visceral: u((-105.0, -80.0)),
            skin: u((10.0, 50.0)),
            muscle: u(by_phase((40.0, 55.0), (50.0, 65.0), (55.0, 70.0))),
            liver,
            spleen: u(by_phase((40.0, 52.0), (90.0, 130.0), (105.0, 125.0))),
            spleen_mottle: if phase == Arterial {
                u((15.0, 35.0))
            } else {
                0.0
            },
            pancreas: u(phase.pancreas_hu_range()),
            kidney_cortex: u(by_phase((25.0, 38.0), (180.0, 250.0), (150.0, 200.0))),
            kidney_medulla: u(by_phase((25.0, 35.0), (70.0, 100.0), (120.0, 170.0))),
            urine: u((0.0, 15.0)),
            aorta: u(by_phase(
                (blood, blood + 8.0),
                (250.0, 350.0),
                (150.0, 250.0),
            )),
            portal_vein: u(by_phase(
                (blood, blood + 5.0),
                (90.0, 130.0),
                (150.0, 200.0),
            )),
            ivc: u(by_phase((blood, blood + 5.0), (60.0, 90.0), (100.0, 150.0))),
            hepatic_vein: u(by_phase((blood - 5.0, blood), (55.0, 80.0), (130.0, 170.0))),
            heart_blood: u(by_phase(
                (blood, blood + 5.0),
                (250.0, 350.0),
                (130.0, 180.0),
            )),
            myocardium: u(by_phase((40.0, 50.0), (100.0, 130.0), (90.0, 110.0))),
            bowel_wall: u(by_phase((35.0, 45.0), (70.0, 100.0), (80.0, 110.0))),
            bowel_fluid: u((0.0, 30.0)),
            oral_contrast: u((150.0, 350.0)),
            stool: u((-60.0, 20.0)),
            gallbladder: u((0.0, 20.0)),
            vertebral_marrow: u((140.0, 260.0)),
            rib_marrow: u((180.0, 320.0)),
            cortical_bone: u((650.0, 1000.0)),
            disc: u((70.0, 100.0)),
            csf: u((5.0, 20.0)),
            cartilage: u((90.0, 200.0)),
            table: u((100.0, 400.0)),
            ascites: u((0.0, 15.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organ_means_fall_in_their_phase_ranges() {
        for seed in 0..200 {
            let mut rng = Rng::new(seed);
            for phase in ContrastPhase::ALL {
                let t = TissueHu::draw(phase, &mut rng);
                let (lo, hi) = phase.liver_hu_range();
                assert!((lo..=hi).contains(&t.liver), "{phase:?} liver {}", t.liver);
                let (lo, hi) = phase.pancreas_hu_range();
                assert!((lo..=hi).contains(&t.pancreas));
                assert!(t.fat_subcutaneous < -85.0 && t.cortical_bone > 600.0);
            }
        }
        // Contrast changes the liver by 50–80 HU on average.
        let nc = ContrastPhase::NonContrast.liver_hu_range();
        let pv = ContrastPhase::PortalVenous.liver_hu_range();
        let shift = (pv.0 + pv.1) / 2.0 - (nc.0 + nc.1) / 2.0;
        assert!((50.0..=80.0).contains(&shift), "{shift}");
    }
}
