//! Fuzzes the ELF check every agent runs on a `.so` before `dlopen` (`plugin_host::elf::check`):
//! the input is written to a temp file and checked, never loaded. Never a panic, and a file the
//! check accepts really is a 64-bit shared object for this machine whose loadable segments and
//! section table lie inside the file (re-read here from memory, independently).
#![no_main]

use std::io::Write as _;

use libfuzzer_sys::fuzz_target;
use object::Endianness;
use object::elf::{self, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader};

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(data).expect("write");
    file.flush().expect("flush");
    if plugin_host::elf::check(file.path()).is_err() {
        return;
    }
    let len = data.len() as u64;
    let header = FileHeader64::<Endianness>::parse(data).expect("accepted: an ELF header");
    let endian = header.endian().expect("accepted: a byte order");
    assert_eq!(header.e_type(endian), elf::ET_DYN);
    assert_eq!(header.e_machine(endian), elf::EM_X86_64);
    let segments = header
        .program_headers(endian, data)
        .expect("accepted: program headers");
    for segment in segments.iter().filter(|s| s.p_type(endian) == elf::PT_LOAD) {
        let end = u128::from(segment.p_offset(endian)) + u128::from(segment.p_filesz(endian));
        assert!(
            end <= u128::from(len),
            "segment ends at {end}, file has {len} bytes"
        );
    }
    let sections = u128::from(header.e_shoff(endian))
        + u128::from(header.e_shnum(endian)) * u128::from(header.e_shentsize(endian));
    assert!(
        sections <= u128::from(len),
        "sections end at {sections}, file has {len} bytes"
    );
});
