//! CT display windows: a centre and width in HU mapped linearly to display values in [0, 1].

/// A display window over Hounsfield units.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    pub center_hu: f32,
    pub width_hu: f32,
}

/// The named presets a radiologist expects, plus a custom window.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum WindowPreset {
    /// Soft-tissue abdomen: C 40, W 400.
    Abdomen,
    /// Liver: C 60, W 160 (narrow, to show hypodense lesions).
    Liver,
    /// Bone: C 400, W 1800.
    Bone,
    /// Lung: C −600, W 1500.
    Lung,
    Custom(Window),
}

impl WindowPreset {
    /// The named presets, in menu order.
    pub const NAMED: [WindowPreset; 4] = [Self::Abdomen, Self::Liver, Self::Bone, Self::Lung];

    pub fn window(self) -> Window {
        let w = |center_hu, width_hu| Window {
            center_hu,
            width_hu,
        };
        match self {
            Self::Abdomen => w(40.0, 400.0),
            Self::Liver => w(60.0, 160.0),
            Self::Bone => w(400.0, 1800.0),
            Self::Lung => w(-600.0, 1500.0),
            Self::Custom(window) => window,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Abdomen => "abdomen",
            Self::Liver => "liver",
            Self::Bone => "bone",
            Self::Lung => "lung",
            Self::Custom(_) => "custom",
        }
    }

    /// A preset by name (case-insensitive), e.g. from the command line.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMED
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }
}

impl Window {
    /// A custom window; widths below 1 HU are raised to 1 HU so the mapping stays defined.
    pub fn new(center_hu: f32, width_hu: f32) -> Self {
        Self {
            center_hu,
            width_hu: width_hu.max(1.0),
        }
    }

    /// Lowest and highest HU of the window.
    pub fn range_hu(&self) -> (f32, f32) {
        let half = 0.5 * self.width_hu.max(1.0);
        (self.center_hu - half, self.center_hu + half)
    }

    /// Display value in [0, 1]: 0 at or below the window, 1 at or above, linear inside.
    #[inline]
    pub fn display_value(&self, hu: f32) -> f32 {
        let (lo, _) = self.range_hu();
        ((hu - lo) / self.width_hu.max(1.0)).clamp(0.0, 1.0)
    }

    /// Display value as an 8-bit grey level.
    #[inline]
    pub fn grey_u8(&self, hu: f32) -> u8 {
        (self.display_value(hu) * 255.0).round() as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_map_their_range_to_black_and_white() {
        for preset in WindowPreset::NAMED {
            let w = preset.window();
            let (lo, hi) = w.range_hu();
            assert_eq!(w.grey_u8(lo - 1.0), 0);
            assert_eq!(w.grey_u8(hi + 1.0), 255);
            assert_eq!(w.grey_u8(w.center_hu), 128);
            assert_eq!(WindowPreset::from_name(preset.name()), Some(preset));
        }
        let abdomen = WindowPreset::Abdomen.window();
        assert_eq!(abdomen.range_hu(), (-160.0, 240.0));
        assert!((abdomen.display_value(140.0) - 0.75).abs() < 1e-6);
    }

    #[test]
    fn custom_windows_never_divide_by_zero() {
        let w = Window::new(50.0, 0.0);
        assert!(w.display_value(50.2).is_finite());
        assert_eq!(w.grey_u8(100.0), 255);
    }
}
