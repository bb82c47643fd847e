//! The three slice views of a CT, headless: plane geometry (which voxel is at which pixel, in
//! radiological or neurological convention, with orientation letters) and the RGBA composition
//! of a windowed slice with label or comparison overlays. The UI only uploads the result.

mod compose;
mod plane;

pub use compose::{
    ComparisonOverlay, FALSE_NEGATIVE_RGB, FALSE_POSITIVE_RGB, LabelOverlay, ORGAN_RGB, Overlay,
    OverlayMode, SliceImage, TRUE_POSITIVE_RGB, TUMOUR_RGB, compose_slice, label_rgb,
};
pub use plane::{Convention, EdgeLetters, Plane, PlaneLayout};
