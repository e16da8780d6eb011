//! CRC-16/KERMIT, the IEEE 802.15.4 frame check sequence.
//!
//! Polynomial 0x1021 processed bit-reflected (0x8408), initial value 0, no
//! final XOR. Standard check value: `crc16(b"123456789") == 0x2189`. The CRC
//! is sent little-endian, after the body.

const fn make_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static TABLE: [u16; 256] = make_table();

/// CRC-16/KERMIT (IEEE 802.15.4 FCS) of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &b| {
        (crc >> 8) ^ TABLE[usize::from((crc as u8) ^ b)]
    })
}

#[cfg(test)]
mod tests {
    use super::crc16;

    /// Bit-by-bit reference, independent of the table.
    fn crc16_bitwise(data: &[u8]) -> u16 {
        let mut crc = 0u16;
        for &b in data {
            crc ^= u16::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x8408
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn standard_check_value() {
        assert_eq!(crc16(b"123456789"), 0x2189);
        assert_eq!(crc16(b""), 0);
        assert_eq!(crc16_bitwise(b"123456789"), 0x2189);
        let data: [u8; 300] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        assert_eq!(crc16(&data), crc16_bitwise(&data));
    }
}
