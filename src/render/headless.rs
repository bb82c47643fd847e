//! [`headless_device`]: a wgpu device without a window, for offscreen rendering in tests and the
//! CLI. Works without `DISPLAY` on a software adapter (mesa lavapipe).

use egui_wgpu::wgpu;

use super::RenderError;

/// Opens a device on the best adapter available without a window.
///
/// Adapters come from every backend wgpu was built with (narrowed by the `WGPU_BACKEND`
/// environment variable when set). Hardware is preferred (discrete, integrated, virtual, then
/// other GPUs), CPU rasterisers such as lavapipe last; within a kind, native APIs (Vulkan, Metal,
/// DX12) before GL. If an adapter cannot open a device the next one is tried.
///
/// The device gets wgpu's downlevel limits, raised to the adapter's largest 2D texture so render
/// targets can be as large as the hardware allows.
pub fn headless_device() -> Result<(wgpu::Device, wgpu::Queue, wgpu::AdapterInfo), RenderError> {
    let descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    let requested = descriptor.backends;
    let built = wgpu::Instance::enabled_backend_features();
    let backends_tried = requested & built;
    let instance = wgpu::Instance::new(descriptor);
    let mut adapters = pollster::block_on(instance.enumerate_adapters(backends_tried));
    adapters.retain(|adapter| adapter.get_info().backend != wgpu::Backend::Noop);
    if adapters.is_empty() {
        return Err(RenderError::NoAdapter {
            backends_tried: describe_backends_tried(requested, built),
        });
    }
    adapters.sort_by_key(|adapter| adapter_preference(&adapter.get_info()));

    let mut attempts = Vec::new();
    for adapter in adapters {
        let info = adapter.get_info();
        let required_limits = wgpu::Limits {
            max_texture_dimension_2d: adapter.limits().max_texture_dimension_2d,
            ..wgpu::Limits::downlevel_defaults()
        };
        let request = adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("oncoscope headless device"),
            required_limits,
            ..Default::default()
        });
        match pollster::block_on(request) {
            Ok((device, queue)) => return Ok((device, queue, info)),
            Err(error) => attempts.push(format!("{} ({:?}): {error}", info.name, info.backend)),
        }
    }
    Err(RenderError::NoDevice {
        attempts: attempts.join("; "),
    })
}

/// Sort key: lower is better.
fn adapter_preference(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        wgpu::Backend::Gl => 1,
        wgpu::Backend::BrowserWebGpu | wgpu::Backend::Noop => 2,
    };
    (kind, backend)
}

/// `"VULKAN | GL"`; when nothing was tried, says what was requested and what this build has.
fn describe_backends_tried(requested: wgpu::Backends, built: wgpu::Backends) -> String {
    let tried = requested & built;
    if tried.is_empty() {
        format!(
            "none (requested {}, this build supports {})",
            backend_names(requested),
            backend_names(built)
        )
    } else {
        backend_names(tried)
    }
}

/// `"VULKAN | GL"`, or `"none"` for no backends.
fn backend_names(backends: wgpu::Backends) -> String {
    let names: Vec<&str> = backends.iter_names().map(|(name, _)| name).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(" | ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(device_type: wgpu::DeviceType, backend: wgpu::Backend) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo::new(device_type, backend)
    }

    #[test]
    fn hardware_before_software_and_native_before_gl() {
        use wgpu::{Backend, DeviceType};
        let mut infos = [
            info(DeviceType::Cpu, Backend::Vulkan),
            info(DeviceType::IntegratedGpu, Backend::Gl),
            info(DeviceType::Cpu, Backend::Gl),
            info(DeviceType::DiscreteGpu, Backend::Vulkan),
            info(DeviceType::IntegratedGpu, Backend::Vulkan),
        ];
        infos.sort_by_key(adapter_preference);
        let order: Vec<_> = infos.iter().map(|i| (i.device_type, i.backend)).collect();
        assert_eq!(
            order,
            [
                (DeviceType::DiscreteGpu, Backend::Vulkan),
                (DeviceType::IntegratedGpu, Backend::Vulkan),
                (DeviceType::IntegratedGpu, Backend::Gl),
                (DeviceType::Cpu, Backend::Vulkan),
                (DeviceType::Cpu, Backend::Gl),
            ]
        );
    }

    #[test]
    fn backend_names_read_like_the_flags() {
        assert_eq!(
            backend_names(wgpu::Backends::VULKAN | wgpu::Backends::GL),
            "VULKAN | GL"
        );
        assert_eq!(backend_names(wgpu::Backends::empty()), "none");
        assert_eq!(
            describe_backends_tried(wgpu::Backends::METAL, wgpu::Backends::VULKAN),
            "none (requested METAL, this build supports VULKAN)"
        );
        assert_eq!(
            describe_backends_tried(wgpu::Backends::all(), wgpu::Backends::VULKAN),
            "VULKAN"
        );
    }
}
