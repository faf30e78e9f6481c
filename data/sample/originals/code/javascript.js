// JavaScript snippets for the embedded sample corpus.
// Original code written for this project; released under the project's licence (Apache-2.0).
// Each "// ==== snippet: <name> | topic: <topic>" line starts a snippet. require() lines at the top of a
// snippet are hoisted when scripts/make_sample.py composes a file. This file is data, not a module.

// ==== snippet: debounce | topic: timing
/**
 * Delay calls to `fn` until `wait` ms have passed without another call.
 * Useful for search boxes that should not fire a request on every keystroke.
 */
function debounce(fn, wait) {
  let timer = null;
  return function debounced(...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}

// ==== snippet: throttle | topic: timing
/**
 * Call `fn` at most once every `interval` ms; extra calls in between are dropped.
 */
function throttle(fn, interval) {
  let last = 0;
  return function throttled(...args) {
    const now = Date.now();
    if (now - last >= interval) {
      last = now;
      fn.apply(this, args);
    }
  };
}

// ==== snippet: sleep | topic: timing
// Promise-based pause, handy inside async functions and tests.
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ==== snippet: retry_async | topic: timing
/**
 * Retry an async function with exponential backoff.
 * The delay doubles after each failure: base, 2 * base, 4 * base, ...
 */
async function retryAsync(fn, { attempts = 4, baseDelay = 200 } = {}) {
  let lastError;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    try {
      return await fn();
    } catch (err) {
      lastError = err;
      const delay = baseDelay * 2 ** attempt;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
  throw lastError;
}

// ==== snippet: slugify | topic: text
// Lowercase ASCII slug: "Crème Brûlée Recipe" -> "creme-brulee-recipe".
function slugify(text) {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // strip combining accents
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

// ==== snippet: escape_html | topic: text
const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

// Escape the five characters that matter when inserting text into HTML.
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);
}

// ==== snippet: capitalize_words | topic: text
// Capitalise the first letter of every word, leaving the rest untouched.
function capitalizeWords(sentence) {
  return sentence
    .split(' ')
    .map((word) => (word ? word[0].toUpperCase() + word.slice(1) : word))
    .join(' ');
}

// ==== snippet: count_words | topic: text
/**
 * Count word frequencies in a piece of text and return the top `n` as [word, count] pairs.
 */
function countWords(text, n = 10) {
  const counts = new Map();
  for (const word of text.toLowerCase().match(/[a-z']+/g) || []) {
    counts.set(word, (counts.get(word) || 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n);
}

// ==== snippet: chunk | topic: arrays
// Split an array into arrays of `size` elements; the last one may be shorter.
function chunk(items, size) {
  if (size < 1) throw new RangeError('size must be at least 1');
  const out = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(items.slice(i, i + size));
  }
  return out;
}

// ==== snippet: group_by | topic: arrays
/**
 * Group array elements by the value returned from `keyFn`.
 * Returns a plain object whose values are arrays in the original order.
 */
function groupBy(items, keyFn) {
  return items.reduce((groups, item) => {
    const key = keyFn(item);
    (groups[key] ||= []).push(item);
    return groups;
  }, {});
}

// ==== snippet: unique_by | topic: arrays
// Keep the first element for each distinct key.
function uniqueBy(items, keyFn) {
  const seen = new Set();
  return items.filter((item) => {
    const key = keyFn(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ==== snippet: range | topic: arrays
// range(5) -> [0, 1, 2, 3, 4]; range(2, 10, 3) -> [2, 5, 8]
function range(start, stop, step = 1) {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  const result = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) {
    result.push(i);
  }
  return result;
}

// ==== snippet: deep_clone | topic: objects
/**
 * Recursively copy plain objects, arrays and dates.
 * Functions and class instances are copied by reference.
 */
function deepClone(value) {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime());
  if (Array.isArray(value)) return value.map(deepClone);
  const copy = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] = deepClone(inner);
  }
  return copy;
}

// ==== snippet: memoize | topic: objects
// Cache results of a one-argument function; the argument must be usable as a Map key.
function memoize(fn) {
  const cache = new Map();
  return (arg) => {
    if (!cache.has(arg)) {
      cache.set(arg, fn(arg));
    }
    return cache.get(arg);
  };
}

// ==== snippet: emitter | topic: objects
// A tiny event emitter: on, off and emit, nothing more.
class Emitter {
  constructor() {
    this.listeners = new Map();
  }

  on(event, handler) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(handler);
    return () => this.off(event, handler);
  }

  off(event, handler) {
    this.listeners.get(event)?.delete(handler);
  }

  emit(event, ...args) {
    for (const handler of this.listeners.get(event) || []) {
      handler(...args);
    }
  }
}

// ==== snippet: parse_query | topic: web
/**
 * Parse "?a=1&b=two&b=three" into { a: '1', b: ['two', 'three'] }.
 */
function parseQuery(query) {
  const params = {};
  for (const part of query.replace(/^\?/, '').split('&')) {
    if (!part) continue;
    const [rawKey, rawValue = ''] = part.split('=');
    const key = decodeURIComponent(rawKey);
    const value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    if (key in params) {
      params[key] = [].concat(params[key], value);
    } else {
      params[key] = value;
    }
  }
  return params;
}

// ==== snippet: format_bytes | topic: web
// Human-readable file sizes for upload forms: 1536 -> "1.5 KB".
function formatBytes(bytes, decimals = 1) {
  if (bytes === 0) return '0 B';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  const index = Math.min(Math.floor(Math.log(bytes) / Math.log(1024)), units.length - 1);
  const value = bytes / 1024 ** index;
  return `${value.toFixed(index === 0 ? 0 : decimals)} ${units[index]}`;
}

// ==== snippet: format_duration | topic: web
// 3725 seconds -> "1h 2m 5s"; zero parts are left out.
function formatDuration(totalSeconds) {
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = Math.floor(totalSeconds % 60);
  const parts = [];
  if (hours) parts.push(`${hours}h`);
  if (minutes) parts.push(`${minutes}m`);
  if (seconds || parts.length === 0) parts.push(`${seconds}s`);
  return parts.join(' ');
}

// ==== snippet: read_lines | topic: files
const fs = require('fs');
const readline = require('readline');

/**
 * Call `onLine` for every line of a text file without loading the whole file into memory.
 */
async function readLines(path, onLine) {
  const input = fs.createReadStream(path, { encoding: 'utf8' });
  const reader = readline.createInterface({ input, crlfDelay: Infinity });
  let count = 0;
  for await (const line of reader) {
    count += 1;
    onLine(line, count);
  }
  return count;
}

// ==== snippet: write_json | topic: files
const fs = require('fs');
const path = require('path');

// Write JSON through a temporary file so that readers never see a partial file.
function writeJsonAtomic(file, data) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

// ==== snippet: clamp_lerp | topic: math
// Keep a number inside [min, max].
function clamp(value, min, max) {
  return Math.min(Math.max(value, min), max);
}

// Linear interpolation between a and b; t = 0 gives a, t = 1 gives b.
function lerp(a, b, t) {
  return a + (b - a) * t;
}

// ==== snippet: mean_stddev | topic: math
/**
 * Mean and population standard deviation of an array of numbers.
 */
function meanAndStd(values) {
  if (values.length === 0) return { mean: NaN, std: NaN };
  const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
  const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance) };
}
