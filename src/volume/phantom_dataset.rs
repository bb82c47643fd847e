//! Whole synthetic data sets: `count` phantoms of one task written in the Decathlon layout,
//! case `i` from a seed derived from the data-set seed, so one call always writes the same
//! files. Shared by `oncoscope synth` and the training panel's "Generate".

use std::path::{Path, PathBuf};

use super::VolumeError;
use super::decathlon::{CaseFiles, DatasetWriter, Task};
use super::phantom::{
    LesionLook, PancreasBuild, PhantomCase, PhantomOptions, ScanRange, case_seed, generate_case,
};

/// Writes `count` phantoms for `task` into `out` (created if needed) with `dataset.json`;
/// `on_case(index, id, case, files)` follows each written case. Returns the `dataset.json`
/// path.
pub fn write_phantom_dataset(
    out: &Path,
    task: Task,
    count: usize,
    seed: u64,
    options: &PhantomOptions,
    on_case: &mut dyn FnMut(usize, &str, &PhantomCase, &CaseFiles),
) -> Result<PathBuf, VolumeError> {
    if count == 0 {
        return Err(VolumeError::format(
            out,
            "a data set needs at least one case",
        ));
    }
    let made_by = match synth_flags(options) {
        Some(flags) => format!(
            "written by `oncoscope synth --task {} --cases {count} --seed {seed}{flags}`",
            task.organ()
        ),
        None => format!(
            "written with seed {seed} and options `oncoscope synth` cannot express: {options:?}"
        ),
    };
    let description = format!(
        "Synthetic abdominal CT phantoms ({}; labels 0 background, 1 {}, 2 cancer), {made_by}. \
         No patient data.",
        task.decathlon_name(),
        task.organ(),
    );
    let mut writer = DatasetWriter::create(
        out,
        task,
        &format!("{}_synthetic", task.decathlon_name()),
        &description,
    )?;
    let width = (count - 1).to_string().len().max(3);
    for index in 0..count {
        let id = format!("{}_{index:0width$}", task.organ());
        let case = generate_case(task, case_seed(seed, index as u64), options)?;
        let files = writer.add_case(&id, &case.ct, &case.labels, case.file_order)?;
        on_case(index, &id, &case, &files);
    }
    writer.finish()
}

/// The `oncoscope synth` options (each with a leading space) that give `options`, or `None`
/// when the command line cannot express them (options set by a library caller).
pub fn synth_flags(options: &PhantomOptions) -> Option<String> {
    let small = options.voxels_per_axis == PhantomOptions::small().voxels_per_axis;
    let mut base = if small {
        PhantomOptions::small()
    } else {
        PhantomOptions::default()
    };
    base.shape = options.shape;
    base.spacing_mm = options.spacing_mm;
    base.lesion_count = options.lesion_count;
    base.lesion_contrast_hu = options.lesion_contrast_hu;
    base.lesion_look = options.lesion_look;
    base.scan_range = options.scan_range;
    base.pancreas_build = options.pancreas_build;
    base.phase = options.phase;
    base.random_file_order = options.random_file_order;
    if base != *options {
        return None;
    }
    let join = |v: &[String]| v.join(",");
    let mut flags = String::new();
    if let Some(shape) = options.shape {
        flags += &format!(" --shape {}", join(&shape.map(|n| n.to_string())));
    }
    if let Some(spacing) = options.spacing_mm {
        flags += &format!(" --spacing-mm {}", join(&spacing.map(|s| s.to_string())));
    }
    if small {
        flags += " --small";
    }
    if let Some(n) = options.lesion_count {
        flags += &format!(" --lesions {n}");
    }
    if let Some((lo, hi)) = options.lesion_contrast_hu {
        flags += &format!(" --lesion-contrast-hu {lo},{hi}");
    }
    if options.lesion_look != LesionLook::default() {
        flags += &format!(" --lesion-look {}", options.lesion_look.name());
    }
    if options.scan_range != ScanRange::default() {
        flags += &format!(" --scan-range {}", options.scan_range.name());
    }
    if options.pancreas_build != PancreasBuild::default() {
        flags += &format!(" --pancreas-build {}", options.pancreas_build.name());
    }
    if let Some(phase) = options.phase {
        flags += &format!(" --phase {}", phase.name());
    }
    if !options.random_file_order {
        flags += " --ras";
    }
    Some(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::phantom::ContrastPhase;

    #[test]
    fn the_synth_command_line_is_rebuilt_from_the_options() {
        assert_eq!(synth_flags(&PhantomOptions::default()).unwrap(), "");
        let options = PhantomOptions {
            lesion_count: Some(0),
            lesion_contrast_hu: Some((40.0, 80.5)),
            phase: Some(ContrastPhase::PortalVenous),
            random_file_order: false,
            ..PhantomOptions::small()
        };
        assert_eq!(
            synth_flags(&options).unwrap(),
            " --small --lesions 0 --lesion-contrast-hu 40,80.5 --phase portal-venous --ras"
        );
        let options = PhantomOptions {
            scan_range: ScanRange::Mixed,
            ..PhantomOptions::default()
        };
        assert_eq!(synth_flags(&options).unwrap(), " --scan-range mixed");
        let options = PhantomOptions {
            pancreas_build: PancreasBuild::Atrophic,
            ..PhantomOptions::small()
        };
        assert_eq!(
            synth_flags(&options).unwrap(),
            " --small --pancreas-build atrophic"
        );
        let options = PhantomOptions {
            lesion_look: LesionLook::Crisp,
            ..PhantomOptions::small()
        };
        assert_eq!(
            synth_flags(&options).unwrap(),
            " --small --lesion-look crisp"
        );
        let options = PhantomOptions {
            shape: Some([64, 60, 40]),
            spacing_mm: Some([0.8, 0.8, 2.5]),
            ..PhantomOptions::default()
        };
        assert_eq!(
            synth_flags(&options).unwrap(),
            " --shape 64,60,40 --spacing-mm 0.8,0.8,2.5"
        );
        // A voxel-count range the command line has no option for.
        let options = PhantomOptions {
            voxels_per_axis: Some((40, 48)),
            ..PhantomOptions::small()
        };
        assert_eq!(synth_flags(&options), None);
    }
}
