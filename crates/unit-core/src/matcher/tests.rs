use super::*;
use proptest::prelude::*;

fn found(patterns: &[&str], text: &str) -> Vec<usize> {
    let m = Matcher::new(patterns);
    let mut ids = Vec::new();
    let mut buf = [0; SCAN_BUF];
    let mut scan = m.scan(&mut buf, |id| ids.push(id));
    scan.feed(text.as_bytes());
    scan.finish();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Lower-cases as Go's `strings.ToLower` does where it matters for ASCII patterns.
fn go_lower(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{212A}' => 'k',
            '\u{130}' => 'i',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn naive(patterns: &[&str], text: &str) -> Vec<usize> {
    let lower = go_lower(text);
    (0..patterns.len())
        .filter(|&i| lower.contains(&patterns[i].to_ascii_lowercase()))
        .collect()
}

#[test]
fn finds_across_chunk_boundaries_in_any_case() {
    let patterns = ["Error 1062", "is in mode import"];
    for offset in [
        0,
        1,
        CHUNK - 12,
        CHUNK - 5,
        CHUNK - 1,
        CHUNK,
        2 * CHUNK + MAX_PATTERN_LEN - 7,
    ] {
        let mut text = "x".repeat(offset);
        text.push_str("eRRoR 1062");
        text.push_str(&"y".repeat(300));
        assert_eq!(found(&patterns, &text), [0], "offset {offset}");
    }
}

#[test]
fn piecewise_feeding_equals_whole() {
    let patterns = ["abc", "Error 1366"];
    let text = format!("{}ERROR 1366{}", "q".repeat(CHUNK + 3), "abC");
    let m = Matcher::new(&patterns);
    let mut ids = Vec::new();
    let mut buf = [0; SCAN_BUF];
    let mut scan = m.scan(&mut buf, |id| ids.push(id));
    for piece in text.as_bytes().chunks(7) {
        scan.feed(piece);
    }
    scan.finish();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids, [0, 1]);
}

#[test]
fn small_buffers_work_too() {
    let patterns = ["Error 1062"];
    let m = Matcher::new(&patterns);
    let text = format!("{}error 1062{}", "a".repeat(37), "b".repeat(50));
    for size in [10, 11, 17, 64, 200] {
        let mut ids = Vec::new();
        let mut buf = vec![0; size];
        let mut scan = m.scan(&mut buf, |id| ids.push(id));
        scan.feed(text.as_bytes());
        scan.finish();
        assert!(ids.contains(&0), "buffer {size}");
    }
}

#[test]
fn kelvin_sign_and_dotted_capital_i_fold_to_ascii_as_in_go() {
    let patterns = ["unsupported drop integer primary key", "Error 1062"];
    // "\u{212A}" is KELVIN SIGN, "\u{130}" LATIN CAPITAL LETTER I WITH DOT ABOVE.
    let text = "UNSUPPORTED DROP \u{130}NTEGER PR\u{130}MARY \u{212A}EY";
    assert_eq!(found(&patterns, text), [0]);
    // Across a chunk boundary, at every offset around it.
    for pad in CHUNK - 8..CHUNK + 2 {
        let text = format!(
            "{}ma\u{212A}e unsupported drop \u{130}nteger primary \u{212A}ey",
            "x".repeat(pad)
        );
        assert_eq!(found(&patterns, &text), [0], "pad {pad}");
    }
    // Other characters do not fold to ASCII.
    assert_eq!(found(&patterns, "Error 1062").len(), 1);
    assert!(found(&patterns, "Err\u{00D3}r 1062").is_empty());
}

proptest! {
    #[test]
    fn agrees_with_go_lowercase_contains(
        text in "([a-cA-Ck\u{212A}i\u{130}é ]{0,40}|Error 10[0-9]{2}|[x]{4090,4100}){0,8}",
    ) {
        let patterns = ["ab", "Error 1062", "cab a", "error 10", "kik", "b i"];
        prop_assert_eq!(found(&patterns, &text), naive(&patterns, &text));
    }

    #[test]
    fn agrees_with_lowercase_contains(
        text in "([a-cA-C ]{0,40}|Error 10[0-9]{2}|[x]{4090,4100}){0,8}",
    ) {
        let patterns = ["ab", "Error 1062", "cab a", "error 10"];
        prop_assert_eq!(found(&patterns, &text), naive(&patterns, &text));
    }
}
