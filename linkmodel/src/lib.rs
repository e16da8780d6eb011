//! The link model: topology, flood rounds, loss and faults (DESIGN.md §3).
//! Built out in the link-model issue; today it only names the crate.
