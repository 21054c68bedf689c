//! The cheap check a plugin release passes before Polaris stores it: the file is an ELF shared
//! object (`ET_DYN` with a `PT_DYNAMIC` segment) whose program and section header tables and
//! segments all lie inside the file, read from the headers alone. Polaris never loads a plugin;
//! this only refuses at upload what no agent could load (a tarball, a script, a truncated
//! download: `dlopen` of a truncated file kills the process with SIGBUS), so the mistake shows
//! at once instead of on every host of a rollout.

/// `ET_DYN`: a shared object (or a position-independent executable).
const ET_DYN: u16 = 3;
/// `PT_DYNAMIC`: the segment of the dynamic section every shared object has.
const PT_DYNAMIC: u32 = 2;
/// Most program headers read (a Rust cdylib has about ten).
const PROGRAM_HEADERS_MAX: usize = 256;

/// Reads little- or big-endian integers at offsets of a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn take<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        let end = at.checked_add(N)?;
        self.bytes.get(at..end)?.try_into().ok()
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b = self.take::<2>(at)?;
        Some(if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = self.take::<4>(at)?;
        Some(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn u64(&self, at: usize) -> Option<u64> {
        let b = self.take::<8>(at)?;
        Some(if self.big {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }

    /// A word: 4 bytes in a 32-bit file, 8 in a 64-bit one.
    fn word(&self, at: usize, wide: bool) -> Option<u64> {
        if wide {
            self.u64(at)
        } else {
            self.u32(at).map(u64::from)
        }
    }
}

/// `Ok` when `bytes` is an ELF shared object whose headers and segments lie inside it; the
/// error is the one-line reason.
pub fn check_shared_object(bytes: &[u8]) -> Result<(), String> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("the file is not an ELF shared object (no ELF magic)".into());
    }
    let wide = match bytes.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err("the ELF file has an unknown class".into()),
    };
    let big = match bytes.get(5) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err("the ELF file has an unknown byte order".into()),
    };
    let r = Reader { bytes, big };
    let truncated = || "the ELF file is truncated (its header does not fit)".to_string();
    let e_type = r.u16(16).ok_or_else(truncated)?;
    if e_type != ET_DYN {
        return Err(format!(
            "the ELF file is not a shared object (type {e_type}, not ET_DYN): build the plugin \
             as a cdylib"
        ));
    }
    // Offsets of e_phoff, e_shoff, e_phentsize, e_phnum, e_shentsize, e_shnum.
    let at = if wide {
        [32, 40, 54, 56, 58, 60]
    } else {
        [28, 32, 42, 44, 46, 48]
    };
    let phoff = r.word(at[0], wide).ok_or_else(truncated)?;
    let shoff = r.word(at[1], wide).ok_or_else(truncated)?;
    let phentsize = u64::from(r.u16(at[2]).ok_or_else(truncated)?);
    let phnum = u64::from(r.u16(at[3]).ok_or_else(truncated)?);
    let shentsize = u64::from(r.u16(at[4]).ok_or_else(truncated)?);
    let shnum = u64::from(r.u16(at[5]).ok_or_else(truncated)?);
    let size = bytes.len() as u64;
    let inside =
        |offset: u64, length: u64| offset.checked_add(length).is_some_and(|end| end <= size);
    let min_phentsize = if wide { 56 } else { 32 };
    if phnum == 0 || phentsize < min_phentsize || phnum as usize > PROGRAM_HEADERS_MAX {
        return Err("the ELF file has no usable program headers".into());
    }
    if !inside(phoff, phnum * phentsize) {
        return Err("the ELF file is truncated: its program headers lie past its end".into());
    }
    if shnum > 0 && !inside(shoff, shnum.saturating_mul(shentsize)) {
        return Err("the ELF file is truncated: its section headers lie past its end".into());
    }
    let mut dynamic = false;
    for i in 0..phnum {
        let header = (phoff + i * phentsize) as usize;
        let p_type = r.u32(header).ok_or_else(truncated)?;
        // p_offset and p_filesz.
        let (offset, filesz) = if wide {
            (r.u64(header + 8), r.u64(header + 32))
        } else {
            (
                r.u32(header + 4).map(u64::from),
                r.u32(header + 16).map(u64::from),
            )
        };
        let (Some(offset), Some(filesz)) = (offset, filesz) else {
            return Err(truncated());
        };
        if !inside(offset, filesz) {
            return Err(format!(
                "the ELF file is truncated: segment {i} ends at byte {}, the file has {size}",
                offset.saturating_add(filesz)
            ));
        }
        dynamic |= p_type == PT_DYNAMIC;
    }
    if !dynamic {
        return Err("the ELF file has no dynamic section: not a shared object".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test binary's own dynamic libraries are real shared objects of this machine.
    fn libc() -> Vec<u8> {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let path = maps
            .lines()
            .filter_map(|l| l.split_whitespace().nth(5))
            .find(|p| p.contains("libc.so") || p.contains("libc-"))
            .expect("libc is mapped");
        std::fs::read(path).unwrap()
    }

    #[test]
    fn shared_objects_pass_and_everything_else_says_why() {
        let so = libc();
        check_shared_object(&so).unwrap();
        let half = &so[..so.len() / 2];
        assert!(check_shared_object(half).unwrap_err().contains("truncated"));
        assert!(
            check_shared_object(b"#!/bin/sh\necho hi\n")
                .unwrap_err()
                .contains("magic")
        );
        let mut exec = so.clone();
        exec[16] = 2; // ET_EXEC, little-endian
        assert!(check_shared_object(&exec).unwrap_err().contains("ET_DYN"));
        assert!(check_shared_object(&so[..20]).is_err());
    }
}
