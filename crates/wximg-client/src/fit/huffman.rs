//! Huffman tables for a JPEG encoded in one pass, from statistics gathered in parts.
//!
//! Invariant: the [`Tables`] of [`Counts::tables`] have a code for *every* symbol a
//! baseline 8-bit JPEG can need (DC categories 0–11; AC end-of-block, run-of-16 and every
//! run 0–15 × size 1–10), so an encode with them never meets a symbol without a code, and
//! no code is longer than 16 bits or all ones (JPEG's two rules).
//!
//! Why: libjpeg's optimised tables need two passes over the whole picture's quantised
//! coefficients, which it keeps in memory: 2 bytes per sample, 72 MB for 24 MP at 4:2:0
//! and twice that at 4:4:4, per encode. The same counts can be had from encodes of the
//! picture's parts, one strip of rows at a time (each holding only its strip's
//! coefficients), by reading each part's scan back with its own tables and counting the
//! symbols. Tables built from the counts are the whole picture's optimised tables (plus
//! codes for the symbols it never uses), and let it be encoded in one pass, block row by
//! block row.
//!
//! (Written here rather than taken from a crate: the code-length construction is
//! libjpeg's own `jpeg_gen_optimal_table`, ported so the tables are the ones libjpeg would
//! make from the same counts, and the scan reader counts symbols, which no JPEG decoder
//! crate reports; no maintained crate builds length-limited JPEG tables either.)

/// One Huffman table as a JPEG stores it: how many codes have each length (1–16), and the
/// symbols in order of code length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// `bits[l]` codes of `l` bits (`bits[0]` unused), as libjpeg's `JHUFF_TBL`.
    pub bits: [u8; 17],
    /// The symbols, shortest code first.
    pub values: Vec<u8>,
}

/// The tables of one encode: DC and AC, for luma (slot 0) and chroma (slot 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub dc: [Table; 2],
    pub ac: [Table; 2],
}

/// DC symbols: the magnitude category of a difference, 0–11 for 8-bit samples.
fn dc_symbols() -> impl Iterator<Item = u8> {
    0..=11
}

/// AC symbols: end-of-block (0x00), sixteen zeros (0xF0), and run 0–15 × size 1–10.
fn ac_symbols() -> impl Iterator<Item = u8> {
    [0x00, 0xF0]
        .into_iter()
        .chain((0..16u8).flat_map(|run| (1..=10u8).map(move |size| run << 4 | size)))
}

/// How often each symbol occurs in a picture, counted in encodes of its parts.
#[derive(Debug, Clone)]
pub struct Counts {
    dc: [[u64; 256]; 2],
    ac: [[u64; 256]; 2],
}

impl Default for Counts {
    fn default() -> Counts {
        Counts {
            dc: [[0; 256]; 2],
            ac: [[0; 256]; 2],
        }
    }
}

impl Counts {
    /// Counts the symbols of `jpeg`, a baseline encode (ours: one scan, no restart
    /// markers) of part of the picture, by reading its scan with its own tables. These
    /// are the counts libjpeg's optimising pass makes, so tables from the counts of all
    /// the parts are the ones an optimised encode of the whole would have. `None` if
    /// `jpeg` is not such an encode.
    pub fn add(&mut self, jpeg: &[u8]) -> Option<()> {
        let parsed = parse(jpeg)?;
        count_scan(&parsed, self)
    }

    /// Adds another's counts to these.
    pub fn merge(&mut self, other: &Counts) {
        for (mine, theirs) in [(&mut self.dc, &other.dc), (&mut self.ac, &other.ac)] {
            for (m, t) in mine.iter_mut().flatten().zip(theirs.iter().flatten()) {
                *m += t;
            }
        }
    }

    /// Tables for these counts with a code for every symbol (see the module
    /// documentation): symbols never seen count once, so they get the longest codes.
    pub fn tables(&self) -> Tables {
        let complete = |counts: &[u64; 256], symbols: &mut dyn Iterator<Item = u8>| {
            let mut freq = *counts;
            for s in symbols {
                let f = &mut freq[usize::from(s)];
                *f = (*f).max(1);
            }
            optimal_table(&freq)
        };
        Tables {
            dc: [
                complete(&self.dc[0], &mut dc_symbols()),
                complete(&self.dc[1], &mut dc_symbols()),
            ],
            ac: [
                complete(&self.ac[0], &mut ac_symbols()),
                complete(&self.ac[1], &mut ac_symbols()),
            ],
        }
    }
}

/// One component of a frame: sampling factors and the tables its scan uses.
struct Component {
    h: usize,
    v: usize,
    dc: usize,
    ac: usize,
}

/// What [`count_scan`] needs of a baseline JPEG.
struct Parsed<'a> {
    width: usize,
    height: usize,
    components: Vec<Component>,
    dc: [Option<Decoder>; 2],
    ac: [Option<Decoder>; 2],
    /// The entropy-coded data of the first scan (to the end of the file).
    scan: &'a [u8],
}

/// Reads the frame header, the Huffman tables and the first scan's header; `None` for
/// anything but a baseline frame whose one scan has all its components.
fn parse(b: &[u8]) -> Option<Parsed<'_>> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let (mut width, mut height) = (0, 0);
    let mut components = Vec::new();
    let (mut dc, mut ac) = ([None, None], [None, None]);
    let mut ours = true;
    let sos = super::meta::walk_jpeg_header(b, |marker, seg| {
        let read = match marker {
            0xC0 => read_frame(seg, &mut components).map(|size| (height, width) = size),
            // Other frame types, and restart intervals: not ours.
            0xC1..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF | 0xDD => None,
            0xC4 => read_tables(seg, &mut dc, &mut ac),
            _ => Some(()),
        };
        ours &= read.is_some();
    })?;
    // The first scan's header (our own encoder writes no fill bytes before it).
    if !ours || b.get(sos + 1) != Some(&0xDA) {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*b.get(sos + 2)?, *b.get(sos + 3)?]));
    let seg = b.get(sos + 4..sos + 2 + len)?;
    let n = usize::from(*seg.first()?);
    if n != components.len() || n == 0 {
        return None;
    }
    for (k, c) in components.iter_mut().enumerate() {
        let tables = *seg.get(1 + 2 * k + 1)?;
        (c.dc, c.ac) = (usize::from(tables >> 4), usize::from(tables & 15));
        if c.dc > 1 || c.ac > 1 || c.h == 0 || c.v == 0 {
            return None;
        }
    }
    Some(Parsed {
        width,
        height,
        components,
        dc,
        ac,
        scan: b.get(sos + 2 + len..)?,
    })
}

/// A baseline frame header: precision, height, width, then (id, HV, Tq) per component.
/// Returns (height, width).
fn read_frame(seg: &[u8], components: &mut Vec<Component>) -> Option<(usize, usize)> {
    let height = usize::from(u16::from_be_bytes([*seg.get(1)?, *seg.get(2)?]));
    let width = usize::from(u16::from_be_bytes([*seg.get(3)?, *seg.get(4)?]));
    for k in 0..usize::from(*seg.get(5)?) {
        let hv = *seg.get(6 + 3 * k + 1)?;
        components.push(Component {
            h: usize::from(hv >> 4),
            v: usize::from(hv & 15),
            dc: 0,
            ac: 0,
        });
    }
    Some((height, width))
}

/// A DHT segment: one or more tables, each into its class's slot.
fn read_tables(
    seg: &[u8],
    dc: &mut [Option<Decoder>; 2],
    ac: &mut [Option<Decoder>; 2],
) -> Option<()> {
    let mut s = seg;
    while let [class_slot, rest @ ..] = s {
        let counts = rest.get(..16)?;
        let n: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let mut bits = [0u8; 17];
        bits[1..].copy_from_slice(counts);
        let table = Table {
            bits,
            values: rest.get(16..16 + n)?.to_vec(),
        };
        let slot = usize::from(class_slot & 15);
        match class_slot >> 4 {
            0 => *dc.get_mut(slot)? = Some(Decoder::new(&table)),
            1 => *ac.get_mut(slot)? = Some(Decoder::new(&table)),
            _ => return None,
        }
        s = &rest[16 + n..];
    }
    Some(())
}

/// A canonical Huffman decoder (the JPEG standard's F.2.2.3): the codes of each length
/// are consecutive, from `first[len]`.
struct Decoder {
    first: [u32; 17],
    count: [u32; 17],
    /// Index in `values` of the first code of each length.
    offset: [usize; 17],
    values: Vec<u8>,
}

impl Decoder {
    fn new(t: &Table) -> Decoder {
        let (mut first, mut count, mut offset) = ([0u32; 17], [0u32; 17], [0usize; 17]);
        let (mut code, mut index) = (0u32, 0usize);
        for len in 1..=16 {
            count[len] = u32::from(t.bits[len]);
            first[len] = code;
            offset[len] = index;
            code = (code + count[len]) << 1;
            index += usize::from(t.bits[len]);
        }
        Decoder {
            first,
            count,
            offset,
            values: t.values.clone(),
        }
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Option<u8> {
        let mut code = 0u32;
        for len in 1..=16 {
            code = code << 1 | bits.take(1)?;
            if code.wrapping_sub(self.first[len]) < self.count[len] {
                let k = self.offset[len] + (code - self.first[len]) as usize;
                return self.values.get(k).copied();
            }
        }
        None
    }
}

/// The entropy-coded bits of a scan, most significant first, without the zero byte
/// stuffed after each 0xFF; `None` past the data (at a marker or the end).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    have: u32,
}

impl Bits<'_> {
    fn take(&mut self, n: u32) -> Option<u32> {
        while self.have < n {
            let byte = *self.data.get(self.pos)?;
            if byte == 0xFF {
                if self.data.get(self.pos + 1) != Some(&0) {
                    return None;
                }
                self.pos += 1;
            }
            self.pos += 1;
            self.acc = self.acc << 8 | u64::from(byte);
            self.have += 8;
        }
        self.have -= n;
        Some(((self.acc >> self.have) & ((1 << n) - 1)) as u32)
    }
}

/// Reads every block of the scan, counting its symbols into `counts`.
fn count_scan(p: &Parsed<'_>, counts: &mut Counts) -> Option<()> {
    let hmax = p.components.iter().map(|c| c.h).max()?;
    let vmax = p.components.iter().map(|c| c.v).max()?;
    // One component: its blocks in raster order, one per MCU. Several: MCUs of h×v
    // blocks of each, interleaved.
    let (mcus, blocks): (usize, Vec<(usize, usize)>) = if p.components.len() == 1 {
        (p.width.div_ceil(8) * p.height.div_ceil(8), vec![(0, 1)])
    } else {
        let mcus = p.width.div_ceil(8 * hmax) * p.height.div_ceil(8 * vmax);
        let blocks = p.components.iter().map(|c| c.h * c.v).enumerate().collect();
        (mcus, blocks)
    };
    let mut bits = Bits {
        data: p.scan,
        pos: 0,
        acc: 0,
        have: 0,
    };
    for _ in 0..mcus {
        for &(k, n) in &blocks {
            let c = &p.components[k];
            let dc = p.dc[c.dc].as_ref()?;
            let ac = p.ac[c.ac].as_ref()?;
            for _ in 0..n {
                let s = dc.decode(&mut bits)?;
                counts.dc[c.dc][usize::from(s)] += 1;
                bits.take(u32::from(s))?;
                let mut i = 1;
                while i < 64 {
                    let rs = ac.decode(&mut bits)?;
                    counts.ac[c.ac][usize::from(rs)] += 1;
                    let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
                    if size == 0 {
                        if run != 15 {
                            break; // end of block
                        }
                        i += 16;
                    } else {
                        bits.take(size)?;
                        i += run + 1;
                    }
                }
            }
        }
    }
    Some(())
}

/// libjpeg's `jpeg_gen_optimal_table` (jchuff.c, section K.2 of the JPEG standard): a
/// Huffman code for the symbols of nonzero frequency, limited to 16 bits, with no code of
/// all ones (a reserved pseudo-symbol 256 takes that place and is removed at the end).
fn optimal_table(freq: &[u64; 256]) -> Table {
    // 257 symbols: no code is longer than 256 bits before the limit below.
    const MAX_LEN: usize = 257;
    let mut freq: Vec<u64> = freq.iter().copied().chain([1]).collect();
    let mut codesize = [0usize; 257];
    let mut others = [usize::MAX; 257];
    loop {
        // The two least frequent, ties to the larger symbol (as libjpeg).
        let (mut c1, mut c2) = (None, None);
        let mut v = u64::MAX;
        for (i, &f) in freq.iter().enumerate() {
            if f != 0 && f <= v {
                v = f;
                c1 = Some(i);
            }
        }
        let mut v = u64::MAX;
        for (i, &f) in freq.iter().enumerate() {
            if f != 0 && f <= v && Some(i) != c1 {
                v = f;
                c2 = Some(i);
            }
        }
        let (Some(mut c1), Some(mut c2)) = (c1, c2) else {
            break;
        };
        freq[c1] += freq[c2];
        freq[c2] = 0;
        codesize[c1] += 1;
        while others[c1] != usize::MAX {
            c1 = others[c1];
            codesize[c1] += 1;
        }
        others[c1] = c2;
        codesize[c2] += 1;
        while others[c2] != usize::MAX {
            c2 = others[c2];
            codesize[c2] += 1;
        }
    }
    let mut bits = [0usize; MAX_LEN + 1];
    for &size in codesize.iter().filter(|&&s| s > 0) {
        bits[size] += 1;
    }
    // Shorten codes over 16 bits: move pairs up, as the standard's Figure K.3.
    for i in (17..=MAX_LEN).rev() {
        while bits[i] > 0 {
            let mut j = i - 2;
            while bits[j] == 0 {
                j -= 1;
            }
            bits[i] -= 2;
            bits[i - 1] += 1;
            bits[j + 1] += 2;
            bits[j] -= 1;
        }
    }
    // Remove the pseudo-symbol's code (the longest).
    let mut i = 16;
    while bits[i] == 0 {
        i -= 1;
    }
    bits[i] -= 1;
    let mut values = Vec::new();
    for len in 1..=MAX_LEN {
        for (symbol, &size) in codesize[..256].iter().enumerate() {
            if size == len {
                values.push(symbol as u8);
            }
        }
    }
    let mut out = [0u8; 17];
    for (o, &b) in out.iter_mut().zip(bits.iter()).skip(1) {
        *o = b as u8;
    }
    Table { bits: out, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (code length, symbol) for every symbol of `t`.
    fn code_lengths(t: &Table) -> impl Iterator<Item = (u8, u8)> + '_ {
        (1..=16u8)
            .flat_map(|len| std::iter::repeat_n(len, usize::from(t.bits[usize::from(len)])))
            .zip(t.values.iter().copied())
    }

    /// Kraft sum of a table's codes, in units of 2^-16 (a full code is 65536).
    fn kraft(t: &Table) -> u32 {
        (1..=16).map(|l| u32::from(t.bits[l]) << (16 - l)).sum()
    }

    #[test]
    fn a_table_has_every_symbol_once_within_16_bits_and_no_all_ones_code() {
        // Skewed counts, the kind that needs the length limit: Fibonacci frequencies.
        let mut freq = [0u64; 256];
        let (mut a, mut b) = (1u64, 1u64);
        for f in freq.iter_mut().take(40) {
            *f = a;
            (a, b) = (b, a + b);
        }
        let t = optimal_table(&freq);
        let mut values = t.values.clone();
        values.sort_unstable();
        assert_eq!(values, (0..40).collect::<Vec<u8>>());
        assert_eq!(
            usize::from(t.bits.iter().map(|&b| u16::from(b)).sum::<u16>()),
            40
        );
        // Strictly less than a full code: the all-ones code is left unused.
        assert!(kraft(&t) < 65536, "{}", kraft(&t));
        // The most frequent symbol has the shortest code, the rarest the longest: 16 bits,
        // where the unlimited code would have needed 39.
        let len_of = |symbol: u8| code_lengths(&t).find(|&(_, s)| s == symbol).map(|(l, _)| l);
        let shortest = (1..=16).find(|&l| t.bits[usize::from(l)] > 0);
        assert_eq!(len_of(39), shortest);
        assert_eq!(len_of(0), Some(16));
    }

    /// Counting an optimised encode's symbols and building tables from the counts gives
    /// back that encode's own tables (the counts are libjpeg's, and so is the
    /// construction); completed, the tables have every symbol.
    #[test]
    fn counts_of_an_optimised_encode_rebuild_its_tables() {
        let img = image::RgbImage::from_fn(300, 200, |x, y| {
            let n = ((x * 7919) ^ (y * 104_729)) as u8 >> 5;
            image::Rgb([(x / 3) as u8 ^ n, (y / 2) as u8, 128 + n])
        });
        for grey in [false, true] {
            for chroma in [
                super::super::jpeg::Chroma::Half,
                super::super::jpeg::Chroma::Full,
            ] {
                let px = super::super::jpeg::Pixels::new(&img, grey);
                let jpeg = px.encode(80, chroma).expect("encode");
                let parsed = parse(&jpeg).expect("ours");
                let mut counts = Counts::default();
                counts.add(&jpeg).expect("counted");
                let own = |d: &Option<Decoder>| d.as_ref().map(|d| d.values.clone());
                for slot in 0..if grey { 1 } else { 2 } {
                    let dc = optimal_table(&counts.dc[slot]);
                    let ac = optimal_table(&counts.ac[slot]);
                    assert_eq!(
                        Some(dc.values),
                        own(&parsed.dc[slot]),
                        "grey {grey} {chroma:?}"
                    );
                    assert_eq!(
                        Some(ac.values),
                        own(&parsed.ac[slot]),
                        "grey {grey} {chroma:?}"
                    );
                }
                let tables = counts.tables();
                let mut symbols = tables.ac[0].values.clone();
                symbols.sort_unstable();
                let mut want: Vec<u8> = ac_symbols().collect();
                want.sort_unstable();
                assert_eq!(symbols, want);
                let mut dc: Vec<u8> = tables.dc[0].values.clone();
                dc.sort_unstable();
                assert_eq!(dc, (0..=11).collect::<Vec<u8>>());
                // The same symbols when written with the standard's tables (what
                // `gather` counts, skipping mozjpeg's statistics pass).
                let standard = px.encode_standard(80, chroma).expect("encode");
                let std_parsed = parse(&standard).expect("ours");
                assert_ne!(own(&std_parsed.ac[0]), own(&parsed.ac[0]));
                let mut again = Counts::default();
                again.add(&standard).expect("counted");
                assert!(again.dc == counts.dc && again.ac == counts.ac);
                // A cut scan is not counted.
                assert!(Counts::default().add(&jpeg[..jpeg.len() / 2]).is_none());
            }
        }
        assert!(Counts::default().add(b"not a jpeg").is_none());
    }
}
