//! Character facts the tokenizers share: codepoint classes for the pre-tokenizers, GPT-2's
//! byte-to-character map, and UTF-8 decoding with llama.cpp's error rule.
//!
//! May use: the sibling `categories` (generated data). Invariant: `class` agrees with
//! llama.cpp's `unicode_cpt_flags` on letter, number, punctuation and whitespace for every
//! codepoint (both come from UCD 15.1; tools/gen_unicode_categories.py checks the table).

use super::categories::RANGES;

/// A general-category class: letter (L*), number (N*) or punctuation (P*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cat {
    L,
    N,
    P,
}

/// What a pre-tokenizer needs to know about one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Class {
    pub cat: Option<Cat>,
    /// Unicode White_Space (25 codepoints; the same set as llama.cpp's `unicode_set_whitespace`).
    pub space: bool,
}

impl Class {
    pub fn letter(self) -> bool {
        self.cat == Some(Cat::L)
    }
    pub fn number(self) -> bool {
        self.cat == Some(Cat::N)
    }
    pub fn punct(self) -> bool {
        self.cat == Some(Cat::P)
    }
}

/// The class of `c`.
pub(super) fn class(c: char) -> Class {
    let cp = c as u32;
    let i = RANGES.partition_point(|&(_, end, _)| end < cp);
    let cat = RANGES.get(i).filter(|&&(start, _, _)| start <= cp).map(|&(_, _, cat)| cat);
    Class { cat, space: c.is_whitespace() }
}

/// GPT-2's reversible map from bytes to printable characters: the printable Latin-1 bytes
/// (`!`..=`~`, `¡`..=`¬`, `®`..=`ÿ`) stand for themselves; the other 68 bytes, in increasing
/// order, take U+0100, U+0101 … (so a space becomes `Ġ`, U+0120, and `\n` becomes `Ċ`).
pub(super) const fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 0x100u32;
    let mut b = 0usize;
    while b < 256 {
        let printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        let cp = if printable {
            b as u32
        } else {
            next += 1;
            next - 1
        };
        table[b] = match char::from_u32(cp) {
            Some(c) => c,
            None => panic!("invariant: the GPT-2 map stays below U+0144"),
        };
        b += 1;
    }
    table
}

/// [`byte_to_char_table`], computed at compile time.
pub(super) static BYTE_TO_CHAR: [char; 256] = byte_to_char_table();

/// Characters U+0000..U+0144 back to the byte they stand for (-1: none).
static CHAR_TO_BYTE: [i16; 0x144] = {
    let map = byte_to_char_table();
    let mut table = [-1i16; 0x144];
    let mut b = 0usize;
    while b < 256 {
        table[map[b] as usize] = b as i16;
        b += 1;
    }
    table
};

/// The byte a GPT-2 character stands for, if it is one of the 256.
pub(super) fn char_to_byte(c: char) -> Option<u8> {
    CHAR_TO_BYTE.get(c as usize).and_then(|&b| u8::try_from(b).ok())
}

/// Length of the UTF-8 sequence a lead byte announces, from its high nibble (a stray
/// continuation byte counts as 1). llama.cpp's SPM and BPE sessions cut symbols this way.
pub(super) fn utf8_len(lead: u8) -> usize {
    match lead >> 4 {
        0xC | 0xD => 2,
        0xE => 3,
        0xF => 4,
        _ => 1,
    }
}

/// Decodes bytes to characters; a byte that does not start a valid sequence becomes U+FFFD
/// and decoding resumes at the next byte (llama.cpp's `unicode_cpts_from_utf8`). On valid
/// UTF-8 this is plain decoding; overlong forms and surrogates, which llama.cpp decodes
/// leniently, become U+FFFD here (text reaches this only from a `&str`, cut at the edges of
/// special tokens, so only a special token that is itself broken UTF-8 could produce them).
pub(super) fn decode_lax(bytes: &[u8], out: &mut Vec<char>) {
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.extend(s.chars());
                return;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // `good` is valid by construction of `valid_up_to`.
                out.extend(std::str::from_utf8(good).unwrap_or_default().chars());
                out.push(char::REPLACEMENT_CHARACTER);
                rest = &bad[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_of_sample_characters() {
        assert!(class('a').letter() && class('Ж').letter() && class('中').letter());
        assert!(class('7').number() && class('٣').number() && class('Ⅻ').number());
        assert!(class('²').number(), "superscript two is No");
        assert!(class('!').punct() && class('¿').punct() && class('。').punct());
        assert_eq!(class('$').cat, None, "$ is a symbol, not punctuation");
        assert_eq!(class('😀').cat, None);
        assert!(class('\u{3000}').space && class('\u{85}').space && !class('\u{200B}').space);
        // U+1C89 was added in Unicode 16: unassigned in the 15.1 table llama.cpp uses.
        assert_eq!(class('\u{1C89}').cat, None);
    }

    #[test]
    fn gpt2_byte_map_is_a_bijection() {
        assert_eq!(BYTE_TO_CHAR[b' ' as usize], 'Ġ');
        assert_eq!(BYTE_TO_CHAR[b'\n' as usize], 'Ċ');
        assert_eq!(BYTE_TO_CHAR[b'a' as usize], 'a');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(BYTE_TO_CHAR[b as usize]), Some(b));
        }
        assert_eq!(char_to_byte('\u{144}'), None);
        assert_eq!(char_to_byte(' '), None);
    }

    #[test]
    fn lax_decoding_replaces_each_bad_byte() {
        let mut v = Vec::new();
        decode_lax(b"a\xE4\xB8b\x80", &mut v);
        assert_eq!(v, ['a', '\u{FFFD}', '\u{FFFD}', 'b', '\u{FFFD}']);
    }
}
