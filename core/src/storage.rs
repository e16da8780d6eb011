//! Where a device's buffers live: `Vec`s on the host, `&'static mut` arrays
//! in the firmware. The model code is the same for both.

/// A family of buffer types, one per element type.
pub trait Storage {
    /// A fixed-length buffer of `X`.
    type Buf<X: Copy + 'static>: AsRef<[X]> + AsMut<[X]>;
}

/// Heap buffers (`Vec<X>`), allocated once when the device is built.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Copy)]
pub struct HeapStorage;

#[cfg(feature = "alloc")]
impl Storage for HeapStorage {
    type Buf<X: Copy + 'static> = alloc::vec::Vec<X>;
}

/// Statically allocated buffers (`&'static mut [X]`), as the firmware uses.
#[derive(Debug, Clone, Copy)]
pub struct StaticStorage;

impl Storage for StaticStorage {
    type Buf<X: Copy + 'static> = &'static mut [X];
}
