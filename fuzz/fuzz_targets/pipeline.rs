//! load → validate → compile → decide on arbitrary input: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| weir_core::fuzzing::pipeline(data));
