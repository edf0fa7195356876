//! A small, bounds-checked reader of the kernel's BTF (`/sys/kernel/btf/vmlinux`), enough to
//! find the byte offset and size of a struct member.
//!
//! We read BTF by hand because the crates were checked: btf-rs is LGPL-2.1-or-later, awkward
//! for a single static binary, and aya-obj keeps struct members crate-private.
//!
//! The format is a header, a type section and a string section. Types are numbered from 1 in
//! the order they appear (0 is `void`), and each kind carries its own trailing data, so every
//! kind must be stepped over exactly or all later type ids are wrong: an unknown kind is an
//! error. Only a native (non-split) BTF blob such as vmlinux is supported; module BTF refers to
//! vmlinux's types and is not needed here.

use std::collections::HashMap;

use super::LayoutError;

/// `btf_header.magic` as read in the blob's own byte order.
const MAGIC: u16 = 0xeb9f;
/// The only BTF version there is.
const VERSION: u8 = 1;
/// Size of the header fields this reader knows (magic up to `str_len`).
const HEADER_LEN: usize = 24;
/// Size of `struct btf_type`, the part every type starts with.
const TYPE_LEN: usize = 12;
/// Size of the pointers the kernel side reads: tracer supports only 64-bit kernels.
const POINTER_SIZE: u32 = 8;
/// Anonymous members nest a few levels deep in practice; this bounds recursion on bad data.
const MAX_DEPTH: u32 = 32;

/// BTF kinds (`BTF_KIND_*` in `include/uapi/linux/btf.h`).
mod kind {
    pub const INT: u8 = 1;
    pub const PTR: u8 = 2;
    pub const ARRAY: u8 = 3;
    pub const STRUCT: u8 = 4;
    pub const UNION: u8 = 5;
    pub const ENUM: u8 = 6;
    pub const FWD: u8 = 7;
    pub const TYPEDEF: u8 = 8;
    pub const VOLATILE: u8 = 9;
    pub const CONST: u8 = 10;
    pub const RESTRICT: u8 = 11;
    pub const FUNC: u8 = 12;
    pub const FUNC_PROTO: u8 = 13;
    pub const VAR: u8 = 14;
    pub const DATASEC: u8 = 15;
    pub const FLOAT: u8 = 16;
    pub const DECL_TAG: u8 = 17;
    pub const TYPE_TAG: u8 = 18;
    pub const ENUM64: u8 = 19;
}

/// A struct member's place, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Offset from the start of the outermost struct, anonymous members included.
    pub offset: u32,
    /// Size of the member's type.
    pub size: u32,
}

/// Parsed BTF: the type and string sections, with every type's position indexed once.
pub struct Btf {
    types: Vec<u8>,
    strings: Vec<u8>,
    big_endian: bool,
    /// Byte position in `types` of type id `i + 1`.
    positions: Vec<u32>,
    /// Named structs and unions. A name can have several ids: vmlinux keeps distinct
    /// definitions that different compilation units gave the same tag.
    by_name: HashMap<Box<str>, Vec<u32>>,
}

/// The fixed part of one type, decoded.
#[derive(Clone, Copy)]
struct Type {
    name_off: u32,
    kind: u8,
    kind_flag: bool,
    vlen: u32,
    /// `size` for sized kinds, `type` for the kinds that refer to another type.
    size_or_type: u32,
    /// Where the kind's trailing data starts in the type section.
    data: usize,
}

/// A member as found, before it is checked and sized.
struct Found {
    bit_offset: u64,
    bitfield_size: u32,
    type_id: u32,
    in_kind_flag_struct: bool,
}

fn malformed(reason: impl Into<String>) -> LayoutError {
    LayoutError::BtfMalformed {
        reason: reason.into(),
    }
}

/// The section `[off, off + len)` of `body`, or an error naming `what`.
fn section<'a>(body: &'a [u8], off: u32, len: u32, what: &str) -> Result<&'a [u8], LayoutError> {
    let start = off as usize;
    start
        .checked_add(len as usize)
        .and_then(|end| body.get(start..end))
        .ok_or_else(|| {
            malformed(format!(
                "{what} section ({len} bytes at {off}) runs past the end of the data ({} bytes)",
                body.len()
            ))
        })
}

fn read_u32(bytes: &[u8], pos: usize, big_endian: bool) -> Option<u32> {
    let word: [u8; 4] = bytes.get(pos..pos.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(word)
    } else {
        u32::from_le_bytes(word)
    })
}

/// Size of the data that follows the fixed part of a type of this kind.
fn trailing_len(kind: u8, vlen: u32) -> Option<usize> {
    let vlen = vlen as usize;
    Some(match kind {
        kind::INT | kind::VAR | kind::DECL_TAG => 4,
        kind::ARRAY => 12,
        kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => 12 * vlen,
        kind::ENUM | kind::FUNC_PROTO => 8 * vlen,
        kind::PTR
        | kind::FWD
        | kind::TYPEDEF
        | kind::VOLATILE
        | kind::CONST
        | kind::RESTRICT
        | kind::FUNC
        | kind::FLOAT
        | kind::TYPE_TAG => 0,
        _ => return None,
    })
}

impl Btf {
    /// Parses a BTF blob (little- or big-endian) and indexes its struct and union names.
    pub fn parse(bytes: &[u8]) -> Result<Btf, LayoutError> {
        if bytes.len() < HEADER_LEN {
            return Err(malformed(format!(
                "{} bytes is shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            )));
        }

        let big_endian = match [bytes[0], bytes[1]] {
            m if u16::from_le_bytes(m) == MAGIC => false,
            m if u16::from_be_bytes(m) == MAGIC => true,
            m => {
                return Err(malformed(format!(
                    "bad magic {:#06x} (expected {MAGIC:#06x})",
                    u16::from_le_bytes(m)
                )));
            }
        };
        if bytes[2] != VERSION {
            return Err(malformed(format!("unsupported version {}", bytes[2])));
        }
        let word = |pos| read_u32(bytes, pos, big_endian).unwrap_or(0);
        let (hdr_len, type_off, type_len, str_off, str_len) =
            (word(4), word(8), word(12), word(16), word(20));

        if (hdr_len as usize) < HEADER_LEN || hdr_len as usize > bytes.len() {
            return Err(malformed(format!("bad header length {hdr_len}")));
        }
        let body = &bytes[hdr_len as usize..];
        let types = section(body, type_off, type_len, "type")?;
        let strings = section(body, str_off, str_len, "string")?;

        // The kernel requires both ends to be NUL, so any in-range name offset finds a NUL.
        if strings.first() != Some(&0) || strings.last() != Some(&0) {
            return Err(malformed("string section does not start and end with NUL"));
        }

        let mut btf = Btf {
            types: types.to_vec(),
            strings: strings.to_vec(),
            big_endian,
            positions: Vec::new(),
            by_name: HashMap::new(),
        };
        btf.index()?;
        Ok(btf)
    }

    /// Records where each type starts, stepping over every kind's trailing data, and indexes
    /// named structs and unions.
    fn index(&mut self) -> Result<(), LayoutError> {
        let mut pos = 0;
        while pos < self.types.len() {
            let id = self.positions.len() + 1;
            let ty = self
                .decode(pos)
                .ok_or_else(|| malformed(format!("type {id} is cut off at byte {pos}")))?;
            let extra = trailing_len(ty.kind, ty.vlen)
                .ok_or_else(|| malformed(format!("type {id} has unknown kind {}", ty.kind)))?;
            let end = ty.data + extra;
            if end > self.types.len() {
                return Err(malformed(format!(
                    "type {id}'s data runs past the type section"
                )));
            }

            let id = u32::try_from(id).map_err(|_| malformed("too many types"))?;
            if matches!(ty.kind, kind::STRUCT | kind::UNION) && ty.name_off != 0 {
                let name = self.name(ty.name_off)?;
                self.by_name.entry(name.into()).or_default().push(id);
            }
            // `pos` < `type_len`, a u32.
            self.positions.push(pos as u32);
            pos = end;
        }
        Ok(())
    }

    /// Number of types, not counting `void`: the largest valid type id.
    #[must_use]
    pub fn type_count(&self) -> u32 {
        self.positions.len() as u32
    }

    /// The byte offset of `member` in `struct_name`, looking through anonymous struct and
    /// union members.
    pub fn member_offset(&self, struct_name: &str, member: &str) -> Result<u32, LayoutError> {
        Ok(self.member(struct_name, member)?.offset)
    }

    /// The size in bytes of `member`'s type in `struct_name`.
    pub fn member_size(&self, struct_name: &str, member: &str) -> Result<u32, LayoutError> {
        Ok(self.member(struct_name, member)?.size)
    }

    /// The byte offset and size of `member` in the struct or union `struct_name`.
    ///
    /// Members of anonymous structs and unions count as members of the outer struct, as in C,
    /// with the anonymous member's offset added. A bitfield or a member that does not start on
    /// a byte boundary is an error: the eBPF side reads whole bytes.
    pub fn member(&self, struct_name: &str, member: &str) -> Result<Member, LayoutError> {
        let ids = self
            .by_name
            .get(struct_name)
            .ok_or_else(|| LayoutError::StructMissing {
                name: struct_name.to_owned(),
            })?;

        let mut result: Option<Member> = None;
        for &id in ids {
            let Some(found) = self.find_member(id, member, 0, 0)? else {
                continue;
            };
            let this = self.check_member(struct_name, member, &found)?;
            match result {
                Some(seen) if seen != this => {
                    return Err(LayoutError::MemberAmbiguous {
                        struct_name: struct_name.to_owned(),
                        member: member.to_owned(),
                    });
                }
                _ => result = Some(this),
            }
        }
        result.ok_or_else(|| LayoutError::MemberMissing {
            struct_name: struct_name.to_owned(),
            member: member.to_owned(),
        })
    }

    /// Looks for `member` in the struct or union `id` and, recursively, in its anonymous
    /// members; `base` is the bit offset of `id` in the outermost struct.
    fn find_member(
        &self,
        id: u32,
        member: &str,
        base: u64,
        depth: u32,
    ) -> Result<Option<Found>, LayoutError> {
        if depth > MAX_DEPTH {
            return Err(malformed(format!(
                "anonymous members nest deeper than {MAX_DEPTH}"
            )));
        }
        let ty = self.ty(id)?;
        for i in 0..ty.vlen as usize {
            let pos = ty.data + 12 * i;
            let (name_off, type_id, raw_offset) =
                (self.u32(pos)?, self.u32(pos + 4)?, self.u32(pos + 8)?);

            // With kind_flag set, the offset word packs the bitfield size above a 24-bit
            // bit offset; without it, the whole word is the bit offset.
            let (bit_offset, bitfield_size) = if ty.kind_flag {
                (raw_offset & 0x00ff_ffff, raw_offset >> 24)
            } else {
                (raw_offset, 0)
            };
            let bit_offset = base + u64::from(bit_offset);

            if name_off != 0 {
                if self.name(name_off)? == member {
                    return Ok(Some(Found {
                        bit_offset,
                        bitfield_size,
                        type_id,
                        in_kind_flag_struct: ty.kind_flag,
                    }));
                }
                continue;
            }

            let inner = self.resolve(type_id)?;
            if matches!(self.ty(inner)?.kind, kind::STRUCT | kind::UNION)
                && let Some(found) = self.find_member(inner, member, bit_offset, depth + 1)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Turns a found member into byte units, refusing what the eBPF side cannot read.
    fn check_member(
        &self,
        struct_name: &str,
        member: &str,
        found: &Found,
    ) -> Result<Member, LayoutError> {
        if found.bitfield_size != 0
            || (!found.in_kind_flag_struct && self.is_int_bitfield(found.type_id)?)
        {
            return Err(LayoutError::MemberBitfield {
                struct_name: struct_name.to_owned(),
                member: member.to_owned(),
            });
        }
        if found.bit_offset % 8 != 0 {
            return Err(LayoutError::MemberUnaligned {
                struct_name: struct_name.to_owned(),
                member: member.to_owned(),
                bit_offset: found.bit_offset,
            });
        }
        let offset = u32::try_from(found.bit_offset / 8)
            .map_err(|_| malformed(format!("{struct_name}.{member} offset is out of range")))?;
        let size = self.size_of(found.type_id, 0)?;
        Ok(Member { offset, size })
    }

    /// Without `kind_flag`, a bitfield is an INT member whose encoding uses fewer bits than its
    /// size, or starts past bit 0.
    fn is_int_bitfield(&self, type_id: u32) -> Result<bool, LayoutError> {
        let id = self.resolve(type_id)?;
        let ty = self.ty(id)?;
        if ty.kind != kind::INT {
            return Ok(false);
        }
        let encoding = self.u32(ty.data)?;
        let (bits, bit_offset) = (encoding & 0xff, (encoding >> 16) & 0xff);
        Ok(bit_offset != 0 || u64::from(bits) != u64::from(ty.size_or_type) * 8)
    }

    /// Follows typedefs and qualifiers to the type they name.
    fn resolve(&self, mut id: u32) -> Result<u32, LayoutError> {
        for _ in 0..MAX_DEPTH {
            let ty = self.ty(id)?;
            match ty.kind {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    id = ty.size_or_type;
                }
                _ => return Ok(id),
            }
        }
        Err(malformed(format!(
            "type {id}: typedefs and qualifiers loop"
        )))
    }

    /// The size in bytes of a value of type `id`.
    fn size_of(&self, id: u32, depth: u32) -> Result<u32, LayoutError> {
        if depth > MAX_DEPTH {
            return Err(malformed(format!(
                "array types nest deeper than {MAX_DEPTH}"
            )));
        }
        let id = self.resolve(id)?;
        let ty = self.ty(id)?;
        match ty.kind {
            kind::INT | kind::STRUCT | kind::UNION | kind::ENUM | kind::ENUM64 | kind::FLOAT => {
                Ok(ty.size_or_type)
            }
            kind::PTR => Ok(POINTER_SIZE),
            kind::ARRAY => {
                let (elem, nelems) = (self.u32(ty.data)?, self.u32(ty.data + 8)?);
                self.size_of(elem, depth + 1)?
                    .checked_mul(nelems)
                    .ok_or_else(|| malformed(format!("array type {id} is too large")))
            }
            other => Err(malformed(format!("type {id} (kind {other}) has no size"))),
        }
    }

    /// Type `id`'s fixed part. Id 0 is `void`, which has no entry in the section.
    fn ty(&self, id: u32) -> Result<Type, LayoutError> {
        if id == 0 {
            return Ok(Type {
                name_off: 0,
                kind: 0,
                kind_flag: false,
                vlen: 0,
                size_or_type: 0,
                data: 0,
            });
        }
        let pos = self
            .positions
            .get(id as usize - 1)
            .ok_or_else(|| malformed(format!("reference to type {id}, past the last type")))?;
        self.decode(*pos as usize)
            .ok_or_else(|| malformed(format!("type {id} is cut off")))
    }

    fn decode(&self, pos: usize) -> Option<Type> {
        let name_off = read_u32(&self.types, pos, self.big_endian)?;
        let info = read_u32(&self.types, pos + 4, self.big_endian)?;
        let size_or_type = read_u32(&self.types, pos + 8, self.big_endian)?;
        Some(Type {
            name_off,
            kind: ((info >> 24) & 0x1f) as u8,
            kind_flag: info >> 31 == 1,
            vlen: info & 0xffff,
            size_or_type,
            data: pos + TYPE_LEN,
        })
    }

    fn u32(&self, pos: usize) -> Result<u32, LayoutError> {
        read_u32(&self.types, pos, self.big_endian)
            .ok_or_else(|| malformed(format!("read past the type section at byte {pos}")))
    }

    fn name(&self, off: u32) -> Result<&str, LayoutError> {
        let rest = self
            .strings
            .get(off as usize..)
            .ok_or_else(|| malformed(format!("name offset {off} is past the string section")))?;
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..len])
            .map_err(|_| malformed(format!("name at offset {off} is not UTF-8")))
    }

    /// How many types of each kind there are, indexed by kind number.
    #[cfg(test)]
    fn kind_counts(&self) -> [u32; 20] {
        let mut counts = [0; 20];
        for &pos in &self.positions {
            if let Some(ty) = self.decode(pos as usize) {
                counts[ty.kind as usize] += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::fixtures::{KERNELS, btf as fixture, btf_bytes as fixture_bytes};

    /// A hand-built BTF blob: `types` is the type section as words, `strings` the string
    /// section (which must start and end with NUL).
    fn blob(types: &[u32], strings: &[u8], big_endian: bool) -> Vec<u8> {
        let word = |w: u32| {
            if big_endian {
                w.to_be_bytes()
            } else {
                w.to_le_bytes()
            }
        };
        let type_len = u32::try_from(types.len() * 4).unwrap();
        let str_len = u32::try_from(strings.len()).unwrap();

        let magic = if big_endian {
            MAGIC.to_be_bytes()
        } else {
            MAGIC.to_le_bytes()
        };
        let mut out = [magic[0], magic[1], VERSION, 0].to_vec();
        for w in [HEADER_LEN as u32, 0, type_len, type_len, str_len] {
            out.extend_from_slice(&word(w));
        }
        for &w in types {
            out.extend_from_slice(&word(w));
        }
        out.extend_from_slice(strings);
        out
    }

    fn little(types: &[Vec<u32>]) -> Vec<u8> {
        blob(&types.concat(), STRINGS, false)
    }

    fn info(kind: u8, kind_flag: bool, vlen: usize) -> u32 {
        (u32::from(kind_flag) << 31) | (u32::from(kind) << 24) | u32::try_from(vlen).unwrap()
    }

    /// An INT type of `size` bytes whose encoding uses `bits` bits.
    fn int(name: u32, size: u32, bits: u32) -> Vec<u32> {
        vec![name, info(kind::INT, false, 0), size, bits]
    }

    /// A STRUCT or UNION with `(name, type, offset word)` members.
    fn composite(
        kind: u8,
        name: u32,
        kind_flag: bool,
        size: u32,
        members: &[[u32; 3]],
    ) -> Vec<u32> {
        let mut words = vec![name, info(kind, kind_flag, members.len()), size];
        words.extend(members.iter().flatten());
        words
    }

    // Name offsets into STRINGS.
    const INT: u32 = 1;
    const S: u32 = 5;
    const A: u32 = 7;
    const B: u32 = 9;
    const C: u32 = 11;
    const STRINGS: &[u8] = b"\0int\0s\0a\0b\0c\0";

    #[test]
    fn every_type_id_matches_bpftool_on_every_fixture_kernel() {
        // Type counts and per-kind totals from `bpftool btf dump file ... format raw`.
        let expected: [(u32, &[(u8, u32)]); 4] = [
            (
                77597,
                &[
                    (kind::STRUCT, 7291),
                    (kind::FUNC, 32357),
                    (kind::UNION, 1267),
                ],
            ),
            (
                95068,
                &[
                    (kind::ENUM64, 8),
                    (kind::VAR, 355),
                    (kind::DATASEC, 1),
                    (kind::FLOAT, 1),
                ],
            ),
            (
                108407,
                &[
                    (kind::DECL_TAG, 132),
                    (kind::ENUM64, 8),
                    (kind::FUNC_PROTO, 25426),
                ],
            ),
            (
                125827,
                &[
                    (kind::TYPE_TAG, 1),
                    (kind::DECL_TAG, 205),
                    (kind::RESTRICT, 12),
                ],
            ),
        ];
        for (kernel, (count, kinds)) in KERNELS.iter().zip(expected) {
            let btf = fixture(kernel);
            assert_eq!(btf.type_count(), count, "{kernel}");
            let counts = btf.kind_counts();
            for &(k, n) in kinds {
                assert_eq!(counts[k as usize], n, "{kernel} kind {k}");
            }
            // bpftool numbers task_struct 132 / 191 / 112 / 114.
            let ids = &btf.by_name["task_struct"];
            assert_eq!(ids.len(), 1, "{kernel}");
        }
        assert_eq!(fixture(KERNELS[0]).by_name["task_struct"], [132]);
        assert_eq!(fixture(KERNELS[3]).by_name["task_struct"], [114]);
    }

    #[test]
    fn task_struct_tgid_is_byte_2236_on_5_10_and_1268_on_6_18() {
        // bpftool: bits_offset=17888 on 5.10 and 10144 on 6.18.
        assert_eq!(
            fixture(KERNELS[0])
                .member_offset("task_struct", "tgid")
                .unwrap(),
            2236
        );
        assert_eq!(
            fixture(KERNELS[3])
                .member_offset("task_struct", "tgid")
                .unwrap(),
            1268
        );
    }

    #[test]
    fn mm_struct_arg_start_is_found_through_its_anonymous_struct() {
        // pahole -C mm_struct: arg_start/arg_end at 312/320 (5.10) and 488/496 (6.18), inside
        // the anonymous struct at offset 0.
        let old = fixture(KERNELS[0]);
        assert_eq!(
            old.member("mm_struct", "arg_start").unwrap(),
            Member {
                offset: 312,
                size: 8
            }
        );
        assert_eq!(old.member_offset("mm_struct", "arg_end").unwrap(), 320);
        let new = fixture(KERNELS[3]);
        assert_eq!(
            new.member("mm_struct", "arg_start").unwrap(),
            Member {
                offset: 488,
                size: 8
            }
        );
        assert_eq!(new.member_offset("mm_struct", "arg_end").unwrap(), 496);
    }

    #[test]
    fn member_size_follows_typedefs_pointers_and_arrays() {
        let btf = fixture(KERNELS[3]);
        assert_eq!(btf.member_size("task_struct", "pid").unwrap(), 4); // pid_t
        assert_eq!(btf.member_size("task_struct", "real_parent").unwrap(), 8); // pointer
        assert_eq!(btf.member_size("task_struct", "comm").unwrap(), 16); // char[16]
        assert_eq!(btf.member_size("signal_struct", "live").unwrap(), 4); // atomic_t
    }

    #[test]
    fn bitfield_member_is_an_error() {
        let btf = fixture(KERNELS[3]);
        let err = btf
            .member_offset("task_struct", "sched_reset_on_fork")
            .unwrap_err();
        assert!(matches!(err, LayoutError::MemberBitfield { .. }), "{err}");
    }

    #[test]
    fn missing_struct_and_missing_member_are_errors_naming_them() {
        let btf = fixture(KERNELS[0]);
        let err = btf.member_offset("no_such_struct", "pid").unwrap_err();
        assert!(matches!(err, LayoutError::StructMissing { .. }));
        assert!(err.to_string().contains("no_such_struct"), "{err}");
        let err = btf
            .member_offset("task_struct", "no_such_member")
            .unwrap_err();
        assert!(matches!(err, LayoutError::MemberMissing { .. }));
        assert!(err.to_string().contains("task_struct"), "{err}");
        assert!(err.to_string().contains("no_such_member"), "{err}");
    }

    #[test]
    fn kind_flag_offsets_use_the_low_24_bits_and_nested_anonymous_offsets_add_up() {
        // struct s { int a; union { struct { int b; }; }; int c : 3; }, kind_flag set, with
        // a at bit 32, the union at bit 64, b at bit 64 of its struct, and c at bit 200.
        let btf = Btf::parse(&little(&[
            int(INT, 4, 32),
            composite(
                kind::STRUCT,
                S,
                true,
                32,
                &[[A, 1, 32], [0, 3, 64], [C, 1, (3 << 24) | 200]],
            ),
            composite(kind::UNION, 0, false, 16, &[[0, 4, 0]]),
            composite(kind::STRUCT, 0, false, 16, &[[B, 1, 64]]),
        ]))
        .unwrap();

        assert_eq!(btf.member("s", "a").unwrap(), Member { offset: 4, size: 4 });
        // 64 bits (the union) + 0 (its struct) + 64 bits (b) = byte 16.
        assert_eq!(
            btf.member("s", "b").unwrap(),
            Member {
                offset: 16,
                size: 4
            }
        );
        let err = btf.member_offset("s", "c").unwrap_err();
        assert!(matches!(err, LayoutError::MemberBitfield { .. }), "{err}");
    }

    #[test]
    fn member_off_a_byte_boundary_is_an_error() {
        let btf = Btf::parse(&little(&[
            int(INT, 4, 32),
            composite(kind::STRUCT, S, false, 8, &[[A, 1, 4]]),
        ]))
        .unwrap();
        let err = btf.member_offset("s", "a").unwrap_err();
        assert!(
            matches!(err, LayoutError::MemberUnaligned { bit_offset: 4, .. }),
            "{err}"
        );
    }

    #[test]
    fn int_bitfield_without_kind_flag_is_an_error() {
        // Without kind_flag a bitfield shows as an INT using fewer bits than its size.
        let btf = Btf::parse(&little(&[
            int(INT, 4, 3),
            composite(kind::STRUCT, S, false, 4, &[[A, 1, 0]]),
        ]))
        .unwrap();
        let err = btf.member_offset("s", "a").unwrap_err();
        assert!(matches!(err, LayoutError::MemberBitfield { .. }), "{err}");
    }

    #[test]
    fn same_named_structs_that_disagree_are_ambiguous() {
        let btf = Btf::parse(&little(&[
            int(INT, 4, 32),
            composite(kind::STRUCT, S, false, 8, &[[A, 1, 0]]),
            composite(kind::STRUCT, S, false, 8, &[[A, 1, 32]]),
        ]))
        .unwrap();
        let err = btf.member_offset("s", "a").unwrap_err();
        assert!(matches!(err, LayoutError::MemberAmbiguous { .. }), "{err}");
    }

    #[test]
    fn big_endian_blob_parses() {
        let types = [
            int(INT, 4, 32),
            composite(kind::STRUCT, S, false, 8, &[[A, 1, 32]]),
        ];
        let btf = Btf::parse(&blob(&types.concat(), STRINGS, true)).unwrap();
        assert_eq!(btf.member_offset("s", "a").unwrap(), 4);
    }

    #[test]
    fn unknown_kind_is_an_error() {
        let err = Btf::parse(&little(&[vec![INT, info(20, false, 0), 4]]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("unknown kind 20"), "{err}");
    }

    #[test]
    fn truncated_btf_is_an_error_at_every_length() {
        let bytes = fixture_bytes(KERNELS[3]);
        // Every cut inside the header, then a spread of cuts through the sections.
        let cuts = (0..64).chain((64..bytes.len()).step_by(bytes.len() / 97));
        for len in cuts {
            assert!(Btf::parse(&bytes[..len]).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn truncated_type_section_is_an_error_not_a_panic() {
        // A struct that claims two members but has one; the header agrees with the data.
        let mut words = composite(kind::STRUCT, S, false, 8, &[[A, 0, 0]]);
        words[1] = info(kind::STRUCT, false, 2);
        let err = Btf::parse(&little(&[words])).err().unwrap();
        assert!(matches!(err, LayoutError::BtfMalformed { .. }), "{err}");
    }

    #[test]
    fn out_of_range_references_are_errors_not_panics() {
        let dangling_type = composite(kind::STRUCT, S, false, 8, &[[A, 99, 0]]);
        let btf = Btf::parse(&little(&[dangling_type])).unwrap();
        assert!(btf.member("s", "a").is_err());

        let dangling_name = composite(kind::STRUCT, 500, false, 8, &[]);
        assert!(Btf::parse(&little(&[dangling_name])).is_err());
    }

    #[test]
    fn bad_magic_is_an_error() {
        let mut bytes = little(&[]);
        bytes[0] = 0;
        let err = Btf::parse(&bytes).err().unwrap();
        assert!(err.to_string().contains("magic"), "{err}");
    }
}
