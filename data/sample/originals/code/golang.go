// Go snippets for the embedded sample corpus.
// Original code written for this project; released under the project's licence (Apache-2.0).
// Each "// ==== snippet: <name> | topic: <topic>" line starts a snippet. Lines of the form
// `import "pkg"` at the top of a snippet are merged into one import block when scripts/make_sample.py
// composes a file. This file is data: it is not a compilable Go source file.

// ==== snippet: reverse | topic: text
// Reverse returns s with its runes in reverse order, so multi-byte characters stay intact.
func Reverse(s string) string {
	runes := []rune(s)
	for i, j := 0, len(runes)-1; i < j; i, j = i+1, j-1 {
		runes[i], runes[j] = runes[j], runes[i]
	}
	return string(runes)
}

// ==== snippet: word_count | topic: text
import "strings"
import "unicode"

// WordCount counts words case-insensitively. Anything that is not a letter or digit separates words.
func WordCount(text string) map[string]int {
	counts := make(map[string]int)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	})
	for _, w := range words {
		counts[w]++
	}
	return counts
}

// ==== snippet: is_palindrome | topic: text
import "unicode"

// IsPalindrome reports whether s reads the same backwards, ignoring case, spaces and punctuation.
func IsPalindrome(s string) bool {
	var letters []rune
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			letters = append(letters, unicode.ToLower(r))
		}
	}
	for i, j := 0, len(letters)-1; i < j; i, j = i+1, j-1 {
		if letters[i] != letters[j] {
			return false
		}
	}
	return true
}

// ==== snippet: slugify | topic: text
import "strings"
import "unicode"

// Slugify lowercases s and joins its runs of ASCII letters and digits with single hyphens.
func Slugify(s string) string {
	var b strings.Builder
	pendingDash := false
	for _, r := range strings.ToLower(s) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if pendingDash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			pendingDash = false
		} else {
			pendingDash = true
		}
	}
	return b.String()
}

// ==== snippet: levenshtein | topic: text
// Levenshtein returns the edit distance between a and b, counted in runes.
func Levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur := make([]int, len(rb)+1)
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(rb)]
}

// ==== snippet: unique | topic: slices
// Unique returns the distinct elements of items in order of first appearance.
func Unique[T comparable](items []T) []T {
	seen := make(map[T]struct{}, len(items))
	out := make([]T, 0, len(items))
	for _, item := range items {
		if _, ok := seen[item]; ok {
			continue
		}
		seen[item] = struct{}{}
		out = append(out, item)
	}
	return out
}

// ==== snippet: chunk | topic: slices
// Chunk splits items into slices of at most size elements. It panics if size is not positive.
func Chunk[T any](items []T, size int) [][]T {
	if size <= 0 {
		panic("chunk size must be positive")
	}
	var chunks [][]T
	for start := 0; start < len(items); start += size {
		end := min(start+size, len(items))
		chunks = append(chunks, items[start:end])
	}
	return chunks
}

// ==== snippet: max_of | topic: slices
import "cmp"

// MaxOf returns the largest element of items and false when items is empty.
func MaxOf[T cmp.Ordered](items []T) (T, bool) {
	var best T
	if len(items) == 0 {
		return best, false
	}
	best = items[0]
	for _, v := range items[1:] {
		if v > best {
			best = v
		}
	}
	return best, true
}

// ==== snippet: stack | topic: slices
// Stack is a simple last-in, first-out container.
type Stack[T any] struct {
	items []T
}

// Push adds v to the top of the stack.
func (s *Stack[T]) Push(v T) {
	s.items = append(s.items, v)
}

// Pop removes and returns the top element; ok is false when the stack is empty.
func (s *Stack[T]) Pop() (v T, ok bool) {
	if len(s.items) == 0 {
		return v, false
	}
	v = s.items[len(s.items)-1]
	s.items = s.items[:len(s.items)-1]
	return v, true
}

// ==== snippet: read_lines | topic: io
import "bufio"
import "os"

// ReadLines returns the lines of a text file without their line endings.
func ReadLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	var lines []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		lines = append(lines, scanner.Text())
	}
	return lines, scanner.Err()
}

// ==== snippet: parse_key_values | topic: io
import "bufio"
import "fmt"
import "io"
import "strings"

// ParseKeyValues reads "key = value" lines; blank lines and lines starting with '#' are skipped.
func ParseKeyValues(r io.Reader) (map[string]string, error) {
	values := make(map[string]string)
	scanner := bufio.NewScanner(r)
	lineNo := 0
	for scanner.Scan() {
		lineNo++
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, found := strings.Cut(line, "=")
		if !found {
			return nil, fmt.Errorf("line %d: missing '='", lineNo)
		}
		values[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	return values, scanner.Err()
}

// ==== snippet: human_bytes | topic: io
import "fmt"

// HumanBytes formats n using binary units, for example 1536 -> "1.5 KiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for q := n / unit; q >= unit; q /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ==== snippet: retry | topic: concurrency
import "time"

// Retry calls fn up to attempts times, doubling the pause after each failure.
// It returns nil on the first success, or the last error.
func Retry(attempts int, pause time.Duration, fn func() error) error {
	var err error
	for i := 0; i < attempts; i++ {
		if err = fn(); err == nil {
			return nil
		}
		time.Sleep(pause)
		pause *= 2
	}
	return err
}

// ==== snippet: worker_pool | topic: concurrency
import "sync"

// ProcessAll runs fn over jobs with the given number of workers and collects results in input order.
func ProcessAll[In, Out any](jobs []In, workers int, fn func(In) Out) []Out {
	results := make([]Out, len(jobs))
	indexes := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range indexes {
				results[i] = fn(jobs[i]) // each index is written by exactly one worker
			}
		}()
	}
	for i := range jobs {
		indexes <- i
	}
	close(indexes)
	wg.Wait()
	return results
}

// ==== snippet: safe_counter | topic: concurrency
import "sync"

// Counter is a map of counts that is safe to use from several goroutines.
type Counter struct {
	mu     sync.Mutex
	counts map[string]int
}

// Inc adds one to the count for key.
func (c *Counter) Inc(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = make(map[string]int)
	}
	c.counts[key]++
}

// Get returns the current count for key.
func (c *Counter) Get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[key]
}

// ==== snippet: with_timeout | topic: concurrency
import "context"
import "time"

// WithTimeout runs fn with a context that is cancelled after d.
// fn should return promptly once ctx.Done() is closed.
func WithTimeout(d time.Duration, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return fn(ctx)
}

// ==== snippet: gcd_lcm | topic: math
// GCD returns the greatest common divisor of a and b using Euclid's algorithm.
func GCD(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	if a < 0 {
		return -a
	}
	return a
}

// LCM returns the least common multiple of a and b, or 0 if either is 0.
func LCM(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	return a / GCD(a, b) * b
}

// ==== snippet: fibonacci | topic: math
// Fibonacci returns the first n Fibonacci numbers, starting 0, 1, 1, 2.
func Fibonacci(n int) []uint64 {
	seq := make([]uint64, 0, n)
	var a, b uint64 = 0, 1
	for i := 0; i < n; i++ {
		seq = append(seq, a)
		a, b = b, a+b
	}
	return seq
}

// ==== snippet: clamp | topic: math
import "cmp"

// Clamp limits v to the closed range [lo, hi].
func Clamp[T cmp.Ordered](v, lo, hi T) T {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// ==== snippet: truncate | topic: text
import "unicode/utf8"

// Truncate shortens s to at most max runes and appends "..." when it cut something.
func Truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max <= 3 {
		return string([]rune(s)[:max])
	}
	return string([]rune(s)[:max-3]) + "..."
}
