#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    swarmfs_wire::fuzzing::extension_handshake(data);
});
