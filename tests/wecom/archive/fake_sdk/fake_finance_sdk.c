/* A stand-in for WeCom's Finance SDK (libWeWorkFinanceSdk_C.so), built by the tests.
 *
 * The same C functions as WeWorkFinanceSdk_C.h: NewSdk, Init, DestroySdk, NewSlice,
 * FreeSlice, GetContentFromSlice, GetSliceLen, GetChatData, DecryptData.
 * GetChatData serves the rows of the file named by FAKE_SDK_DATA (one chatdata JSON
 * object per line, starting with {"seq":N,) after the given seq, at most `limit`;
 * DecryptData undoes the test's "encryption" (hex of the message XOR the random key).
 * Init refuses a secret other than FAKE_SDK_SECRET (when set). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *buf; int len; } Slice_t;
typedef struct { int ready; } WeWorkFinanceSdk_t;

WeWorkFinanceSdk_t *NewSdk(void) { return calloc(1, sizeof(WeWorkFinanceSdk_t)); }

int Init(WeWorkFinanceSdk_t *sdk, const char *corpid, const char *secret) {
    const char *want = getenv("FAKE_SDK_SECRET");
    if (!sdk || !corpid || !*corpid || !secret || !*secret) return 10001;
    if (want && strcmp(want, secret) != 0) return 10002;
    sdk->ready = 1;
    return 0;
}

void DestroySdk(WeWorkFinanceSdk_t *sdk) { free(sdk); }
Slice_t *NewSlice(void) { return calloc(1, sizeof(Slice_t)); }
void FreeSlice(Slice_t *s) { if (s) { free(s->buf); free(s); } }
char *GetContentFromSlice(Slice_t *s) { return s->buf; }
int GetSliceLen(Slice_t *s) { return s->len; }

static void append(Slice_t *s, size_t *cap, const char *data, size_t n) {
    if ((size_t)s->len + n + 1 > *cap) {
        while ((size_t)s->len + n + 1 > *cap) *cap = *cap ? *cap * 2 : 4096;
        s->buf = realloc(s->buf, *cap);
    }
    memcpy(s->buf + s->len, data, n);
    s->len += (int)n;
    s->buf[s->len] = 0;
}

int GetChatData(WeWorkFinanceSdk_t *sdk, unsigned long long seq, unsigned int limit, const char *proxy,
                const char *passwd, int timeout, Slice_t *out) {
    (void)proxy; (void)passwd; (void)timeout;
    if (!sdk || !sdk->ready) return 10000;
    if (limit == 0 || limit > 1000) return 10000;
    size_t cap = 0;
    free(out->buf); out->buf = NULL; out->len = 0;
    const char *head = "{\"errcode\":0,\"errmsg\":\"ok\",\"chatdata\":[";
    append(out, &cap, head, strlen(head));
    const char *path = getenv("FAKE_SDK_DATA");
    FILE *f = path ? fopen(path, "r") : NULL;
    unsigned int n = 0;
    if (f) {
        char *line = NULL; size_t len = 0; ssize_t got;
        while (n < limit && (got = getline(&line, &len, f)) > 0) {
            unsigned long long row_seq = 0;
            while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
            if (sscanf(line, "{\"seq\":%llu", &row_seq) != 1 || row_seq <= seq) continue;
            if (n++) append(out, &cap, ",", 1);
            append(out, &cap, line, (size_t)got);
        }
        free(line);
        fclose(f);
    }
    append(out, &cap, "]}", 2);
    return 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int DecryptData(const char *encrypt_key, const char *encrypt_msg, Slice_t *msg) {
    size_t n = strlen(encrypt_msg), k = strlen(encrypt_key);
    if (k == 0 || n % 2) return 10003;
    free(msg->buf);
    msg->buf = malloc(n / 2 + 1);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(encrypt_msg[2 * i]), lo = hexval(encrypt_msg[2 * i + 1]);
        if (hi < 0 || lo < 0) { msg->len = 0; return 10003; }
        msg->buf[i] = (char)(((hi << 4) | lo) ^ encrypt_key[i % k]);
    }
    msg->len = (int)(n / 2);
    msg->buf[msg->len] = 0;
    return 0;
}
