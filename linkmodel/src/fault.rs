//! Faults (placeholder).
