/*
 * aaad.radius._speedups: C versions of the RADIUS codec's hot functions.
 *
 * Drop-in replacements for the pure-Python functions of aaad/radius/codec.py
 * (which stays the reference and the fallback): decode, verify_message_authenticator,
 * verify_request_authenticator, verify_response_authenticator, encode_reply,
 * pap_hide, pap_unhide and _hmac_md5, plus md5 for the tests.  codec.py calls init()
 * with its Packet and MalformedPacket classes and its Python functions, then
 * rebinds its public names to these.
 *
 * The rule that keeps the two paths equal: the C code handles the common case
 * (exact bytes, exact ints, a codec.Packet) natively, and hands every other
 * call, and every call that would raise ValueError or TypeError, to the Python
 * function it replaces, unchanged.  decode is the exception: it raises
 * MalformedPacket itself, with the same reason and detail as the Python decode.
 *
 * MD5 is written here from RFC 1321 and HMAC-MD5 from RFC 2104; both are
 * checked against the RFCs' test vectors (tests/radius/test_speedups.py).
 * Dependencies: libc and Python.h only.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* MD5 (RFC 1321)                                                            */
/* ------------------------------------------------------------------------- */

typedef struct {
    uint32_t s[4];
    uint64_t n;             /* octets absorbed */
    unsigned char buf[64];  /* pending partial block: n % 64 octets */
} md5_ctx;

static const uint32_t MD5_T[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

#define ROTL(x, c) (((x) << (c)) | ((x) >> (32 - (c))))
#define F(x, y, z) (((x) & (y)) | (~(x) & (z)))
#define G(x, y, z) (((x) & (z)) | ((y) & ~(z)))
#define H(x, y, z) ((x) ^ (y) ^ (z))
#define I(x, y, z) ((y) ^ ((x) | ~(z)))
#define STEP(f, a, b, c, d, k, s, i) \
    (a) = (b) + ROTL((uint32_t)((a) + f((b), (c), (d)) + X[k] + MD5_T[i]), s)

static inline uint32_t
load32le(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void
store32le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* One 64-octet block into the state (RFC 1321 section 3.4). */
static void
md5_block(uint32_t s[4], const unsigned char *p)
{
    uint32_t X[16];
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3];
    for (int k = 0; k < 16; k++)
        X[k] = load32le(p + 4 * k);

    STEP(F, a, b, c, d,  0,  7,  0); STEP(F, d, a, b, c,  1, 12,  1);
    STEP(F, c, d, a, b,  2, 17,  2); STEP(F, b, c, d, a,  3, 22,  3);
    STEP(F, a, b, c, d,  4,  7,  4); STEP(F, d, a, b, c,  5, 12,  5);
    STEP(F, c, d, a, b,  6, 17,  6); STEP(F, b, c, d, a,  7, 22,  7);
    STEP(F, a, b, c, d,  8,  7,  8); STEP(F, d, a, b, c,  9, 12,  9);
    STEP(F, c, d, a, b, 10, 17, 10); STEP(F, b, c, d, a, 11, 22, 11);
    STEP(F, a, b, c, d, 12,  7, 12); STEP(F, d, a, b, c, 13, 12, 13);
    STEP(F, c, d, a, b, 14, 17, 14); STEP(F, b, c, d, a, 15, 22, 15);

    STEP(G, a, b, c, d,  1,  5, 16); STEP(G, d, a, b, c,  6,  9, 17);
    STEP(G, c, d, a, b, 11, 14, 18); STEP(G, b, c, d, a,  0, 20, 19);
    STEP(G, a, b, c, d,  5,  5, 20); STEP(G, d, a, b, c, 10,  9, 21);
    STEP(G, c, d, a, b, 15, 14, 22); STEP(G, b, c, d, a,  4, 20, 23);
    STEP(G, a, b, c, d,  9,  5, 24); STEP(G, d, a, b, c, 14,  9, 25);
    STEP(G, c, d, a, b,  3, 14, 26); STEP(G, b, c, d, a,  8, 20, 27);
    STEP(G, a, b, c, d, 13,  5, 28); STEP(G, d, a, b, c,  2,  9, 29);
    STEP(G, c, d, a, b,  7, 14, 30); STEP(G, b, c, d, a, 12, 20, 31);

    STEP(H, a, b, c, d,  5,  4, 32); STEP(H, d, a, b, c,  8, 11, 33);
    STEP(H, c, d, a, b, 11, 16, 34); STEP(H, b, c, d, a, 14, 23, 35);
    STEP(H, a, b, c, d,  1,  4, 36); STEP(H, d, a, b, c,  4, 11, 37);
    STEP(H, c, d, a, b,  7, 16, 38); STEP(H, b, c, d, a, 10, 23, 39);
    STEP(H, a, b, c, d, 13,  4, 40); STEP(H, d, a, b, c,  0, 11, 41);
    STEP(H, c, d, a, b,  3, 16, 42); STEP(H, b, c, d, a,  6, 23, 43);
    STEP(H, a, b, c, d,  9,  4, 44); STEP(H, d, a, b, c, 12, 11, 45);
    STEP(H, c, d, a, b, 15, 16, 46); STEP(H, b, c, d, a,  2, 23, 47);

    STEP(I, a, b, c, d,  0,  6, 48); STEP(I, d, a, b, c,  7, 10, 49);
    STEP(I, c, d, a, b, 14, 15, 50); STEP(I, b, c, d, a,  5, 21, 51);
    STEP(I, a, b, c, d, 12,  6, 52); STEP(I, d, a, b, c,  3, 10, 53);
    STEP(I, c, d, a, b, 10, 15, 54); STEP(I, b, c, d, a,  1, 21, 55);
    STEP(I, a, b, c, d,  8,  6, 56); STEP(I, d, a, b, c, 15, 10, 57);
    STEP(I, c, d, a, b,  6, 15, 58); STEP(I, b, c, d, a, 13, 21, 59);
    STEP(I, a, b, c, d,  4,  6, 60); STEP(I, d, a, b, c, 11, 10, 61);
    STEP(I, c, d, a, b,  2, 15, 62); STEP(I, b, c, d, a,  9, 21, 63);

    s[0] += a;
    s[1] += b;
    s[2] += c;
    s[3] += d;
}

static void
md5_init(md5_ctx *ctx)
{
    ctx->s[0] = 0x67452301;
    ctx->s[1] = 0xefcdab89;
    ctx->s[2] = 0x98badcfe;
    ctx->s[3] = 0x10325476;
    ctx->n = 0;
}

static void
md5_update(md5_ctx *ctx, const unsigned char *p, size_t len)
{
    size_t have = (size_t)(ctx->n & 63);
    ctx->n += len;
    if (have) {
        size_t take = 64 - have;
        if (len < take) {
            memcpy(ctx->buf + have, p, len);
            return;
        }
        memcpy(ctx->buf + have, p, take);
        md5_block(ctx->s, ctx->buf);
        p += take;
        len -= take;
    }
    while (len >= 64) {
        md5_block(ctx->s, p);
        p += 64;
        len -= 64;
    }
    if (len)
        memcpy(ctx->buf, p, len);
}

static void
md5_final(md5_ctx *ctx, unsigned char out[16])
{
    uint64_t bits = ctx->n << 3;
    size_t have = (size_t)(ctx->n & 63);
    ctx->buf[have++] = 0x80;
    if (have > 56) {
        memset(ctx->buf + have, 0, 64 - have);
        md5_block(ctx->s, ctx->buf);
        have = 0;
    }
    memset(ctx->buf + have, 0, 56 - have);
    store32le(ctx->buf + 56, (uint32_t)bits);
    store32le(ctx->buf + 60, (uint32_t)(bits >> 32));
    md5_block(ctx->s, ctx->buf);
    for (int k = 0; k < 4; k++)
        store32le(out + 4 * k, ctx->s[k]);
}

/* Update with buf[start:stop] as Python slices it (start, stop >= 0, clamped to len). */
static inline void
md5_update_slice(md5_ctx *ctx, const unsigned char *buf, Py_ssize_t len, Py_ssize_t start, Py_ssize_t stop)
{
    if (start > len)
        start = len;
    if (stop > len)
        stop = len;
    if (stop > start)
        md5_update(ctx, buf + start, (size_t)(stop - start));
}

/* ------------------------------------------------------------------------- */
/* HMAC-MD5 (RFC 2104) with per-secret pad states cached                     */
/* ------------------------------------------------------------------------- */

typedef struct {
    uint32_t inner[4];      /* MD5 state after (K xor ipad) */
    uint32_t outer[4];      /* MD5 state after (K xor opad) */
} hmac_keys;

static PyObject *hmac_cache;        /* dict: secret (bytes) -> bytes holding one hmac_keys */
static PyObject *last_secret;       /* the secret of the last lookup (a strong reference) */
static hmac_keys last_keys;
#define HMAC_CACHE_MAX 4096         /* as codec._HMAC_KEYS: cleared past this many secrets */

static void
hmac_compute_keys(const unsigned char *secret, Py_ssize_t len, hmac_keys *keys)
{
    unsigned char key[64], pad[64];
    memset(key, 0, sizeof key);
    if (len > 64) {
        md5_ctx c;
        md5_init(&c);
        md5_update(&c, secret, (size_t)len);
        md5_final(&c, key);
    } else if (len > 0) {
        memcpy(key, secret, (size_t)len);
    }
    md5_ctx c;
    for (int k = 0; k < 64; k++)
        pad[k] = key[k] ^ 0x36;
    md5_init(&c);
    md5_block(c.s, pad);
    memcpy(keys->inner, c.s, sizeof keys->inner);
    for (int k = 0; k < 64; k++)
        pad[k] = key[k] ^ 0x5c;
    md5_init(&c);
    md5_block(c.s, pad);
    memcpy(keys->outer, c.s, sizeof keys->outer);
}

/* The pad states of an exact-bytes secret; -1 with an exception set on failure. */
static int
hmac_keys_for(PyObject *secret, hmac_keys *keys)
{
    if (secret == last_secret) {
        *keys = last_keys;
        return 0;
    }
    PyObject *entry = PyDict_GetItemWithError(hmac_cache, secret);
    if (entry != NULL) {
        memcpy(keys, PyBytes_AS_STRING(entry), sizeof *keys);
    } else {
        if (PyErr_Occurred())
            return -1;
        hmac_compute_keys((const unsigned char *)PyBytes_AS_STRING(secret), PyBytes_GET_SIZE(secret), keys);
        entry = PyBytes_FromStringAndSize((const char *)keys, sizeof *keys);
        if (entry == NULL)
            return -1;
        if (PyDict_GET_SIZE(hmac_cache) > HMAC_CACHE_MAX)
            PyDict_Clear(hmac_cache);
        int rc = PyDict_SetItem(hmac_cache, secret, entry);
        Py_DECREF(entry);
        if (rc < 0)
            return -1;
    }
    Py_INCREF(secret);
    Py_XSETREF(last_secret, secret);
    last_keys = *keys;
    return 0;
}

/* An MD5 context that continues the inner hash (64 octets of ipad absorbed). */
static inline void
hmac_start(const hmac_keys *keys, md5_ctx *ctx)
{
    memcpy(ctx->s, keys->inner, sizeof ctx->s);
    ctx->n = 64;
}

static inline void
hmac_finish(const hmac_keys *keys, md5_ctx *inner, unsigned char out[16])
{
    unsigned char digest[16];
    md5_final(inner, digest);
    md5_ctx outer;
    memcpy(outer.s, keys->outer, sizeof outer.s);
    outer.n = 64;
    md5_update(&outer, digest, 16);
    md5_final(&outer, out);
}

/* Constant-time equality of two 16-octet digests. */
static int
digest_equal(const unsigned char *a, const unsigned char *b)
{
    volatile unsigned char r = 0;
    for (int k = 0; k < 16; k++)
        r |= a[k] ^ b[k];
    return r == 0;
}

/* hmac.compare_digest(digest, other) for exact bytes other: lengths differ -> False. */
static PyObject *
compare16(const unsigned char digest[16], PyObject *other)
{
    if (PyBytes_GET_SIZE(other) != 16)
        Py_RETURN_FALSE;
    return PyBool_FromLong(digest_equal(digest, (const unsigned char *)PyBytes_AS_STRING(other)));
}

/* ------------------------------------------------------------------------- */
/* Module state set by init()                                                */
/* ------------------------------------------------------------------------- */

static PyTypeObject *packet_type;       /* codec.Packet */
static PyObject *malformed_type;        /* codec.MalformedPacket */
static PyObject *default_tiled;         /* codec.DEFAULT_TILED_VENDORS */
static unsigned char known_codes[256];  /* codec.KNOWN_CODES as a table */

/* Offsets of Packet's slots, read from its member descriptors: the six that decode fills,
 * then up to MAX_EXTRA others (caches such as Packet._first) that start as None, as
 * Packet.__init__ leaves them (tests/radius/test_speedups.py compares every slot). */
enum { P_CODE, P_IDENT, P_AUTHENTICATOR, P_ATTRS, P_RAW, P_MA_OFFSET, P_NSLOTS };
static const char *const packet_slots[P_NSLOTS] = {
    "code", "ident", "authenticator", "attrs", "raw", "ma_offset",
};
#define MAX_EXTRA 8
static Py_ssize_t slot_offset[P_NSLOTS + MAX_EXTRA];
static int n_extra;

#define SLOT(obj, i) (*(PyObject **)((char *)(obj) + slot_offset[i]))

/* The Python implementations, called for whatever the C code does not handle itself. */
enum {
    PY_VERIFY_MA, PY_VERIFY_REQUEST, PY_VERIFY_RESPONSE, PY_ENCODE_REPLY,
    PY_PAP_HIDE, PY_PAP_UNHIDE, PY_HMAC_MD5, PY_NFUNCS,
};
static const char *const py_names[PY_NFUNCS] = {
    "verify_message_authenticator", "verify_request_authenticator", "verify_response_authenticator",
    "encode_reply", "pap_hide", "pap_unhide", "_hmac_md5",
};
static PyObject *py_funcs[PY_NFUNCS];

static int
check_ready(void)
{
    if (packet_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "aaad.radius._speedups: init() was not called (import aaad.radius.codec)");
        return -1;
    }
    return 0;
}

/* Call the Python implementation with the arguments as given. */
static PyObject *
fallback(int which, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (check_ready() < 0)
        return NULL;
    return PyObject_Vectorcall(py_funcs[which], args, (size_t)nargs, kwnames);
}

/* Arguments of a METH_FASTCALL | METH_KEYWORDS call into out[0..nmax); absent ones NULL. */
static int
unpack(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
       const char *const *names, Py_ssize_t nreq, Py_ssize_t nmax, PyObject **out)
{
    for (Py_ssize_t i = 0; i < nmax; i++)
        out[i] = NULL;
    if (nargs > nmax) {
        PyErr_Format(PyExc_TypeError, "%s() takes from %zd to %zd positional arguments but %zd were given",
                     fname, nreq, nmax, nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        out[i] = args[i];
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nkw; k++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, k);
            Py_ssize_t j = 0;
            while (j < nmax && PyUnicode_CompareWithASCIIString(name, names[j]) != 0)
                j++;
            if (j == nmax) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, name);
                return -1;
            }
            if (out[j] != NULL) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname, names[j]);
                return -1;
            }
            out[j] = args[nargs + k];
        }
    }
    for (Py_ssize_t i = 0; i < nreq; i++) {
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s' (pos %zd)", fname, names[i], i + 1);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* decode                                                                    */
/* ------------------------------------------------------------------------- */

/* raise MalformedPacket(reason, detail); returns -1. */
static int
malformed(const char *reason, const char *fmt, ...)
{
    va_list va;
    va_start(va, fmt);
    PyObject *detail = PyUnicode_FromFormatV(fmt, va);
    va_end(va);
    if (detail == NULL)
        return -1;
    PyObject *r = PyUnicode_FromString(reason);
    if (r == NULL) {
        Py_DECREF(detail);
        return -1;
    }
    PyObject *argv[2] = {r, detail};
    PyObject *exc = PyObject_Vectorcall(malformed_type, argv, 2, NULL);
    Py_DECREF(r);
    Py_DECREF(detail);
    if (exc == NULL)
        return -1;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return -1;
}

/* codec._check_vsa on value[0:len] (the attribute at offset at); 0 if fine, -1 with an exception set. */
static int
check_vsa(const unsigned char *value, Py_ssize_t len, PyObject *tiled, Py_ssize_t at)
{
    if (len < 6)
        return malformed("bad_vsa", "%zd octets", len);
    unsigned long id = (unsigned long)value[0] << 24 | (unsigned long)value[1] << 16
                       | (unsigned long)value[2] << 8 | (unsigned long)value[3];
    PyObject *vendor = PyLong_FromUnsignedLong(id);
    if (vendor == NULL)
        return -1;
    int in = PySequence_Contains(tiled, vendor);
    Py_DECREF(vendor);
    if (in < 0) {
        /* The Python decode turns any IndexError inside its loop into this reason. */
        if (PyErr_ExceptionMatches(PyExc_IndexError)) {
            PyErr_Clear();
            return malformed("bad_attribute_length", "truncated header at %zd", at);
        }
        return -1;
    }
    if (!in)
        return 0;
    Py_ssize_t pos = 4;
    while (pos < len) {
        if (pos + 2 > len)
            return malformed("bad_vsa", "truncated sub-attribute");
        Py_ssize_t sub_len = value[pos + 1];
        if (sub_len < 2 || pos + sub_len > len)
            return malformed("bad_vsa", "sub-attribute length %zd", sub_len);
        pos += sub_len;
    }
    return 0;
}

static inline Py_ssize_t
clamp(Py_ssize_t i, Py_ssize_t len)
{
    return i < len ? i : len;
}

static PyObject *
slice(PyObject *bytes, Py_ssize_t start, Py_ssize_t stop)
{
    Py_ssize_t len = PyBytes_GET_SIZE(bytes);
    start = clamp(start, len);
    stop = clamp(stop, len);
    if (stop < start)
        stop = start;
    if (start == 0 && stop == len) {
        Py_INCREF(bytes);
        return bytes;
    }
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(bytes) + start, stop - start);
}

static const char *const decode_kw[] = {"data", "tiled_vendors"};

static PyObject *
sp_decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2];
    if (unpack("decode", args, nargs, kwnames, decode_kw, 1, 2, a) < 0 || check_ready() < 0)
        return NULL;
    PyObject *data = a[0], *tiled = a[1] != NULL ? a[1] : default_tiled;

    Py_ssize_t n;
    if (PyBytes_CheckExact(data)) {
        n = PyBytes_GET_SIZE(data);
    } else {
        n = PyObject_Length(data);
        if (n < 0)
            return NULL;
    }
    if (n < 20) {
        malformed("too_short", "%zd octets", n);
        return NULL;
    }
    PyObject *buf;                  /* bytes(data), owned */
    if (PyBytes_CheckExact(data)) {
        Py_INCREF(data);
        buf = data;
    } else {
        buf = PyObject_CallOneArg((PyObject *)&PyBytes_Type, data);
        if (buf == NULL)
            return NULL;
    }
    PyObject *raw = NULL, *attrs = NULL, *result = NULL;
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(buf);
    Py_ssize_t blen = PyBytes_GET_SIZE(buf);
    if (blen < 4) {
        PyErr_SetString(PyExc_IndexError, "index out of range");
        goto done;
    }
    Py_ssize_t length = ((Py_ssize_t)d[2] << 8) | d[3];
    if (length < 20) {
        malformed("length_too_small", "Length %zd", length);
        goto done;
    }
    if (length > 4096) {
        malformed("too_long", "Length %zd", length);
        goto done;
    }
    if (length > n) {
        malformed("length_mismatch", "Length %zd > %zd octets", length, n);
        goto done;
    }
    int code = d[0];
    if (!known_codes[code]) {
        malformed("unknown_code", "code %d", code);
        goto done;
    }
    if (length == n) {
        Py_INCREF(buf);
        raw = buf;
    } else {
        raw = slice(buf, 0, length);
        if (raw == NULL)
            goto done;
    }
    const unsigned char *r = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t rlen = PyBytes_GET_SIZE(raw);

    /* First pass: the checks, in the Python decode's order, and the count. */
    Py_ssize_t count = 0, ma_offset = -1, pos = 20;
    while (pos < length) {
        if (pos + 1 >= rlen) {      /* Python: IndexError reading the header */
            malformed("bad_attribute_length", "truncated header at %zd", pos);
            goto done;
        }
        int t = r[pos];
        Py_ssize_t end = pos + r[pos + 1];
        if (end > length || end < pos + 2) {
            malformed("bad_attribute_length", "type %d at %zd", t, pos);
            goto done;
        }
        if (t == 0) {
            malformed("attribute_type_zero", "at %zd", pos);
            goto done;
        }
        if (t == 26) {
            Py_ssize_t vs = clamp(pos + 2, rlen), ve = clamp(end, rlen);
            if (check_vsa(r + vs, ve > vs ? ve - vs : 0, tiled, pos) < 0)
                goto done;
        } else if (t == 80) {
            if (end - pos != 18) {
                malformed("bad_message_authenticator_length", "length %zd", end - pos);
                goto done;
            }
            if (ma_offset >= 0) {
                malformed("duplicate_message_authenticator", "");
                goto done;
            }
            ma_offset = pos + 2;
        }
        count++;
        pos = end;
    }

    /* Second pass: the (type, value) tuples. */
    attrs = PyList_New(count);
    if (attrs == NULL)
        goto done;
    pos = 20;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t end = pos + r[pos + 1];
        Py_ssize_t vs = clamp(pos + 2, rlen), ve = clamp(end, rlen);
        PyObject *t = PyLong_FromLong(r[pos]);
        PyObject *v = PyBytes_FromStringAndSize((const char *)r + vs, ve > vs ? ve - vs : 0);
        PyObject *tup = (t && v) ? PyTuple_New(2) : NULL;
        if (tup == NULL) {
            Py_XDECREF(t);
            Py_XDECREF(v);
            goto done;
        }
        PyTuple_SET_ITEM(tup, 0, t);
        PyTuple_SET_ITEM(tup, 1, v);
        PyList_SET_ITEM(attrs, k, tup);
        pos = end;
    }

    PyObject *vals[P_NSLOTS];
    vals[P_CODE] = PyLong_FromLong(code);
    vals[P_IDENT] = PyLong_FromLong(d[1]);
    vals[P_AUTHENTICATOR] = slice(raw, 4, 20);
    vals[P_ATTRS] = attrs;
    vals[P_RAW] = raw;
    vals[P_MA_OFFSET] = PyLong_FromSsize_t(ma_offset);
    PyObject *p = NULL;
    if (vals[P_CODE] && vals[P_IDENT] && vals[P_AUTHENTICATOR] && vals[P_MA_OFFSET])
        p = packet_type->tp_alloc(packet_type, 0);
    if (p != NULL) {
        /* What Packet.__init__ does: each slot set once, on a fresh object. */
        for (int i = 0; i < P_NSLOTS; i++)
            SLOT(p, i) = vals[i];
        for (int i = P_NSLOTS; i < P_NSLOTS + n_extra; i++)
            SLOT(p, i) = Py_NewRef(Py_None);
        attrs = raw = NULL;          /* references moved into the packet */
        result = p;
    } else {
        Py_XDECREF(vals[P_CODE]);
        Py_XDECREF(vals[P_IDENT]);
        Py_XDECREF(vals[P_AUTHENTICATOR]);
        Py_XDECREF(vals[P_MA_OFFSET]);
    }
done:
    Py_XDECREF(attrs);
    Py_XDECREF(raw);
    Py_DECREF(buf);
    return result;
}

/* ------------------------------------------------------------------------- */
/* Authenticators                                                            */
/* ------------------------------------------------------------------------- */

static const unsigned char ZERO16[16];

/* The packet's raw slot if packet is a codec.Packet whose raw is exact bytes, else NULL. */
static inline PyObject *
packet_raw(PyObject *packet)
{
    if (!Py_IS_TYPE(packet, packet_type))
        return NULL;
    PyObject *raw = SLOT(packet, P_RAW);
    return raw != NULL && PyBytes_CheckExact(raw) ? raw : NULL;
}

static const char *const verify_ma_kw[] = {"packet", "secret", "authenticator"};

static PyObject *
sp_verify_message_authenticator(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[3];
    if (unpack("verify_message_authenticator", args, nargs, kwnames, verify_ma_kw, 2, 3, a) < 0
        || check_ready() < 0)
        return NULL;
    PyObject *packet = a[0], *secret = a[1], *auth = a[2];
    PyObject *raw = packet_raw(packet);
    PyObject *ma_obj = raw ? SLOT(packet, P_MA_OFFSET) : NULL;
    if (raw == NULL || ma_obj == NULL || !PyLong_CheckExact(ma_obj) || !PyBytes_CheckExact(secret)
        || (auth != NULL && auth != Py_None && !PyBytes_CheckExact(auth)))
        return fallback(PY_VERIFY_MA, args, nargs, kwnames);
    Py_ssize_t ma = PyLong_AsSsize_t(ma_obj);
    if (ma == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return fallback(PY_VERIFY_MA, args, nargs, kwnames);
    }
    if (ma < 0)
        Py_RETURN_FALSE;
    const unsigned char *r = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t len = PyBytes_GET_SIZE(raw);
    if (ma > len - 16)              /* raw[ma:ma + 16] is shorter than a digest */
        Py_RETURN_FALSE;
    hmac_keys keys;
    if (hmac_keys_for(secret, &keys) < 0)
        return NULL;
    md5_ctx ctx;
    hmac_start(&keys, &ctx);
    if (auth == NULL || auth == Py_None) {
        md5_update(&ctx, r, (size_t)ma);
    } else {
        md5_update_slice(&ctx, r, len, 0, 4);
        md5_update(&ctx, (const unsigned char *)PyBytes_AS_STRING(auth), (size_t)PyBytes_GET_SIZE(auth));
        md5_update_slice(&ctx, r, len, 20, ma);
    }
    md5_update(&ctx, ZERO16, 16);
    md5_update_slice(&ctx, r, len, ma + 16, len);
    unsigned char mac[16];
    hmac_finish(&keys, &ctx, mac);
    return PyBool_FromLong(digest_equal(mac, r + ma));
}

/* MD5(raw[:4] + vector + raw[20:] + secret) compared with the packet's authenticator. */
static PyObject *
check_authenticator(PyObject *packet, PyObject *raw, const unsigned char *vector, Py_ssize_t vlen, PyObject *secret)
{
    PyObject *auth = SLOT(packet, P_AUTHENTICATOR);
    const unsigned char *r = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t len = PyBytes_GET_SIZE(raw);
    md5_ctx ctx;
    unsigned char digest[16];
    md5_init(&ctx);
    md5_update_slice(&ctx, r, len, 0, 4);
    md5_update(&ctx, vector, (size_t)vlen);
    md5_update_slice(&ctx, r, len, 20, len);
    md5_update(&ctx, (const unsigned char *)PyBytes_AS_STRING(secret), (size_t)PyBytes_GET_SIZE(secret));
    md5_final(&ctx, digest);
    return compare16(digest, auth);
}

static const char *const verify_req_kw[] = {"packet", "secret"};

static PyObject *
sp_verify_request_authenticator(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2];
    if (unpack("verify_request_authenticator", args, nargs, kwnames, verify_req_kw, 2, 2, a) < 0
        || check_ready() < 0)
        return NULL;
    PyObject *raw = packet_raw(a[0]);
    PyObject *auth = raw ? SLOT(a[0], P_AUTHENTICATOR) : NULL;
    if (raw == NULL || auth == NULL || !PyBytes_CheckExact(auth) || !PyBytes_CheckExact(a[1]))
        return fallback(PY_VERIFY_REQUEST, args, nargs, kwnames);
    return check_authenticator(a[0], raw, ZERO16, 16, a[1]);
}

static const char *const verify_resp_kw[] = {"reply", "secret", "request_authenticator"};

static PyObject *
sp_verify_response_authenticator(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[3];
    if (unpack("verify_response_authenticator", args, nargs, kwnames, verify_resp_kw, 3, 3, a) < 0
        || check_ready() < 0)
        return NULL;
    PyObject *raw = packet_raw(a[0]);
    PyObject *auth = raw ? SLOT(a[0], P_AUTHENTICATOR) : NULL;
    if (raw == NULL || auth == NULL || !PyBytes_CheckExact(auth) || !PyBytes_CheckExact(a[1])
        || !PyBytes_CheckExact(a[2]))
        return fallback(PY_VERIFY_RESPONSE, args, nargs, kwnames);
    return check_authenticator(a[0], raw, (const unsigned char *)PyBytes_AS_STRING(a[2]),
                               PyBytes_GET_SIZE(a[2]), a[1]);
}

/* ------------------------------------------------------------------------- */
/* encode_reply                                                              */
/* ------------------------------------------------------------------------- */

/* 0..255 from an int (bytes((code, ...)) semantics), or -1 for anything else. */
static int
octet(PyObject *o)
{
    if (!PyLong_Check(o))
        return -1;
    int overflow;
    long v = PyLong_AsLongAndOverflow(o, &overflow);
    if (overflow || v < 0 || v > 255) {
        PyErr_Clear();
        return -1;
    }
    return (int)v;
}

static const char *const encode_reply_kw[] = {
    "code", "ident", "request_authenticator", "attrs", "secret", "message_authenticator", "proxy_states",
};

static PyObject *
sp_encode_reply(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[7];
    if (unpack("encode_reply", args, nargs, kwnames, encode_reply_kw, 5, 7, a) < 0 || check_ready() < 0)
        return NULL;
    int code = octet(a[0]), ident = octet(a[1]);
    PyObject *req_auth = a[2], *attrs = a[3], *secret = a[4], *with_ma = a[5], *states = a[6];
    if (code < 0 || ident < 0 || !PyBytes_CheckExact(req_auth) || !PyBytes_CheckExact(attrs)
        || !PyBytes_CheckExact(secret) || (with_ma != NULL && with_ma != Py_True && with_ma != Py_False))
        return fallback(PY_ENCODE_REPLY, args, nargs, kwnames);
    int ma = with_ma != Py_False;

    /* Proxy-States: a list or tuple of bytes of at most 253 octets (else Python raises or iterates). */
    PyObject *const *items = NULL;
    Py_ssize_t nstates = 0, states_len = 0;
    if (states != NULL) {
        if (PyTuple_CheckExact(states)) {
            items = &PyTuple_GET_ITEM(states, 0);
            nstates = PyTuple_GET_SIZE(states);
        } else if (PyList_CheckExact(states)) {
            items = PySequence_Fast_ITEMS(states);
            nstates = PyList_GET_SIZE(states);
        } else {
            return fallback(PY_ENCODE_REPLY, args, nargs, kwnames);
        }
        for (Py_ssize_t k = 0; k < nstates; k++) {
            if (!PyBytes_CheckExact(items[k]) || PyBytes_GET_SIZE(items[k]) > 253)
                return fallback(PY_ENCODE_REPLY, args, nargs, kwnames);
            states_len += PyBytes_GET_SIZE(items[k]) + 2;
        }
    }
    Py_ssize_t alen = PyBytes_GET_SIZE(attrs);
    Py_ssize_t length = 20 + alen + states_len + (ma ? 18 : 0);
    if (length > 4096)              /* Python raises ValueError */
        return fallback(PY_ENCODE_REPLY, args, nargs, kwnames);

    PyObject *out = PyBytes_FromStringAndSize(NULL, length);
    if (out == NULL)
        return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    o[0] = (unsigned char)code;
    o[1] = (unsigned char)ident;
    o[2] = (unsigned char)(length >> 8);
    o[3] = (unsigned char)(length & 0xff);
    unsigned char *body = o + 20, *w = body;
    if (ma) {
        w[0] = 80;
        w[1] = 18;
        memset(w + 2, 0, 16);
        w += 18;
    }
    memcpy(w, PyBytes_AS_STRING(attrs), (size_t)alen);
    w += alen;
    for (Py_ssize_t k = 0; k < nstates; k++) {
        Py_ssize_t n = PyBytes_GET_SIZE(items[k]);
        w[0] = 33;
        w[1] = (unsigned char)(n + 2);
        memcpy(w + 2, PyBytes_AS_STRING(items[k]), (size_t)n);
        w += n + 2;
    }
    const unsigned char *ra = (const unsigned char *)PyBytes_AS_STRING(req_auth);
    size_t ralen = (size_t)PyBytes_GET_SIZE(req_auth);
    size_t body_len = (size_t)(length - 20);
    md5_ctx ctx;
    if (ma) {
        hmac_keys keys;
        if (hmac_keys_for(secret, &keys) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        hmac_start(&keys, &ctx);
        md5_update(&ctx, o, 4);
        md5_update(&ctx, ra, ralen);
        md5_update(&ctx, body, body_len);   /* the MA value is still 16 zero octets */
        hmac_finish(&keys, &ctx, body + 2);
    }
    md5_init(&ctx);
    md5_update(&ctx, o, 4);
    md5_update(&ctx, ra, ralen);
    md5_update(&ctx, body, body_len);
    md5_update(&ctx, (const unsigned char *)PyBytes_AS_STRING(secret), (size_t)PyBytes_GET_SIZE(secret));
    md5_final(&ctx, o + 4);
    return out;
}

/* ------------------------------------------------------------------------- */
/* User-Password (RFC 2865 section 5.2)                                      */
/* ------------------------------------------------------------------------- */

/* MD5(secret + prev) for the next 16-octet block. */
static inline void
pap_pad(const unsigned char *secret, size_t slen, const unsigned char *prev, size_t plen, unsigned char out[16])
{
    md5_ctx ctx;
    md5_init(&ctx);
    md5_update(&ctx, secret, slen);
    md5_update(&ctx, prev, plen);
    md5_final(&ctx, out);
}

static const char *const pap_hide_kw[] = {"password", "secret", "authenticator"};

static PyObject *
sp_pap_hide(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[3];
    if (unpack("pap_hide", args, nargs, kwnames, pap_hide_kw, 3, 3, a) < 0 || check_ready() < 0)
        return NULL;
    if (!PyBytes_CheckExact(a[0]) || !PyBytes_CheckExact(a[1]) || !PyBytes_CheckExact(a[2])
        || PyBytes_GET_SIZE(a[0]) > 128)
        return fallback(PY_PAP_HIDE, args, nargs, kwnames);
    Py_ssize_t n = PyBytes_GET_SIZE(a[0]);
    Py_ssize_t total = n ? (n + 15) / 16 * 16 : 16;
    unsigned char padded[128], out[128], pad[16];
    memset(padded, 0, sizeof padded);
    memcpy(padded, PyBytes_AS_STRING(a[0]), (size_t)n);
    const unsigned char *secret = (const unsigned char *)PyBytes_AS_STRING(a[1]);
    size_t slen = (size_t)PyBytes_GET_SIZE(a[1]);
    const unsigned char *prev = (const unsigned char *)PyBytes_AS_STRING(a[2]);
    size_t plen = (size_t)PyBytes_GET_SIZE(a[2]);
    for (Py_ssize_t i = 0; i < total; i += 16) {
        pap_pad(secret, slen, prev, plen, pad);
        for (int k = 0; k < 16; k++)
            out[i + k] = padded[i + k] ^ pad[k];
        prev = out + i;
        plen = 16;
    }
    return PyBytes_FromStringAndSize((const char *)out, total);
}

static const char *const pap_unhide_kw[] = {"hidden", "secret", "authenticator"};

static PyObject *
sp_pap_unhide(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[3];
    if (unpack("pap_unhide", args, nargs, kwnames, pap_unhide_kw, 3, 3, a) < 0 || check_ready() < 0)
        return NULL;
    if (!PyBytes_CheckExact(a[0]) || !PyBytes_CheckExact(a[1]) || !PyBytes_CheckExact(a[2]))
        return fallback(PY_PAP_UNHIDE, args, nargs, kwnames);
    Py_ssize_t n = PyBytes_GET_SIZE(a[0]);
    if (n == 0 || n % 16 || n > 128)
        Py_RETURN_NONE;
    const unsigned char *hidden = (const unsigned char *)PyBytes_AS_STRING(a[0]);
    const unsigned char *secret = (const unsigned char *)PyBytes_AS_STRING(a[1]);
    size_t slen = (size_t)PyBytes_GET_SIZE(a[1]);
    const unsigned char *prev = (const unsigned char *)PyBytes_AS_STRING(a[2]);
    size_t plen = (size_t)PyBytes_GET_SIZE(a[2]);
    unsigned char out[128], pad[16];
    for (Py_ssize_t i = 0; i < n; i += 16) {
        pap_pad(secret, slen, prev, plen, pad);
        for (int k = 0; k < 16; k++)
            out[i + k] = hidden[i + k] ^ pad[k];
        prev = hidden + i;
        plen = 16;
    }
    while (n > 0 && out[n - 1] == 0)   /* .rstrip(b"\x00") */
        n--;
    return PyBytes_FromStringAndSize((const char *)out, n);
}

/* ------------------------------------------------------------------------- */
/* _hmac_md5 and md5                                                         */
/* ------------------------------------------------------------------------- */

static const char *const hmac_kw[] = {"secret", "msg"};

static PyObject *
sp_hmac_md5(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[2];
    if (unpack("_hmac_md5", args, nargs, kwnames, hmac_kw, 2, 2, a) < 0 || check_ready() < 0)
        return NULL;
    if (!PyBytes_CheckExact(a[0]) || !PyBytes_CheckExact(a[1]))
        return fallback(PY_HMAC_MD5, args, nargs, kwnames);
    hmac_keys keys;
    if (hmac_keys_for(a[0], &keys) < 0)
        return NULL;
    md5_ctx ctx;
    unsigned char mac[16];
    hmac_start(&keys, &ctx);
    md5_update(&ctx, (const unsigned char *)PyBytes_AS_STRING(a[1]), (size_t)PyBytes_GET_SIZE(a[1]));
    hmac_finish(&keys, &ctx, mac);
    return PyBytes_FromStringAndSize((const char *)mac, 16);
}

static PyObject *
sp_md5(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    md5_ctx ctx;
    unsigned char digest[16];
    md5_init(&ctx);
    md5_update(&ctx, (const unsigned char *)view.buf, (size_t)view.len);
    md5_final(&ctx, digest);
    PyBuffer_Release(&view);
    return PyBytes_FromStringAndSize((const char *)digest, 16);
}

/* ------------------------------------------------------------------------- */
/* init                                                                      */
/* ------------------------------------------------------------------------- */

static const char *const init_kw[] = {"packet", "malformed", "known_codes", "default_tiled", "python"};

static PyObject *
sp_init(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *a[5];
    if (unpack("init", args, nargs, kwnames, init_kw, 5, 5, a) < 0)
        return NULL;
    PyObject *cls = a[0], *exc = a[1], *codes = a[2], *tiled = a[3], *funcs = a[4];
    if (!PyType_Check(cls) || !PyType_Check(exc) || !PyType_IsSubtype((PyTypeObject *)exc,
                                                                       (PyTypeObject *)PyExc_Exception)) {
        PyErr_SetString(PyExc_TypeError, "init(): packet and malformed must be classes");
        return NULL;
    }
    if (!PyDict_Check(funcs)) {
        PyErr_SetString(PyExc_TypeError, "init(): python must be a dict of the Python implementations");
        return NULL;
    }
    /* decode fills Packet's slots directly: each must be a plain object slot, the class a
     * direct subclass of object with __slots__ (a tuple of names) and no __dict__. */
    PyTypeObject *type = (PyTypeObject *)cls;
    Py_ssize_t offsets[P_NSLOTS + MAX_EXTRA];
    int extra = 0;
    PyObject *names = PyDict_GetItemString(type->tp_dict, "__slots__");
    if (names == NULL || !PyTuple_Check(names) || type->tp_base != &PyBaseObject_Type
        || type->tp_dictoffset != 0 || type->tp_alloc == NULL) {
        PyErr_Format(PyExc_TypeError, "init(): %s must be a __slots__ class (a tuple) without a base", type->tp_name);
        return NULL;
    }
    for (int i = 0; i < P_NSLOTS; i++)
        offsets[i] = -1;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(names); k++) {
        PyObject *name = PyTuple_GET_ITEM(names, k);
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "init(): __slots__ holds a non-string");
            return NULL;
        }
        /* (a "__private" slot is stored under its mangled name: not found, refused) */
        PyObject *d = PyDict_GetItemWithError(type->tp_dict, name);
        if (d == NULL && PyErr_Occurred())
            return NULL;
        if (d != NULL && !Py_IS_TYPE(d, &PyMemberDescr_Type))
            d = NULL;
        if (d == NULL) {
            PyErr_Format(PyExc_TypeError, "init(): %s.%U is not a __slots__ member", type->tp_name, name);
            return NULL;
        }
        PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY)) {
            PyErr_Format(PyExc_TypeError, "init(): %s.%U is not a writable object slot", type->tp_name, name);
            return NULL;
        }
        int i = 0;
        while (i < P_NSLOTS && PyUnicode_CompareWithASCIIString(name, packet_slots[i]) != 0)
            i++;
        if (i < P_NSLOTS) {
            offsets[i] = m->offset;
        } else if (extra < MAX_EXTRA) {
            offsets[P_NSLOTS + extra++] = m->offset;
        } else {
            PyErr_Format(PyExc_TypeError, "init(): %s has more than %d extra slots", type->tp_name, MAX_EXTRA);
            return NULL;
        }
    }
    for (int i = 0; i < P_NSLOTS; i++) {
        if (offsets[i] < 0) {
            PyErr_Format(PyExc_TypeError, "init(): %s has no slot %s", type->tp_name, packet_slots[i]);
            return NULL;
        }
    }
    PyObject *fs[PY_NFUNCS];
    for (int i = 0; i < PY_NFUNCS; i++) {
        fs[i] = PyDict_GetItemString(funcs, py_names[i]);
        if (fs[i] == NULL || !PyCallable_Check(fs[i])) {
            PyErr_Format(PyExc_TypeError, "init(): python[%s] missing", py_names[i]);
            return NULL;
        }
    }
    unsigned char table[256];
    memset(table, 0, sizeof table);
    PyObject *it = PyObject_GetIter(codes);
    if (it == NULL)
        return NULL;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        long c = PyLong_AsLong(item);
        Py_DECREF(item);
        if (c == -1 && PyErr_Occurred()) {
            Py_DECREF(it);
            return NULL;
        }
        if (c >= 0 && c <= 255)
            table[c] = 1;
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;

    Py_INCREF(cls);
    Py_XSETREF(packet_type, type);
    Py_INCREF(exc);
    Py_XSETREF(malformed_type, exc);
    Py_INCREF(tiled);
    Py_XSETREF(default_tiled, tiled);
    for (int i = 0; i < PY_NFUNCS; i++) {
        Py_INCREF(fs[i]);
        Py_XSETREF(py_funcs[i], fs[i]);
    }
    memcpy(slot_offset, offsets, sizeof slot_offset);
    n_extra = extra;
    memcpy(known_codes, table, sizeof known_codes);
    Py_RETURN_NONE;
}

/* -- DES (FIPS 46-3), one block ------------------------------------------------------------ */
/* DES (FIPS 46-3) one-block ECB encryption, for MS-CHAP's DesEncrypt. */

static const uint8_t DES_IP[64] = {
    58,50,42,34,26,18,10,2, 60,52,44,36,28,20,12,4, 62,54,46,38,30,22,14,6, 64,56,48,40,32,24,16,8,
    57,49,41,33,25,17,9,1, 59,51,43,35,27,19,11,3, 61,53,45,37,29,21,13,5, 63,55,47,39,31,23,15,7};
static const uint8_t DES_FP[64] = {
    40,8,48,16,56,24,64,32, 39,7,47,15,55,23,63,31, 38,6,46,14,54,22,62,30, 37,5,45,13,53,21,61,29,
    36,4,44,12,52,20,60,28, 35,3,43,11,51,19,59,27, 34,2,42,10,50,18,58,26, 33,1,41,9,49,17,57,25};
static const uint8_t DES_E[48] = {
    32,1,2,3,4,5, 4,5,6,7,8,9, 8,9,10,11,12,13, 12,13,14,15,16,17,
    16,17,18,19,20,21, 20,21,22,23,24,25, 24,25,26,27,28,29, 28,29,30,31,32,1};
static const uint8_t DES_P[32] = {
    16,7,20,21,29,12,28,17, 1,15,23,26,5,18,31,10, 2,8,24,14,32,27,3,9, 19,13,30,6,22,11,4,25};
static const uint8_t PC1[56] = {
    57,49,41,33,25,17,9, 1,58,50,42,34,26,18, 10,2,59,51,43,35,27, 19,11,3,60,52,44,36,
    63,55,47,39,31,23,15, 7,62,54,46,38,30,22, 14,6,61,53,45,37,29, 21,13,5,28,20,12,4};
static const uint8_t PC2[48] = {
    14,17,11,24,1,5, 3,28,15,6,21,10, 23,19,12,4,26,8, 16,7,27,20,13,2,
    41,52,31,37,47,55, 30,40,51,45,33,48, 44,49,39,56,34,53, 46,42,50,36,29,32};
static const uint8_t SHIFTS[16] = {1,1,2,2,2,2,2,2,1,2,2,2,2,2,2,1};
static const uint8_t DES_S[8][64] = {
 {14,4,13,1,2,15,11,8,3,10,6,12,5,9,0,7, 0,15,7,4,14,2,13,1,10,6,12,11,9,5,3,8,
  4,1,14,8,13,6,2,11,15,12,9,7,3,10,5,0, 15,12,8,2,4,9,1,7,5,11,3,14,10,0,6,13},
 {15,1,8,14,6,11,3,4,9,7,2,13,12,0,5,10, 3,13,4,7,15,2,8,14,12,0,1,10,6,9,11,5,
  0,14,7,11,10,4,13,1,5,8,12,6,9,3,2,15, 13,8,10,1,3,15,4,2,11,6,7,12,0,5,14,9},
 {10,0,9,14,6,3,15,5,1,13,12,7,11,4,2,8, 13,7,0,9,3,4,6,10,2,8,5,14,12,11,15,1,
  13,6,4,9,8,15,3,0,11,1,2,12,5,10,14,7, 1,10,13,0,6,9,8,7,4,15,14,3,11,5,2,12},
 {7,13,14,3,0,6,9,10,1,2,8,5,11,12,4,15, 13,8,11,5,6,15,0,3,4,7,2,12,1,10,14,9,
  10,6,9,0,12,11,7,13,15,1,3,14,5,2,8,4, 3,15,0,6,10,1,13,8,9,4,5,11,12,7,2,14},
 {2,12,4,1,7,10,11,6,8,5,3,15,13,0,14,9, 14,11,2,12,4,7,13,1,5,0,15,10,3,9,8,6,
  4,2,1,11,10,13,7,8,15,9,12,5,6,3,0,14, 11,8,12,7,1,14,2,13,6,15,0,9,10,4,5,3},
 {12,1,10,15,9,2,6,8,0,13,3,4,14,7,5,11, 10,15,4,2,7,12,9,5,6,1,13,14,0,11,3,8,
  9,14,15,5,2,8,12,3,7,0,4,10,1,13,11,6, 4,3,2,12,9,5,15,10,11,14,1,7,6,0,8,13},
 {4,11,2,14,15,0,8,13,3,12,9,7,5,10,6,1, 13,0,11,7,4,9,1,10,14,3,5,12,2,15,8,6,
  1,4,11,13,12,3,7,14,10,15,6,8,0,5,9,2, 6,11,13,8,1,4,10,7,9,5,0,15,14,2,3,12},
 {13,2,8,4,6,15,11,1,10,9,3,14,5,0,12,7, 1,15,13,8,10,3,7,4,12,5,6,11,0,14,9,2,
  7,11,4,1,9,12,14,2,0,6,10,13,15,3,5,8, 2,1,14,7,4,10,8,13,15,12,9,0,3,5,6,11}};

/* bit n (1-based, from the most significant of a w-bit value) of v */
static inline uint64_t des_permute(uint64_t v, const uint8_t *table, int n_out, int w_in) {
    uint64_t out = 0;
    for (int i = 0; i < n_out; i++)
        out = (out << 1) | ((v >> (w_in - table[i])) & 1);
    return out;
}

/* SP: the S-box output of box b for 6-bit input x, already through P, as a 32-bit word */
static uint32_t DES_SP[8][64];
static int des_sp_ready = 0;

static void des_sp_init(void) {
    for (int b = 0; b < 8; b++)
        for (int x = 0; x < 64; x++) {
            int row = ((x >> 4) & 2) | (x & 1), col = (x >> 1) & 15;
            uint32_t s = (uint32_t)DES_S[b][row * 16 + col] << (28 - 4 * b);
            DES_SP[b][x] = (uint32_t)des_permute(s, DES_P, 32, 32);
        }
    des_sp_ready = 1;
}

/* key8: 8 octets (parity ignored); in/out: 8 octets */
static void des_encrypt_block(const uint8_t key8[8], const uint8_t in[8], uint8_t out[8]) {
    if (!des_sp_ready) des_sp_init();
    uint64_t k = 0, b = 0;
    for (int i = 0; i < 8; i++) { k = (k << 8) | key8[i]; b = (b << 8) | in[i]; }
    uint64_t cd = des_permute(k, PC1, 56, 64);
    uint32_t c = (uint32_t)(cd >> 28) & 0x0FFFFFFF, d = (uint32_t)cd & 0x0FFFFFFF;
    uint64_t sub[16];
    for (int r = 0; r < 16; r++) {
        for (int s = 0; s < SHIFTS[r]; s++) {
            c = ((c << 1) | (c >> 27)) & 0x0FFFFFFF;
            d = ((d << 1) | (d >> 27)) & 0x0FFFFFFF;
        }
        sub[r] = des_permute(((uint64_t)c << 28) | d, PC2, 48, 56);
    }
    uint64_t ip = des_permute(b, DES_IP, 64, 64);
    uint32_t l = (uint32_t)(ip >> 32), rr = (uint32_t)ip;
    for (int r = 0; r < 16; r++) {
        uint64_t e = des_permute(rr, DES_E, 48, 32) ^ sub[r];
        uint32_t f = 0;
        for (int s = 0; s < 8; s++) f |= DES_SP[s][(e >> (42 - 6 * s)) & 63];
        uint32_t t = l ^ f; l = rr; rr = t;
    }
    uint64_t pre = ((uint64_t)rr << 32) | l;
    uint64_t o = des_permute(pre, DES_FP, 64, 64);
    for (int i = 7; i >= 0; i--) { out[i] = (uint8_t)o; o >>= 8; }
}

/* -- DES for MS-CHAP (RFC 2759 section 8.6 DesEncrypt) ----------------------------------------- */
/* A 7-octet key spread over 8 octets, 7 bits each in the high bits (DES ignores the parity bit). */
static PyObject *
sp_des_encrypt(PyObject *self, PyObject *args)
{
    Py_buffer clear, key7;
    if (!PyArg_ParseTuple(args, "y*y*:des_encrypt", &clear, &key7))
        return NULL;
    PyObject *out = NULL;
    if (clear.len != 8 || key7.len != 7) {
        PyErr_SetString(PyExc_ValueError, "des_encrypt: an 8-octet block and a 7-octet key");
        goto done;
    }
    const uint8_t *k = (const uint8_t *)key7.buf;
    uint64_t bits = 0;
    for (int i = 0; i < 7; i++)
        bits = (bits << 8) | k[i];
    uint8_t key8[8], block[8];
    for (int i = 0; i < 8; i++)
        key8[i] = (uint8_t)(((bits >> (49 - 7 * i)) & 0x7F) << 1);
    des_encrypt_block(key8, (const uint8_t *)clear.buf, block);
    out = PyBytes_FromStringAndSize((const char *)block, 8);
done:
    PyBuffer_Release(&clear);
    PyBuffer_Release(&key7);
    return out;
}

/* request_key(host, port, ident, authenticator): the duplicate cache's key, a 4-tuple the cycle
 * collector does not track when its items are exact str, int, int and bytes (none of which can
 * hold a reference cycle, so the collector would untrack it itself at its first look).  The cache
 * keeps one per request for its whole window; tracked, they pile up in the youngest generation
 * without moving its allocation count (old ones die as new ones come) until one collection has to
 * walk all of them: 30-50 ms at 19,000 requests/s.  Other item types give a tracked tuple. */
static PyObject *
sp_request_key(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "request_key() takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *t = PyTuple_New(4);
    if (t == NULL)
        return NULL;
    for (int i = 0; i < 4; i++) {
        Py_INCREF(args[i]);
        PyTuple_SET_ITEM(t, i, args[i]);
    }
    if (PyUnicode_CheckExact(args[0]) && PyLong_CheckExact(args[1]) && PyLong_CheckExact(args[2])
            && PyBytes_CheckExact(args[3]))
        PyObject_GC_UnTrack(t);
    return t;
}

static PyMethodDef methods[] = {
    {"request_key", (PyCFunction)(void (*)(void))sp_request_key, METH_FASTCALL,
     "request_key(host, port, ident, authenticator)\n--\n\n"
     "The duplicate cache's key: (host, port, ident, authenticator), not tracked by the cycle\n"
     "collector when the items are str, int, int, bytes."},
    {"init", (PyCFunction)(void (*)(void))sp_init, METH_FASTCALL | METH_KEYWORDS,
     "init(packet, malformed, known_codes, default_tiled, python)\n--\n\n"
     "Bind codec's Packet and MalformedPacket classes, KNOWN_CODES, DEFAULT_TILED_VENDORS and the\n"
     "Python implementations (a dict by name) the C functions hand unusual calls to."},
    {"decode", (PyCFunction)(void (*)(void))sp_decode, METH_FASTCALL | METH_KEYWORDS,
     "decode(data, tiled_vendors=DEFAULT_TILED_VENDORS)\n--\n\n"
     "Validate a datagram and split it into a Packet (C version of codec.decode)."},
    {"verify_message_authenticator", (PyCFunction)(void (*)(void))sp_verify_message_authenticator,
     METH_FASTCALL | METH_KEYWORDS,
     "verify_message_authenticator(packet, secret, authenticator=None)\n--\n\n"
     "Check the Message-Authenticator (RFC 3579 section 3.2); False if absent."},
    {"verify_request_authenticator", (PyCFunction)(void (*)(void))sp_verify_request_authenticator,
     METH_FASTCALL | METH_KEYWORDS,
     "verify_request_authenticator(packet, secret)\n--\n\n"
     "Check the MD5 Request Authenticator of Accounting/CoA/Disconnect requests."},
    {"verify_response_authenticator", (PyCFunction)(void (*)(void))sp_verify_response_authenticator,
     METH_FASTCALL | METH_KEYWORDS,
     "verify_response_authenticator(reply, secret, request_authenticator)\n--\n\n"
     "Check a reply's Response Authenticator against the request it answers."},
    {"encode_reply", (PyCFunction)(void (*)(void))sp_encode_reply, METH_FASTCALL | METH_KEYWORDS,
     "encode_reply(code, ident, request_authenticator, attrs, secret, message_authenticator=True,"
     " proxy_states=())\n--\n\n"
     "Encode a reply from pre-encoded attributes (C version of codec.encode_reply)."},
    {"pap_hide", (PyCFunction)(void (*)(void))sp_pap_hide, METH_FASTCALL | METH_KEYWORDS,
     "pap_hide(password, secret, authenticator)\n--\n\n"
     "Hide a User-Password (RFC 2865 section 5.2); at most 128 octets."},
    {"pap_unhide", (PyCFunction)(void (*)(void))sp_pap_unhide, METH_FASTCALL | METH_KEYWORDS,
     "pap_unhide(hidden, secret, authenticator)\n--\n\n"
     "Recover a User-Password; None if its length is not 16..128 in steps of 16."},
    {"_hmac_md5", (PyCFunction)(void (*)(void))sp_hmac_md5, METH_FASTCALL | METH_KEYWORDS,
     "_hmac_md5(secret, msg)\n--\n\nHMAC-MD5 (RFC 2104), the secret's pad states cached."},
    {"des_encrypt", (PyCFunction)sp_des_encrypt, METH_VARARGS,
     "des_encrypt(clear8, key7)\n--\n\nDesEncrypt (RFC 2759 section 8.6): one DES-ECB block under a 7-octet key."},
    {"md5", (PyCFunction)sp_md5, METH_O, "md5(data)\n--\n\nThe MD5 digest (RFC 1321) of a bytes-like object."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "aaad.radius._speedups",
    "C versions of aaad.radius.codec's hot functions (see codec.IMPLEMENTATION).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    hmac_cache = PyDict_New();
    if (hmac_cache == NULL)
        return NULL;
    return PyModule_Create(&moduledef);
}
