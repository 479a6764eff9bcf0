//! The smallest zip writer a 3MF package needs: stored entries (no compression, which OPC
//! allows), CRC-32 and the central directory.

/// A zip archive of `(name, contents)` entries, stored.
pub fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32fast::hash(data);
        let size = data.len() as u32;
        let name_len = name.len() as u16;
        // Local file header: its fields, no extra field, the name, the data.
        out.extend(0x0403_4b50u32.to_le_bytes());
        push_entry_fields(&mut out, crc, size, name_len);
        out.extend(0u16.to_le_bytes());
        out.extend(name.as_bytes());
        out.extend(*data);
        // Its central directory entry: "made by" version 2.0, the same fields, then where
        // the local header is.
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend(20u16.to_le_bytes());
        push_entry_fields(&mut central, crc, size, name_len);
        central.extend([0u8; 8]); // extra, comment, disk, internal attributes
        central.extend(0u32.to_le_bytes()); // external attributes
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let central_offset = out.len() as u32;
    let central_size = central.len() as u32;
    out.extend(central);
    let count = entries.len() as u16;
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]); // this disk, the disk with the directory
    out.extend(count.to_le_bytes());
    out.extend(count.to_le_bytes());
    out.extend(central_size.to_le_bytes());
    out.extend(central_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

/// The fields a local header and its central directory entry share: version needed 2.0, no
/// flags, stored, 1980-01-01 00:00, the CRC, both sizes (stored: equal), the name's length.
fn push_entry_fields(out: &mut Vec<u8>, crc: u32, size: u32, name_len: u16) {
    out.extend(20u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0x0021u16.to_le_bytes());
    out.extend(crc.to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend(name_len.to_le_bytes());
}
