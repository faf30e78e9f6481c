// Rust snippets for the embedded sample corpus.
// Original code written for this project; released under the project's licence (Apache-2.0).
// Each "// ==== snippet: <name> | topic: <topic>" line starts a snippet. `use` lines at the top of a
// snippet are merged when scripts/make_sample.py composes a file. This file is data, not a crate.

// ==== snippet: word_frequencies | topic: text
use std::collections::HashMap;

/// Count how often each lowercase word occurs. Punctuation is treated as a separator.
pub fn word_frequencies(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

// ==== snippet: is_palindrome | topic: text
/// True if `s` reads the same in both directions, ignoring case and non-alphanumeric characters.
pub fn is_palindrome(s: &str) -> bool {
    let chars: Vec<char> = s
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    chars.iter().eq(chars.iter().rev())
}

// ==== snippet: slugify | topic: text
/// Lowercase ASCII slug: runs of other characters become a single hyphen.
pub fn slugify(title: &str) -> String {
    let mut slug = String::with_capacity(title.len());
    let mut dash = false;
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            slug.push(c.to_ascii_lowercase());
            dash = false;
        } else {
            dash = true;
        }
    }
    slug
}

// ==== snippet: caesar_shift | topic: text
/// Shift ASCII letters by `k` places, wrapping around the alphabet; other characters are kept.
pub fn caesar_shift(text: &str, k: u8) -> String {
    text.chars()
        .map(|c| match c {
            'a'..='z' => (((c as u8 - b'a' + k) % 26) + b'a') as char,
            'A'..='Z' => (((c as u8 - b'A' + k) % 26) + b'A') as char,
            _ => c,
        })
        .collect()
}

// ==== snippet: run_length | topic: text
/// Run-length encode a string: "aaabcc" becomes [('a', 3), ('b', 1), ('c', 2)].
pub fn run_length(s: &str) -> Vec<(char, usize)> {
    let mut runs: Vec<(char, usize)> = Vec::new();
    for c in s.chars() {
        match runs.last_mut() {
            Some((last, count)) if *last == c => *count += 1,
            _ => runs.push((c, 1)),
        }
    }
    runs
}

// ==== snippet: parse_key_values | topic: parsing
use std::collections::HashMap;

/// Parse `key = value` lines. Blank lines and lines starting with `#` are ignored.
/// Returns the 1-based number of the first malformed line as the error.
pub fn parse_key_values(text: &str) -> Result<HashMap<String, String>, usize> {
    let mut map = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').ok_or(index + 1)?;
        map.insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(map)
}

// ==== snippet: parse_duration | topic: parsing
/// Parse durations such as "1h30m" or "45s" into seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: u64 = number.parse().ok()?;
        total += value
            * match c {
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return None,
            };
        number.clear();
    }
    if number.is_empty() { Some(total) } else { None }
}

// ==== snippet: temperature | topic: parsing
/// A temperature in one of two scales.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Temperature {
    Celsius(f64),
    Fahrenheit(f64),
}

impl Temperature {
    /// The same temperature expressed in degrees Celsius.
    pub fn to_celsius(self) -> f64 {
        match self {
            Temperature::Celsius(c) => c,
            Temperature::Fahrenheit(f) => (f - 32.0) * 5.0 / 9.0,
        }
    }
}

// ==== snippet: stack | topic: collections
/// A minimal stack backed by a `Vec`.
#[derive(Debug, Default)]
pub struct Stack<T> {
    items: Vec<T>,
}

impl<T> Stack<T> {
    pub fn new() -> Self {
        Stack { items: Vec::new() }
    }

    pub fn push(&mut self, item: T) {
        self.items.push(item);
    }

    pub fn pop(&mut self) -> Option<T> {
        self.items.pop()
    }

    /// Look at the top item without removing it.
    pub fn peek(&self) -> Option<&T> {
        self.items.last()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

// ==== snippet: dedup_keep_order | topic: collections
use std::collections::HashSet;
use std::hash::Hash;

/// Remove repeated items, keeping the first occurrence of each.
pub fn dedup_keep_order<T: Eq + Hash + Clone>(items: &[T]) -> Vec<T> {
    let mut seen = HashSet::new();
    items
        .iter()
        .filter(|item| seen.insert((*item).clone()))
        .cloned()
        .collect()
}

// ==== snippet: binary_search | topic: collections
/// Position of `target` in the sorted slice, or None.
pub fn binary_search<T: Ord>(sorted: &[T], target: &T) -> Option<usize> {
    let (mut lo, mut hi) = (0, sorted.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match sorted[mid].cmp(target) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

// ==== snippet: transpose | topic: collections
/// Transpose a rectangular matrix stored as a vector of rows.
pub fn transpose(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let width = rows.first().map_or(0, |r| r.len());
    (0..width)
        .map(|col| rows.iter().map(|row| row[col]).collect())
        .collect()
}

// ==== snippet: read_lines | topic: io
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// Read all lines of a text file, without line endings.
pub fn read_lines(path: &Path) -> io::Result<Vec<String>> {
    let reader = BufReader::new(File::open(path)?);
    reader.lines().collect()
}

// ==== snippet: write_report | topic: io
use std::fs::File;
use std::io::{self, BufWriter, Write};

/// Write `name,value` rows to a CSV file with a header line.
pub fn write_report(path: &str, rows: &[(String, f64)]) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    writeln!(out, "name,value")?;
    for (name, value) in rows {
        writeln!(out, "{},{:.3}", name, value)?;
    }
    out.flush()
}

// ==== snippet: gcd | topic: math
/// Greatest common divisor (Euclid).
pub fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a
}

// ==== snippet: mean_median | topic: math
/// Mean of a slice, or None when it is empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

/// Median of a slice, or None when it is empty. NaN values sort last.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

// ==== snippet: sieve | topic: math
/// All primes up to and including `limit`.
pub fn primes_up_to(limit: usize) -> Vec<usize> {
    if limit < 2 {
        return Vec::new();
    }
    let mut is_prime = vec![true; limit + 1];
    is_prime[0] = false;
    is_prime[1] = false;
    let mut n = 2;
    while n * n <= limit {
        if is_prime[n] {
            for multiple in (n * n..=limit).step_by(n) {
                is_prime[multiple] = false;
            }
        }
        n += 1;
    }
    (0..=limit).filter(|&i| is_prime[i]).collect()
}

// ==== snippet: point | topic: math
/// A point in the plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    /// Euclidean distance to another point.
    pub fn distance(&self, other: &Point) -> f64 {
        ((self.x - other.x).powi(2) + (self.y - other.y).powi(2)).sqrt()
    }

    /// The point halfway between two points.
    pub fn midpoint(&self, other: &Point) -> Point {
        Point {
            x: (self.x + other.x) / 2.0,
            y: (self.y + other.y) / 2.0,
        }
    }
}

// ==== snippet: retry | topic: misc
use std::thread;
use std::time::Duration;

/// Call `op` up to `attempts` times, sleeping `pause` between failures.
pub fn retry<T, E>(attempts: u32, pause: Duration, mut op: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let mut tries = 0;
    loop {
        match op() {
            Ok(value) => return Ok(value),
            Err(err) => {
                tries += 1;
                if tries >= attempts {
                    return Err(err);
                }
                thread::sleep(pause);
            }
        }
    }
}

// ==== snippet: truncate_chars | topic: text
/// Shorten `s` to at most `max` characters, adding an ellipsis character when something was cut.
/// Works on characters, not bytes, so it never splits a multi-byte character.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('\u{2026}');
    out
}

// ==== snippet: histogram | topic: collections
use std::collections::BTreeMap;

/// Count values into buckets of width `width`; keys are the lower bound of each bucket.
/// A BTreeMap keeps the buckets sorted for printing.
pub fn histogram(values: &[i64], width: i64) -> BTreeMap<i64, usize> {
    assert!(width > 0, "bucket width must be positive");
    let mut buckets = BTreeMap::new();
    for &v in values {
        let lower = v.div_euclid(width) * width;
        *buckets.entry(lower).or_insert(0) += 1;
    }
    buckets
}
