//! Packets per second through the relay on loopback (placeholder until the
//! full bench lands).
fn main() {}
