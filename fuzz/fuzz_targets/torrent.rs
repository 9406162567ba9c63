#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    swarmfs_metainfo::fuzzing::torrent(data);
});
