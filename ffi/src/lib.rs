//! C ABI for Weir (in progress).
