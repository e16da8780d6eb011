//! MiniRocket (Dempster et al. 2021), exactly as the reference (DESIGN.md §1.1).
