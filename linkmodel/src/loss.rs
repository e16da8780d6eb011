//! Loss processes (placeholder).
