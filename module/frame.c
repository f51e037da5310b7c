/**
 * \file
 * Length-prefixed DNS framing over a byte stream (RFC 1035 4.2.2, RFC 7858).
 *
 * The reader keeps one buffer per connection. It starts small, because most
 * answers are a few hundred bytes and a pool holds many connections, and
 * grows only as far as the frame being reassembled needs (at most one
 * maximal frame plus its prefix). Once everything held was handed out it
 * shrinks back, so a single large answer does not pin 64 KiB for the life of
 * an idle connection.
 */
#include <stdlib.h>
#include <string.h>
#include "dotpool/error.h"
#include "dotpool/frame.h"

/** Bytes of the length prefix. */
#define FRAME_PREFIX 2
/** Largest buffer the reader needs: one maximal frame with its prefix. */
#define FRAME_BUF_MAX (FRAME_PREFIX + DOTPOOL_FRAME_MAX)
/** Starting (and idle) reader buffer: room for a typical EDNS answer, and
 * several small ones, in one read. */
#define FRAME_BUF_INIT 4096
/** A write buffer this large is released when it empties, so a burst does
 * not keep the memory for an idle connection. */
#define WBUF_KEEP 4096

int
dotpool_frame_reader_init(struct dotpool_frame_reader* r)
{
	memset(r, 0, sizeof(*r));
	r->buf = malloc(FRAME_BUF_INIT);
	if(!r->buf)
		return DOTPOOL_ENOMEM;
	r->cap = FRAME_BUF_INIT;
	return 0;
}

void
dotpool_frame_reader_free(struct dotpool_frame_reader* r)
{
	if(!r)
		return;
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/** Length of the frame at the front of the unread data, or -1 when its
 * prefix has not arrived yet. */
static long
frame_front_len(const struct dotpool_frame_reader* r)
{
	if(r->have - r->done < FRAME_PREFIX)
		return -1;
	return ((long)r->buf[r->done] << 8) | (long)r->buf[r->done + 1];
}

/** Set the buffer capacity to cap, keeping the held bytes. */
static int
frame_resize(struct dotpool_frame_reader* r, size_t cap)
{
	uint8_t* nb = realloc(r->buf, cap);
	if(!nb)
		return DOTPOOL_ENOMEM;
	r->buf = nb;
	r->cap = cap;
	return 0;
}

int
dotpool_frame_space(struct dotpool_frame_reader* r, uint8_t** space,
	size_t* len)
{
	size_t need;
	long flen;
	int ret;

	/* Move the unread tail to the front: the frames handed out are no
	 * longer referenced once the caller asks for space. */
	if(r->done > 0) {
		if(r->have > r->done)
			memmove(r->buf, r->buf + r->done, r->have - r->done);
		r->have -= r->done;
		r->done = 0;
	}
	if(r->have == 0 && r->cap > FRAME_BUF_INIT) {
		/* A shrinking realloc may fail only in theory; keeping the
		 * larger buffer is then fine. */
		(void)frame_resize(r, FRAME_BUF_INIT);
	}
	if(!r->buf) {
		if((ret = frame_resize(r, FRAME_BUF_INIT)) != 0)
			return ret;
	}
	flen = frame_front_len(r);
	need = flen < 0 ? FRAME_BUF_INIT : FRAME_PREFIX + (size_t)flen;
	if(need > r->cap) {
		/* Grow in steps rather than to the exact frame size, so a
		 * stream of growing frames does not realloc for each one. */
		size_t ncap = r->cap * 2;
		if(ncap < need)
			ncap = need;
		if(ncap > FRAME_BUF_MAX)
			ncap = FRAME_BUF_MAX;
		if((ret = frame_resize(r, ncap)) != 0)
			return ret;
	}
	if(r->have >= r->cap) {
		/* Only possible when complete frames wait to be taken: the
		 * buffer never grows past one frame for a reader that keeps
		 * up, so do not let a lagging caller grow it either. */
		return DOTPOOL_EFULL;
	}
	*space = r->buf + r->have;
	*len = r->cap - r->have;
	return 0;
}

void
dotpool_frame_commit(struct dotpool_frame_reader* r, size_t n)
{
	if(n > r->cap - r->have)
		n = r->cap - r->have;
	r->have += n;
}

int
dotpool_frame_next(struct dotpool_frame_reader* r, uint8_t** msg,
	size_t* len)
{
	long flen = frame_front_len(r);

	if(flen < 0)
		return 0;
	if(flen == 0) {
		/* No DNS message is empty; a peer that sends one is broken
		 * or desynchronised, and nothing after it can be trusted. */
		return DOTPOOL_EPROTO;
	}
	if(r->have - r->done < FRAME_PREFIX + (size_t)flen)
		return 0;
	*msg = r->buf + r->done + FRAME_PREFIX;
	*len = (size_t)flen;
	r->done += FRAME_PREFIX + (size_t)flen;
	return 1;
}

size_t
dotpool_frame_pending(const struct dotpool_frame_reader* r)
{
	return r->have - r->done;
}

void
dotpool_wbuf_init(struct dotpool_wbuf* w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
}

void
dotpool_wbuf_free(struct dotpool_wbuf* w)
{
	if(!w)
		return;
	free(w->buf);
	w->buf = NULL;
	w->off = w->len = w->cap = 0;
}

int
dotpool_wbuf_put(struct dotpool_wbuf* w, const uint8_t* msg, size_t len)
{
	size_t need, used;

	if(len < 1 || len > DOTPOOL_FRAME_MAX)
		return DOTPOOL_EINVAL;
	need = FRAME_PREFIX + len;
	used = w->len - w->off;
	if(need > w->max || used > w->max - need)
		return DOTPOOL_EFULL;
	if(w->cap - w->len < need && w->off > 0) {
		/* Reclaim the sent front before growing. */
		memmove(w->buf, w->buf + w->off, used);
		w->len = used;
		w->off = 0;
	}
	if(w->cap - w->len < need) {
		size_t ncap = w->cap ? w->cap * 2 : 512;
		uint8_t* nb;
		if(ncap < w->len + need)
			ncap = w->len + need;
		if(ncap > w->max)
			ncap = w->max;
		nb = realloc(w->buf, ncap);
		if(!nb)
			return DOTPOOL_ENOMEM;
		w->buf = nb;
		w->cap = ncap;
	}
	w->buf[w->len] = (uint8_t)(len >> 8);
	w->buf[w->len + 1] = (uint8_t)(len & 0xff);
	memcpy(w->buf + w->len + FRAME_PREFIX, msg, len);
	w->len += need;
	return 0;
}

const uint8_t*
dotpool_wbuf_data(const struct dotpool_wbuf* w, size_t* len)
{
	*len = w->len - w->off;
	if(*len == 0)
		return NULL;
	return w->buf + w->off;
}

void
dotpool_wbuf_consume(struct dotpool_wbuf* w, size_t n)
{
	if(n > w->len - w->off)
		n = w->len - w->off;
	w->off += n;
	if(w->off == w->len) {
		w->off = w->len = 0;
		if(w->cap > WBUF_KEEP) {
			free(w->buf);
			w->buf = NULL;
			w->cap = 0;
		}
	}
}

size_t
dotpool_wbuf_len(const struct dotpool_wbuf* w)
{
	return w->len - w->off;
}
