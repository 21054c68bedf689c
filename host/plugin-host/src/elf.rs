//! A cheap sanity check of a `.so` before `dlopen`: ELF, shared object, this machine's
//! architecture, and every loadable segment inside the file.
//!
//! glibc maps segments past the end of a truncated file and the first touch raises SIGBUS, so
//! this check is what keeps a half-copied plugin from killing the agent. Only the headers are
//! read (through a read cache), never the whole file.

use std::fs::File;
use std::path::Path;

use object::elf::{self, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Endianness, ReadCache};

use crate::loader::LoadError;

/// The ELF machine of the running host.
#[cfg(target_arch = "x86_64")]
const HOST_MACHINE: u16 = elf::EM_X86_64.0;
#[cfg(target_arch = "aarch64")]
const HOST_MACHINE: u16 = elf::EM_AARCH64.0;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const HOST_MACHINE: u16 = 0;

/// Checks that `path` is a complete 64-bit ELF shared object for this machine.
pub fn check(path: &Path) -> Result<(), LoadError> {
    let file = File::open(path).map_err(|e| LoadError::Io(e.to_string()))?;
    check_file(&file)
}

/// [`check`] on a file already open (the loader hashes the same open file it checked).
pub fn check_file(file: &File) -> Result<(), LoadError> {
    let len = file
        .metadata()
        .map_err(|e| LoadError::Io(e.to_string()))?
        .len();
    let cache = ReadCache::new(file);
    let not_so = |why: &str| LoadError::NotAPlugin(format!("not an ELF shared library ({why})"));

    let header = FileHeader64::<Endianness>::parse(&cache).map_err(|_| {
        if len < 64 {
            not_so("file too short")
        } else {
            not_so("no 64-bit ELF header")
        }
    })?;
    let endian = header.endian().map_err(|_| not_so("unknown byte order"))?;
    if header.e_type(endian) != elf::ET_DYN {
        return Err(not_so("not a shared object"));
    }
    let machine = header.e_machine(endian).0;
    if HOST_MACHINE != 0 && machine != HOST_MACHINE {
        return Err(LoadError::NotAPlugin(format!(
            "built for another architecture (ELF machine {machine}, this host is {HOST_MACHINE})"
        )));
    }
    let segments = header.program_headers(endian, &cache).map_err(|_| {
        LoadError::Truncated(format!("program headers missing, file is {len} bytes"))
    })?;
    for segment in segments {
        if segment.p_type(endian) != elf::PT_LOAD {
            continue;
        }
        let end = segment
            .p_offset(endian)
            .saturating_add(segment.p_filesz(endian));
        if end > len {
            return Err(LoadError::Truncated(format!(
                "a loadable segment ends at byte {end} but the file has {len} bytes"
            )));
        }
    }
    let sections_end = header
        .e_shoff(endian)
        .saturating_add(u64::from(header.e_shnum(endian)) * u64::from(header.e_shentsize(endian)));
    if sections_end > len {
        return Err(LoadError::Truncated(format!(
            "the section table ends at byte {sections_end} but the file has {len} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn system_library() -> Option<std::path::PathBuf> {
        [
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/usr/lib/x86_64-linux-gnu/libm.so.6",
            "/lib64/libm.so.6",
        ]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
    }

    #[test]
    fn accepts_a_system_library() {
        let lib = system_library().expect("libm on this machine");
        check(&lib).unwrap();
    }

    #[test]
    fn refuses_text_and_truncated_files() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("text.so");
        std::fs::write(&text, "hello, I am not a library\n").unwrap();
        assert!(matches!(check(&text), Err(LoadError::NotAPlugin(_))));

        let lib = std::fs::read(system_library().unwrap()).unwrap();
        let cut = dir.path().join("cut.so");
        std::fs::File::create(&cut)
            .unwrap()
            .write_all(&lib[..lib.len() / 2])
            .unwrap();
        let err = check(&cut).unwrap_err();
        assert!(matches!(err, LoadError::Truncated(_)), "{err}");
    }
}
