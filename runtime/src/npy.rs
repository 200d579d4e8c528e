//! Reading and writing single `f32` arrays in NumPy's `.npy` format.
//!
//! Only what a model's input and output need is supported: little-endian `<f4` data in C order.
//! The reader accepts format versions 1.0, 2.0 and 3.0; the writer emits 1.0 (2.0 only for a
//! header too long for 1.0) with the header padded so the data starts on a 64-byte boundary.

use std::fs;
use std::path::Path;

use crate::RuntimeError;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
const ALIGN: usize = 64;

/// A dense row-major `f32` tensor.
///
/// The fields are public for convenience; [`TensorF32::new`] is the checked way to build one,
/// and every function of this crate taking a tensor checks that `data` matches `shape` again.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorF32 {
    /// Dimensions, outermost first. Empty for a scalar.
    pub shape: Vec<usize>,
    /// The values in C (row-major) order.
    pub data: Vec<f32>,
}

impl TensorF32 {
    /// Builds a tensor, failing with [`RuntimeError::TensorData`] unless `data` holds exactly
    /// the product of `shape` values (1 for the scalar shape `[]`).
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, RuntimeError> {
        if element_count(&shape) != Some(data.len()) {
            return Err(RuntimeError::TensorData { got: data.len(), shape });
        }
        Ok(TensorF32 { shape, data })
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor holds no value (some dimension is 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn check(&self) -> Result<(), RuntimeError> {
        if element_count(&self.shape) != Some(self.data.len()) {
            return Err(RuntimeError::TensorData { shape: self.shape.clone(), got: self.data.len() });
        }
        Ok(())
    }
}

/// Product of the dimensions, `None` on overflow.
pub(crate) fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// Reads an `.npy` file holding a little-endian `f32` array in C order.
///
/// Fails with [`RuntimeError::Io`] when the file cannot be read and [`RuntimeError::Npy`] when
/// its contents are not such an array (see [`parse_npy_f32`]).
pub fn read_npy_f32(path: &Path) -> Result<TensorF32, RuntimeError> {
    let bytes = fs::read(path).map_err(|source| RuntimeError::Io { path: path.to_path_buf(), source })?;
    parse_npy_f32(&bytes).map_err(|reason| RuntimeError::Npy { path: path.to_path_buf(), reason })
}

/// Writes `t` to `path` as an `.npy` file (see [`encode_npy_f32`]).
///
/// The file is written to a temporary file next to `path` and renamed over it, so `path` holds
/// either its previous contents or the complete new array, never a partial file.
pub fn write_npy_f32(path: &Path, t: &TensorF32) -> Result<(), RuntimeError> {
    t.check()?;
    crate::fs::write_atomic(path, &encode_npy_f32(t))
}

/// Parses the bytes of an `.npy` file.
///
/// Accepts format versions 1.0, 2.0 and 3.0 whose header has `'descr': '<f4'`,
/// `'fortran_order': False` and a shape tuple (`()` for a scalar), followed by exactly the
/// number of data bytes that shape needs. The error says what was found instead: the dtype,
/// the byte counts expected and present, and so on.
pub fn parse_npy_f32(bytes: &[u8]) -> Result<TensorF32, String> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err("bad magic: the file does not start with \\x93NUMPY".to_string());
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(&[major, minor]) => (major, minor),
        _ => return Err("file ends inside the preamble".to_string()),
    };
    let (len_size, utf8) = match major {
        1 => (2, false),
        2 => (4, false),
        3 => (4, true),
        _ => return Err(format!("unsupported format version {major}.{minor}")),
    };
    let len_bytes = bytes.get(8..8 + len_size).ok_or_else(|| "file ends inside the preamble".to_string())?;
    let header_len = len_bytes.iter().rev().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    let header_start = 8 + len_size;
    let data_start = header_start.checked_add(header_len).filter(|&end| end <= bytes.len()).ok_or_else(|| {
        format!(
            "header is {header_len} bytes long but the file has only {} bytes after the preamble",
            bytes.len() - header_start
        )
    })?;
    let header_bytes = &bytes[header_start..data_start];
    if !utf8 && !header_bytes.is_ascii() {
        return Err("header is not ASCII".to_string());
    }
    let header = std::str::from_utf8(header_bytes).map_err(|_| "header is not UTF-8".to_string())?;
    let header = Header::parse(header)?;
    if header.descr != "<f4" {
        return Err(format!("unsupported dtype '{}': only little-endian float32 ('<f4') is supported", header.descr));
    }
    if header.fortran_order {
        return Err("Fortran-ordered arrays are not supported: save the array in C order".to_string());
    }
    let count = element_count(&header.shape)
        .filter(|c| c.checked_mul(4).is_some())
        .ok_or_else(|| format!("shape {:?} is too large", header.shape))?;
    let data = &bytes[data_start..];
    if data.len() != count * 4 {
        return Err(format!("shape {:?} needs {} bytes of data, found {}", header.shape, count * 4, data.len()));
    }
    let data = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(TensorF32 { shape: header.shape, data })
}

/// Encodes `t` as the bytes of an `.npy` file: format 1.0 (2.0 if the header does not fit
/// 1.0's 16-bit length), `'<f4'`, C order, header padded with spaces and ended by `'\n'` so
/// that the data starts at a multiple of 64 bytes.
///
/// `t` is trusted to be consistent: if `data` does not match `shape`, the file says `shape`
/// and holds `data` anyway. [`write_npy_f32`] checks it first.
pub fn encode_npy_f32(t: &TensorF32) -> Vec<u8> {
    let shape = match t.shape.as_slice() {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        dims => {
            let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    };
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    let padded_len = |preamble: usize| (preamble + dict.len() + 1).div_ceil(ALIGN) * ALIGN - preamble;
    let (version, header_len) = match padded_len(10) {
        len if len <= usize::from(u16::MAX) => (1u8, len),
        _ => (2u8, padded_len(12)),
    };
    let mut out = Vec::with_capacity(12 + header_len + 4 * t.data.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + header_len - dict.len() - 1, b' ');
    out.push(b'\n');
    for v in &t.data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The three keys of an `.npy` header dictionary.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

enum Literal {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

impl Header {
    /// Parses the Python dict literal of an `.npy` header, e.g.
    /// `{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }`.
    fn parse(text: &str) -> Result<Header, String> {
        let mut p = Parser { s: text.as_bytes(), pos: 0 };
        let (mut descr, mut fortran_order, mut shape) = (None, None, None);
        p.expect(b'{')?;
        loop {
            p.skip_ws();
            if p.eat(b'}') {
                break;
            }
            let key = match p.literal()? {
                Literal::Str(key) => key,
                _ => return Err(p.fail("expected a quoted key")),
            };
            p.skip_ws();
            p.expect(b':')?;
            p.skip_ws();
            match (key.as_str(), p.literal()?) {
                ("descr", Literal::Str(s)) => descr = Some(s),
                ("fortran_order", Literal::Bool(b)) => fortran_order = Some(b),
                ("shape", Literal::Tuple(t)) => shape = Some(t),
                ("descr" | "fortran_order" | "shape", _) => {
                    return Err(format!("header key '{key}' has a value of the wrong kind"))
                }
                _ => {}
            }
            p.skip_ws();
            if !p.eat(b',') {
                p.skip_ws();
                p.expect(b'}')?;
                break;
            }
        }
        let missing = |k: &str| format!("header has no '{k}' key");
        Ok(Header {
            descr: descr.ok_or_else(|| missing("descr"))?,
            fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
            shape: shape.ok_or_else(|| missing("shape"))?,
        })
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.fail(&format!("expected '{}'", c as char)))
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn fail(&self, what: &str) -> String {
        format!("malformed header at byte {}: {what}", self.pos)
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                self.pos += 1;
                let start = self.pos;
                while self.peek().is_some_and(|c| c != q) {
                    self.pos += 1;
                }
                let s = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                self.expect(q)?;
                Ok(Literal::Str(s))
            }
            Some(b'(') => {
                self.pos += 1;
                let mut dims = vec![];
                loop {
                    self.skip_ws();
                    if self.eat(b')') {
                        break;
                    }
                    dims.push(self.dim()?);
                    self.skip_ws();
                    if !self.eat(b',') {
                        self.skip_ws();
                        self.expect(b')')?;
                        break;
                    }
                }
                Ok(Literal::Tuple(dims))
            }
            _ if self.s[self.pos..].starts_with(b"True") => {
                self.pos += 4;
                Ok(Literal::Bool(true))
            }
            _ if self.s[self.pos..].starts_with(b"False") => {
                self.pos += 5;
                Ok(Literal::Bool(false))
            }
            _ => Err(self.fail("expected a string, True, False or a tuple")),
        }
    }

    fn dim(&mut self) -> Result<usize, String> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or_default();
        let dim = digits.parse::<usize>().map_err(|_| self.fail("expected a non-negative integer dimension"))?;
        self.eat(b'L');
        Ok(dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: &[usize]) -> TensorF32 {
        let n = element_count(shape).unwrap();
        TensorF32::new(shape.to_vec(), (0..n).map(|i| i as f32 * 0.5 - 3.0).collect()).unwrap()
    }

    fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn round_trips_scalar_1d_4d_and_empty() {
        for shape in [&[][..], &[3], &[1, 3, 4, 5], &[2, 0, 3]] {
            let t = tensor(shape);
            let bytes = encode_npy_f32(&t);
            assert_eq!(parse_npy_f32(&bytes).unwrap(), t, "shape {shape:?}");
        }
    }

    #[test]
    fn header_is_padded_to_64_bytes_and_ends_with_newline() {
        for shape in [&[][..], &[3], &[1, 3, 224, 224]] {
            let bytes = encode_npy_f32(&tensor(shape));
            let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!(&bytes[6..8], &[1, 0]);
            assert_eq!((10 + header_len) % 64, 0);
            assert_eq!(bytes[10 + header_len - 1], b'\n');
        }
        let bytes = encode_npy_f32(&tensor(&[3]));
        assert!(bytes[10..].starts_with(b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"));
    }

    #[test]
    fn reads_numpy_style_headers() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = with_header("{\"shape\": (3L,), 'fortran_order' : False, 'descr': '<f4'}       \n", &data);
        let t = parse_npy_f32(&bytes).unwrap();
        assert_eq!(t.shape, vec![3]);
        assert_eq!(t.data, vec![1.0, 2.0, 3.0]);

        let mut v2 = MAGIC.to_vec();
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }\n";
        v2.extend_from_slice(&[2, 0]);
        v2.extend_from_slice(&(header.len() as u32).to_le_bytes());
        v2.extend_from_slice(header.as_bytes());
        v2.extend_from_slice(&7.5f32.to_le_bytes());
        assert_eq!(parse_npy_f32(&v2).unwrap(), TensorF32::new(vec![1, 1], vec![7.5]).unwrap());
    }

    #[test]
    fn rejects_bad_magic() {
        let err = parse_npy_f32(b"PK\x03\x04 not numpy at all").unwrap_err();
        assert!(err.contains("magic"), "{err}");
        assert!(parse_npy_f32(b"").unwrap_err().contains("magic"));
    }

    #[test]
    fn rejects_f64_and_names_it() {
        let bytes = with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n", &[0; 8]);
        let err = parse_npy_f32(&bytes).unwrap_err();
        assert!(err.contains("'<f8'"), "{err}");
    }

    #[test]
    fn rejects_truncated_data_with_byte_counts() {
        let mut bytes = encode_npy_f32(&tensor(&[2, 3]));
        bytes.truncate(bytes.len() - 5);
        let err = parse_npy_f32(&bytes).unwrap_err();
        assert!(err.contains("needs 24 bytes of data, found 19"), "{err}");
    }

    #[test]
    fn rejects_fortran_order() {
        let bytes = with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n", &[0; 4]);
        let err = parse_npy_f32(&bytes).unwrap_err();
        assert!(err.contains("Fortran"), "{err}");
    }

    #[test]
    fn rejects_malformed_headers_without_panicking() {
        for header in [
            "",
            "{",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
        ] {
            assert!(parse_npy_f32(&with_header(header, &[0; 4])).is_err(), "{header}");
        }
        let mut short = encode_npy_f32(&tensor(&[1]));
        short.truncate(9);
        assert!(parse_npy_f32(&short).is_err());
        short[8] = 0xff;
        assert!(parse_npy_f32(&short).is_err());
    }

    #[test]
    fn tensor_new_checks_the_element_count() {
        assert!(TensorF32::new(vec![2, 2], vec![0.0; 3]).is_err());
        assert!(TensorF32::new(vec![usize::MAX, 2], vec![]).is_err());
        let scalar = TensorF32::new(vec![], vec![1.0]).unwrap();
        assert_eq!(scalar.len(), 1);
    }

    #[test]
    fn file_round_trip_and_errors_name_the_path() {
        let dir = std::env::temp_dir().join(format!("edgenas-npy-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.npy");
        let t = tensor(&[1, 3, 2, 2]);
        write_npy_f32(&path, &t).unwrap();
        assert_eq!(read_npy_f32(&path).unwrap(), t);
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("t.npy")]);

        let bad = TensorF32 { shape: vec![5], data: vec![1.0] };
        assert!(matches!(write_npy_f32(&path, &bad), Err(RuntimeError::TensorData { .. })));
        assert_eq!(read_npy_f32(&path).unwrap(), t);

        let missing = dir.join("missing.npy");
        let err = read_npy_f32(&missing).unwrap_err();
        assert!(matches!(err, RuntimeError::Io { .. }));
        assert!(err.to_string().contains("missing.npy"), "{err}");

        fs::write(&missing, b"junk").unwrap();
        let err = read_npy_f32(&missing).unwrap_err();
        assert!(matches!(err, RuntimeError::Npy { .. }));

        let err = write_npy_f32(&dir.join("no/such/dir/t.npy"), &t).unwrap_err();
        assert!(matches!(err, RuntimeError::Io { .. }));
        fs::remove_dir_all(&dir).unwrap();
    }
}
