/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * bufq_sample - the frame format of /dev/bufq-capture and /dev/bufq-playback
 *
 * Shared by the sample driver (samples/bufq_sample.c) and the user-space
 * programs that talk to it (bufqctl consume/produce, the kselftests).
 *
 * Every capture frame, and every playback message that wants its sequence
 * checked, starts with &struct bufq_sample_frame. The rest of the frame is
 * a pattern derived from the sequence number: 64-bit word i (counting from
 * the end of the header) is bufq_sample_word(seq, i), in the byte order of
 * the machine; a tail shorter than a word holds bufq_sample_byte(seq, j)
 * at byte j of the frame.
 */
#ifndef _UAPI_BUFQ_SAMPLE_H
#define _UAPI_BUFQ_SAMPLE_H

#include <linux/types.h>

#define BUFQ_SAMPLE_MAGIC	0x52464251	/* "BQFR" in memory on LE */

/**
 * struct bufq_sample_frame - the header of a frame
 * @magic: %BUFQ_SAMPLE_MAGIC
 * @len: bytes of the frame, this header included: the buffer's payload
 * @seq: the frame's sequence number. The capture device numbers every
 *	frame it makes, delivered or dropped, so a gap of n before a frame
 *	is n frames dropped.
 * @timestamp_ns: when the frame was made, ktime_get_ns() (CLOCK_MONOTONIC)
 * @drops: capture: frames the device had dropped before this one, since
 *	it was loaded; the gap before a frame is the rise of @drops since the
 *	previous frame. Playback: 0.
 */
struct bufq_sample_frame {
	__u32 magic;
	__u32 len;
	__u64 seq;
	__u64 timestamp_ns;
	__u64 drops;
};

/* Word @i of the pattern after the header of frame @seq. */
static inline __u64 bufq_sample_word(__u64 seq, __u64 i)
{
	return (seq + 1) * 0x9e3779b97f4a7c15ULL + i;
}

/* Byte @j of the frame (counting from its start) in its tail. */
static inline __u8 bufq_sample_byte(__u64 seq, __u64 j)
{
	return (__u8)(seq + j);
}

#endif /* _UAPI_BUFQ_SAMPLE_H */
