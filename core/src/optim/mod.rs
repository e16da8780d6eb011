//! Optimizers for a device's classifier slice: Adam and QAdam.
