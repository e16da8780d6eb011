//! Optimizers for a device's classifier slice: Adam and QAdam.
//!
//! Every device updates its own slice of the classifier weights once per batch
//! with one of two optimizers ([`OptimizerKind`]):
//!
//! - **Adam** ([`adam_update`]): PyTorch `Adam`/`AdamW` semantics with f32
//!   moment buffers (8 bytes of optimizer state per parameter).
//! - **QAdam** ([`qadam_update`]): the same update, but the two moment buffers
//!   are stored as 8-bit block-wise dynamic-tree codes ([`DynamicTreeCode`],
//!   after Dettmers et al., *8-bit Optimizers via Block-wise Quantization*,
//!   ICLR 2022) plus one f32 absmax scale per block and moment: 2 bytes per
//!   parameter plus 8 bytes per block, ≈ 4× less state ([`adam_state_bytes`],
//!   [`qadam_state_bytes`]).
//!
//! # The update rule
//!
//! With gradient `g`, step count `t` (1 for the first step), learning rate
//! `lr`, moment decays `β1`, `β2`, `ε` and decoupled weight decay `wd`:
//!
//! ```text
//! m  = β1·m + (1 − β1)·g
//! v  = β2·v + (1 − β2)·g²
//! m̂  = m / (1 − β1^t)
//! v̂  = v / (1 − β2^t)
//! p -= lr·( m̂ / (√v̂ + ε) + wd·p )          (wd·p uses the old p: AdamW)
//! ```
//!
//! `wd = 0` (the default) is plain Adam. `ε` is added to `√v̂` (after bias
//! correction), as PyTorch does.
//!
//! # Bit-exact arithmetic order
//!
//! Host and firmware must produce identical bit patterns, so the f32
//! operations and their order are part of the contract. Per step, computed once
//! by [`AdamStep::new`] (`libm::powf`/`libm::sqrtf`, no FMA):
//!
//! ```text
//! t'          = max(t, 1) as f32
//! bc1         = 1 − powf(β1, t')
//! bc2         = 1 − powf(β2, t')
//! step_size   = lr / bc1
//! inv_sqrt_bc2 = 1 / sqrtf(bc2)
//! decay       = 1 − lr·wd
//! one_minus_β1 = 1 − β1,   one_minus_β2 = 1 − β2
//! ```
//!
//! Per element, each line one rounded f32 operation sequence, evaluated left to
//! right exactly as parenthesised:
//!
//! ```text
//! m     = (β1·m) + (one_minus_β1·g)
//! v     = (β2·v) + (one_minus_β2·(g·g))
//! denom = (sqrtf(v)·inv_sqrt_bc2) + ε
//! p     = (p·decay) − (step_size·(m / denom))
//! ```
//!
//! This is PyTorch's formulation (`step_size = lr/bc1`,
//! `denom = √v/√bc2 + ε`, `p ← p·(1 − lr·wd)` then `p ← p − step_size·m/denom`),
//! with the division by `√bc2` replaced by a multiplication by its reciprocal.
//! `decay` is exactly 1 when `wd = 0`, so the multiplication is then exact.
//!
//! QAdam applies the same per-element arithmetic to moments decoded from their
//! codes (`code value · block scale`), updates the parameter with the
//! full-precision new moments, then re-encodes them with each block's new
//! absmax (see [`qadam_update`]).

mod adam;
mod dynamic_tree;
pub mod memory;
mod qadam;

pub use adam::{AdamConfig, AdamStep, adam_update, try_adam_update};
pub use dynamic_tree::{
    DynamicTreeCode, SIGNED_CODEBOOK, UNSIGNED_CODEBOOK, signed_codebook, unsigned_codebook,
};
pub use memory::{adam_state_bytes, qadam_state_bytes};
pub use qadam::{UniformBlocks, num_blocks, qadam_init, qadam_update, uniform_blocks};

/// Which optimizer a device runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OptimizerKind {
    /// Adam with f32 moment buffers ([`adam_update`]).
    #[default]
    Adam,
    /// Adam with 8-bit block-wise dynamic-tree quantised moments
    /// ([`qadam_update`]).
    QAdam,
}

impl OptimizerKind {
    /// The lower-case name used in configuration files: `"adam"` or `"qadam"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OptimizerKind::Adam => "adam",
            OptimizerKind::QAdam => "qadam",
        }
    }

    /// Bytes of optimizer state for `n_params` parameters split into
    /// `n_blocks` quantisation blocks (`n_blocks` is ignored for Adam).
    pub const fn state_bytes(self, n_params: usize, n_blocks: usize) -> usize {
        match self {
            OptimizerKind::Adam => adam_state_bytes(n_params),
            OptimizerKind::QAdam => qadam_state_bytes(n_params, n_blocks),
        }
    }
}

impl core::fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for OptimizerKind {
    type Err = OptimError;

    /// Parses `"adam"` or `"qadam"` (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("adam") {
            Ok(OptimizerKind::Adam)
        } else if s.eq_ignore_ascii_case("qadam") {
            Ok(OptimizerKind::QAdam)
        } else {
            Err(OptimError::UnknownOptimizer)
        }
    }
}

/// Errors of the optimizers: invalid hyper-parameters or inconsistent buffers.
///
/// Messages name the offending field or buffer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimError {
    /// A hyper-parameter of [`AdamConfig`] is out of range.
    #[error("invalid optimizer config: `{field}` = {value} but must be {requirement}")]
    InvalidConfig {
        /// The field's name (`lr`, `beta1`, `beta2`, `eps`, `weight_decay`).
        field: &'static str,
        /// The rejected value.
        value: f32,
        /// What the field must satisfy.
        requirement: &'static str,
    },
    /// A buffer's length differs from the number of parameters (or of blocks).
    #[error("length mismatch: `{buffer}` has {actual} elements, expected {expected}")]
    LengthMismatch {
        /// The buffer's name (`grads`, `m`, `v`, `m_codes`, `v_codes`, `v_scales`).
        buffer: &'static str,
        /// The length it must have.
        expected: usize,
        /// Its length.
        actual: usize,
    },
    /// A block does not start where the previous one ended (the first at 0),
    /// or ends before it starts.
    #[error(
        "block {block} is {start}..{end} but must start at {expected_start} and not end before it starts"
    )]
    BlockNotContiguous {
        /// The block's index.
        block: usize,
        /// Where it must start.
        expected_start: usize,
        /// Its start.
        start: usize,
        /// Its end.
        end: usize,
    },
    /// A block reaches past the end of the parameters.
    #[error("block {block} ends at {end}, past the {len} parameters")]
    BlockOutOfBounds {
        /// The block's index.
        block: usize,
        /// Its end.
        end: usize,
        /// The number of parameters.
        len: usize,
    },
    /// The layout has more blocks than there are scales (`m_scales`).
    #[error("more blocks than the {scales} entries of `m_scales`")]
    TooManyBlocks {
        /// The number of scales per moment.
        scales: usize,
    },
    /// The blocks end before covering all parameters, or there are fewer
    /// blocks than scales.
    #[error("{blocks} blocks cover {covered} of {len} parameters, with {scales} scales per moment")]
    BlocksIncomplete {
        /// How many blocks the layout had.
        blocks: usize,
        /// How many parameters they covered.
        covered: usize,
        /// The number of parameters.
        len: usize,
        /// The number of scales per moment.
        scales: usize,
    },
    /// A gradient is NaN or infinite (QAdam checks this before changing anything).
    #[error("gradient {index} is not finite")]
    NonFiniteGradient {
        /// The first non-finite gradient's index.
        index: usize,
    },
    /// An optimizer name other than `adam` or `qadam`.
    #[error("unknown optimizer (expected `adam` or `qadam`)")]
    UnknownOptimizer,
}
