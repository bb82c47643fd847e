//! [`OrbitCamera`]: a turntable camera circling a target point in world (RAS+) millimetres, with the
//! view and projection matrices wgpu wants (right-handed view space, clip depth 0..1).
//!
//! Pure maths on nalgebra; no GPU types, so everything here is unit-tested without an adapter.

use std::f32::consts::{FRAC_PI_2, PI};

use nalgebra::{Matrix4, Point3, Vector3, Vector4};

/// Orbit speed of [`OrbitCamera::orbit`]: radians of yaw or pitch per pixel dragged.
pub const ORBIT_RADIANS_PER_PIXEL: f32 = 0.01;
/// Pitch stays this far from straight up or down, where the world-up look-at degenerates.
const POLE_MARGIN_RAD: f32 = 2.0 * PI / 180.0;
/// Largest pitch magnitude, radians.
pub const MAX_PITCH_RAD: f32 = FRAC_PI_2 - POLE_MARGIN_RAD;
/// Extra room around the fitted bounding sphere (1.0 = the sphere touches the viewport edges).
const FIT_MARGIN: f32 = 1.08;
/// Zoom limits, as fractions of the scene radius (nearest) and of the fitted distance (farthest).
const MIN_DISTANCE_PER_RADIUS: f32 = 0.25;
const MAX_DISTANCE_PER_FIT: f32 = 10.0;
/// Near plane never closer than this fraction of the far plane, to keep depth precision.
const MIN_NEAR_PER_FAR: f32 = 1e-3;

/// Camera-space directions in world coordinates (unit vectors).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewAxes {
    /// Toward the viewer's right on screen.
    pub right: Vector3<f32>,
    /// Toward the top of the screen.
    pub up: Vector3<f32>,
    /// From the eye into the screen (toward the target).
    pub forward: Vector3<f32>,
}

/// A camera orbiting `target_mm` at `distance_mm`, at angles `yaw_rad` (about world +z, superior)
/// and `pitch_rad` (elevation above the axial plane). World space is RAS+ millimetres.
///
/// Yaw 0 and pitch 0 is the radiologist's **anterior view**: the eye sits on the anterior (+y) side
/// looking toward −y, superior (+z) is up on screen and the patient's right (+x) appears on the
/// viewer's left, as in a frontal radiograph. Positive yaw moves the eye toward the patient's
/// right (+x); positive pitch moves it toward superior (+z).
#[derive(Debug, Clone, PartialEq)]
pub struct OrbitCamera {
    target_mm: Point3<f32>,
    distance_mm: f32,
    yaw_rad: f32,
    pitch_rad: f32,
    /// Field of view across the viewport's shorter side, radians.
    fov_rad: f32,
    /// Bounding sphere of the scene (set by [`Self::fit_bounds`]), used for clipping planes,
    /// zoom limits and [`Self::reset`].
    scene_centre_mm: Point3<f32>,
    scene_radius_mm: f32,
}

impl Default for OrbitCamera {
    /// Anterior view of a 100 mm sphere at the world origin, 40° field of view.
    fn default() -> Self {
        let mut camera = Self {
            target_mm: Point3::origin(),
            distance_mm: 0.0,
            yaw_rad: 0.0,
            pitch_rad: 0.0,
            fov_rad: 40f32.to_radians(),
            scene_centre_mm: Point3::origin(),
            scene_radius_mm: 100.0,
        };
        camera.reset();
        camera
    }
}

impl OrbitCamera {
    /// The anterior view of the box `min_mm..max_mm` (world mm), framed so that its bounding
    /// sphere fits the viewport at any aspect ratio.
    pub fn fitted_to(min_mm: [f32; 3], max_mm: [f32; 3]) -> Self {
        let mut camera = Self::default();
        camera.fit_bounds(min_mm, max_mm);
        camera
    }

    /// Remembers the box `min_mm..max_mm` (world mm) as the scene and [`resets`](Self::reset) the
    /// view onto it. Non-finite input is ignored; a degenerate box counts as a 1 mm sphere.
    pub fn fit_bounds(&mut self, min_mm: [f32; 3], max_mm: [f32; 3]) {
        if min_mm.iter().chain(&max_mm).any(|v| !v.is_finite()) {
            return;
        }
        let min = Point3::from(min_mm);
        let max = Point3::from(max_mm);
        self.scene_centre_mm = nalgebra::center(&min, &max);
        self.scene_radius_mm = (0.5 * (max - min).norm()).max(1.0);
        self.reset();
    }

    /// Back to the anterior view of the scene, centred and framed as after [`Self::fit_bounds`].
    pub fn reset(&mut self) {
        self.target_mm = self.scene_centre_mm;
        self.yaw_rad = 0.0;
        self.pitch_rad = 0.0;
        self.distance_mm = self.fitted_distance_mm();
    }

    /// Turns the view as if the scene were dragged by `(dx_px, dy_px)` screen pixels (x right, y
    /// down): dragging right spins the scene rightwards about the superior axis, dragging down
    /// tilts its top toward the viewer. Pitch stops short of the poles.
    pub fn orbit(&mut self, dx_px: f32, dy_px: f32) {
        self.turn(
            dx_px * ORBIT_RADIANS_PER_PIXEL,
            dy_px * ORBIT_RADIANS_PER_PIXEL,
        );
    }

    /// Adds `yaw_rad` and `pitch_rad` to the angles (e.g. a turntable animation), as
    /// [`Self::orbit`] does for a drag; pitch stops short of the poles.
    pub fn turn(&mut self, yaw_rad: f32, pitch_rad: f32) {
        if yaw_rad.is_finite() && pitch_rad.is_finite() {
            self.set_angles(self.yaw_rad + yaw_rad, self.pitch_rad + pitch_rad);
        }
    }

    /// Moves the eye toward the target by `factor` (> 1 zooms in, < 1 out), within limits set
    /// by the scene size.
    pub fn zoom(&mut self, factor: f32) {
        if !(factor.is_finite() && factor > 0.0) {
            return;
        }
        self.distance_mm = (self.distance_mm / factor).clamp(
            MIN_DISTANCE_PER_RADIUS * self.scene_radius_mm,
            MAX_DISTANCE_PER_FIT * self.fitted_distance_mm(),
        );
    }

    /// Slides target and eye in the view plane so that the scene follows a drag of
    /// `(dx_px, dy_px)` screen pixels (x right, y down) in a viewport of `viewport_px`
    /// `[width, height]` pixels: a point at the target's depth stays under the cursor.
    pub fn pan(&mut self, dx_px: f32, dy_px: f32, viewport_px: [f32; 2]) {
        let [width_px, height_px] = viewport_px;
        if !(dx_px.is_finite() && dy_px.is_finite() && width_px >= 1.0 && height_px >= 1.0) {
            return;
        }
        let mm_per_px =
            2.0 * self.distance_mm * self.half_fov_tangents(width_px / height_px)[1] / height_px;
        let axes = self.axes();
        self.target_mm += (-dx_px * axes.right + dy_px * axes.up) * mm_per_px;
    }

    /// Sets yaw and pitch (radians, see the type's docs), keeping target and distance.
    pub fn set_angles(&mut self, yaw_rad: f32, pitch_rad: f32) {
        if yaw_rad.is_finite() && pitch_rad.is_finite() {
            self.yaw_rad = wrapped_angle_rad(yaw_rad);
            self.pitch_rad = pitch_rad.clamp(-MAX_PITCH_RAD, MAX_PITCH_RAD);
        }
    }

    /// The point orbited, world mm.
    pub fn target_mm(&self) -> [f32; 3] {
        self.target_mm.into()
    }

    /// Eye–target distance, mm.
    pub fn distance_mm(&self) -> f32 {
        self.distance_mm
    }

    /// Rotation about world +z; 0 = anterior view, +π/2 = from the patient's right.
    pub fn yaw_rad(&self) -> f32 {
        self.yaw_rad
    }

    /// Elevation above the axial plane, within ±[`MAX_PITCH_RAD`].
    pub fn pitch_rad(&self) -> f32 {
        self.pitch_rad
    }

    /// Field of view across the viewport's shorter side, radians.
    pub fn fov_rad(&self) -> f32 {
        self.fov_rad
    }

    /// Eye position, world mm.
    pub fn eye_mm(&self) -> [f32; 3] {
        self.eye().into()
    }

    /// Screen right, screen up and viewing direction in world coordinates.
    pub fn axes(&self) -> ViewAxes {
        let forward = -self.eye_offset_direction();
        let right = forward.cross(&Vector3::z()).normalize();
        let up = right.cross(&forward);
        ViewAxes { right, up, forward }
    }

    /// World mm → right-handed view space (mm; x right, y up, looking down −z).
    pub fn view_from_world(&self) -> Matrix4<f32> {
        Matrix4::look_at_rh(&self.eye(), &self.target_mm, &Vector3::z())
    }

    /// View space → wgpu clip space for a viewport of `aspect` = width / height: perspective with
    /// depth 0 at the near plane and 1 at the far plane; the planes hug the scene's bounding
    /// sphere.
    pub fn clip_from_view(&self, aspect: f32) -> Matrix4<f32> {
        let [tan_half_x, tan_half_y] = self.half_fov_tangents(aspect);
        let (near, far) = self.clip_planes_mm();
        let depth_scale = far / (near - far);
        #[rustfmt::skip]
        let clip_from_view = Matrix4::new(
            1.0 / tan_half_x, 0.0,              0.0,         0.0,
            0.0,              1.0 / tan_half_y, 0.0,         0.0,
            0.0,              0.0,              depth_scale, near * depth_scale,
            0.0,              0.0,              -1.0,        0.0,
        );
        clip_from_view
    }

    /// World mm → wgpu clip space for a viewport of `aspect` = width / height.
    pub fn clip_from_world(&self, aspect: f32) -> Matrix4<f32> {
        self.clip_from_view(aspect) * self.view_from_world()
    }

    /// Where the world point `point_mm` lands in a viewport of `viewport_px` `[width, height]`
    /// pixels, origin top-left, y down, with its clip depth (0 near .. 1 far). `None` when the
    /// point is behind the eye.
    pub fn viewport_position_px(
        &self,
        point_mm: [f32; 3],
        viewport_px: [f32; 2],
    ) -> Option<([f32; 2], f32)> {
        let [width_px, height_px] = viewport_px;
        let clip = self.clip_from_world(width_px / height_px)
            * Vector4::new(point_mm[0], point_mm[1], point_mm[2], 1.0);
        if clip.w <= 0.0 {
            return None;
        }
        let ndc = clip.xyz() / clip.w;
        Some((
            [
                0.5 * (ndc.x + 1.0) * width_px,
                0.5 * (1.0 - ndc.y) * height_px,
            ],
            ndc.z,
        ))
    }

    /// Near and far plane distances from the eye, mm: the scene's bounding sphere, widened a
    /// little, with the near plane kept in front of the eye.
    pub fn clip_planes_mm(&self) -> (f32, f32) {
        let radius = 1.02 * self.scene_radius_mm + 1.0;
        let eye_to_centre = (self.scene_centre_mm - self.eye()).norm();
        let far = eye_to_centre + radius;
        let near = (eye_to_centre - radius).max(MIN_NEAR_PER_FAR * far);
        (near, far)
    }

    /// Distance at which the scene's bounding sphere fills the shorter viewport side.
    fn fitted_distance_mm(&self) -> f32 {
        FIT_MARGIN * self.scene_radius_mm / (0.5 * self.fov_rad).sin()
    }

    /// `tan` of the horizontal and vertical half-angles; the fov applies to the shorter side.
    fn half_fov_tangents(&self, aspect: f32) -> [f32; 2] {
        let aspect = if aspect.is_finite() && aspect > 0.0 {
            aspect
        } else {
            1.0
        };
        let tan_half_short = (0.5 * self.fov_rad).tan();
        if aspect >= 1.0 {
            [tan_half_short * aspect, tan_half_short]
        } else {
            [tan_half_short, tan_half_short / aspect]
        }
    }

    /// Unit vector from the target to the eye.
    fn eye_offset_direction(&self) -> Vector3<f32> {
        let (sin_yaw, cos_yaw) = self.yaw_rad.sin_cos();
        let (sin_pitch, cos_pitch) = self.pitch_rad.sin_cos();
        Vector3::new(cos_pitch * sin_yaw, cos_pitch * cos_yaw, sin_pitch)
    }

    fn eye(&self) -> Point3<f32> {
        self.target_mm + self.distance_mm * self.eye_offset_direction()
    }
}

/// `angle_rad` moved into (−π, π] by whole turns, so that yaw never grows without bound.
fn wrapped_angle_rad(angle_rad: f32) -> f32 {
    let wrapped = angle_rad - 2.0 * PI * ((angle_rad + PI) / (2.0 * PI)).floor();
    if wrapped <= -PI {
        wrapped + 2.0 * PI
    } else {
        wrapped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIEWPORT: [f32; 2] = [400.0, 300.0];

    fn camera() -> OrbitCamera {
        OrbitCamera::fitted_to([-40.0, -30.0, -20.0], [60.0, 50.0, 80.0])
    }

    fn project(camera: &OrbitCamera, point_mm: [f32; 3]) -> ([f32; 2], f32) {
        camera
            .viewport_position_px(point_mm, VIEWPORT)
            .expect("in front of the eye")
    }

    fn offset(p: [f32; 3], d: [f32; 3]) -> [f32; 3] {
        [p[0] + d[0], p[1] + d[1], p[2] + d[2]]
    }

    fn assert_near(got: f32, want: f32, tol: f32, what: &str) {
        assert!((got - want).abs() <= tol, "{what}: {got} vs {want}");
    }

    #[test]
    fn target_projects_to_the_viewport_centre() {
        let c = camera();
        let ([x, y], depth) = project(&c, c.target_mm());
        assert_near(x, 200.0, 1e-3, "x");
        assert_near(y, 150.0, 1e-3, "y");
        assert!((0.0..1.0).contains(&depth), "depth {depth}");
    }

    #[test]
    fn anterior_view_shows_patient_right_on_screen_left_and_superior_up() {
        let c = camera();
        let t = c.target_mm();
        let (right, _) = project(&c, offset(t, [10.0, 0.0, 0.0]));
        let (left, _) = project(&c, offset(t, [-10.0, 0.0, 0.0]));
        let (superior, _) = project(&c, offset(t, [0.0, 0.0, 10.0]));
        assert!(right[0] < 200.0 && left[0] > 200.0, "{right:?} {left:?}");
        assert_near(right[1], 150.0, 1e-3, "R stays on the centre row");
        assert!(superior[1] < 150.0, "superior is up: {superior:?}");
        assert_near(superior[0], 200.0, 1e-3, "S stays on the centre column");
        let (_, anterior_depth) = project(&c, offset(t, [0.0, 10.0, 0.0]));
        let (_, posterior_depth) = project(&c, offset(t, [0.0, -10.0, 0.0]));
        assert!(anterior_depth < posterior_depth, "anterior is nearer");
        let eye = c.eye_mm();
        assert!(eye[1] > t[1] && (eye[0] - t[0]).abs() < 1e-3 && (eye[2] - t[2]).abs() < 1e-3);
    }

    #[test]
    fn fitted_box_lies_inside_the_viewport_and_depth_range_at_any_aspect() {
        let (min, max) = ([-40.0f32, -30.0, -20.0], [60.0f32, 50.0, 80.0]);
        let mut c = camera();
        for (yaw, pitch) in [(0.0, 0.0), (1.0, 0.5), (-2.5, -1.2), (3.0, 1.5)] {
            c.set_angles(yaw, pitch);
            for viewport in [[400.0, 300.0], [200.0, 600.0], [1000.0, 100.0]] {
                for corner in 0..8 {
                    let p = [0, 1, 2].map(|a| if corner >> a & 1 == 1 { max[a] } else { min[a] });
                    let ([x, y], depth) = c.viewport_position_px(p, viewport).unwrap();
                    assert!(
                        (0.0..=viewport[0]).contains(&x) && (0.0..=viewport[1]).contains(&y),
                        "corner {p:?} at {x},{y} outside {viewport:?} (yaw {yaw}, pitch {pitch})"
                    );
                    assert!((0.0..=1.0).contains(&depth), "depth {depth}");
                }
            }
        }
    }

    #[test]
    fn near_and_far_planes_map_to_depth_zero_and_one() {
        let c = camera();
        let (near, far) = c.clip_planes_mm();
        let projection = c.clip_from_view(1.5);
        for (z_view, want) in [(-near, 0.0), (-far, 1.0)] {
            let clip = projection * Vector4::new(0.0, 0.0, z_view, 1.0);
            assert_near(clip.z / clip.w, want, 1e-5, "depth");
        }
    }

    #[test]
    fn orbit_keeps_target_and_distance_and_turns_the_scene_with_the_drag() {
        let mut c = camera();
        let (target, distance) = (c.target_mm(), c.distance_mm());
        // Object follows the mouse: a point on the front (anterior) moves right with the drag.
        let anterior = offset(target, [0.0, 10.0, 0.0]);
        let before = project(&c, anterior).0;
        c.orbit(30.0, 0.0);
        assert!(project(&c, anterior).0[0] > before[0]);
        c.orbit(-500.0, 120.0);
        c.orbit(1e4, -3e3);
        assert_eq!(c.target_mm(), target);
        assert_near(c.distance_mm(), distance, 1e-4, "distance");
        let eye = Point3::from(c.eye_mm());
        assert_near(
            (eye - Point3::from(target)).norm(),
            distance,
            1e-2,
            "eye distance",
        );
        assert!(
            c.yaw_rad() > -PI && c.yaw_rad() <= PI,
            "yaw {}",
            c.yaw_rad()
        );
    }

    #[test]
    fn angles_wrap_into_one_turn() {
        for (angle, want) in [
            (0.0, 0.0),
            (PI, PI),
            (-PI, PI),
            (3.0 * PI, PI),
            (7.0, 7.0 - 2.0 * PI),
        ] {
            assert_near(wrapped_angle_rad(angle), want, 1e-5, "wrapped");
        }
        let mut c = camera();
        c.turn(1.0, 0.25);
        c.turn(0.5, 0.0);
        assert_near(c.yaw_rad(), 1.5, 1e-6, "yaw");
        assert_near(c.pitch_rad(), 0.25, 1e-6, "pitch");
    }

    #[test]
    fn dragging_down_raises_the_eye() {
        let mut c = camera();
        c.orbit(0.0, 50.0);
        assert!(c.pitch_rad() > 0.0);
        assert!(c.eye_mm()[2] > c.target_mm()[2]);
    }

    #[test]
    fn pitch_is_clamped_away_from_the_poles() {
        let mut c = camera();
        c.orbit(0.0, 1e6);
        assert_eq!(c.pitch_rad(), MAX_PITCH_RAD);
        assert!(c.pitch_rad() < FRAC_PI_2);
        c.orbit(0.0, -1e6);
        assert_eq!(c.pitch_rad(), -MAX_PITCH_RAD);
        let view = c.view_from_world();
        assert!(view.iter().all(|v| v.is_finite()));
        let axes = c.axes();
        assert_near(axes.up.dot(&axes.forward), 0.0, 1e-5, "up ⟂ forward");
        assert_near(axes.right.norm(), 1.0, 1e-5, "|right|");
    }

    #[test]
    fn zoom_is_clamped_and_ignores_nonsense() {
        let mut c = camera();
        let fitted = c.distance_mm();
        c.zoom(2.0);
        assert_near(c.distance_mm(), fitted / 2.0, 1e-3, "zoom in ×2");
        c.zoom(1e9);
        assert!(c.distance_mm() > 1.0);
        c.zoom(1e-9);
        assert_near(c.distance_mm(), MAX_DISTANCE_PER_FIT * fitted, 1e-2, "max");
        let before = c.distance_mm();
        for factor in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            c.zoom(factor);
        }
        assert_eq!(c.distance_mm(), before);
    }

    #[test]
    fn pan_keeps_the_dragged_point_under_the_cursor() {
        let mut c = camera();
        c.set_angles(0.7, 0.3);
        let target = c.target_mm();
        let (start, _) = project(&c, target);
        c.pan(40.0, -25.0, VIEWPORT);
        let (end, _) = project(&c, target);
        assert_near(end[0] - start[0], 40.0, 0.05, "dx");
        assert_near(end[1] - start[1], -25.0, 0.05, "dy");
        let moved = Point3::from(c.target_mm()) - Point3::from(target);
        assert_near(
            moved.dot(&c.axes().forward),
            0.0,
            1e-3,
            "pan stays in view plane",
        );
    }

    #[test]
    fn reset_returns_to_the_fitted_anterior_view() {
        let mut c = camera();
        let home = c.clone();
        c.orbit(123.0, -45.0);
        c.zoom(3.0);
        c.pan(10.0, 10.0, VIEWPORT);
        c.reset();
        assert_eq!(c, home);
    }

    #[test]
    fn non_finite_bounds_are_ignored() {
        let mut c = camera();
        let before = c.clone();
        c.fit_bounds([f32::NAN, 0.0, 0.0], [1.0, 1.0, 1.0]);
        assert_eq!(c, before);
    }
}
