//! Exported STL, PLY and OBJ files read back: by small readers written here, and by Python
//! trimesh or meshio when one of them can be imported (skipped with a message otherwise).

mod mesh_common;

use std::path::Path;
use std::process::Command;

use mesh_common::{paint_ball, sphere_labels};
use oncoscope::mesh::{
    ExportFormat, Structure, Surface, TaubinParams, extract_surfaces, write_surface,
};
use oncoscope::volume::Grid;

fn surfaces() -> Vec<Surface> {
    let grid = Grid::axis_aligned([24, 22, 20], [0.9, 1.0, 1.4], [-10.0, 4.0, 100.0]).unwrap();
    let mut labels = sphere_labels(grid, [0.5, 15.0, 113.0], 8.0, 1);
    paint_ball(&mut labels, [3.0, 15.0, 113.0], 3.0, 2);
    let s = extract_surfaces(&labels, &TaubinParams::with_iterations(3)).unwrap();
    assert_eq!(s.len(), 2);
    s
}

fn f32_at(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Triangle corners of a binary STL, and its header.
fn read_stl(path: &Path) -> (Vec<u8>, Vec<[[f32; 3]; 3]>) {
    let b = std::fs::read(path).unwrap();
    let n = u32_at(&b, 80) as usize;
    assert_eq!(b.len(), 84 + 50 * n, "binary STL size");
    let tris = (0..n)
        .map(|t| {
            let at = 84 + 50 * t + 12;
            [0, 1, 2].map(|c| [0, 1, 2].map(|k| f32_at(&b, at + 12 * c + 4 * k)))
        })
        .collect();
    (b[..80].to_vec(), tris)
}

/// Vertices (position, normal, colour) and faces of our binary PLY layout, from its header.
#[allow(clippy::type_complexity)]
fn read_ply(path: &Path) -> (Vec<([f32; 3], [f32; 3], [u8; 3])>, Vec<[u32; 3]>) {
    let b = std::fs::read(path).unwrap();
    let end = b.windows(11).position(|w| w == b"end_header\n").unwrap() + 11;
    let header = std::str::from_utf8(&b[..end]).unwrap();
    assert!(header.starts_with("ply\nformat binary_little_endian 1.0\n"));
    let count = |element: &str| -> usize {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("element {element} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    let (nv, nf) = (count("vertex"), count("face"));
    assert_eq!(b.len(), end + 27 * nv + 13 * nf);
    let vertices = (0..nv)
        .map(|i| {
            let at = end + 27 * i;
            let f = |k: usize| f32_at(&b, at + 4 * k);
            (
                [f(0), f(1), f(2)],
                [f(3), f(4), f(5)],
                [b[at + 24], b[at + 25], b[at + 26]],
            )
        })
        .collect();
    let faces = (0..nf)
        .map(|i| {
            let at = end + 27 * nv + 13 * i;
            assert_eq!(b[at], 3);
            [0, 1, 2].map(|k| u32_at(&b, at + 1 + 4 * k))
        })
        .collect();
    (vertices, faces)
}

/// Positions, colours, normal count and 0-based faces of an OBJ.
#[allow(clippy::type_complexity)]
fn read_obj(path: &Path) -> (Vec<[f32; 3]>, Vec<[f32; 3]>, usize, Vec<[u32; 3]>) {
    let text = std::fs::read_to_string(path).unwrap();
    let (mut v, mut colours, mut vn, mut f) = (Vec::new(), Vec::new(), 0, Vec::new());
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        match parts.next() {
            Some("v") => {
                let x: Vec<f32> = parts.map(|p| p.parse().unwrap()).collect();
                assert_eq!(x.len(), 6, "{line}");
                v.push([x[0], x[1], x[2]]);
                colours.push([x[3], x[4], x[5]]);
            }
            Some("vn") => vn += 1,
            Some("f") => {
                let idx: Vec<u32> = parts
                    .map(|p| {
                        let (a, b) = p.split_once("//").unwrap();
                        assert_eq!(a, b);
                        a.parse::<u32>().unwrap() - 1
                    })
                    .collect();
                f.push([idx[0], idx[1], idx[2]]);
            }
            _ => {}
        }
    }
    (v, colours, vn, f)
}

#[test]
fn exported_files_read_back_with_the_same_geometry_and_colours() {
    let dir = tempfile::tempdir().unwrap();
    for surface in &surfaces() {
        let mesh = &surface.mesh;
        let name = surface.structure.name();
        let rgb = surface.structure.colour_rgb();

        let stl = dir.path().join(format!("{name}.stl"));
        write_surface(&stl, surface, ExportFormat::Stl).unwrap();
        let (header, tris) = read_stl(&stl);
        assert!(!header.starts_with(b"solid"));
        assert!(header.windows(9).any(|w| w == b"SPACE=RAS"));
        let marker = header.windows(6).position(|w| w == b"COLOR=").unwrap();
        assert_eq!(&header[marker + 6..marker + 9], &rgb);
        assert_eq!(tris.len(), mesh.triangle_count());
        for (t, corners) in mesh.triangles.iter().zip(&tris) {
            assert_eq!(t.map(|v| mesh.positions_mm[v as usize]), *corners);
        }

        let ply = dir.path().join(format!("{name}.ply"));
        write_surface(&ply, surface, ExportFormat::Ply).unwrap();
        let (vertices, faces) = read_ply(&ply);
        assert_eq!(faces, mesh.triangles);
        assert_eq!(vertices.len(), mesh.vertex_count());
        for (i, (p, n, c)) in vertices.iter().enumerate() {
            assert_eq!(*p, mesh.positions_mm[i]);
            assert_eq!(*n, surface.normals[i]);
            assert_eq!(*c, rgb);
        }

        let obj = dir.path().join(format!("{name}.obj"));
        write_surface(&obj, surface, ExportFormat::Obj).unwrap();
        let (v, colours, normals, f) = read_obj(&obj);
        assert_eq!(
            v, mesh.positions_mm,
            "shortest round-trip float text is exact"
        );
        assert_eq!(normals, mesh.vertex_count());
        assert_eq!(f, mesh.triangles);
        for c in colours {
            for k in 0..3 {
                assert!((c[k] - f32::from(rgb[k]) / 255.0).abs() < 1e-3);
            }
        }
    }
    // Organ blue, lesions red.
    let [r, _, b] = Structure::Organ.colour_rgb();
    assert!(b > r);
    let [r, _, b] = Structure::Lesions.colour_rgb();
    assert!(r > b);
}

/// A Python interpreter that can import `module`, if any.
fn python_with(module: &str) -> Option<String> {
    let mut candidates = vec!["python3".to_string()];
    if let Ok(p) = std::env::var("ONCOSCOPE_PYTHON") {
        candidates.insert(0, p);
    }
    candidates.push("/opt/bench-venv/bin/python".to_string());
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn exported_files_open_in_trimesh_or_meshio() {
    let dir = tempfile::tempdir().unwrap();
    let surfaces = surfaces();
    let mut expected = Vec::new();
    for surface in &surfaces {
        for format in [ExportFormat::Stl, ExportFormat::Ply, ExportFormat::Obj] {
            let path = dir.path().join(format!(
                "{}.{}",
                surface.structure.name(),
                format.extension()
            ));
            write_surface(&path, surface, format).unwrap();
            expected.push((
                path,
                surface.mesh.vertex_count(),
                surface.mesh.triangle_count(),
            ));
        }
    }
    // trimesh merges STL's per-triangle corners back into shared vertices and checks that the
    // surface is watertight; meshio only reads.
    let (python, script) = if let Some(py) = python_with("trimesh") {
        (
            py,
            "import sys, trimesh\n\
             m = trimesh.load(sys.argv[1], process=True)\n\
             print(len(m.vertices), len(m.faces), int(m.is_watertight), int(m.volume > 0))",
        )
    } else if let Some(py) = python_with("meshio") {
        (
            py,
            "import sys, meshio\n\
             m = meshio.read(sys.argv[1])\n\
             print(len(m.points), sum(len(c.data) for c in m.cells if c.type == 'triangle'), 1, 1)",
        )
    } else {
        eprintln!(
            "skipped: neither trimesh nor meshio can be imported by python3 (set ONCOSCOPE_PYTHON)"
        );
        return;
    };
    for (path, vertices, triangles) in expected {
        let out = Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<usize> = stdout
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(got, vec![vertices, triangles, 1, 1], "{}", path.display());
    }
}
