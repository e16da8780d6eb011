//! One device's slice of the linear softmax classifier (docs/method.md#classifier).

mod device;
pub mod kernels;
mod logits;

pub use device::{DeviceBuffers, DeviceError, DeviceModel, DeviceSpec};
pub use logits::{
    ClassCountMismatch, LOGIT_FRAC_BITS, LogitTotals, MAX_CLASSES, PartialLogits, cross_entropy,
    fixed_to_f32, product_to_fixed, softmax, value_to_fixed,
};
