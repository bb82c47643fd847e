//! [`Structure`]: which labels make up each surface we draw and measure, and its colour.

/// A structure of a label map (0 background, 1 organ, 2 tumour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Structure {
    /// The organ with its tumours (label ≥ 1), so its surface stays closed around lesions.
    Organ,
    /// All tumour voxels (label 2).
    Lesions,
}

impl Structure {
    /// Every structure, in drawing and export order.
    pub const ALL: [Structure; 2] = [Structure::Organ, Structure::Lesions];

    /// The label value of tumour voxels.
    pub const TUMOUR_LABEL: u8 = crate::volume::decathlon::TUMOUR_LABEL;

    /// Lower-case name, used for file names and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Structure::Organ => "organ",
            Structure::Lesions => "lesions",
        }
    }

    /// Whether a voxel with this label belongs to the structure.
    #[inline]
    pub fn contains(self, label: u8) -> bool {
        match self {
            Structure::Organ => label >= 1,
            Structure::Lesions => label == Self::TUMOUR_LABEL,
        }
    }

    /// Label → binary field value (1 inside, 0 outside), for [`crate::mesh::PaddedField`].
    pub fn mask_lut(self) -> [u8; 256] {
        std::array::from_fn(|label| u8::from(self.contains(label as u8)))
    }

    /// Display colour as sRGB: organ blue, lesions red.
    pub fn colour_rgb(self) -> [u8; 3] {
        match self {
            Structure::Organ => [60, 120, 230],
            Structure::Lesions => [220, 40, 40],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organ_encloses_tumour() {
        let organ = Structure::Organ.mask_lut();
        let lesions = Structure::Lesions.mask_lut();
        assert_eq!((organ[0], organ[1], organ[2], organ[7]), (0, 1, 1, 1));
        assert_eq!(
            (lesions[0], lesions[1], lesions[2], lesions[3]),
            (0, 0, 1, 0)
        );
    }
}
