//! The scene a phantom is rendered from: an ordered list of [`Structure`]s, each a signed
//! distance function, a shading function and a rule for what it does to the label map.
//!
//! Structures are painted in order (later ones cover earlier ones), with partial-volume blending
//! at their edges; see `render.rs`.

use std::sync::Arc;

use super::geometry::{Aabb, V3};

/// A signed distance function in the patient frame (mm; negative inside).
pub(crate) type SdfFn = Arc<dyn Fn(V3) -> f32 + Send + Sync>;
/// HU of a structure at a sample point (before noise).
pub(crate) type ShadeFn = Box<dyn Fn(&Sample) -> f32 + Send + Sync>;

/// What a shading function sees at one voxel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// Position in the patient frame (mm).
    pub p: V3,
    /// The structure's signed distance there (mm; negative inside).
    pub d: f32,
    /// Coarse texture in about `[-1, 1]` (features of 5–15 mm), shared by all tissues.
    pub tex: f32,
    /// Fine texture in about `[-1, 1]` (features of 1.5–3 mm).
    pub fine: f32,
}

/// The organs that can be a task's target (label 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Organ {
    Liver = 0,
    Pancreas = 1,
}

/// How a structure changes labels (and which organ it may be drawn in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelRule {
    /// Covers whatever lies below. Voxels whose centre is inside get the organ label when
    /// `organ` is the target, else background.
    Replace { organ: Option<Organ> },
    /// Drawn only where `organ` is (blend weight × organ coverage), e.g. vessels in the liver
    /// and lesions. Labels are kept, except that `tumour` structures turn organ voxels whose
    /// centre is inside them into tumour.
    Inside { organ: Organ, tumour: bool },
}

/// One anatomical structure.
pub(crate) struct Structure {
    /// For debugging and timing.
    pub name: &'static str,
    /// Where the structure can be non-empty, already grown by any displacement it applies.
    pub bounds: Aabb,
    pub sdf: SdfFn,
    pub shade: ShadeFn,
    pub rule: LabelRule,
    /// Extra edge softness (mm) on top of the voxel's partial volume, for fuzzy margins.
    pub blur_mm: f32,
    /// Bound on the SDF's gradient length (1 for exact distances). The renderer's tile culling
    /// and partial-volume band rely on it.
    pub lipschitz: f32,
    /// Whether `shade` reads [`Sample::d`]; when not, voxels deep inside need no SDF call.
    pub depth_shaded: bool,
}

impl std::fmt::Debug for Structure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Structure")
            .field("name", &self.name)
            .field("bounds", &self.bounds)
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

/// Gradient bound of most scene SDFs: approximate ellipsoid distances with gentle noise.
pub(crate) const DEFAULT_LIPSCHITZ: f32 = 1.5;
/// Gradient bound of shapes clipped by height fields (the diaphragm), which are steeper than
/// true distances.
pub(crate) const STEEP_LIPSCHITZ: f32 = 2.5;

impl Structure {
    /// A structure of one tissue: `hu` plus `texture_hu` times the coarse texture.
    pub fn flat(
        name: &'static str,
        bounds: Aabb,
        sdf: SdfFn,
        hu: f32,
        texture_hu: f32,
        rule: LabelRule,
    ) -> Self {
        Self {
            name,
            bounds,
            sdf,
            shade: Box::new(move |s: &Sample| hu + texture_hu * s.tex),
            rule,
            blur_mm: 0.0,
            lipschitz: DEFAULT_LIPSCHITZ,
            depth_shaded: false,
        }
    }

    /// The same structure, declaring that its shading ignores the depth `Sample::d`.
    pub fn depth_free(mut self) -> Self {
        self.depth_shaded = false;
        self
    }

    /// The same structure marked as having a steep SDF (see [`STEEP_LIPSCHITZ`]).
    pub fn steep(mut self) -> Self {
        self.lipschitz = STEEP_LIPSCHITZ;
        self
    }

    /// A structure with its own shading function.
    pub fn shaded(
        name: &'static str,
        bounds: Aabb,
        sdf: SdfFn,
        shade: ShadeFn,
        rule: LabelRule,
    ) -> Self {
        Self {
            name,
            bounds,
            sdf,
            shade,
            rule,
            blur_mm: 0.0,
            lipschitz: DEFAULT_LIPSCHITZ,
            depth_shaded: true,
        }
    }
}

/// Shorthand for a plain structure that is not a labelled organ.
pub(crate) const BACKGROUND: LabelRule = LabelRule::Replace { organ: None };
