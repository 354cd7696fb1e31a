/* tun.h - the TUN device behind a narrow ops interface, so tests can use
 * a socketpair back-end instead of /dev/net/tun. */
#ifndef PILOT_TUN_H
#define PILOT_TUN_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tun_dev;

struct tun_ops {
	/* \retval bytes read, 0 if none ready (EAGAIN), -errno on error. */
	ssize_t (*read)(struct tun_dev *t, uint8_t *buf, size_t len);
	/* \retval bytes written or -errno. */
	ssize_t (*write)(struct tun_dev *t, const uint8_t *buf, size_t len);
	void (*close)(struct tun_dev *t);
};

struct gso_hdr;

struct tun_dev {
	const struct tun_ops *ops;
	int fd;	     /* non-blocking, for the event loop */
	int peer_fd; /* dummy back-end only: the test's end */
	char name[IFNAMSIZ];
	int ifindex;
	int vnet; /* IFF_VNET_HDR: each read and write has a virtio_net_hdr first */
	int tso;  /* ... and the kernel hands us TCP super-packets (TUNSETOFFLOAD) */
};

/* tun_open_linux's \p offload */
#define TUN_OPEN_VNET 1u /* IFF_VNET_HDR */
#define TUN_OPEN_TSO 2u	 /* ... and TUNSETOFFLOAD (checksum, TSO6) */

/** Open (creating if needed) the Linux TUN device \p name (IFF_TUN |
 *  IFF_NO_PI), non-blocking, close-on-exec, with the TUN_OPEN_* of
 *  \p offload: t->vnet and t->tso say what the kernel granted (a refusal
 *  falls back, and is logged once).  \retval 0 or -errno. */
int tun_open_linux(struct tun_dev *t, const char *name, unsigned offload);
/** Read one packet of a vnet device: its header into \p h, the packet
 *  into \p buf.  \retval packet bytes, 0 if none ready, -errno. */
ssize_t tun_read_vnet(struct tun_dev *t, struct gso_hdr *h, uint8_t *buf, size_t len);
/** Write a super-packet described by \p h (vnet devices only). */
ssize_t tun_write_gso(struct tun_dev *t, const struct gso_hdr *h, const uint8_t *buf, size_t len);
/** Test back-end: a SOCK_SEQPACKET socketpair; t->peer_fd is the test's end. */
int tun_open_dummy(struct tun_dev *t, const char *name);
static inline ssize_t tun_read(struct tun_dev *t, uint8_t *b, size_t l)
{
	return t->ops->read(t, b, l);
}
static inline ssize_t tun_write(struct tun_dev *t, const uint8_t *b, size_t l)
{
	return t->ops->write(t, b, l);
}
void tun_close(struct tun_dev *t); /* safe on a closed/zeroed device */

#endif
