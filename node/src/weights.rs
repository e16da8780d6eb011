//! The canonical hash of a cluster's classifier: the same for any number of
//! devices, any deployment (threads, processes, containers, firmware).

use rocknet_core::classifier::DeviceSpec;

/// FNV-1a over all parameters in (class, reference feature index) order,
/// then the class biases; NaNs canonicalised so the hash is the same on
/// every architecture. `devices[d]` = (spec, parameters) of device `d`.
pub fn canonical_weights_hash(devices: &[(DeviceSpec, &[f32])], n_classes: usize) -> u64 {
    let Some((first, _)) = devices.first() else {
        return 0;
    };
    let plan = first.model;
    let n = plan.num_features();
    let c = n_classes;
    let mut canonical = vec![0.0f32; c * n + c];
    for (spec, p) in devices {
        let f_i = spec.num_features();
        for class in 0..c {
            for local in 0..f_i {
                let r = spec.selection.reference_index(&plan, local);
                canonical[class * n + r] = p[class * f_i + local];
            }
        }
        if spec.holds_class_bias {
            canonical[c * n..].copy_from_slice(&p[c * f_i..c * f_i + c]);
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in canonical {
        let bits = if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() };
        for byte in bits.to_le_bytes() {
            h ^= byte as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}
