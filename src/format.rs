//! Shared helpers of every on-disk structure: little-endian field access, CRC32C, and
//! the layout tables that `docs/FORMAT.md` is checked against.
//!
//! Every fixed header of drift ends with a 4-byte CRC32C of all bytes before it, and
//! every multi-byte integer is little-endian. Field offsets are chains of named
//! constants in the module of each structure; each module also exports a [`Layout`]
//! listing its fields, and `tests/integration/format_doc.rs` compares those lists with the tables
//! of `docs/FORMAT.md`, so the document cannot drift from the code.

/// One field of a fixed-layout structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Name as written in `docs/FORMAT.md`.
    pub name: &'static str,
    /// Byte offset from the start of the structure.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

/// A fixed-layout structure and its fields, in offset order.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// Section title in `docs/FORMAT.md`.
    pub name: &'static str,
    /// Total size in bytes.
    pub size: usize,
    /// The fields, covering `0..size` without gaps.
    pub fields: &'static [Field],
}

/// Every fixed-layout structure drift writes.
pub const LAYOUTS: &[&Layout] = &[
    &crate::wal::segment::LAYOUT,
    &crate::wal::record::LAYOUT,
    &crate::storage::shard_file::HEADER_LAYOUT,
    &crate::storage::row_group::LAYOUT,
    &crate::attributes::section::HEADER_LAYOUT,
    &crate::attributes::section::ENTRY_LAYOUT,
    &crate::storage::footer::INDEX_ENTRY_LAYOUT,
    &crate::storage::footer::TRAILER_LAYOUT,
    &crate::storage::manifest::HEADER_LAYOUT,
    &crate::storage::manifest::COLLECTION_LAYOUT,
    &crate::storage::manifest::SHARD_LAYOUT,
    &crate::storage::manifest::TOMBSTONE_LAYOUT,
    &crate::storage::manifest::CENTROID_LAYOUT,
    &crate::storage::manifest::ATTRIBUTE_LAYOUT,
    &crate::storage::manifest::TRAILER_LAYOUT,
    &crate::tier::envelope::POINTER_LAYOUT,
    &crate::tier::envelope::GENERATION_LAYOUT,
    &crate::tier::envelope::ORIGIN_LAYOUT,
    &crate::tier::envelope::OWNER_LAYOUT,
];

pub(crate) fn put_u8(buf: &mut [u8], offset: usize, value: u8) {
    buf[offset] = value;
}
pub(crate) fn put_u16(buf: &mut [u8], offset: usize, value: u16) {
    buf[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
}
pub(crate) fn put_u32(buf: &mut [u8], offset: usize, value: u32) {
    buf[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}
pub(crate) fn put_u64(buf: &mut [u8], offset: usize, value: u64) {
    buf[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}
pub(crate) fn put_u128(buf: &mut [u8], offset: usize, value: u128) {
    buf[offset..offset + 16].copy_from_slice(&value.to_le_bytes());
}

/// Reads `N` bytes at `offset`; callers pass buffers whose length they checked.
fn array<const N: usize>(buf: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[offset..offset + N]);
    out
}
pub(crate) fn get_u8(buf: &[u8], offset: usize) -> u8 {
    buf[offset]
}
pub(crate) fn get_u16(buf: &[u8], offset: usize) -> u16 {
    u16::from_le_bytes(array(buf, offset))
}
pub(crate) fn get_u32(buf: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(array(buf, offset))
}
pub(crate) fn get_u64(buf: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(array(buf, offset))
}
pub(crate) fn get_u128(buf: &[u8], offset: usize) -> u128 {
    u128::from_le_bytes(array(buf, offset))
}

/// CRC32C.
pub(crate) fn crc(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// The error for `bytes` (at file offset `at`, part of the structure at
/// `structure_offset`) that no longer match their stored CRC32C: names the damaged byte
/// when one flipped bit explains it, else the structure.
pub(crate) fn checksum_error(file: &std::path::Path, structure_offset: u64, at: u64, bytes: &[u8], structure: &'static str, expected: u32) -> crate::error::Error {
    let actual = crc(bytes);
    match single_bit_flip(bytes, expected) {
        Some((byte, bit)) => crate::error::Error::corrupt(
            file,
            at + byte as u64,
            format!(
                "bit {bit} of this byte is flipped: the {structure} at offset {structure_offset} fails its CRC32C (stored {expected:#010x}, computed {actual:#010x}) and flipping it back matches"
            ),
        ),
        None => crate::error::Error::ChecksumMismatch { file: file.to_owned(), offset: structure_offset, structure, expected, actual },
    }
}

/// The reflected CRC32C polynomial.
const CRC32C_POLY: u32 = 0x82f6_3b78;

/// CRC32C's byte table (entry `i`: the register after processing byte `i` from zero).
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ CRC32C_POLY } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// Where one flipped bit would explain why `bytes` no longer match their stored CRC32C
/// `expected`: (byte index, bit), or `None` if no single flip does (more damage, or the
/// stored checksum itself is what changed).
///
/// CRC32C is linear: flipping bit `b` of byte `k` of an `n`-byte message changes its
/// checksum by the register that the byte `1 << b` followed by `n - 1 - k` zero bytes
/// leaves, whatever the other bytes are. Walking `k` from the end needs one table step
/// per byte for each of the eight bits, and the candidate is confirmed by recomputing.
pub(crate) fn single_bit_flip(bytes: &[u8], expected: u32) -> Option<(usize, u8)> {
    let syndrome = expected ^ crc(bytes);
    if syndrome == 0 || bytes.is_empty() {
        return None;
    }
    let mut registers: [u32; 8] = std::array::from_fn(|b| CRC32C_TABLE[1usize << b]);
    for k in (0..bytes.len()).rev() {
        if let Some(bit) = registers.iter().position(|r| *r == syndrome) {
            let mut fixed = bytes.to_vec();
            fixed[k] ^= 1 << bit;
            if crc(&fixed) == expected {
                return Some((k, bit as u8));
            }
        }
        for r in &mut registers {
            *r = (*r >> 8) ^ CRC32C_TABLE[(*r & 0xff) as usize];
        }
    }
    None
}

/// Seals a fixed header: writes the CRC32C of `header[..len-4]` into its last 4 bytes.
pub(crate) fn seal_header(header: &mut [u8]) {
    let at = header.len() - 4;
    let sum = crc(&header[..at]);
    put_u32(header, at, sum);
}

/// The (stored, computed) CRC pair of a sealed fixed header.
pub(crate) fn header_checksums(header: &[u8]) -> (u32, u32) {
    let at = header.len() - 4;
    (get_u32(header, at), crc(&header[..at]))
}

/// Checks a sealed fixed header whose magic is at offset 0 and version at offset 8:
/// checksum first (so a damaged header is reported as such), then magic, then version.
pub(crate) fn check_header(
    header: &[u8],
    magic: &[u8; 8],
    version: u16,
    file: &std::path::Path,
    offset: u64,
    structure: &'static str,
) -> crate::error::Result<()> {
    check_header_versions(header, magic, &[version], file, offset, structure)
}

/// [`check_header`] for a structure of which several versions are readable (the last
/// of `versions` is the one written).
pub(crate) fn check_header_versions(
    header: &[u8],
    magic: &[u8; 8],
    versions: &[u16],
    file: &std::path::Path,
    offset: u64,
    structure: &'static str,
) -> crate::error::Result<()> {
    use crate::error::Error;
    let (expected, actual) = header_checksums(header);
    if expected != actual {
        return Err(Error::ChecksumMismatch { file: file.to_owned(), offset, structure, expected, actual });
    }
    if header[..8] != magic[..] {
        return Err(Error::corrupt(file, offset, format!("bad magic: not a drift {structure}")));
    }
    let found = get_u16(header, 8);
    if !versions.contains(&found) {
        return Err(Error::UnsupportedVersion { file: file.to_owned(), found, supported: versions.last().copied().unwrap_or(0) });
    }
    Ok(())
}

/// Rounds `n` up to a multiple of `align` (a power of two).
pub(crate) const fn align_up(n: u64, align: u64) -> u64 {
    (n + align - 1) & !(align - 1)
}

/// True when every byte is zero.
pub(crate) fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_flipped_bit_is_located_exactly_and_other_damage_is_not_guessed() {
        let original: Vec<u8> = (0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let stored = crc(&original);
        assert_eq!(single_bit_flip(&original, stored), None, "undamaged bytes");
        for (byte, bit) in [(0usize, 0u8), (1, 7), (1999, 3), (3999, 5)] {
            let mut damaged = original.clone();
            damaged[byte] ^= 1 << bit;
            assert_eq!(single_bit_flip(&damaged, stored), Some((byte, bit)));
        }
        let mut two = original.clone();
        two[10] ^= 1;
        two[3000] ^= 0x80;
        assert_eq!(single_bit_flip(&two, stored), None, "two flips are not one");
    }
}
