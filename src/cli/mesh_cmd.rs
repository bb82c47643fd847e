//! `oncoscope mesh`: the surfaces and the lesion table of a label map, written as one mesh file
//! per structure and printed as a table (or one JSON object with `--json`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use oncoscope::mesh::{
    EdgeReport, ExportFormat, LesionTable, Structure, TaubinParams, edge_report, extract_surfaces,
    lesion_table, write_surface,
};
use oncoscope::volume::{LabelVolume, nifti::read_labels};

/// Mesh file format on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MeshFormatArg {
    /// Binary STL.
    Stl,
    /// Binary PLY with vertex normals and colours.
    Ply,
    /// Wavefront OBJ with vertex colours and normals.
    Obj,
}

impl From<MeshFormatArg> for ExportFormat {
    fn from(f: MeshFormatArg) -> Self {
        match f {
            MeshFormatArg::Stl => ExportFormat::Stl,
            MeshFormatArg::Ply => ExportFormat::Ply,
            MeshFormatArg::Obj => ExportFormat::Obj,
        }
    }
}

/// Arguments of `oncoscope mesh`.
#[derive(Debug, Clone, clap::Args)]
pub struct MeshArgs {
    /// Label map (.nii or .nii.gz): 0 background, 1 organ, 2 tumour.
    pub labels: PathBuf,
    /// Folder for the mesh files `organ.<ext>` and `lesions.<ext>` (created when missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Taubin smoothing iterations (0 = none, at most 1000). Changes the surfaces, never the
    /// volumes.
    #[arg(long, default_value_t = 0, value_parser = super::smoothing_iterations)]
    pub smooth: usize,
    /// Mesh file format.
    #[arg(long, value_enum, default_value = "stl")]
    pub format: MeshFormatArg,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Leave lesions smaller than this many millilitres out of the table (they are counted; the
    /// lesion surface still shows them).
    #[arg(long, value_parser = super::non_negative_ml, allow_negative_numbers = true)]
    pub min_lesion_ml: Option<f64>,
}

/// One written surface, as reported.
#[derive(Debug, serde::Serialize)]
struct SurfaceSummary {
    structure: Structure,
    path: PathBuf,
    vertices: usize,
    triangles: usize,
    area_mm2: f64,
    /// Enclosed by the (smoothed) mesh; for display only, the table's volumes come from voxels.
    mesh_volume_ml: f64,
    closed: bool,
    edges: EdgeReport,
}

/// Everything `--json` prints.
#[derive(Debug, serde::Serialize)]
struct MeshReport<'a> {
    labels: &'a Path,
    dims: [usize; 3],
    spacing_mm: [f64; 3],
    orientation: String,
    format: ExportFormat,
    smoothing: TaubinParams,
    table: &'a LesionTable,
    surfaces: &'a [SurfaceSummary],
    /// Files of an earlier run removed because this map lacks their structure.
    removed: &'a [PathBuf],
    elapsed_s: f64,
}

/// Runs `oncoscope mesh`.
pub fn run_mesh(args: &MeshArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let min_lesion_ml = args.min_lesion_ml.unwrap_or(0.0);
    let labels = read_labels(&args.labels)
        .with_context(|| format!("reading label map {}", args.labels.display()))?;
    let smoothing = TaubinParams::with_iterations(args.smooth);
    let (table, surfaces) = rayon::join(
        || lesion_table(&labels, min_lesion_ml),
        || extract_surfaces(&labels, &smoothing),
    );
    let surfaces = surfaces.context("building surfaces")?;
    if args.out.exists() && !args.out.is_dir() {
        anyhow::bail!(
            "--out {}: a file, not a folder; the surfaces go into a folder (organ.stl, lesions.stl)",
            args.out.display()
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let format = ExportFormat::from(args.format);
    let mut written = Vec::with_capacity(surfaces.len());
    for surface in &surfaces {
        let path = args.out.join(format!(
            "{}.{}",
            surface.structure.name(),
            format.extension()
        ));
        write_surface(&path, surface, format)?;
        let edges = edge_report(&surface.mesh);
        written.push(SurfaceSummary {
            structure: surface.structure,
            path,
            vertices: surface.mesh.vertex_count(),
            triangles: surface.mesh.triangle_count(),
            area_mm2: surface.mesh.surface_area_mm2(),
            mesh_volume_ml: surface.mesh.enclosed_volume_mm3() / 1000.0,
            closed: edges.is_closed_manifold(),
            edges,
        });
    }
    // A structure this label map lacks (no tumour) leaves no file of an earlier run behind
    // under its name, which would pass for this map's.
    let mut removed = Vec::new();
    for structure in Structure::ALL {
        let stale = args
            .out
            .join(format!("{}.{}", structure.name(), format.extension()));
        if !surfaces.iter().any(|s| s.structure == structure) && stale.is_file() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("removing the earlier {}", stale.display()))?;
            removed.push(stale);
        }
    }
    if args.json {
        let report = MeshReport {
            labels: &args.labels,
            dims: labels.grid.dims,
            spacing_mm: labels.grid.spacing_mm(),
            orientation: labels.grid.orientation_code(),
            format,
            smoothing,
            table: &table,
            surfaces: &written,
            removed: &removed,
            elapsed_s: start.elapsed().as_secs_f64(),
        };
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", table_text(&args.labels, &labels, &table));
        print!("{}", surfaces_text(&written, &smoothing));
        for stale in &removed {
            println!(
                "removed {} of an earlier run (no such structure here)",
                stale.display()
            );
        }
        println!("done in {:.2} s", start.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The lesion table as aligned text.
pub fn table_text(path: &Path, labels: &LabelVolume, table: &LesionTable) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let [nx, ny, nz] = labels.grid.dims;
    let [sx, sy, sz] = labels.grid.spacing_mm();
    let _ = writeln!(
        s,
        "labels   {}  {nx}×{ny}×{nz} voxels, {sx:.3} × {sy:.3} × {sz:.3} mm",
        path.display()
    );
    let _ = writeln!(
        s,
        "organ    {:>10.2} mL  ({} voxels, label ≥ 1, tumour included)",
        table.organ.volume_ml, table.organ.voxel_count
    );
    let _ = writeln!(
        s,
        "tumour   {:>10.2} mL  ({} voxels, label 2)",
        table.tumour.volume_ml, table.tumour.voxel_count
    );
    let mut lesions = format!("{} lesions (26-connected)", table.lesions.len());
    if table.min_lesion_ml > 0.0 {
        let _ = write!(
            lesions,
            " of ≥ {} mL; {} smaller ignored ({:.3} mL)",
            table.min_lesion_ml, table.ignored_count, table.ignored_volume_ml
        );
    }
    let _ = writeln!(s, "lesions  {:>10.2} mL  {lesions}", table.lesion_volume_ml);
    if let Some(p) = table.tumour_burden_percent {
        let _ = writeln!(s, "burden   {p:>10.2} %   of the organ volume");
    }
    if !table.lesions.is_empty() {
        let _ = writeln!(
            s,
            "\n{:>4} {:>11} {:>12} {:>9}  {:<28} bbox (voxels x, y, z)",
            "#", "volume mL", "longest mm", "voxels", "centroid RAS mm"
        );
        for l in &table.lesions {
            let [cx, cy, cz] = l.centroid_mm;
            let b = &l.bbox_voxel;
            let _ = writeln!(
                s,
                "{:>4} {:>11.3} {:>12.1} {:>9}  {:<28} {}..{}, {}..{}, {}..{}",
                l.id,
                l.volume_ml,
                l.longest_diameter_mm,
                l.voxel_count,
                format!("({cx:.1}, {cy:.1}, {cz:.1})"),
                b.min[0],
                b.max[0],
                b.min[1],
                b.max[1],
                b.min[2],
                b.max[2]
            );
        }
    }
    s
}

/// One line per written surface.
fn surfaces_text(written: &[SurfaceSummary], smoothing: &TaubinParams) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "\nsurfaces (marching cubes, Taubin smoothing × {})\n",
        smoothing.iterations
    );
    if written.is_empty() {
        s.push_str("  none: the label map has no organ or tumour voxels\n");
    }
    for w in written {
        let _ = writeln!(
            s,
            "  {:<8} {}  {} vertices, {} triangles, area {:.1} mm², {}",
            w.structure.name(),
            w.path.display(),
            w.vertices,
            w.triangles,
            w.area_mm2,
            if w.closed { "closed" } else { "NOT closed" }
        );
    }
    s
}
