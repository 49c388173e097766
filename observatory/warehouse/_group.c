/* The compiled step of observatory.warehouse.store's flush: readings grouped by dedupe key.
 *
 * group(key, time_ns, series, value, n_keys, out_key, out_time, out_series, out_value) places
 * the rows of the four input columns into the four output columns ordered by key, stably (a
 * counting sort: one pass counts the rows of each key, one places them), and returns True when
 * every key's times come out non-decreasing, the usual case (a reader gives each series' times
 * in order). Otherwise the caller sorts by (key, time) itself; the inputs are never changed.
 * Columns: key and series int32, time int64, value float64, C-contiguous, all of one length;
 * every key in [0, n_keys). The passes run without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>

#define GROUP_VERSION 1 /* the Python side checks it: a stale build is not used */

static const char *const NAMES[8] = {"key", "time_ns", "series", "value",
                                     "out_key", "out_time", "out_series", "out_value"};
static const Py_ssize_t SIZES[8] = {4, 8, 4, 8, 4, 8, 4, 8};

PyDoc_STRVAR(group_doc,
             "group(key, time_ns, series, value, n_keys, out_key, out_time, out_series, out_value) -> bool\n\n"
             "Place the rows into out_* ordered by key (stable); True when each key's times are then\n"
             "non-decreasing.");

/* out[...] = in[...] in key order; next[] holds where each key's rows start, and is restored */
#define SCATTER(out, in)                                                                           \
    do {                                                                                           \
        for (Py_ssize_t i = 0; i < n; i++)                                                         \
            out[next[key[i]]++] = in[i];                                                           \
        for (Py_ssize_t k = n_keys; k > 0; k--)                                                    \
            next[k] = next[k - 1];                                                                 \
        next[0] = 0;                                                                               \
    } while (0)

static PyObject *
group(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *objects[8];
    Py_ssize_t n_keys;
    if (!PyArg_ParseTuple(args, "OOOOnOOOO", &objects[0], &objects[1], &objects[2], &objects[3], &n_keys,
                          &objects[4], &objects[5], &objects[6], &objects[7]))
        return NULL;
    if (n_keys < 1) {
        PyErr_SetString(PyExc_ValueError, "n_keys must be at least 1");
        return NULL;
    }
    Py_buffer views[8];
    int got = 0;
    Py_ssize_t n = -1;
    PyObject *result = NULL;
    Py_ssize_t *next = NULL;
    for (; got < 8; got++) {
        int flags = PyBUF_C_CONTIGUOUS | (got >= 4 ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(objects[got], &views[got], flags) < 0)
            goto done;
        if (views[got].itemsize != SIZES[got] || views[got].len % SIZES[got]) {
            PyErr_Format(PyExc_ValueError, "%s must hold %zd-byte items", NAMES[got], SIZES[got]);
            got++;
            goto done;
        }
        Py_ssize_t length = views[got].len / SIZES[got];
        if (n >= 0 && length != n) {
            PyErr_Format(PyExc_ValueError, "%s holds %zd rows, key %zd", NAMES[got], length, n);
            got++;
            goto done;
        }
        n = length;
    }
    const int32_t *key = views[0].buf, *series = views[2].buf;
    const int64_t *time_ns = views[1].buf;
    const double *value = views[3].buf;
    int32_t *out_key = views[4].buf, *out_series = views[6].buf;
    int64_t *out_time = views[5].buf;
    double *out_value = views[7].buf;

    next = PyMem_RawCalloc((size_t)n_keys + 1, sizeof(Py_ssize_t));
    if (next == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t bad = -1;
    int in_order = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t k = key[i];
        if (k < 0 || k >= n_keys) {
            bad = i;
            break;
        }
        next[k + 1]++;
    }
    if (bad < 0) {
        for (Py_ssize_t k = 1; k <= n_keys; k++) /* next[k]: where key k's first row goes */
            next[k] += next[k - 1];
        /* one column at a time: a few hundred write streams at once would thrash the cache */
        for (Py_ssize_t i = 0; i < n; i++)
            out_key[next[key[i]]++] = key[i];
        for (Py_ssize_t k = n_keys; k > 0; k--) /* back to where each key's rows start */
            next[k] = next[k - 1];
        next[0] = 0;
        SCATTER(out_time, time_ns);
        SCATTER(out_series, series);
        SCATTER(out_value, value);
        for (Py_ssize_t i = 1; i < n; i++) {
            if (out_key[i] == out_key[i - 1] && out_time[i] < out_time[i - 1]) {
                in_order = 0;
                break;
            }
        }
    }
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_ValueError, "key[%zd] = %d is outside [0, %zd)", bad, (int)key[bad], n_keys);
        goto done;
    }
    result = PyBool_FromLong(in_order);
done:
    PyMem_RawFree(next);
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"group", group, METH_VARARGS, group_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_group",
    "The compiled step of observatory.warehouse.store's flush: readings grouped by dedupe key.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__group(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "VERSION", GROUP_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
