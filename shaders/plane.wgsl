// Textured slice planes in the 3D view: `GpuPlane` in src/render/plane.rs, drawn by
// `MeshRenderer` before the meshes, opaque, with depth writes, seen from both sides.
//
// Corners arrive in world (RAS+) millimetres with their texture coordinates; the texture holds
// the slice as the slice views show it (windowed CT with overlays), sRGB-encoded and sampled
// through an `*Srgb` view, so the sampled colour is linear.

// keep in sync with `FrameUniforms` in src/render/mesh_renderer.rs (only the matrix is read)
struct FrameUniforms {
    clip_from_world: mat4x4<f32>,
    eye_position_mm: vec4<f32>,
    light_direction_world: vec4<f32>,
};

@group(0) @binding(0) var<uniform> frame: FrameUniforms;
@group(1) @binding(0) var slice_texture: texture_2d<f32>;
@group(1) @binding(1) var slice_sampler: sampler;

// As in mesh.wgsl: true when the colour target stores sRGB bytes without a hardware encoder.
override OUTPUT_ENCODES_SRGB: bool = false;

struct VertexInput {
    @location(0) position_mm: vec3<f32>,
    @location(1) texture_coordinates: vec2<f32>,
};

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    @location(0) texture_coordinates: vec2<f32>,
};

@vertex
fn vs_main(in: VertexInput) -> VertexOutput {
    var out: VertexOutput;
    out.clip_position = frame.clip_from_world * vec4<f32>(in.position_mm, 1.0);
    out.texture_coordinates = in.texture_coordinates;
    return out;
}

fn srgb_from_linear(linear: vec3<f32>) -> vec3<f32> {
    let low = linear * 12.92;
    let high = 1.055 * pow(linear, vec3<f32>(1.0 / 2.4)) - 0.055;
    return select(high, low, linear <= vec3<f32>(0.0031308));
}

@fragment
fn fs_main(in: VertexOutput) -> @location(0) vec4<f32> {
    var colour = textureSample(slice_texture, slice_sampler, in.texture_coordinates).rgb;
    if OUTPUT_ENCODES_SRGB {
        colour = srgb_from_linear(colour);
    }
    return vec4<f32>(colour, 1.0);
}
