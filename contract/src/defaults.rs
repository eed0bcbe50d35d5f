//! The defaults of settings files' number fields, written where the field
//! is declared — `#[serde(default = "defaults::u64_of::<3600>")]` — so a
//! settings struct needs no function per default.

/// `N`, as a `u64` field's default.
pub fn u64_of<const N: u64>() -> u64 {
    N
}

/// `N`, as a `u32` field's default.
pub fn u32_of<const N: u32>() -> u32 {
    N
}

/// `N`, as a `usize` field's default.
pub fn usize_of<const N: usize>() -> usize {
    N
}
