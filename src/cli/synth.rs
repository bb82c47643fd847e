//! `oncoscope synth`: generates synthetic abdominal CT phantoms and writes them as a
//! Decathlon-layout dataset (`dataset.json`, `imagesTr/`, `labelsTr/`): CT as int16 HU, labels
//! as uint8 (0 background, 1 organ, 2 tumour), each file in a scanner-like voxel order.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use oncoscope::volume::Grid;
use oncoscope::volume::decathlon::Task;
use oncoscope::volume::phantom::{
    ContrastPhase, LesionInfo, LesionLook, PancreasBuild, PhantomCase, PhantomOptions,
    ScanCoverage, ScanRange, check_lesion_contrast_hu,
};
use oncoscope::volume::phantom_dataset::write_phantom_dataset;

/// The organ a dataset is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    Liver,
    Pancreas,
}

impl From<TaskArg> for Task {
    fn from(t: TaskArg) -> Task {
        match t {
            TaskArg::Liver => Task::Liver,
            TaskArg::Pancreas => Task::Pancreas,
        }
    }
}

/// How lesion margins, rims and mottling follow a lesion's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LookArg {
    /// Blur, rims and mottling whatever the size (the phantoms of every shipped model).
    Soft,
    /// Blur and rims in proportion to the size, no rim under 15 mm: small lesions as dark as
    /// large ones, as in the real case measured.
    Crisp,
}

impl From<LookArg> for LesionLook {
    fn from(l: LookArg) -> LesionLook {
        match l {
            LookArg::Soft => LesionLook::Soft,
            LookArg::Crisp => LesionLook::Crisp,
        }
    }
}

/// How far the scan runs along the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanArg {
    /// Dome to below the kidneys, the whole liver (the phantoms of every shipped model).
    Abdomen,
    /// On down through the pelvis to the lesser trochanters.
    AbdomenPelvis,
    /// Per case: 55 % abdomen and pelvis, the rest abdomen; one in four starting inside the
    /// liver.
    Mixed,
}

impl From<ScanArg> for ScanRange {
    fn from(s: ScanArg) -> ScanRange {
        match s {
            ScanArg::Abdomen => ScanRange::Abdomen,
            ScanArg::AbdomenPelvis => ScanRange::AbdomenPelvis,
            ScanArg::Mixed => ScanRange::Mixed,
        }
    }
}

/// How full the pancreas is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PancreasArg {
    /// 60–100 mL (the phantoms of every shipped model).
    Full,
    /// Thin and fat-laced, 15–40 mL, as in older patients.
    Atrophic,
    /// Per case: half full, half atrophic.
    Mixed,
}

impl From<PancreasArg> for PancreasBuild {
    fn from(p: PancreasArg) -> PancreasBuild {
        match p {
            PancreasArg::Full => PancreasBuild::Full,
            PancreasArg::Atrophic => PancreasBuild::Atrophic,
            PancreasArg::Mixed => PancreasBuild::Mixed,
        }
    }
}

/// A contrast phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PhaseArg {
    NonContrast,
    Arterial,
    PortalVenous,
}

impl From<PhaseArg> for ContrastPhase {
    fn from(p: PhaseArg) -> ContrastPhase {
        match p {
            PhaseArg::NonContrast => ContrastPhase::NonContrast,
            PhaseArg::Arterial => ContrastPhase::Arterial,
            PhaseArg::PortalVenous => ContrastPhase::PortalVenous,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct SynthArgs {
    /// Target organ: labels 1 (organ) and 2 (tumour) mark it.
    #[arg(long, value_enum)]
    pub task: TaskArg,
    /// Number of cases.
    #[arg(long, default_value_t = 1)]
    pub cases: usize,
    /// Dataset seed: case i uses a seed derived from it and i, so a command always writes the
    /// same files.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (created if needed; files of the same names are overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Voxel counts "X,Y,Z" along the RAS axes (default: from the field of view).
    #[arg(long, value_parser = parse_shape)]
    pub shape: Option<[usize; 3]>,
    /// Voxel spacing "X,Y,Z" in mm, e.g. "0.8,0.8,2.5" (default: drawn per case, 0.6–1.0 mm
    /// in-plane and 1–5 mm between slices).
    #[arg(long = "spacing-mm", value_parser = parse_spacing)]
    pub spacing_mm: Option<[f64; 3]>,
    /// Small, coarse volumes (64–96 voxels per axis) for quick tests and training.
    #[arg(long)]
    pub small: bool,
    /// This many lesions per case, 0 to 10 (0 for tumour-free cases; default: 0–5 at random
    /// in the liver, 0–3 in the pancreas). Where the organ has no room for them all, fewer,
    /// and the case's line says so.
    #[arg(long, value_parser = lesion_count)]
    pub lesions: Option<usize>,
    /// Lesion hypodensity "LO,HI" in HU against the organ, drawn per lesion (default: 20–40
    /// without contrast, 20–60 with it). Only the contrast changes: the same seed gives the
    /// same lesions, places and sizes.
    #[arg(long = "lesion-contrast-hu", value_parser = parse_hu_range)]
    pub lesion_contrast_hu: Option<(f32, f32)>,
    /// How margins, rims and mottling follow a lesion's size. Only the look changes: the same
    /// seed gives the same lesions, places and sizes.
    #[arg(long = "lesion-look", value_enum, default_value_t = LookArg::Soft)]
    pub lesion_look: LookArg,
    /// How far each scan runs along the body. With `abdomen-pelvis` and `mixed` the same seed
    /// gives the same abdomen and lesions, with the pelvis below.
    #[arg(long = "scan-range", value_enum, default_value_t = ScanArg::Abdomen)]
    pub scan_range: ScanArg,
    /// How full the pancreas is. With `atrophic` and `mixed` the same seed gives the same
    /// abdomen, the gland thinned in place (lesions are redrawn inside it).
    #[arg(long = "pancreas-build", value_enum, default_value_t = PancreasArg::Full)]
    pub pancreas_build: PancreasArg,
    /// Draw the liver's fat-filled fissures (the falciform / teres cleft between the lobes, the
    /// ligamentum venosum behind), labelled background, as real livers have them. The same
    /// seed gives the same abdomen; lesions are placed outside the fissures, so one drawn
    /// where a fissure now lies moves.
    #[arg(long)]
    pub liver_fissures: bool,
    /// Draw the fat of the liver's hilum (the porta hepatis): a sleeve of fat 4–10 mm thick
    /// around the first stretch of the main portal branches, the veins bright within it,
    /// labelled background, as in real livers. The same seed gives the same abdomen; lesions
    /// are placed outside the fat.
    #[arg(long)]
    pub liver_hilar_fat: bool,
    /// One contrast phase for every case (default: drawn per case).
    #[arg(long, value_enum)]
    pub phase: Option<PhaseArg>,
    /// Write every file in RAS voxel order instead of a random scanner-like order.
    #[arg(long)]
    pub ras: bool,
}

/// Parses "X,Y,Z" into three values.
fn parse_triple<T: std::str::FromStr>(s: &str, what: &str) -> Result<[T; 3], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != 3 {
        return Err(format!("expected three comma-separated {what}, like X,Y,Z"));
    }
    let mut out = Vec::with_capacity(3);
    for p in parts {
        out.push(
            p.parse::<T>()
                .map_err(|_| format!("{p:?} is not a valid {what}"))?,
        );
    }
    out.try_into().map_err(|_| format!("expected three {what}"))
}

fn parse_shape(s: &str) -> Result<[usize; 3], String> {
    let shape: [usize; 3] = parse_triple(s, "voxel counts")?;
    if shape.contains(&0) {
        return Err("voxel counts must be at least 1".into());
    }
    Ok(shape)
}

fn parse_spacing(s: &str) -> Result<[f64; 3], String> {
    let spacing: [f64; 3] = parse_triple(s, "spacings in mm")?;
    if spacing.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Err("spacings must be positive millimetres".into());
    }
    Ok(spacing)
}

fn parse_hu_range(s: &str) -> Result<(f32, f32), String> {
    let (lo, hi) = s
        .split_once(',')
        .ok_or_else(|| "expected LO,HI in HU, like 30,80".to_string())?;
    let parse = |v: &str| {
        v.trim()
            .parse::<f32>()
            .map_err(|_| format!("{v:?} is not a number of HU"))
    };
    let range = (parse(lo)?, parse(hi)?);
    check_lesion_contrast_hu(range)?;
    Ok(range)
}

impl SynthArgs {
    /// The generator options these arguments ask for.
    pub fn options(&self) -> PhantomOptions {
        let mut options = if self.small {
            PhantomOptions::small()
        } else {
            PhantomOptions::default()
        };
        options.shape = self.shape;
        options.spacing_mm = self.spacing_mm;
        options.lesion_count = self.lesions;
        options.lesion_contrast_hu = self.lesion_contrast_hu;
        options.lesion_look = self.lesion_look.into();
        options.scan_range = self.scan_range.into();
        options.pancreas_build = self.pancreas_build.into();
        options.liver_fissures = self.liver_fissures;
        options.liver_hilar_fat = self.liver_hilar_fat;
        options.phase = self.phase.map(ContrastPhase::from);
        options.random_file_order = !self.ras;
        options
    }
}

/// The orientation code (e.g. "LPS") of the file a case is written to.
fn file_orientation(case: &PhantomCase) -> String {
    let grid = &case.ct.grid;
    Grid {
        dims: case.file_order.output_dims(grid.dims),
        world_from_voxel: case
            .file_order
            .output_affine(&grid.world_from_voxel, grid.dims),
    }
    .orientation_code()
}

/// Most lesions `--lesions` asks for: more than a pancreas, or a liver of small-volume
/// phantoms, has room for already.
const MAX_LESIONS: usize = 10;

fn lesion_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n <= MAX_LESIONS => Ok(n),
        _ => Err(format!(
            "{text:?} is not a number of lesions (0 to {MAX_LESIONS})"
        )),
    }
}

/// One lesion as the case line names it: size, kind and hypodensity.
fn lesion_text(l: &LesionInfo) -> String {
    format!(
        "{:.0} mm {} −{:.0} HU",
        l.diameter_mm,
        l.kind.name(),
        l.contrast_hu
    )
}

/// The lesions part of a case line: those the label holds, then any it lacks, either drawn
/// above the scan's top (a scan that starts inside the liver) or too small to cover a voxel
/// centre at this spacing.
fn lesions_text(case: &PhantomCase) -> String {
    let nz = case.labels.grid.dims[2];
    let top_mm = case
        .labels
        .grid
        .world_of_voxel([0.0, 0.0, nz as f64 - 0.5])
        .z;
    let (labelled, missing): (Vec<&LesionInfo>, Vec<&LesionInfo>) =
        case.lesions.iter().partition(|l| l.voxel_count > 0);
    let (above, unseen): (Vec<&LesionInfo>, Vec<&LesionInfo>) =
        missing.into_iter().partition(|l| l.center_mm[2] > top_mm);
    let list = |lesions: &[&LesionInfo]| {
        let items: Vec<String> = lesions.iter().map(|l| lesion_text(l)).collect();
        items.join(", ")
    };
    let mut text = match labelled.len() {
        0 => "no lesions".to_string(),
        1 => format!("1 lesion ({})", list(&labelled)),
        n => format!("{n} lesions ({})", list(&labelled)),
    };
    for (lesions, place) in [(above, "above the scan"), (unseen, "between voxels")] {
        if !lesions.is_empty() {
            text.push_str(&format!(
                " and {} {place}, not labelled ({})",
                lesions.len(),
                list(&lesions)
            ));
        }
    }
    text
}

/// What the scan covers beyond the abdomen, as ", abdomen and pelvis" and/or ", top inside the
/// liver (N % of it above)"; empty for an abdomen-only scan.
fn coverage_text(scan: &ScanCoverage) -> String {
    let mut text = String::new();
    if scan.pelvis {
        text.push_str(", abdomen and pelvis");
    }
    if let Some(hidden) = scan.liver_hidden_fraction {
        text.push_str(&format!(
            ", top inside the liver ({:.0} % of its height above)",
            hidden * 100.0
        ));
    }
    text
}

/// One line about a written case.
fn case_line(id: &str, case: &PhantomCase, files: (&str, &str), seconds: f64) -> String {
    let [nx, ny, nz] = case.ct.grid.dims;
    let [sx, sy, sz] = case.ct.grid.spacing_mm();
    format!(
        "{id}: {}, {}{}{}{}{}, {nx}×{ny}×{nz} at {sx:.2}×{sy:.2}×{sz:.2} mm, {} order, seed {} \
         → {}, {} ({seconds:.1} s)",
        lesions_text(case),
        case.phase.name(),
        coverage_text(&case.scan),
        if case.atrophic_pancreas {
            ", atrophic pancreas"
        } else {
            ""
        },
        match case.liver_fissures {
            0 => String::new(),
            n => format!(", {n} liver fissure(s)"),
        },
        match case.liver_hilar_fat {
            0 => String::new(),
            n => format!(", hilar fat around {n} portal branch(es)"),
        },
        file_orientation(case),
        case.seed,
        files.0,
        files.1,
    )
}

pub fn run_synth(args: &SynthArgs) -> Result<()> {
    if args.cases == 0 {
        bail!("--cases must be at least 1");
    }
    let task = Task::from(args.task);
    let existing = args.out.join("dataset.json");
    if existing.is_file() {
        bail!(
            "{}: this folder already holds a data set; choose a new --out (writing here would \
             mix two data sets)",
            existing.display()
        );
    }
    let mut started = Instant::now();
    let mut short = 0usize;
    let out_existed = args.out.exists();
    let json = write_phantom_dataset(
        &args.out,
        task,
        args.cases,
        args.seed,
        &args.options(),
        &mut |_, id, case, files| {
            let (image, label) = (
                files.image.display().to_string(),
                files.label.display().to_string(),
            );
            let mut line = case_line(id, case, (&image, &label), started.elapsed().as_secs_f64());
            if let Some(asked) = args.lesions.filter(|&n| case.lesions.len() < n) {
                short += 1;
                line.push_str(&format!(" [asked {asked} lesions: no room for more]"));
            }
            println!("{line}");
            started = Instant::now();
        },
    )
    .inspect_err(|_| {
        // A folder this run made, left empty by the failure, is removed again (one with any
        // case written in it is kept: remove_dir only removes empty folders).
        if !out_existed {
            for dir in [
                args.out.join("imagesTr"),
                args.out.join("labelsTr"),
                args.out.clone(),
            ] {
                let _ = std::fs::remove_dir(dir);
            }
        }
    })
    .with_context(|| format!("cannot write the data set in {}", args.out.display()))?;
    println!(
        "wrote {} case{} and {} to {}",
        args.cases,
        if args.cases == 1 { "" } else { "s" },
        json.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        args.out.display()
    );
    if short > 0 {
        println!(
            "{short} case{} got fewer lesions than --lesions asked: the organ had no room for \
             more (marked above)",
            if short == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use oncoscope::volume::decathlon::read_dataset;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        synth: SynthArgs,
    }

    #[test]
    fn parses_shapes_and_spacings() {
        assert_eq!(parse_shape("64, 80,96"), Ok([64, 80, 96]));
        assert!(parse_shape("64,80").is_err());
        assert!(parse_shape("64,0,96").is_err());
        assert_eq!(parse_spacing("0.8,0.8,2.5"), Ok([0.8, 0.8, 2.5]));
        assert!(parse_spacing("0.8,-1,2.5").is_err());
        assert!(parse_spacing("a,b,c").is_err());
        let w = Wrapper::try_parse_from([
            "synth",
            "--task",
            "pancreas",
            "--out",
            "x",
            "--spacing-mm",
            "0.8,0.8,2.5",
            "--phase",
            "non-contrast",
            "--lesions",
            "0",
            "--lesion-contrast-hu",
            "30, 80",
            "--lesion-look",
            "crisp",
            "--scan-range",
            "abdomen-pelvis",
            "--pancreas-build",
            "atrophic",
        ])
        .unwrap();
        let o = w.synth.options();
        assert_eq!(o.spacing_mm, Some([0.8, 0.8, 2.5]));
        assert_eq!(o.lesion_contrast_hu, Some((30.0, 80.0)));
        assert_eq!(o.lesion_look, LesionLook::Crisp);
        assert_eq!(o.scan_range, ScanRange::AbdomenPelvis);
        assert_eq!(o.pancreas_build, PancreasBuild::Atrophic);
        for bad in ["80,30", "0,20", "20", "a,b", "20,900"] {
            assert!(parse_hu_range(bad).is_err(), "{bad}");
        }
        assert_eq!(o.lesion_count, Some(0));
        assert_eq!(o.phase, Some(ContrastPhase::NonContrast));
        assert_eq!(w.synth.task, TaskArg::Pancreas);
        assert!(Wrapper::try_parse_from(["synth", "--task", "kidney", "--out", "x"]).is_err());
    }

    #[test]
    fn case_lines_say_what_the_scan_covers_and_which_lesions_lie_above_it() {
        let options = PhantomOptions {
            spacing_mm: Some([5.0, 5.0, 5.0]),
            scan_range: ScanRange::Mixed,
            lesion_count: Some(5),
            ..PhantomOptions::default()
        };
        let (mut pelvic, mut cut, mut above) = (0, 0, 0);
        for seed in 0..16 {
            let case =
                oncoscope::volume::phantom::generate_case(Task::Liver, seed, &options).unwrap();
            let line = case_line("liver_000", &case, ("a", "b"), 0.0);
            assert_eq!(
                line.contains(", abdomen and pelvis,"),
                case.scan.pelvis,
                "seed {seed}: {line}"
            );
            assert_eq!(
                line.contains("top inside the liver"),
                case.scan.liver_hidden_fraction.is_some(),
                "seed {seed}: {line}"
            );
            // The lesions the line counts as in the scan are those the label holds.
            let in_label = case.lesions.iter().filter(|l| l.voxel_count > 0).count();
            let missing = case.lesions.len() - in_label;
            let counted = if in_label == 0 {
                line.starts_with("liver_000: no lesions")
            } else {
                line.contains(&format!(": {in_label} lesion"))
            };
            assert!(counted, "seed {seed}: {in_label} lesions labelled: {line}");
            // Each lesion the label lacks is named, as above the scan (only where it starts
            // inside the liver) or between voxels.
            let named = |place: &str| {
                line.split(" and ")
                    .filter_map(|part| part.split_once(&format!(" {place}, not labelled (")))
                    .map(|(n, _)| n.parse::<usize>().unwrap())
                    .sum::<usize>()
            };
            let (named_above, named_between) = (named("above the scan"), named("between voxels"));
            assert_eq!(named_above + named_between, missing, "seed {seed}: {line}");
            if named_above > 0 {
                assert!(
                    case.scan.liver_hidden_fraction.is_some(),
                    "seed {seed}: {line}"
                );
            }
            pelvic += usize::from(case.scan.pelvis);
            cut += usize::from(case.scan.liver_hidden_fraction.is_some());
            above += named_above;
        }
        assert!(pelvic > 0 && cut > 0 && above > 0, "{pelvic} {cut} {above}");
        // The default scan covers the abdomen only, and its line says nothing more.
        let case = oncoscope::volume::phantom::generate_case(
            Task::Liver,
            1,
            &PhantomOptions {
                scan_range: ScanRange::Abdomen,
                ..options
            },
        )
        .unwrap();
        assert_eq!(case.scan, ScanCoverage::default());
        let line = case_line("liver_000", &case, ("a", "b"), 0.0);
        assert!(
            !line.contains("pelvis") && !line.contains("above"),
            "{line}"
        );
    }

    #[test]
    fn writes_a_dataset_that_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let args = SynthArgs {
            task: TaskArg::Liver,
            cases: 2,
            seed: 5,
            out: dir.path().join("Task03_Liver_synthetic"),
            shape: None,
            spacing_mm: None,
            small: true,
            lesions: None,
            lesion_contrast_hu: None,
            lesion_look: LookArg::Soft,
            scan_range: ScanArg::Abdomen,
            pancreas_build: PancreasArg::Full,
            liver_fissures: false,
            liver_hilar_fat: false,
            phase: None,
            ras: false,
        };
        run_synth(&args).unwrap();
        let ds = read_dataset(&args.out).unwrap();
        assert_eq!(ds.training.len(), 2);
        assert_eq!(ds.training[0].id, "liver_000");
        assert_eq!(ds.task(), Some(Task::Liver));
    }
}
