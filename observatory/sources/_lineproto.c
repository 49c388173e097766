/* The compiled pass of observatory.sources.line_protocol over plain lines.
 *
 * parse(buf, starts, ends, unit_ns, default_ns) reads the lines buf[starts[i]:ends[i]] (ends[i]
 * is the index of the line's LF) and returns their fields as columns, plus the lines it cannot
 * vouch for. It accepts a line only when it is sure the byte-level parser of line_protocol.py
 * (the reference) gives the same answer; anything unusual (escapes, quotes, control bytes,
 * malformed values, out-of-range numbers, duplicate field keys) goes back for that parser to
 * decide and to word the reason of a reject. The series key (measurement and tags, everything
 * before the first space) is only delimited here: the caller checks each distinct key once.
 *
 * Parsing runs without the GIL; floats beyond the exact fast path are converted afterwards by
 * PyOS_string_to_double, which gives the double Python's float() gives, whatever the locale.
 * line_ends(buf) finds the LFs of a window (memchr) for the same module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LINEPROTO_VERSION 2 /* the Python side checks it: a stale build is not used */

enum { KIND_FLOAT = 0, KIND_INT = 1, KIND_UINT = 2, KIND_BOOL = 3 }; /* line_protocol.FIELD_KINDS */
enum { LINE_OK, LINE_RETRY, LINE_SKIP };
enum { VALUE_OK, VALUE_RETRY, VALUE_DEFER };

/* byte classes */
#define C_BAD 1   /* control bytes, DEL, quote, backslash: the byte-level parser decides */
#define C_DIGIT 2

static unsigned char CLASS[256];

static void
init_classes(void)
{
    for (int c = 0; c < 0x20; c++)
        CLASS[c] = C_BAD;
    CLASS[0x7f] = C_BAD;
    CLASS['"'] = C_BAD;
    CLASS['\\'] = C_BAD;
    for (int c = '0'; c <= '9'; c++)
        CLASS[c] = C_DIGIT;
}

/* ---- scanning eight bytes at a time -------------------------------------------------------
 * Masks with the high bit set in each byte that matches (Mycroft's zero-byte test): a borrow
 * may mark bytes after a true match, never before, so the lowest marked byte is exact. */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR 1
#else
#define SWAR 0
#endif

enum { STOP_SPACE = 1, STOP_COMMA = 2, STOP_EQUALS = 4 };

static inline uint64_t
equal_bytes(uint64_t w, unsigned char c)
{
    uint64_t y = w ^ (ONES * c);
    return (y - ONES) & ~y & HIGHS;
}

/* Control bytes, DEL, quote, backslash. */
static inline uint64_t
bad_bytes(uint64_t w)
{
    return ((w - ONES * 0x20) & ~w & HIGHS) | equal_bytes(w, 0x7f) | equal_bytes(w, '"') | equal_bytes(w, '\\');
}

/* The index of the first byte of b[i..end) that is a bad byte or one of `stops`; end if none. */
static inline Py_ssize_t
scan(const unsigned char *b, Py_ssize_t i, Py_ssize_t end, int stops)
{
#if SWAR
    for (; i + 8 <= end; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        uint64_t found = bad_bytes(w);
        if (stops & STOP_SPACE)
            found |= equal_bytes(w, ' ');
        if (stops & STOP_COMMA)
            found |= equal_bytes(w, ',');
        if (stops & STOP_EQUALS)
            found |= equal_bytes(w, '=');
        if (found)
            return i + (__builtin_ctzll(found) >> 3);
    }
#endif
    for (; i < end; i++) {
        unsigned char c = b[i];
        if ((CLASS[c] & C_BAD) || ((stops & STOP_SPACE) && c == ' ') || ((stops & STOP_COMMA) && c == ',') ||
            ((stops & STOP_EQUALS) && c == '='))
            return i;
    }
    return end;
}

/* ---- growable arrays ------------------------------------------------------------------ */

typedef struct {
    char *data;
    Py_ssize_t size; /* items */
    Py_ssize_t capacity;
    Py_ssize_t itemsize;
} Vec;

static int
vec_reserve(Vec *v, Py_ssize_t items)
{
    if (items <= v->capacity)
        return 0;
    Py_ssize_t capacity = v->capacity ? v->capacity : 1024;
    while (capacity < items)
        capacity *= 2;
    char *data = realloc(v->data, (size_t)(capacity * v->itemsize));
    if (data == NULL)
        return -1;
    v->data = data;
    v->capacity = capacity;
    return 0;
}

#define VEC_AT(v, type, i) (((type *)(v).data)[i])

/* ---- interning of byte strings that point into the input buffer ------------------------ */

typedef struct {
    uint64_t hash;
    Py_ssize_t pos, len;
    int32_t index; /* -1: empty slot */
} Slot;

typedef struct {
    Slot *slots;
    size_t mask;
    int32_t count;
    Vec pos, len; /* index -> the string's place in the buffer, in first-seen order */
} Interner;

static uint64_t
hash_bytes(const unsigned char *p, Py_ssize_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, (size_t)n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    return h ^ (h >> 29);
}

static int
interner_init(Interner *t, size_t capacity)
{
    t->slots = malloc(capacity * sizeof(Slot));
    if (t->slots == NULL)
        return -1;
    for (size_t i = 0; i < capacity; i++)
        t->slots[i].index = -1;
    t->mask = capacity - 1;
    t->count = 0;
    t->pos = (Vec){NULL, 0, 0, sizeof(Py_ssize_t)};
    t->len = (Vec){NULL, 0, 0, sizeof(Py_ssize_t)};
    return 0;
}

static void
interner_free(Interner *t)
{
    free(t->slots);
    free(t->pos.data);
    free(t->len.data);
}

static int
interner_grow(Interner *t)
{
    size_t capacity = (t->mask + 1) * 2;
    Slot *slots = malloc(capacity * sizeof(Slot));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < capacity; i++)
        slots[i].index = -1;
    for (size_t i = 0; i <= t->mask; i++) {
        Slot s = t->slots[i];
        if (s.index < 0)
            continue;
        size_t j = (size_t)s.hash & (capacity - 1);
        while (slots[j].index >= 0)
            j = (j + 1) & (capacity - 1);
        slots[j] = s;
    }
    free(t->slots);
    t->slots = slots;
    t->mask = capacity - 1;
    return 0;
}

/* The index of buf[pos:pos+len] among the strings met so far (added if new); -1 out of memory. */
static int32_t
intern(Interner *t, const unsigned char *buf, Py_ssize_t pos, Py_ssize_t len)
{
    uint64_t h = hash_bytes(buf + pos, len);
    size_t j = (size_t)h & t->mask;
    for (;;) {
        Slot *s = &t->slots[j];
        if (s->index < 0)
            break;
        if (s->hash == h && s->len == len && memcmp(buf + s->pos, buf + pos, (size_t)len) == 0)
            return s->index;
        j = (j + 1) & t->mask;
    }
    if (t->count == INT32_MAX || vec_reserve(&t->pos, t->count + 1) < 0 ||
        vec_reserve(&t->len, t->count + 1) < 0)
        return -1;
    t->slots[j] = (Slot){h, pos, len, t->count};
    VEC_AT(t->pos, Py_ssize_t, t->count) = pos;
    VEC_AT(t->len, Py_ssize_t, t->count) = len;
    t->pos.size = t->len.size = ++t->count;
    if ((size_t)t->count * 2 > t->mask + 1 && interner_grow(t) < 0)
        return -1;
    return t->count - 1;
}

/* ---- numbers ---------------------------------------------------------------------------- */

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Digits p[0..n) as an unsigned magnitude; 0 on success, -1 if it exceeds `limit`. */
static int
magnitude(const unsigned char *p, Py_ssize_t n, uint64_t limit, uint64_t *out)
{
    uint64_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        if (m > (limit - d) / 10)
            return -1;
        m = m * 10 + d;
    }
    *out = m;
    return 0;
}

static Py_ssize_t
digits(const unsigned char *p, const unsigned char *e)
{
    const unsigned char *q = p;
    while (q < e && (CLASS[*q] & C_DIGIT))
        q++;
    return q - p;
}

/* A float token of line-protocol/v2's syntax, -?([0-9]+.?[0-9]*|.[0-9]+)([eE][+-]?[0-9]+)?,
 * as a double when the conversion is exact here: at most 19 significant digits, mantissa below
 * 2**53 and a power of ten within 1e22 (both exact doubles: one IEEE operation rounds
 * correctly, Clinger 1990). VALUE_DEFER otherwise, VALUE_RETRY if the syntax is not met. */
static int
float_value(const unsigned char *p, const unsigned char *e, double *out)
{
    int negative = p < e && *p == '-';
    p += negative;
    Py_ssize_t n_int = digits(p, e);
    const unsigned char *int_part = p;
    p += n_int;
    const unsigned char *frac_part = p;
    Py_ssize_t n_frac = 0;
    if (p < e && *p == '.') {
        frac_part = ++p;
        n_frac = digits(p, e);
        p += n_frac;
    }
    if (n_int + n_frac == 0)
        return VALUE_RETRY;
    long exponent = 0;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        int exp_negative = p < e && *p == '-';
        if (p < e && (*p == '-' || *p == '+'))
            p++;
        Py_ssize_t n_exp = digits(p, e);
        if (n_exp == 0)
            return VALUE_RETRY;
        for (Py_ssize_t i = 0; i < n_exp; i++)
            if (exponent < 100000)
                exponent = exponent * 10 + (p[i] - '0');
        p += n_exp;
        exponent = exp_negative ? -exponent : exponent;
    }
    if (p != e)
        return VALUE_RETRY;
#if FLT_EVAL_METHOD == 0
    uint64_t mantissa = 0;
    int significant = 0;
    for (Py_ssize_t i = 0; i < n_int + n_frac; i++) {
        unsigned char c = i < n_int ? int_part[i] : frac_part[i - n_int];
        if (significant == 0 && c == '0')
            continue;
        if (++significant > 19)
            return VALUE_DEFER;
        mantissa = mantissa * 10 + (uint64_t)(c - '0');
    }
    exponent -= (long)n_frac;
    if (mantissa > (1ull << 53) || exponent < -22 || exponent > 22)
        return VALUE_DEFER;
    double value = (double)mantissa;
    value = exponent < 0 ? value / POW10[-exponent] : value * POW10[exponent];
    *out = negative ? -value : value;
    return VALUE_OK;
#else
    return VALUE_DEFER;
#endif
}

static int
bool_value(const unsigned char *p, Py_ssize_t n, double *out)
{
    static const char *TRUE_WORDS[] = {"t", "T", "true", "True", "TRUE"};
    static const char *FALSE_WORDS[] = {"f", "F", "false", "False", "FALSE"};
    for (int i = 0; i < 5; i++) {
        if ((Py_ssize_t)strlen(TRUE_WORDS[i]) == n && memcmp(p, TRUE_WORDS[i], (size_t)n) == 0) {
            *out = 1.0;
            return VALUE_OK;
        }
        if ((Py_ssize_t)strlen(FALSE_WORDS[i]) == n && memcmp(p, FALSE_WORDS[i], (size_t)n) == 0) {
            *out = 0.0;
            return VALUE_OK;
        }
    }
    return VALUE_RETRY;
}

/* The field value p[0..n) by line protocol's typing rules: kind and float64 value. */
static int
field_value(const unsigned char *p, Py_ssize_t n, unsigned char *kind, double *out)
{
    if (n == 0)
        return VALUE_RETRY;
    unsigned char first = p[0], last = p[n - 1];
    if (first == 't' || first == 'T' || first == 'f' || first == 'F') {
        *kind = KIND_BOOL;
        return bool_value(p, n, out);
    }
    if (!(first == '-' || first == '.' || (CLASS[first] & C_DIGIT)))
        return VALUE_RETRY;
    uint64_t m;
    if (last == 'i') {
        int negative = first == '-';
        Py_ssize_t body = n - 1 - negative;
        if (body == 0 || digits(p + negative, p + n - 1) != body)
            return VALUE_RETRY;
        if (magnitude(p + negative, body, negative ? (1ull << 63) : (1ull << 63) - 1, &m) < 0)
            return VALUE_RETRY; /* out of the int64 range: the reference words the reason */
        *kind = KIND_INT;
        *out = negative ? (double)(int64_t)(0 - m) : (double)(int64_t)m;
        return VALUE_OK;
    }
    if (last == 'u') {
        if (n == 1 || digits(p, p + n - 1) != n - 1 || magnitude(p, n - 1, UINT64_MAX, &m) < 0)
            return VALUE_RETRY;
        *kind = KIND_UINT;
        *out = (double)m;
        return VALUE_OK;
    }
    *kind = KIND_FLOAT;
    return float_value(p, p + n, out);
}

/* ---- lines ----------------------------------------------------------------------------- */

/* The field keys of the last line of each series key, by position: a line of a key met before
 * names its fields as that line did nearly always, and a byte comparison with the name there
 * then stands in for hashing it (a third of the pass's time went to interning). */
#define CACHED_FIELDS 8
typedef struct {
    Py_ssize_t pos[CACHED_FIELDS], len[CACHED_FIELDS];
    int32_t field[CACHED_FIELDS];
} FieldCache;

typedef struct {
    const unsigned char *buf;
    int64_t unit_ns, default_ns;
    int64_t time_max, time_min; /* the timestamps (in the unit) that fit int64 once scaled */
    Interner keys, fields;
    Vec cache;                  /* FieldCache per series key index */
    Vec next;                   /* per series key index: the key of the line that followed it last */
    int32_t last_key;           /* the key of the line before, -1 at first */
    Vec row, key, time, field, kind, value; /* one item per field */
    Vec retry;                              /* rows handed back */
    Vec deferred;                           /* output index of floats to convert with the GIL */
    Vec deferred_pos, deferred_len;         /* their tokens in buf */
} Parser;

static int
emit(Parser *P, int64_t row, int32_t key, int32_t field, unsigned char kind, double value)
{
    Py_ssize_t n = P->row.size + 1;
    if (vec_reserve(&P->row, n) < 0 || vec_reserve(&P->key, n) < 0 || vec_reserve(&P->time, n) < 0 ||
        vec_reserve(&P->field, n) < 0 || vec_reserve(&P->kind, n) < 0 || vec_reserve(&P->value, n) < 0)
        return -1;
    VEC_AT(P->row, int64_t, n - 1) = row;
    VEC_AT(P->key, int32_t, n - 1) = key;
    VEC_AT(P->field, int32_t, n - 1) = field;
    VEC_AT(P->kind, unsigned char, n - 1) = kind;
    VEC_AT(P->value, double, n - 1) = value;
    P->row.size = P->key.size = P->time.size = P->field.size = P->kind.size = P->value.size = n;
    return 0;
}

static int
defer(Parser *P, Py_ssize_t out, Py_ssize_t pos, Py_ssize_t len)
{
    Py_ssize_t n = P->deferred.size + 1;
    if (vec_reserve(&P->deferred, n) < 0 || vec_reserve(&P->deferred_pos, n) < 0 ||
        vec_reserve(&P->deferred_len, n) < 0)
        return -1;
    VEC_AT(P->deferred, Py_ssize_t, n - 1) = out;
    VEC_AT(P->deferred_pos, Py_ssize_t, n - 1) = pos;
    VEC_AT(P->deferred_len, Py_ssize_t, n - 1) = len;
    P->deferred.size = P->deferred_pos.size = P->deferred_len.size = n;
    return 0;
}

/* Eight ASCII digits (checked) as their value, -1 if one is not a digit (Lemire's SWAR). */
static inline int64_t
eight_digits(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    if ((((v & 0xF0F0F0F0F0F0F0F0ull) | (((v + 0x0606060606060606ull) & 0xF0F0F0F0F0F0F0F0ull) >> 4))) !=
        0x3333333333333333ull)
        return -1;
    v = ((v & 0x0F0F0F0F0F0F0F0Full) * 2561) >> 8;
    v = ((v & 0x00FF00FF00FF00FFull) * 6553601) >> 16;
    return (int64_t)(((v & 0x0000FFFF0000FFFFull) * 42949672960001ull) >> 32);
}

/* Timestamp -?[0-9]+ at b[i..end), spaces allowed after it, times unit_ns within int64. */
static int
timestamp(const Parser *P, Py_ssize_t i, Py_ssize_t end, int64_t *out)
{
    const unsigned char *b = P->buf;
    int negative = b[i] == '-';
    i += negative;
    uint64_t m = 0;
    Py_ssize_t n = 0;
#if SWAR
    /* the usual case, 19 digits of nanoseconds then the LF: 8 + 8 at a time, then one by one */
    while (n < 16 && i + n + 8 <= end) {
        int64_t eight = eight_digits(b + i + n);
        if (eight < 0)
            break;
        m = m * 100000000ull + (uint64_t)eight; /* at most 16 digits: no overflow */
        n += 8;
    }
#endif
    Py_ssize_t rest = digits(b + i + n, b + end);
    if (n + rest == 0)
        return -1;
    if (n + rest <= 18) { /* below 10**18: no overflow check needed */
        for (Py_ssize_t k = 0; k < rest; k++)
            m = m * 10 + (uint64_t)(b[i + n + k] - '0');
    } else {
        uint64_t tail;
        if (magnitude(b + i + n, rest, UINT64_MAX, &tail) < 0)
            return -1;
        uint64_t limit = negative ? (1ull << 63) : (1ull << 63) - 1, scale = 1;
        for (Py_ssize_t k = 0; k < rest; k++)
            if (__builtin_mul_overflow(scale, 10, &scale))
                return -1;
        if (__builtin_mul_overflow(m, scale, &m) || __builtin_add_overflow(m, tail, &m) || m > limit)
            return -1; /* no division: this runs for every 19-digit nanosecond timestamp */
    }
    for (i += n + rest; i < end; i++)
        if (b[i] != ' ')
            return -1;
    int64_t value = negative ? (int64_t)(0 - m) : (int64_t)m;
    if (value > P->time_max || value < P->time_min)
        return -1;
    *out = value * P->unit_ns;
    return 0;
}

/* The index of the series key b[pos:pos+len] of a line: sensors report in turn, so the key that
 * followed the previous line's key last time is tried first (a byte comparison), then the
 * interner (a hash). */
static int32_t
series_index(Parser *P, Py_ssize_t pos, Py_ssize_t len)
{
    const unsigned char *b = P->buf;
    int32_t guess = P->last_key >= 0 ? VEC_AT(P->next, int32_t, P->last_key) : -1;
    int32_t key;
    if (guess >= 0 && VEC_AT(P->keys.len, Py_ssize_t, guess) == len &&
        memcmp(b + VEC_AT(P->keys.pos, Py_ssize_t, guess), b + pos, (size_t)len) == 0) {
        key = guess;
    } else {
        key = intern(&P->keys, b, pos, len);
        if (key < 0)
            return -1;
        if (P->keys.count > P->next.size) {
            if (vec_reserve(&P->next, P->keys.count) < 0)
                return -1;
            for (Py_ssize_t k = P->next.size; k < P->keys.count; k++)
                VEC_AT(P->next, int32_t, k) = -1;
            P->next.size = P->keys.count;
        }
    }
    if (P->last_key >= 0)
        VEC_AT(P->next, int32_t, P->last_key) = key;
    P->last_key = key;
    return key;
}

/* The index of the field key b[name:name+len], the `position`-th of a line of series key
 * `key`: from the key's cache when its last line named the same there, else interned. */
static int32_t
field_index(Parser *P, int32_t key, int position, Py_ssize_t name, Py_ssize_t len)
{
    const unsigned char *b = P->buf;
    FieldCache *c = NULL;
    if (position < CACHED_FIELDS) {
        if (key >= P->cache.size) {
            Py_ssize_t size = P->keys.count;
            if (vec_reserve(&P->cache, size) < 0)
                return -1;
            for (Py_ssize_t k = P->cache.size; k < size; k++)
                memset(&VEC_AT(P->cache, FieldCache, k), 0, sizeof(FieldCache));
            P->cache.size = size;
        }
        c = &VEC_AT(P->cache, FieldCache, key);
        if (c->len[position] == len && len > 0 && memcmp(b + c->pos[position], b + name, (size_t)len) == 0)
            return c->field[position];
    }
    int32_t field = intern(&P->fields, b, name, len);
    if (field >= 0 && c != NULL) {
        c->pos[position] = name;
        c->len[position] = len;
        c->field[position] = field;
    }
    return field;
}

/* One line: LINE_OK (its fields emitted), LINE_SKIP (blank or comment), LINE_RETRY, or -1 (no memory). */
static int
parse_line(Parser *P, int64_t row, Py_ssize_t i, Py_ssize_t end)
{
    const unsigned char *b = P->buf;
    if (end > i && b[end - 1] == '\r') /* CRLF ends a line like LF */
        end--;
    while (i < end && b[i] == ' ')
        i++;
    if (i == end)
        return LINE_SKIP;
    if (b[i] == '#') { /* a comment may hold quotes and backslashes, no control byte */
        for (; i < end; i++)
            if (CLASS[b[i]] & C_BAD && b[i] != '"' && b[i] != '\\')
                return LINE_RETRY;
        return LINE_SKIP;
    }
    Py_ssize_t key_start = i;
    i = scan(b, i, end, STOP_SPACE);
    if (i == end || b[i] != ' ')
        return LINE_RETRY;
    int32_t key = series_index(P, key_start, i - key_start);
    if (key < 0)
        return -1;
    while (i < end && b[i] == ' ')
        i++;
    Py_ssize_t first = P->row.size, first_deferred = P->deferred.size;
    for (int position = 0;; position++) {
        Py_ssize_t name = i;
        i = scan(b, i, end, STOP_SPACE | STOP_COMMA | STOP_EQUALS);
        if (i == name || i == end || b[i] != '=')
            goto retry;
        Py_ssize_t name_len = i - name, value = ++i;
        i = scan(b, i, end, STOP_SPACE | STOP_COMMA);
        if (i < end && b[i] != ',' && b[i] != ' ')
            goto retry;
        unsigned char kind = KIND_FLOAT;
        double number = 0.0;
        int outcome = field_value(b + value, i - value, &kind, &number);
        if (outcome == VALUE_RETRY)
            goto retry;
        int32_t field = field_index(P, key, position, name, name_len);
        if (field < 0)
            return -1;
        for (Py_ssize_t k = first; k < P->row.size; k++)
            if (VEC_AT(P->field, int32_t, k) == field)
                goto retry; /* a repeated field key: rejected by the reference, with the reason */
        if (emit(P, row, key, field, kind, number) < 0)
            return -1;
        if (outcome == VALUE_DEFER && defer(P, P->row.size - 1, value, i - value) < 0)
            return -1;
        if (i < end && b[i] == ',') {
            i++;
            continue;
        }
        break;
    }
    while (i < end && b[i] == ' ')
        i++;
    int64_t time_ns = P->default_ns;
    if (i < end && timestamp(P, i, end, &time_ns) < 0)
        goto retry;
    for (Py_ssize_t k = first; k < P->row.size; k++)
        VEC_AT(P->time, int64_t, k) = time_ns;
    return LINE_OK;
retry:
    P->row.size = P->key.size = P->time.size = P->field.size = P->kind.size = P->value.size = first;
    P->deferred.size = P->deferred_pos.size = P->deferred_len.size = first_deferred;
    return LINE_RETRY;
}

static int
add_retry(Parser *P, int64_t row)
{
    if (vec_reserve(&P->retry, P->retry.size + 1) < 0)
        return -1;
    VEC_AT(P->retry, int64_t, P->retry.size++) = row;
    return 0;
}

static int
parse_all(Parser *P, const int64_t *starts, const int64_t *ends, Py_ssize_t n)
{
    for (Py_ssize_t r = 0; r < n; r++) {
        int outcome = parse_line(P, r, (Py_ssize_t)starts[r], (Py_ssize_t)ends[r]);
        if (outcome < 0 || (outcome == LINE_RETRY && add_retry(P, r) < 0))
            return -1;
    }
    return 0;
}

/* Convert the deferred floats (GIL held); a row whose float overflows is handed back whole. */
static int
convert_deferred(Parser *P)
{
    Py_ssize_t n = P->deferred.size;
    if (n == 0)
        return 0;
    Vec token = {NULL, 0, 0, 1};
    Vec dropped = {NULL, 0, 0, sizeof(int64_t)};
    int status = 0;
    for (Py_ssize_t d = 0; d < n && status == 0; d++) {
        Py_ssize_t out = VEC_AT(P->deferred, Py_ssize_t, d);
        Py_ssize_t len = VEC_AT(P->deferred_len, Py_ssize_t, d);
        if (vec_reserve(&token, len + 1) < 0) {
            status = -1;
            break;
        }
        memcpy(token.data, P->buf + VEC_AT(P->deferred_pos, Py_ssize_t, d), (size_t)len);
        token.data[len] = '\0';
        char *stop = NULL;
        double value = PyOS_string_to_double(token.data, &stop, NULL);
        int bad = (value == -1.0 && PyErr_Occurred()) || stop != token.data + len || Py_IS_INFINITY(value);
        PyErr_Clear();
        if (!bad) {
            VEC_AT(P->value, double, out) = value;
            continue;
        }
        int64_t row = VEC_AT(P->row, int64_t, out);
        if (dropped.size == 0 || VEC_AT(dropped, int64_t, dropped.size - 1) != row) {
            if (vec_reserve(&dropped, dropped.size + 1) < 0)
                status = -1;
            else
                VEC_AT(dropped, int64_t, dropped.size++) = row;
        }
    }
    if (status == 0 && dropped.size) {
        /* rows dropped and retried: both lists ascending */
        Py_ssize_t kept = 0, j = 0;
        for (Py_ssize_t k = 0; k < P->row.size; k++) {
            int64_t row = VEC_AT(P->row, int64_t, k);
            while (j < dropped.size && VEC_AT(dropped, int64_t, j) < row)
                j++;
            if (j < dropped.size && VEC_AT(dropped, int64_t, j) == row)
                continue;
            VEC_AT(P->row, int64_t, kept) = row;
            VEC_AT(P->key, int32_t, kept) = VEC_AT(P->key, int32_t, k);
            VEC_AT(P->time, int64_t, kept) = VEC_AT(P->time, int64_t, k);
            VEC_AT(P->field, int32_t, kept) = VEC_AT(P->field, int32_t, k);
            VEC_AT(P->kind, unsigned char, kept) = VEC_AT(P->kind, unsigned char, k);
            VEC_AT(P->value, double, kept) = VEC_AT(P->value, double, k);
            kept++;
        }
        P->row.size = P->key.size = P->time.size = P->field.size = P->kind.size = P->value.size = kept;
        Vec merged = {NULL, 0, 0, sizeof(int64_t)};
        if (vec_reserve(&merged, P->retry.size + dropped.size) < 0) {
            status = -1;
        } else {
            Py_ssize_t a = 0, c = 0;
            while (a < P->retry.size || c < dropped.size) {
                int take_retry = c == dropped.size ||
                                 (a < P->retry.size && VEC_AT(P->retry, int64_t, a) < VEC_AT(dropped, int64_t, c));
                VEC_AT(merged, int64_t, merged.size++) =
                    take_retry ? VEC_AT(P->retry, int64_t, a++) : VEC_AT(dropped, int64_t, c++);
            }
            free(P->retry.data);
            P->retry = merged;
        }
    }
    free(token.data);
    free(dropped.data);
    return status;
}

/* ---- Python interface ------------------------------------------------------------------- */

static PyObject *
vec_bytes(const Vec *v)
{
    return PyBytes_FromStringAndSize(v->data ? v->data : "", v->size * v->itemsize);
}

static PyObject *
interned_list(const Interner *t, const unsigned char *buf)
{
    PyObject *list = PyList_New(t->count);
    if (list == NULL)
        return NULL;
    for (int32_t i = 0; i < t->count; i++) {
        PyObject *item = PyBytes_FromStringAndSize(
            (const char *)buf + VEC_AT(t->pos, Py_ssize_t, i), VEC_AT(t->len, Py_ssize_t, i));
        if (item == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

/* The column vectors of the last parse, kept for the next one (taken and given back with the
 * GIL held, so a parse running beside another simply allocates its own): memory the system
 * has just mapped costs a page fault per page, and the reader's windows follow one another. */
#define N_VECS 12
static struct {
    char *data;
    Py_ssize_t capacity;
} SPARE[N_VECS];

static void
parser_vecs(Parser *P, Vec **vecs)
{
    Vec *all[N_VECS] = {&P->row,      &P->key,          &P->time,        &P->field, &P->kind, &P->value,
                        &P->retry,    &P->deferred,     &P->deferred_pos, &P->deferred_len, &P->cache,
                        &P->next};
    memcpy(vecs, all, sizeof(all));
}

/* Give each vector the spare memory of its kind, if any (GIL held). */
static void
parser_take_spares(Parser *P)
{
    Vec *vecs[N_VECS];
    parser_vecs(P, vecs);
    for (int i = 0; i < N_VECS; i++) {
        if (SPARE[i].data != NULL && vecs[i]->data == NULL) {
            vecs[i]->data = SPARE[i].data;
            vecs[i]->capacity = SPARE[i].capacity;
            SPARE[i].data = NULL;
        }
    }
}

static void
parser_free(Parser *P)
{
    interner_free(&P->keys);
    interner_free(&P->fields);
    Vec *vecs[N_VECS];
    parser_vecs(P, vecs);
    for (int i = 0; i < N_VECS; i++) {
        if (SPARE[i].data == NULL && vecs[i]->data != NULL) {
            SPARE[i].data = vecs[i]->data;
            SPARE[i].capacity = vecs[i]->capacity;
        } else {
            free(vecs[i]->data);
        }
        vecs[i]->data = NULL;
    }
}

static int
int64_view(PyObject *obj, Py_buffer *view, const char *name)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    const char *format = view->format ? view->format : "B";
    if (*format == '<' || *format == '=' || *format == '@')
        format++;
    if (view->itemsize != 8 || (strcmp(format, "q") != 0 && strcmp(format, "l") != 0)) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous int64 array", name);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *
results(Parser *P)
{
    return Py_BuildValue("(NNNNNNNNN)", vec_bytes(&P->row), vec_bytes(&P->key), vec_bytes(&P->time),
                         vec_bytes(&P->field), vec_bytes(&P->kind), vec_bytes(&P->value),
                         vec_bytes(&P->retry), interned_list(&P->keys, P->buf),
                         interned_list(&P->fields, P->buf));
}

PyDoc_STRVAR(parse_doc,
"parse(buf, starts, ends, unit_ns, default_ns)\n--\n\n"
"Fields of the lines buf[starts[i]:ends[i]] (ends[i]: the index of the line's LF; int64 arrays).\n"
"Returns (row, key, time_ns, field, kind, value, retry, keys, fields): the first seven are bytes\n"
"holding int64, int32, int64, int32, uint8, float64 and int64 arrays, one item per field\n"
"(row: position in starts; key and field: index into the lists keys and fields of distinct\n"
"series keys and field keys as bytes; kind: index into FIELD_KINDS), and retry the rows the\n"
"byte-level parser must take. Timestamps are multiplied by unit_ns; a line without one takes\n"
"default_ns. Blank and comment lines give nothing.");

static PyObject *
parse(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *buf_obj, *starts_obj, *ends_obj;
    long long unit_ns, default_ns;
    if (!PyArg_ParseTuple(args, "OOOLL:parse", &buf_obj, &starts_obj, &ends_obj, &unit_ns, &default_ns))
        return NULL;
    if (unit_ns <= 0) {
        PyErr_SetString(PyExc_ValueError, "unit_ns must be positive");
        return NULL;
    }
    Py_buffer buf, starts, ends;
    if (PyObject_GetBuffer(buf_obj, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    if (int64_view(starts_obj, &starts, "starts") < 0) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    if (int64_view(ends_obj, &ends, "ends") < 0) {
        PyBuffer_Release(&starts);
        PyBuffer_Release(&buf);
        return NULL;
    }
    PyObject *out = NULL;
    Py_ssize_t n = starts.len / 8;
    const int64_t *s = starts.buf, *e = ends.buf;
    Parser P;
    memset(&P, 0, sizeof(P));
    P.buf = buf.buf;
    P.unit_ns = unit_ns;
    P.default_ns = default_ns;
    P.time_max = INT64_MAX / unit_ns;
    P.time_min = INT64_MIN / unit_ns;
    Vec *vecs[] = {&P.row, &P.key, &P.time, &P.field, &P.kind, &P.value,
                   &P.retry, &P.deferred, &P.deferred_pos, &P.deferred_len, &P.cache, &P.next};
    Py_ssize_t sizes[] = {8, 4, 8, 4, 1, 8, 8, sizeof(Py_ssize_t), sizeof(Py_ssize_t), sizeof(Py_ssize_t),
                          sizeof(FieldCache), sizeof(int32_t)};
    P.last_key = -1;
    parser_take_spares(&P);
    for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
        vecs[i]->itemsize = sizes[i];
    int status = 0;
    if (ends.len != starts.len) {
        PyErr_SetString(PyExc_ValueError, "starts and ends differ in length");
        goto done;
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        if (s[r] < 0 || s[r] > e[r] || e[r] >= buf.len) {
            PyErr_Format(PyExc_ValueError, "line %zd: [%lld, %lld] is outside the buffer", r, (long long)s[r],
                         (long long)e[r]);
            goto done;
        }
    }
    if (interner_init(&P.keys, 256) < 0 || interner_init(&P.fields, 64) < 0 ||
        vec_reserve(&P.row, n * 2) < 0 || vec_reserve(&P.key, n * 2) < 0 || vec_reserve(&P.time, n * 2) < 0 ||
        vec_reserve(&P.field, n * 2) < 0 || vec_reserve(&P.kind, n * 2) < 0 || vec_reserve(&P.value, n * 2) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    status = parse_all(&P, s, e, n);
    Py_END_ALLOW_THREADS
    if (status < 0 || convert_deferred(&P) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    out = results(&P);
done:
    parser_free(&P);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&buf);
    return out;
}

PyDoc_STRVAR(line_ends_doc,
"line_ends(buf)\n--\n\n"
"The index of every LF in buf, as bytes holding an int64 array (memchr: a tenth of NumPy's\n"
"compare-and-nonzero on a window of 100,000 lines).");

static PyObject *
line_ends(PyObject *Py_UNUSED(module), PyObject *arg)
{
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    Vec ends = {NULL, 0, 0, sizeof(int64_t)};
    int status = 0;
    Py_BEGIN_ALLOW_THREADS
    const char *start = buf.buf, *stop = start + buf.len, *p = start;
    while (p < stop && (p = memchr(p, '\n', (size_t)(stop - p))) != NULL) {
        if (vec_reserve(&ends, ends.size + 1) < 0) {
            status = -1;
            break;
        }
        VEC_AT(ends, int64_t, ends.size++) = p - start;
        p++;
    }
    Py_END_ALLOW_THREADS
    PyObject *out = status < 0 ? PyErr_NoMemory() : vec_bytes(&ends);
    free(ends.data);
    PyBuffer_Release(&buf);
    return out;
}

PyDoc_STRVAR(specials_doc,
"specials(buf, n)\n--\n\n"
"(has_quote, has_non_ascii) of buf[:n]: whether it holds a double quote (a string field may span\n"
"lines) and a byte of 0x80 or more (then UTF-8 is to be checked), without copying buf.");

static PyObject *
specials(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *obj;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On:specials", &obj, &n))
        return NULL;
    Py_buffer buf;
    if (PyObject_GetBuffer(obj, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    if (n < 0 || n > buf.len) {
        PyBuffer_Release(&buf);
        return PyErr_Format(PyExc_ValueError, "n=%zd is outside the buffer", n);
    }
    int quote = 0, high = 0;
    Py_BEGIN_ALLOW_THREADS
    const unsigned char *p = buf.buf;
    quote = memchr(p, '"', (size_t)n) != NULL;
    Py_ssize_t i = 0;
    uint64_t any = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        any |= w;
    }
    for (; i < n; i++)
        any |= p[i];
    high = (any & HIGHS) != 0;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return Py_BuildValue("(OO)", quote ? Py_True : Py_False, high ? Py_True : Py_False);
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS, parse_doc},
    {"line_ends", line_ends, METH_O, line_ends_doc},
    {"specials", specials, METH_VARARGS, specials_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_lineproto",
    "The compiled pass of observatory.sources.line_protocol over plain lines.", -1, methods,
};

PyMODINIT_FUNC
PyInit__lineproto(void)
{
    init_classes();
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "VERSION", LINEPROTO_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
