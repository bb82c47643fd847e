//! The lesion table: 26-connected tumour components with volumes from voxels, and the real
//! LiTS label map end to end.

mod mesh_common;

use std::f64::consts::PI;

use mesh_common::{lits_label_path, paint_ball, sphere_labels};
use oncoscope::mesh::{Structure, TaubinParams, edge_report, extract_surfaces, lesion_table};
use oncoscope::volume::{Grid, Volume};

#[test]
fn two_separate_blobs_are_two_lesions_with_their_volumes() {
    // Anisotropic voxels: 0.8 × 0.9 × 2.5 mm = 1.8 µL.
    let spacing = [0.8, 0.9, 2.5];
    let grid = Grid::axis_aligned([80, 70, 30], spacing, [-30.0, 10.0, -5.0]).unwrap();
    let organ_centre = [2.0, 40.0, 32.0];
    let mut labels = sphere_labels(grid, organ_centre, 26.0, 1);
    let (big, small) = (([-8.0, 40.0, 32.0], 9.0), ([14.0, 44.0, 35.0], 5.0));
    paint_ball(&mut labels, big.0, big.1, 2);
    paint_ball(&mut labels, small.0, small.1, 2);

    // Expected voxel counts, counted here from the geometry rather than from the labels.
    let grid = &labels.grid;
    let inside = |c: [f64; 3], r: f64| {
        (0..grid.voxel_count())
            .filter(|&i| {
                let [x, y, z] = grid.coords(i);
                let p = grid.world_of_voxel([x as f64, y as f64, z as f64]);
                (0..3).map(|a| (p[a] - c[a]).powi(2)).sum::<f64>() <= r * r
            })
            .count()
    };
    let (n_big, n_small, n_organ) = (
        inside(big.0, big.1),
        inside(small.0, small.1),
        inside(organ_centre, 26.0),
    );
    let voxel_ml = 0.8 * 0.9 * 2.5 / 1000.0;

    let table = lesion_table(&labels, 0.0);
    assert_eq!(table.lesions.len(), 2);
    assert_eq!(table.ignored_count, 0);
    let (l1, l2) = (&table.lesions[0], &table.lesions[1]);
    assert_eq!((l1.id, l1.voxel_count), (1, n_big));
    assert_eq!((l2.id, l2.voxel_count), (2, n_small));
    assert!((l1.volume_ml - n_big as f64 * voxel_ml).abs() < 1e-9);
    // Voxelised balls hold close to the ball's volume.
    let ball_ml = |r: f64| 4.0 / 3.0 * PI * r * r * r / 1000.0;
    assert!(
        (l1.volume_ml / ball_ml(9.0) - 1.0).abs() < 0.05,
        "{}",
        l1.volume_ml
    );
    assert!(
        (l2.volume_ml / ball_ml(5.0) - 1.0).abs() < 0.1,
        "{}",
        l2.volume_ml
    );
    for (l, (c, r)) in [(l1, big), (l2, small)] {
        for a in 0..3 {
            assert!(
                (l.centroid_mm[a] - c[a]).abs() < spacing[a],
                "{:?}",
                l.centroid_mm
            );
        }
        // The longest diameter spans the ball, give or take a voxel per end.
        let d = l.longest_diameter_mm;
        assert!(
            d <= 2.0 * r + 1e-9 && d > 2.0 * r - 2.0 * 2.5,
            "{d} for r {r}"
        );
        let lo = grid.world_of_voxel(l.bbox_voxel.min.map(|v| v as f64));
        let hi = grid.world_of_voxel(l.bbox_voxel.max.map(|v| v as f64));
        for a in 0..3 {
            assert!(lo[a] >= c[a] - r && lo[a] <= c[a] - r + spacing[a] + 1e-9);
            assert!(hi[a] <= c[a] + r && hi[a] >= c[a] + r - spacing[a] - 1e-9);
        }
    }
    assert_eq!(table.organ.voxel_count, n_organ);
    assert!((table.lesion_volume_ml - (n_big + n_small) as f64 * voxel_ml).abs() < 1e-9);
    let burden = table.tumour_burden_percent.unwrap();
    assert!((burden - 100.0 * (n_big + n_small) as f64 / n_organ as f64).abs() < 1e-9);

    // A minimum volume between the two drops the small one and says so.
    let cut = 0.5 * (l1.volume_ml + l2.volume_ml);
    let filtered = lesion_table(&labels, cut);
    assert_eq!(filtered.lesions.len(), 1);
    assert_eq!(filtered.ignored_count, 1);
    assert!((filtered.ignored_volume_ml - l2.volume_ml).abs() < 1e-12);
    assert_eq!(filtered.tumour.voxel_count, n_big + n_small);
}

#[test]
fn diagonal_contact_is_one_lesion_and_a_gap_makes_two() {
    let grid = Grid::axis_aligned([12, 12, 12], [1.0; 3], [0.0; 3]).unwrap();
    let cube = |labels: &mut Volume<u8>, at: [usize; 3]| {
        for z in at[2]..at[2] + 2 {
            for y in at[1]..at[1] + 2 {
                for x in at[0]..at[0] + 2 {
                    let i = labels.grid.index(x, y, z);
                    labels.voxels[i] = 2;
                }
            }
        }
    };
    for (second, want) in [
        ([4, 4, 4], 1), // corner contact: voxel (3,3,3) touches (4,4,4)
        ([4, 4, 2], 1), // edge contact
        ([5, 4, 4], 2), // one empty voxel between them
    ] {
        let mut labels = Volume::filled(grid.clone(), 0u8);
        cube(&mut labels, [2, 2, 2]);
        cube(&mut labels, second);
        let table = lesion_table(&labels, 0.0);
        assert_eq!(table.lesions.len(), want, "second cube at {second:?}");
        assert_eq!(
            table.lesions.iter().map(|l| l.voxel_count).sum::<usize>(),
            16
        );
        // Whatever the topology, the lesion surface is a closed 2-manifold.
        let surfaces = extract_surfaces(&labels, &TaubinParams::default()).unwrap();
        let lesions = surfaces
            .iter()
            .find(|s| s.structure == Structure::Lesions)
            .unwrap();
        assert!(edge_report(&lesions.mesh).is_closed_manifold());
    }
}

#[test]
fn lits_case_lesion_table_and_closed_organ() {
    let Some(path) = lits_label_path() else {
        return;
    };
    let labels = oncoscope::volume::nifti::read_labels(&path).unwrap();
    let table = lesion_table(&labels, 0.0);
    eprintln!(
        "{}: organ {:.1} mL, {} lesions, {:.2} mL tumour",
        path.display(),
        table.organ.volume_ml,
        table.lesions.len(),
        table.tumour.volume_ml
    );
    assert!(table.organ.voxel_count > 0);
    let counts = labels.label_counts();
    let count_of = |l: u8| counts.iter().find(|c| c.0 == l).map_or(0, |c| c.1);
    assert_eq!(table.organ.voxel_count, count_of(1) + count_of(2));
    assert_eq!(
        table.lesions.iter().map(|l| l.voxel_count).sum::<usize>(),
        count_of(2)
    );
    assert!(
        table
            .lesions
            .windows(2)
            .all(|w| w[0].volume_ml >= w[1].volume_ml)
    );
    for l in &table.lesions {
        assert!(l.longest_diameter_mm.is_finite() && l.longest_diameter_mm >= 0.0);
        assert!(l.centroid_mm.iter().all(|c| c.is_finite()));
    }
    let surfaces = extract_surfaces(&labels, &TaubinParams::with_iterations(5)).unwrap();
    let organ = &surfaces[0];
    assert_eq!(organ.structure, Structure::Organ);
    let report = edge_report(&organ.mesh);
    assert!(report.is_closed_manifold(), "{report:?}");
    assert!(organ.mesh.enclosed_volume_mm3() > 0.0);
    // The mesh volume agrees with the voxel volume within the staircase error.
    let mesh_ml = organ.mesh.enclosed_volume_mm3() / 1000.0;
    assert!(
        (mesh_ml / table.organ.volume_ml - 1.0).abs() < 0.05,
        "{mesh_ml}"
    );
    for s in &surfaces {
        assert!(
            edge_report(&s.mesh).is_closed_manifold(),
            "{:?}",
            s.structure
        );
        assert!(s.normals.iter().flatten().all(|v| v.is_finite()));
    }
}
