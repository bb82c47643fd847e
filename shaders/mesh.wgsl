// Shaded surfaces (organ, lesions) for the 3D view: `MeshRenderer` in src/render/mesh_renderer.rs.
//
// Positions and normals arrive in world (RAS+) millimetres. Lighting is a Blinn-Phong headlight
// computed in linear RGB; back faces are lit with the flipped normal (two-sided lighting) so the
// inside of a translucent organ reads as a surface too.

// keep in sync with `FrameUniforms` in src/render/mesh_renderer.rs
struct FrameUniforms {
    clip_from_world: mat4x4<f32>,
    // xyz: eye position, world mm; w unused.
    eye_position_mm: vec4<f32>,
    // xyz: unit vector from the surface toward the light, world space; w unused.
    light_direction_world: vec4<f32>,
};

// keep in sync with `DrawUniforms` in src/render/mesh_renderer.rs
struct DrawUniforms {
    // rgb: linear colour; a: opacity 0..1.
    colour_linear: vec4<f32>,
};

@group(0) @binding(0) var<uniform> frame: FrameUniforms;
@group(1) @binding(0) var<uniform> draw: DrawUniforms;

// True when the colour target stores sRGB-encoded bytes without a hardware encoder (an `*Unorm`
// format): the shader then encodes itself. False for `*UnormSrgb` targets.
override OUTPUT_ENCODES_SRGB: bool = false;

const AMBIENT: f32 = 0.22;
const DIFFUSE: f32 = 0.78;
const SPECULAR: f32 = 0.2;
const SHININESS: f32 = 40.0;
// Back faces (seen through a translucent front) are dimmed a little, a depth cue.
const BACK_FACE_BRIGHTNESS: f32 = 0.7;

struct VertexInput {
    @location(0) position_mm: vec3<f32>,
    @location(1) normal_world: vec3<f32>,
};

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    @location(0) position_mm: vec3<f32>,
    @location(1) normal_world: vec3<f32>,
};

@vertex
fn vs_main(in: VertexInput) -> VertexOutput {
    var out: VertexOutput;
    out.clip_position = frame.clip_from_world * vec4<f32>(in.position_mm, 1.0);
    out.position_mm = in.position_mm;
    out.normal_world = in.normal_world;
    return out;
}

fn srgb_from_linear(linear: vec3<f32>) -> vec3<f32> {
    let low = linear * 12.92;
    let high = 1.055 * pow(linear, vec3<f32>(1.0 / 2.4)) - 0.055;
    return select(high, low, linear <= vec3<f32>(0.0031308));
}

@fragment
fn fs_main(in: VertexOutput, @builtin(front_facing) is_front_face: bool) -> @location(0) vec4<f32> {
    let to_eye = normalize(frame.eye_position_mm.xyz - in.position_mm);
    // Interpolated normals can shrink to nothing on sharp creases; fall back to facing the eye.
    let normal_length = length(in.normal_world);
    var normal = select(to_eye, in.normal_world / normal_length, normal_length > 1e-6);
    var brightness = 1.0;
    if !is_front_face {
        normal = -normal;
        brightness = BACK_FACE_BRIGHTNESS;
    }

    let to_light = frame.light_direction_world.xyz;
    let half_vector = normalize(to_light + to_eye);
    let diffuse = max(dot(normal, to_light), 0.0);
    let specular = pow(max(dot(normal, half_vector), 0.0), SHININESS);

    let base = draw.colour_linear.rgb;
    var colour = brightness * (base * (AMBIENT + DIFFUSE * diffuse) + vec3<f32>(SPECULAR * specular));
    colour = clamp(colour, vec3<f32>(0.0), vec3<f32>(1.0));
    if OUTPUT_ENCODES_SRGB {
        colour = srgb_from_linear(colour);
    }
    return vec4<f32>(colour, draw.colour_linear.a);
}
