//! Pixels on a real adapter (mesa lavapipe in CI): an organ sphere around an off-centre lesion,
//! meshed from a label map and rendered offscreen from the default anterior camera.
//!
//! Without an adapter the tests print why and pass, unless `CI` is set, where they fail. Each
//! render is written as a PNG to `$TMPDIR/oncoscope_render_offscreen/` and, when set, to
//! `$ONCOSCOPE_RENDER_PNG_DIR`, for a human to look at.

mod mesh_common;

use std::path::PathBuf;

use egui_wgpu::wgpu;
use image::RgbaImage;
use mesh_common::paint_ball;
use oncoscope::mesh::{Structure, Surface, TaubinParams, extract_surfaces};
use oncoscope::render::{
    BACKGROUND_SRGB, GpuMesh, GpuPlane, MeshRenderer, MeshStyle, OrbitCamera, SceneTarget,
    headless_device,
};
use oncoscope::volume::{Grid, Volume};

/// Organ sphere, world mm (deliberately away from the origin).
const ORGAN_CENTRE_MM: [f64; 3] = [-20.0, 45.0, -110.0];
const ORGAN_RADIUS_MM: f64 = 28.0;
/// Lesion: toward the patient's right (+x), anterior (+y) and superior (+z), inside the organ.
const LESION_OFFSET_MM: [f64; 3] = [12.0, 6.0, 10.0];
const LESION_RADIUS_MM: f64 = 9.0;
/// A point inside the organ on the patient's left and inferior, far from the lesion on screen.
const ORGAN_ONLY_OFFSET_MM: [f64; 3] = [-14.0, 0.0, -10.0];

/// Width × height with a row (4 × 301 bytes) that is not a multiple of 256, so read-back
/// padding is exercised, and a non-square aspect.
const SIZE_PX: [u32; 2] = [301, 233];

struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
}

/// The headless device, or `None` (after saying why) when there is none and `CI` is unset.
fn gpu() -> Option<Gpu> {
    match headless_device() {
        Ok((device, queue, info)) => {
            eprintln!(
                "adapter: {} ({:?}, {:?}, driver {} {})",
                info.name, info.backend, info.device_type, info.driver, info.driver_info
            );
            Some(Gpu { device, queue })
        }
        Err(error) if running_in_ci() => panic!("CI is set, so a GPU adapter is required: {error}"),
        Err(error) => {
            eprintln!("skipped: {error}");
            None
        }
    }
}

fn running_in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn to_f32(p: [f64; 3]) -> [f32; 3] {
    p.map(|v| v as f32)
}

/// Organ (label 1) and lesion (label 2) surfaces on a 1 mm grid around the organ.
fn organ_and_lesion_surfaces() -> Vec<Surface> {
    let side = 66;
    let origin = ORGAN_CENTRE_MM.map(|c| c - 0.5 * f64::from(side - 1));
    let grid = Grid::axis_aligned([side as usize; 3], [1.0; 3], origin).expect("grid");
    let mut labels = Volume::filled(grid, 0u8);
    paint_ball(&mut labels, ORGAN_CENTRE_MM, ORGAN_RADIUS_MM, 1);
    paint_ball(
        &mut labels,
        add(ORGAN_CENTRE_MM, LESION_OFFSET_MM),
        LESION_RADIUS_MM,
        2,
    );
    // Smoothed as the viewer would show it; unsmoothed voxel terraces show as rings.
    let surfaces = extract_surfaces(&labels, &TaubinParams::with_iterations(10)).expect("surfaces");
    let structures: Vec<Structure> = surfaces.iter().map(|s| s.structure).collect();
    assert_eq!(structures, [Structure::Organ, Structure::Lesions]);
    surfaces
}

/// Renders the surfaces with `style_of` from the camera fitted to the organ; returns the image and
/// the camera.
fn render(
    gpu: &Gpu,
    surfaces: &[Surface],
    style_of: impl Fn(Structure) -> MeshStyle,
    sample_count: u32,
) -> (RgbaImage, OrbitCamera) {
    render_with_planes(gpu, surfaces, style_of, sample_count, &[])
}

/// A slice image for [`render_with_planes`]: world corners (top-left, top-right,
/// bottom-right, bottom-left), size and sRGB RGBA pixels.
type PlaneImage = ([[f32; 3]; 4], [u32; 2], Vec<u8>);

/// [`render`] with slice planes.
fn render_with_planes(
    gpu: &Gpu,
    surfaces: &[Surface],
    style_of: impl Fn(Structure) -> MeshStyle,
    sample_count: u32,
    planes: &[PlaneImage],
) -> (RgbaImage, OrbitCamera) {
    let target = SceneTarget::new(&gpu.device, SIZE_PX, sample_count).expect("target");
    let renderer = MeshRenderer::new(&gpu.device, target.render_format(), target.sample_count());
    let meshes: Vec<GpuMesh> = surfaces
        .iter()
        .map(|s| GpuMesh::new(&gpu.device, &renderer, s, style_of(s.structure)).expect("upload"))
        .collect();
    let planes: Vec<GpuPlane> = planes
        .iter()
        .map(|(corners, size, rgba)| {
            GpuPlane::new(&gpu.device, &gpu.queue, &renderer, *corners, *size, rgba)
                .expect("plane upload")
        })
        .collect();
    let organ_bounds = meshes[0].bounds_mm();
    let camera = OrbitCamera::fitted_to(organ_bounds.0, organ_bounds.1);
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    let mesh_refs: Vec<&GpuMesh> = meshes.iter().collect();
    renderer.render(
        &gpu.queue,
        &mut encoder,
        target.attachments(),
        &camera,
        target.aspect(),
        &mesh_refs,
        &planes.iter().collect::<Vec<_>>(),
    );
    gpu.queue.submit([encoder.finish()]);
    let image = target
        .read_rgba(&gpu.device, &gpu.queue)
        .expect("read back");
    (image, camera)
}

fn save_png(image: &RgbaImage, name: &str) {
    let mut dirs = vec![std::env::temp_dir().join("oncoscope_render_offscreen")];
    if let Some(dir) = std::env::var_os("ONCOSCOPE_RENDER_PNG_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir).expect("png dir");
        let path = dir.join(format!("{name}.png"));
        image.save(&path).expect("write png");
        eprintln!("wrote {}", path.display());
    }
}

/// Mean RGB of the 5×5 pixels around where `point_mm` projects.
fn colour_at(image: &RgbaImage, camera: &OrbitCamera, point_mm: [f64; 3]) -> ([f32; 3], [u32; 2]) {
    let viewport = [image.width() as f32, image.height() as f32];
    let ([x, y], _) = camera
        .viewport_position_px(to_f32(point_mm), viewport)
        .expect("point in front of the camera");
    let (cx, cy) = (x.floor() as i64, y.floor() as i64);
    let mut sum = [0.0f32; 3];
    for dy in -2..=2 {
        for dx in -2..=2 {
            let px = image.get_pixel((cx + dx) as u32, (cy + dy) as u32);
            for c in 0..3 {
                sum[c] += f32::from(px[c]) / 25.0;
            }
        }
    }
    (sum, [cx as u32, cy as u32])
}

fn assert_background(image: &RgbaImage, x: u32, y: u32) {
    let px = image.get_pixel(x, y);
    let off = (0..3).map(|c| px[c].abs_diff(BACKGROUND_SRGB[c])).max();
    assert!(
        off <= Some(1) && px[3] == 255,
        "pixel ({x}, {y}) = {px:?}, want background {BACKGROUND_SRGB:?}"
    );
}

fn assert_corners_are_background(image: &RgbaImage) {
    let (w, h) = image.dimensions();
    for (x, y) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
        assert_background(image, x, y);
    }
}

fn lesion_centre_mm() -> [f64; 3] {
    add(ORGAN_CENTRE_MM, LESION_OFFSET_MM)
}

fn organ_only_point_mm() -> [f64; 3] {
    add(ORGAN_CENTRE_MM, ORGAN_ONLY_OFFSET_MM)
}

#[test]
fn translucent_blue_organ_shows_the_red_lesion_inside_in_anterior_view() {
    let Some(gpu) = gpu() else { return };
    let surfaces = organ_and_lesion_surfaces();
    let (image, camera) = render(&gpu, &surfaces, MeshStyle::for_structure, 4);
    save_png(&image, "organ_and_lesion_anterior");
    assert_eq!(image.dimensions(), (SIZE_PX[0], SIZE_PX[1]));
    assert_corners_are_background(&image);

    let (lesion, lesion_px) = colour_at(&image, &camera, lesion_centre_mm());
    let (organ, organ_px) = colour_at(&image, &camera, organ_only_point_mm());
    eprintln!("lesion at {lesion_px:?}: {lesion:?}; organ only at {organ_px:?}: {organ:?}");
    let [r, g, b] = lesion;
    // Through a 35 % blue layer (blended in linear light) the lesion turns red-magenta: red must
    // still lead, and stand far above the organ's own red.
    assert!(
        r > g + 60.0 && r > b + 15.0 && r > organ[0] + 100.0,
        "lesion seen through the organ should be red-dominant: {lesion:?} (organ {organ:?})"
    );
    // Anterior view: the patient's right (+x) is on screen left, superior (+z) is up.
    assert!(
        lesion_px[0] < SIZE_PX[0] / 2 && lesion_px[1] < SIZE_PX[1] / 2,
        "lesion (right, superior) should be upper left: {lesion_px:?}"
    );

    let [r, g, b] = organ;
    assert!(
        b > r + 40.0 && b > g + 20.0,
        "organ-only pixels should be blue-dominant: {:?}",
        [r, g, b]
    );
    let background = BACKGROUND_SRGB.map(f32::from);
    assert!(
        b > background[2] + 40.0,
        "the translucent organ must be visibly lit, not background: {:?}",
        [r, g, b]
    );
}

#[test]
fn hidden_organ_leaves_the_lesion_red_and_organ_only_pixels_background() {
    let Some(gpu) = gpu() else { return };
    let surfaces = organ_and_lesion_surfaces();
    let style_of = |structure| MeshStyle {
        visible: structure != Structure::Organ,
        ..MeshStyle::for_structure(structure)
    };
    let (image, camera) = render(&gpu, &surfaces, style_of, 1);
    save_png(&image, "lesion_only_anterior");
    let ([r, g, b], _) = colour_at(&image, &camera, lesion_centre_mm());
    assert!(
        r > g + 80.0 && r > b + 80.0,
        "bare lesion should be red: {:?}",
        [r, g, b]
    );
    let (_, [x, y]) = colour_at(&image, &camera, organ_only_point_mm());
    assert_background(&image, x, y);
}

#[test]
fn opaque_organ_hides_the_lesion() {
    let Some(gpu) = gpu() else { return };
    let surfaces = organ_and_lesion_surfaces();
    let style_of = |structure| MeshStyle {
        opacity: 1.0,
        ..MeshStyle::for_structure(structure)
    };
    let (image, camera) = render(&gpu, &surfaces, style_of, 4);
    save_png(&image, "opaque_organ_anterior");
    let ([r, g, b], _) = colour_at(&image, &camera, lesion_centre_mm());
    assert!(
        b > r + 40.0,
        "an opaque organ in front must hide the lesion: {:?}",
        [r, g, b]
    );
}

/// A coronal plane through the organ centre (facing the anterior camera) with a 2×2 texture:
/// each quadrant lands where its corner projects, and the opaque lesion in front of the plane
/// hides it.
#[test]
fn a_slice_plane_shows_its_texture_in_place_behind_the_lesion() {
    let Some(gpu) = gpu() else { return };
    let surfaces = organ_and_lesion_surfaces();
    let [cx, cy, cz] = ORGAN_CENTRE_MM;
    let half = 40.0;
    // Top-left, top-right, bottom-right, bottom-left in world mm: from the anterior camera the
    // patient's right (+x) is on screen left and superior (+z) up, so this quad faces the
    // camera the way a radiological coronal slice does.
    let corner = |dx: f64, dz: f64| to_f32([cx + dx, cy, cz + dz]);
    let corners = [
        corner(half, half),
        corner(-half, half),
        corner(-half, -half),
        corner(half, -half),
    ];
    let quadrant_colours: [[u8; 3]; 4] = [
        [240, 240, 40],
        [40, 220, 220],
        [250, 250, 250],
        [230, 120, 30],
    ];
    let mut rgba = Vec::new();
    for row in 0..2 {
        for column in 0..2 {
            let [r, g, b] = quadrant_colours[row * 2 + column];
            rgba.extend_from_slice(&[r, g, b, 255]);
        }
    }
    let hide_organ = |structure| MeshStyle {
        visible: structure != Structure::Organ,
        ..MeshStyle::for_structure(structure)
    };
    let (image, camera) =
        render_with_planes(&gpu, &surfaces, hide_organ, 4, &[(corners, [2, 2], rgba)]);
    save_png(&image, "slice_plane_and_lesion_anterior");
    // Quadrant centres, away from the lesion (which sits upper left, right and superior).
    let quadrant_centre = |column: usize, row: usize| {
        let dx = if column == 0 { half / 2.0 } else { -half / 2.0 };
        let dz = if row == 0 { half / 2.0 } else { -half / 2.0 };
        [cx + dx, cy, cz + dz]
    };
    for (i, want) in quadrant_colours.iter().enumerate() {
        let (column, row) = (i % 2, i / 2);
        if (column, row) == (0, 0) {
            continue; // the lesion covers part of this quadrant
        }
        let (got, px) = colour_at(&image, &camera, quadrant_centre(column, row));
        let off = (0..3)
            .map(|c| (got[c] - f32::from(want[c])).abs())
            .fold(0.0, f32::max);
        assert!(
            off <= 3.0,
            "quadrant ({column}, {row}) at {px:?}: {got:?}, want {want:?}"
        );
    }
    let ([r, g, b], _) = colour_at(&image, &camera, lesion_centre_mm());
    assert!(
        r > g + 80.0 && r > b + 80.0,
        "the lesion in front of the plane must stay red: {:?}",
        [r, g, b]
    );
    assert_corners_are_background(&image);
}

#[test]
fn a_plane_image_of_the_wrong_size_is_refused() {
    let Some(gpu) = gpu() else { return };
    let renderer = MeshRenderer::new(
        &gpu.device,
        SceneTarget::new(&gpu.device, [8, 8], 1)
            .expect("target")
            .render_format(),
        1,
    );
    let err = GpuPlane::new(
        &gpu.device,
        &gpu.queue,
        &renderer,
        [[0.0; 3]; 4],
        [3, 2],
        &[0; 20],
    )
    .expect_err("20 bytes for a 3×2 image");
    assert!(err.to_string().contains("needs 24 bytes"), "{err}");
}

#[test]
fn an_empty_scene_is_background_everywhere_after_a_resize() {
    let Some(gpu) = gpu() else { return };
    let mut target = SceneTarget::new(&gpu.device, [64, 64], 1).expect("target");
    assert!(target.resize(&gpu.device, [250, 37]).expect("resize"));
    assert!(!target.resize(&gpu.device, [250, 37]).expect("same size"));
    let renderer = MeshRenderer::new(&gpu.device, target.render_format(), 1);
    let mut encoder = gpu
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
    renderer.render(
        &gpu.queue,
        &mut encoder,
        target.attachments(),
        &OrbitCamera::default(),
        target.aspect(),
        &[],
        &[],
    );
    gpu.queue.submit([encoder.finish()]);
    let image = target
        .read_rgba(&gpu.device, &gpu.queue)
        .expect("read back");
    assert_eq!(image.dimensions(), (250, 37));
    for (x, y, _) in image.enumerate_pixels() {
        assert_background(&image, x, y);
    }
}

#[test]
fn invalid_targets_are_refused() {
    let Some(gpu) = gpu() else { return };
    assert!(SceneTarget::new(&gpu.device, [0, 10], 1).is_err());
    assert!(SceneTarget::new(&gpu.device, [10, 10], 3).is_err());
}
