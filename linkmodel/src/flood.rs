//! Flood rounds (placeholder).
