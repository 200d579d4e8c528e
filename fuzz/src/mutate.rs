//! Mutations of seed inputs.

use edgenas_compiler::rng::SeededRng;

/// Bytes that break parsers: zero, all ones, sign bits, ASCII delimiters.
const INTERESTING_BYTES: [u8; 10] = [0x00, 0xff, 0x7f, 0x80, 0x01, b'"', b'\n', b'[', b'{', b'='];
/// Numbers that break size arithmetic, spelled as text.
const INTERESTING_NUMBERS: [&str; 12] = [
    "0",
    "-1",
    "1",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "1e309",
    "NaN",
    "65536",
    "2147483648",
];
/// Varint-encoded integers for protobuf fields (2^32, 2^63, -1 as a 10-byte varint).
const INTERESTING_VARINTS: [&[u8]; 3] = [
    &[0x80, 0x80, 0x80, 0x80, 0x10],
    &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
];

/// Makes inputs from seeds: one seed, then one to eight mutations of it.
pub struct Mutator {
    rng: SeededRng,
    text: bool,
}

impl Mutator {
    /// `text`: the target reads text (JSON, TOML), so numbers are also swapped for
    /// extreme ones.
    pub fn new(rng: SeededRng, text: bool) -> Self {
        Mutator { rng, text }
    }

    pub fn mutate(&mut self, seeds: &[Vec<u8>]) -> Vec<u8> {
        let mut input = self.rng.choose(seeds).clone();
        let rounds = 1 + self.rng.below(8);
        for _ in 0..rounds {
            self.once(&mut input, seeds);
        }
        input
    }

    fn once(&mut self, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
        let kinds = if self.text { 9 } else { 8 };
        let at = |rng: &mut SeededRng, len: usize| if len == 0 { 0 } else { rng.below(len) };
        match self.rng.below(kinds) {
            0 if !input.is_empty() => {
                let i = at(&mut self.rng, input.len());
                input[i] ^= 1 << self.rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = at(&mut self.rng, input.len());
                input[i] = *self.rng.choose(&INTERESTING_BYTES);
            }
            2 => {
                let i = at(&mut self.rng, input.len() + 1).min(input.len());
                let n = 1 + self.rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| (self.rng.next_u64() & 0xff) as u8).collect();
                input.splice(i..i, bytes);
            }
            3 if !input.is_empty() => {
                let i = at(&mut self.rng, input.len());
                let n = (1 + self.rng.below(64)).min(input.len() - i);
                input.drain(i..i + n);
            }
            4 if !input.is_empty() => {
                let i = at(&mut self.rng, input.len());
                let n = (1 + self.rng.below(64)).min(input.len() - i);
                let copy: Vec<u8> = input[i..i + n].to_vec();
                let j = at(&mut self.rng, input.len() + 1).min(input.len());
                input.splice(j..j, copy);
            }
            5 => {
                let other = self.rng.choose(seeds);
                if !other.is_empty() {
                    let i = at(&mut self.rng, other.len());
                    let n = (1 + self.rng.below(256)).min(other.len() - i);
                    let j = at(&mut self.rng, input.len() + 1).min(input.len());
                    input.splice(j..j, other[i..i + n].iter().copied());
                }
            }
            6 if !input.is_empty() => {
                let keep = at(&mut self.rng, input.len());
                input.truncate(keep);
            }
            7 => {
                let i = at(&mut self.rng, input.len() + 1).min(input.len());
                input.splice(i..i, self.rng.choose(&INTERESTING_VARINTS).iter().copied());
            }
            8 => self.replace_number(input),
            _ => {}
        }
    }

    /// Replaces one run of ASCII digits (with its sign) by an interesting number.
    fn replace_number(&mut self, input: &mut Vec<u8>) {
        let starts: Vec<usize> = (0..input.len())
            .filter(|&i| input[i].is_ascii_digit() && (i == 0 || !input[i - 1].is_ascii_digit()))
            .collect();
        if starts.is_empty() {
            return;
        }
        let start = *self.rng.choose(&starts);
        let end =
            (start..input.len()).find(|&i| !(input[i].is_ascii_digit() || input[i] == b'.')).unwrap_or(input.len());
        let number = self.rng.choose(&INTERESTING_NUMBERS).as_bytes().to_vec();
        input.splice(start..end, number);
    }
}
