//! Case-insensitive multi-pattern matching without allocation, folding case as DM does
//! (Go's `strings.ToLower`) for ASCII patterns.
//!
//! Case-insensitive Aho-Corasick automata cannot use aho-corasick's SIMD prefilters, so
//! they walk the text byte by byte. Instead, the text is lower-cased a chunk at a time
//! into a buffer on the stack (a vectorised pass over data that stays in cache) and the
//! chunk is searched by a case-sensitive, leftmost-first automaton of the patterns'
//! lower-cased prefixes, which uses the SIMD (Teddy) prefilter; each place a prefix
//! starts is then checked against the patterns that begin with it. Consecutive chunks overlap by the longest pattern's
//! length minus one, so a match spanning a boundary is still found. Each byte of the
//! text is read from memory once, and nothing is allocated.

use std::fmt;

use aho_corasick::{AhoCorasick, Input, MatchKind, packed};

/// Bytes lower-cased and searched at a time.
const CHUNK: usize = 4096;
/// The length of the pattern prefixes searched for first.
const ANCHOR_LEN: usize = 7;
/// The longest pattern a [`Matcher`] accepts.
pub(crate) const MAX_PATTERN_LEN: usize = 256;

/// A set of patterns matched ASCII case-insensitively anywhere in a text.
pub(crate) struct Matcher {
    /// Leftmost-first over the patterns' distinct lower-cased anchors (at most
    /// [`ANCHOR_LEN`] bytes of each pattern, see [`anchor_offset`]): finds where the
    /// next occurrence of any pattern may be. Few, distinct, rare anchors keep the SIMD
    /// (Teddy) prefilter's false positives rare.
    anchors: Anchors,
    /// For each anchor: how far into its patterns it starts, its length, and its
    /// patterns with the byte each has right after the anchor (256: none), compared
    /// first so that only likely patterns are checked in full.
    anchored: Vec<Anchored>,
    /// The lower-cased patterns, by id.
    lowered: Vec<Vec<u8>>,
    overlap: usize,
}

impl Matcher {
    /// Compiles `patterns`; pattern ids are their indices.
    ///
    /// # Panics
    /// When a pattern is empty or longer than [`MAX_PATTERN_LEN`]: the patterns are
    /// constants of this crate, and the tests build every matcher.
    pub(crate) fn new(patterns: &[&str]) -> Self {
        assert!(
            patterns
                .iter()
                .all(|p| !p.is_empty() && p.len() <= MAX_PATTERN_LEN),
            "patterns must be 1..={MAX_PATTERN_LEN} bytes"
        );
        let lowered: Vec<String> = patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
        let mut anchored: Vec<(&[u8], usize, Vec<usize>)> = Vec::new();
        for (id, p) in lowered.iter().enumerate() {
            let bytes = p.as_bytes();
            let offset = anchor_offset(bytes);
            let anchor = &bytes[offset..(offset + ANCHOR_LEN).min(bytes.len())];
            match anchored
                .iter_mut()
                .find(|(a, o, _)| *a == anchor && *o == offset)
            {
                Some((_, _, ids)) => ids.push(id),
                None => anchored.push((anchor, offset, vec![id])),
            }
        }
        let anchors = Anchors::new(&anchored.iter().map(|(a, _, _)| *a).collect::<Vec<_>>());
        let anchored = anchored
            .into_iter()
            .map(|(anchor, offset, ids)| Anchored {
                offset,
                len: anchor.len(),
                patterns: ids
                    .into_iter()
                    .map(|id| {
                        let next = lowered[id]
                            .as_bytes()
                            .get(offset + anchor.len())
                            .map_or(256, |&b| u16::from(b));
                        (next, id)
                    })
                    .collect(),
            })
            .collect();
        let overlap = patterns.iter().map(|p| p.len()).max().unwrap_or(1) - 1;
        let lowered = lowered.into_iter().map(String::into_bytes).collect();
        Self {
            anchors,
            anchored,
            lowered,
            overlap,
        }
    }

    /// A scan that reports every match to `on_match(pattern_id)`, working in `buf`;
    /// feed it the text in pieces with [`Scan::feed`] (or `write!`), then call
    /// [`Scan::finish`].
    ///
    /// Any buffer longer than the longest pattern works; a larger one means fewer
    /// chunks. A text that fits in `buf` is lower-cased and searched in one go.
    pub(crate) fn scan<'a, F: FnMut(usize)>(
        &'a self,
        buf: &'a mut [u8],
        on_match: F,
    ) -> Scan<'a, F> {
        assert!(
            buf.len() > self.overlap,
            "scan buffer shorter than a pattern"
        );
        Scan {
            matcher: self,
            buf,
            len: 0,
            fresh: 0,
            on_match,
        }
    }
}

/// The size of a scan buffer that needs no more than one copy of the overlap per chunk
/// of [`CHUNK`] bytes.
pub(crate) const SCAN_BUF: usize = CHUNK + MAX_PATTERN_LEN;

/// A scan in progress; see [`Matcher::scan`].
pub(crate) struct Scan<'m, F> {
    matcher: &'m Matcher,
    /// Lower-cased text: the overlap kept from the previous chunk, then new bytes.
    buf: &'m mut [u8],
    len: usize,
    /// How many bytes at the end of `buf[..len]` have not been searched yet.
    fresh: usize,
    on_match: F,
}

impl<F: FnMut(usize)> Scan<'_, F> {
    /// Adds more text.
    pub(crate) fn feed(&mut self, mut text: &[u8]) {
        while !text.is_empty() {
            let room = self.buf.len() - self.len;
            let take = room.min(text.len());
            let dst = &mut self.buf[self.len..self.len + take];
            // One pass that copies and lower-cases; the compiler vectorises it.
            for (d, s) in dst.iter_mut().zip(&text[..take]) {
                *d = s.to_ascii_lowercase();
            }
            // Text that is not ASCII takes a second pass: two characters lower-case to
            // ASCII letters, as Go's strings.ToLower (which DM uses) folds them.
            let (written, consumed) = if dst.is_ascii() {
                (take, take)
            } else {
                fold_to_ascii(dst, text, take)
            };
            self.len += written;
            self.fresh += written;
            text = &text[consumed..];
            if self.len == self.buf.len() {
                self.search();
                // Keep the tail that a match starting before the next chunk may need.
                let keep = self.matcher.overlap.min(self.len);
                self.buf.copy_within(self.len - keep..self.len, 0);
                self.len = keep;
            }
        }
    }

    /// Searches what is left.
    pub(crate) fn finish(mut self) {
        if self.fresh > 0 {
            self.search();
        }
    }

    fn search(&mut self) {
        let hay = &self.buf[..self.len];
        // Every occurrence of a pattern holds its anchor at the anchor's offset.
        // Leftmost-first search yields the earliest position where some anchor starts;
        // the patterns of that anchor are checked where they would start, then the
        // search goes on from the next byte. This visits every occurrence, overlapping
        // ones included. An occurrence starting before this buffer lies wholly in the
        // previous one (the overlap is a pattern's length), where it was found.
        let mut at = 0;
        while let Some((start, anchor)) = self.matcher.anchors.find(hay, at) {
            let anchored = &self.matcher.anchored[anchor];
            if let Some(begin) = start.checked_sub(anchored.offset) {
                let rest = &hay[begin..];
                let next = hay.get(start + anchored.len).map_or(256, |&b| u16::from(b));
                for &(after, id) in &anchored.patterns {
                    if (after == 256 || after == next)
                        && rest.starts_with(&self.matcher.lowered[id])
                    {
                        (self.on_match)(id);
                    }
                }
            }
            at = start + 1;
        }
        self.fresh = 0;
    }
}

impl<F: FnMut(usize)> fmt::Write for Scan<'_, F> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.feed(s.as_bytes());
        Ok(())
    }
}

/// One anchor's patterns; see [`Matcher`].
struct Anchored {
    offset: usize,
    len: usize,
    patterns: Vec<(u16, usize)>,
}

/// Where a pattern's anchor starts: after a leading common word (`the `, `with `, ...),
/// whose bytes start a match of the SIMD prefilter at nearly every word of ordinary
/// text, so that the anchor begins with the rarer bytes after it.
fn anchor_offset(pattern: &[u8]) -> usize {
    const COMMON: &[&[u8]] = &[
        b"the ", b"with ", b"a ", b"an ", b"and ", b"of ", b"to ", b"in ", b"is ", b"for ", b"on ",
        b"at ", b"by ", b"it ", b"or ", b"as ", b"be ",
    ];
    COMMON
        .iter()
        .find(|w| pattern.len() > w.len() && pattern.starts_with(w))
        .map_or(0, |w| w.len())
}

/// Lower-cases `src[..take]` into `dst` (at least `take` bytes) as Go's
/// `strings.ToLower` would for the purpose of matching ASCII patterns: ASCII letters,
/// and the two characters whose lower case is ASCII, U+212A KELVIN SIGN (`k`) and
/// U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE (`i`). Every other non-ASCII byte is
/// kept: its lower case is not ASCII either, so it never matches a pattern byte. A
/// folded character is consumed whole even past `take` (the text is whole characters).
/// Returns the bytes written and the bytes consumed.
fn fold_to_ascii(dst: &mut [u8], src: &[u8], take: usize) -> (usize, usize) {
    const KELVIN: &[u8] = "\u{212A}".as_bytes();
    const DOTTED_I: &[u8] = "\u{130}".as_bytes();
    let (mut read, mut written) = (0, 0);
    while read < take {
        let rest = &src[read..];
        let (byte, len) = if rest.starts_with(KELVIN) {
            (b'k', KELVIN.len())
        } else if rest.starts_with(DOTTED_I) {
            (b'i', DOTTED_I.len())
        } else {
            (rest[0].to_ascii_lowercase(), 1)
        };
        dst[written] = byte;
        written += 1;
        read += len;
    }
    (written, read)
}

/// Finds where the next anchor starts.
enum Anchors {
    /// aho-corasick's SIMD Teddy searcher, used directly: the general automaton would
    /// pick a rare-byte prefilter for a few anchors, and a rare byte such as a space
    /// or a quote is not rare in error messages.
    Packed(packed::Searcher),
    /// Where Teddy is not available (no suitable SIMD on this CPU).
    Automaton(AhoCorasick),
}

impl Anchors {
    fn new(anchors: &[&[u8]]) -> Self {
        let packed = packed::Config::new()
            .match_kind(packed::MatchKind::LeftmostFirst)
            .builder()
            .extend(anchors)
            .build();
        match packed {
            Some(searcher) => Self::Packed(searcher),
            None => Self::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(anchors)
                    .expect("a handful of short constant patterns always compiles"),
            ),
        }
    }

    /// The start and the index of the earliest anchor occurrence in `hay` at or after
    /// `at`.
    fn find(&self, hay: &[u8], at: usize) -> Option<(usize, usize)> {
        match self {
            Self::Packed(s) => s
                .find_in(hay, aho_corasick::Span::from(at..hay.len()))
                .map(|m| (m.start(), m.pattern().as_usize())),
            Self::Automaton(ac) => ac
                .find(Input::new(hay).span(at..hay.len()))
                .map(|m| (m.start(), m.pattern().as_usize())),
        }
    }
}

#[cfg(test)]
mod tests;
