/* C snippets for the embedded sample corpus.
 * Original code written for this project; released under the project's licence (Apache-2.0).
 * Each "// ==== snippet: <name> | topic: <topic>" line starts a snippet. #include lines at the top of
 * a snippet are merged when scripts/make_sample.py composes a file. This file is data, not a
 * translation unit. */

// ==== snippet: str_trim | topic: strings
#include <ctype.h>
#include <string.h>

/* Remove leading and trailing whitespace in place and return s. */
char *str_trim(char *s)
{
	char *start = s;
	while (isspace((unsigned char)*start))
		start++;
	if (start != s)
		memmove(s, start, strlen(start) + 1);

	size_t len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	return s;
}

// ==== snippet: str_reverse | topic: strings
#include <string.h>

/* Reverse a NUL-terminated byte string in place. Not UTF-8 aware. */
void str_reverse(char *s)
{
	size_t i = 0, j = strlen(s);
	while (j > i + 1) {
		char tmp = s[i];
		s[i++] = s[--j];
		s[j] = tmp;
	}
}

// ==== snippet: count_words | topic: strings
#include <ctype.h>
#include <stddef.h>

/* Count runs of non-space characters. */
size_t count_words(const char *s)
{
	size_t words = 0;
	int in_word = 0;
	for (; *s; s++) {
		if (isspace((unsigned char)*s)) {
			in_word = 0;
		} else if (!in_word) {
			in_word = 1;
			words++;
		}
	}
	return words;
}

// ==== snippet: starts_ends_with | topic: strings
#include <stdbool.h>
#include <string.h>

/* True if s begins with prefix. */
bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* True if s ends with suffix. */
bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return m <= n && memcmp(s + n - m, suffix, m) == 0;
}

// ==== snippet: str_upper | topic: strings
#include <ctype.h>

/* Convert ASCII letters to upper case in place; other bytes are left alone. */
void str_upper(char *s)
{
	for (; *s; s++)
		*s = (char)toupper((unsigned char)*s);
}

// ==== snippet: djb2_hash | topic: strings
/* Dan Bernstein's string hash: simple, fast and good enough for small hash tables. */
unsigned long djb2_hash(const char *s)
{
	unsigned long hash = 5381;
	int c;
	while ((c = (unsigned char)*s++) != 0)
		hash = ((hash << 5) + hash) + (unsigned long)c; /* hash * 33 + c */
	return hash;
}

// ==== snippet: int_vector | topic: containers
#include <stdlib.h>

/* A growable array of ints. Start with a zeroed struct; call vec_free when done. */
struct int_vec {
	int *data;
	size_t len;
	size_t cap;
};

/* Append value, doubling the capacity when full. Returns 0 on success, -1 if out of memory. */
int vec_push(struct int_vec *v, int value)
{
	if (v->len == v->cap) {
		size_t new_cap = v->cap ? v->cap * 2 : 8;
		int *grown = realloc(v->data, new_cap * sizeof *grown);
		if (!grown)
			return -1;
		v->data = grown;
		v->cap = new_cap;
	}
	v->data[v->len++] = value;
	return 0;
}

void vec_free(struct int_vec *v)
{
	free(v->data);
	v->data = NULL;
	v->len = v->cap = 0;
}

// ==== snippet: linked_list | topic: containers
#include <stdlib.h>

struct node {
	int value;
	struct node *next;
};

/* Push a new node at the head of the list. Returns the new head, or NULL if malloc fails. */
struct node *list_push(struct node *head, int value)
{
	struct node *n = malloc(sizeof *n);
	if (!n)
		return NULL;
	n->value = value;
	n->next = head;
	return n;
}

/* Free every node of the list. */
void list_free(struct node *head)
{
	while (head) {
		struct node *next = head->next;
		free(head);
		head = next;
	}
}

// ==== snippet: ring_buffer | topic: containers
#include <stdbool.h>
#include <stddef.h>

#define RING_SIZE 64

/* Fixed-size FIFO of bytes; one slot is left empty to tell full from empty. */
struct ring {
	unsigned char buf[RING_SIZE];
	size_t head; /* next slot to write */
	size_t tail; /* next slot to read */
};

bool ring_put(struct ring *r, unsigned char byte)
{
	size_t next = (r->head + 1) % RING_SIZE;
	if (next == r->tail)
		return false; /* full */
	r->buf[r->head] = byte;
	r->head = next;
	return true;
}

bool ring_get(struct ring *r, unsigned char *byte)
{
	if (r->tail == r->head)
		return false; /* empty */
	*byte = r->buf[r->tail];
	r->tail = (r->tail + 1) % RING_SIZE;
	return true;
}

// ==== snippet: read_file | topic: io
#include <stdio.h>
#include <stdlib.h>

/* Read a whole file into a NUL-terminated buffer. The caller frees it. Returns NULL on error. */
char *read_file(const char *path, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;

	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			char *grown = realloc(buf, cap * 2);
			if (!grown) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = grown;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		return NULL;
	buf[len] = '\0';
	if (out_len)
		*out_len = len;
	return buf;
}

// ==== snippet: parse_long | topic: io
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* Parse a base-10 integer, rejecting empty input, trailing junk and overflow. */
bool parse_long(const char *text, long *out)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (end == text || *end != '\0' || errno == ERANGE)
		return false;
	*out = value;
	return true;
}

// ==== snippet: gcd | topic: math
/* Greatest common divisor by Euclid's algorithm. */
unsigned long gcd(unsigned long a, unsigned long b)
{
	while (b != 0) {
		unsigned long r = a % b;
		a = b;
		b = r;
	}
	return a;
}

// ==== snippet: is_prime | topic: math
#include <stdbool.h>

/* Trial division by 6k +/- 1, fine for numbers up to a few billion. */
bool is_prime(unsigned long n)
{
	if (n < 2)
		return false;
	if (n % 2 == 0 || n % 3 == 0)
		return n < 4;
	for (unsigned long i = 5; i * i <= n; i += 6) {
		if (n % i == 0 || n % (i + 2) == 0)
			return false;
	}
	return true;
}

// ==== snippet: fibonacci | topic: math
#include <stdint.h>

/* n-th Fibonacci number (fib(0) = 0); exact up to n = 93 in 64 bits. */
uint64_t fibonacci(unsigned n)
{
	uint64_t a = 0, b = 1;
	while (n-- > 0) {
		uint64_t next = a + b;
		a = b;
		b = next;
	}
	return a;
}

// ==== snippet: popcount | topic: math
/* Count set bits by clearing the lowest one each round (Kernighan's method). */
int popcount(unsigned int x)
{
	int count = 0;
	while (x) {
		x &= x - 1;
		count++;
	}
	return count;
}

// ==== snippet: clamp | topic: math
/* Limit value to the range [lo, hi]. */
static inline double clamp(double value, double lo, double hi)
{
	if (value < lo)
		return lo;
	if (value > hi)
		return hi;
	return value;
}

// ==== snippet: binary_search | topic: algorithms
#include <stddef.h>

/* Index of key in the sorted array a of length n, or -1 if it is absent. */
long binary_search(const int *a, size_t n, int key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2; /* avoids overflow of lo + hi */
		if (a[mid] < key)
			lo = mid + 1;
		else if (a[mid] > key)
			hi = mid;
		else
			return (long)mid;
	}
	return -1;
}

// ==== snippet: insertion_sort | topic: algorithms
#include <stddef.h>

/* Sort ints in ascending order. Quadratic, but fast for small or nearly sorted arrays. */
void insertion_sort(int *a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		int key = a[i];
		size_t j = i;
		while (j > 0 && a[j - 1] > key) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = key;
	}
}

// ==== snippet: matrix_multiply | topic: algorithms
#include <stddef.h>

/* c = a * b for row-major matrices: a is n x m, b is m x p, c is n x p. */
void matrix_multiply(const double *a, const double *b, double *c, size_t n, size_t m, size_t p)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < p; j++) {
			double sum = 0.0;
			for (size_t k = 0; k < m; k++)
				sum += a[i * m + k] * b[k * p + j];
			c[i * p + j] = sum;
		}
	}
}

// ==== snippet: count_char | topic: strings
#include <stddef.h>

/* Number of times c occurs in the NUL-terminated string s. */
size_t count_char(const char *s, char c)
{
	size_t n = 0;
	for (; *s; s++) {
		if (*s == c)
			n++;
	}
	return n;
}

// ==== snippet: array_stats | topic: algorithms
#include <stddef.h>

/* Minimum, maximum and mean of n doubles; n must be at least 1. */
void array_stats(const double *a, size_t n, double *min, double *max, double *mean)
{
	double lo = a[0], hi = a[0], sum = 0.0;
	for (size_t i = 0; i < n; i++) {
		if (a[i] < lo)
			lo = a[i];
		if (a[i] > hi)
			hi = a[i];
		sum += a[i];
	}
	*min = lo;
	*max = hi;
	*mean = sum / (double)n;
}

// ==== snippet: reverse_ints | topic: algorithms
#include <stddef.h>

/* Reverse an array of ints in place. */
void reverse_ints(int *a, size_t n)
{
	if (n < 2)
		return;
	for (size_t i = 0, j = n - 1; i < j; i++, j--) {
		int tmp = a[i];
		a[i] = a[j];
		a[j] = tmp;
	}
}

// ==== snippet: write_lines | topic: io
#include <stdio.h>

/* Write n strings to path, one per line. Returns 0 on success, -1 on any error. */
int write_lines(const char *path, const char *const *lines, size_t n)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (fputs(lines[i], f) == EOF || fputc('\n', f) == EOF) {
			fclose(f);
			return -1;
		}
	}
	return fclose(f) == 0 ? 0 : -1;
}
