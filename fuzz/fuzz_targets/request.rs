#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bedkey::fuzz::request(data));
