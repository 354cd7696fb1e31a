/* tun.c - see tun.h.  The Linux back-end (/dev/net/tun) and a socketpair
 * back-end for tests, both behind struct tun_ops. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gso.h"
#include "log.h"
#include "tun.h"

static void tun_reset(struct tun_dev *t)
{
	t->ops = NULL;
	t->fd = -1;
	t->peer_fd = -1;
	t->ifindex = 0;
	t->vnet = 0;
	t->tso = 0;
}

static int tun_set_name(struct tun_dev *t, const char *name)
{
	size_t n;

	if (!name)
		return -EINVAL;
	n = strlen(name);
	/* The kernel silently truncates longer names; refuse instead, so the
	 * device we configure is the one the operator named. */
	if (n >= sizeof(t->name))
		return -ENAMETOOLONG;
	memcpy(t->name, name, n + 1);
	return 0;
}

static ssize_t tun_linux_read(struct tun_dev *t, uint8_t *buf, size_t len)
{
	ssize_t n = read(t->fd, buf, len);

	if (n >= 0)
		return n;
	/* EINTR: nothing was read, and the fd stays readable for the
	 * (level-triggered) event loop, so it is "none ready" too. */
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return -errno;
}

static ssize_t tun_linux_write(struct tun_dev *t, const uint8_t *buf, size_t len)
{
	static const uint8_t plain[GSO_VNET_HDR]; /* no offload: a whole packet */
	struct iovec iov[2] = {{(void *)plain, sizeof(plain)}, {(void *)buf, len}};
	ssize_t n;

	if (!t->vnet) {
		n = write(t->fd, buf, len);
		return n < 0 ? -errno : n;
	}
	n = writev(t->fd, iov, 2);
	return n < 0 ? -errno : n < (ssize_t)sizeof(plain) ? -EIO : n - (ssize_t)sizeof(plain);
}

ssize_t tun_write_gso(struct tun_dev *t, const struct gso_hdr *h, const uint8_t *buf, size_t len)
{
	uint8_t vh[GSO_VNET_HDR];
	struct iovec iov[2] = {{vh, sizeof(vh)}, {(void *)buf, len}};
	ssize_t n;

	if (!t->vnet)
		return -EOPNOTSUPP;
	gso_hdr_encode(h, vh);
	n = writev(t->fd, iov, 2);
	return n < 0 ? -errno : n < (ssize_t)sizeof(vh) ? -EIO : n - (ssize_t)sizeof(vh);
}

ssize_t tun_read_vnet(struct tun_dev *t, struct gso_hdr *h, uint8_t *buf, size_t len)
{
	uint8_t vh[GSO_VNET_HDR];
	struct iovec iov[2] = {{vh, sizeof(vh)}, {buf, len}};
	ssize_t n = readv(t->fd, iov, 2);

	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -errno;
	if (n < (ssize_t)sizeof(vh))
		return -EIO;
	gso_hdr_decode(vh, h);
	return n - (ssize_t)sizeof(vh);
}

static void tun_fds_close(struct tun_dev *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->peer_fd >= 0)
		close(t->peer_fd);
	t->fd = -1;
	t->peer_fd = -1;
}

static const struct tun_ops tun_linux_ops = {
    .read = tun_linux_read,
    .write = tun_linux_write,
    .close = tun_fds_close,
};

/* Ask for super-packets: checksum offload (TUN_F_CSUM, which TSO needs)
 * and TSO for IPv6, the only family pilot0 carries. */
static void tun_offload(struct tun_dev *t)
{
	unsigned flags = TUN_F_CSUM | TUN_F_TSO6;

	if (ioctl(t->fd, TUNSETOFFLOAD, flags) < 0) {
		log_warnx("TUN %s: the kernel refused TSO (%s): one packet per read", t->name,
			  strerror(errno));
		return;
	}
	t->tso = 1;
}

int tun_open_linux(struct tun_dev *t, const char *name, unsigned offload)
{
	struct ifreq ifr;
	int fd = -1, rc;

	tun_reset(t);
	if ((rc = tun_set_name(t, name)) < 0)
		goto out;
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_warn("open /dev/net/tun");
		goto out;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, sizeof(ifr.ifr_name));
	/* IFF_NO_PI: raw IPv6, no 4-byte packet-info prefix.  Without
	 * IFF_TUN_EXCL an existing (e.g. persistent) TUN device of that name
	 * is attached to instead of failing. */
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | ((offload & TUN_OPEN_VNET) ? IFF_VNET_HDR : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		/* The kernel reports a same-named non-TUN device as EINVAL and
		 * a TUN device another process holds as EBUSY; say which. */
		if (rc == -EINVAL)
			log_warnx("TUNSETIFF %s: %s (is it an existing non-TUN device?)", t->name,
				  strerror(-rc));
		else if (rc == -EBUSY)
			log_warnx("TUNSETIFF %s: %s (held by another process)", t->name,
				  strerror(-rc));
		else
			log_warnx("TUNSETIFF %s: %s", t->name, strerror(-rc));
		goto out;
	}
	/* An empty name asks the kernel to pick one ("tun%d"); keep its choice. */
	ifr.ifr_name[IFNAMSIZ - 1] = '\0';
	memcpy(t->name, ifr.ifr_name, sizeof(t->name));
	t->ifindex = (int)if_nametoindex(t->name);
	if (t->ifindex == 0) {
		rc = -errno;
		log_warn("if_nametoindex %s", t->name);
		goto out;
	}
	t->fd = fd;
	t->ops = &tun_linux_ops;
	t->vnet = !!(offload & TUN_OPEN_VNET);
	fd = -1;
	rc = 0;
	if (t->vnet && (offload & TUN_OPEN_TSO))
		tun_offload(t);
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		tun_reset(t);
	return rc;
}

static ssize_t tun_dummy_read(struct tun_dev *t, uint8_t *buf, size_t len)
{
	/* MSG_TRUNC makes a unix SEQPACKET socket report the real length, so
	 * an oversized packet is an error rather than silently cut short. */
	ssize_t n = recv(t->fd, buf, len, MSG_TRUNC);

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return -errno;
	}
	/* 0 is end-of-file (the test closed its end); returning 0 would read
	 * as "none ready" and the event loop would spin on a readable fd. */
	if (n == 0)
		return -EPIPE;
	if ((size_t)n > len)
		return -EMSGSIZE;
	return n;
}

static ssize_t tun_dummy_write(struct tun_dev *t, const uint8_t *buf, size_t len)
{
	/* MSG_NOSIGNAL: a closed test end must be -EPIPE, not SIGPIPE. */
	ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);

	return n < 0 ? -errno : n;
}

static const struct tun_ops tun_dummy_ops = {
    .read = tun_dummy_read,
    .write = tun_dummy_write,
    .close = tun_fds_close,
};

int tun_open_dummy(struct tun_dev *t, const char *name)
{
	int sv[2], rc;

	tun_reset(t);
	if ((rc = tun_set_name(t, name)) < 0)
		goto out;
	/* SEQPACKET keeps packet boundaries like a TUN fd does; both ends are
	 * non-blocking so a test that expects a packet which never comes
	 * fails with EAGAIN instead of hanging. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		log_warn("socketpair");
		goto out;
	}
	t->fd = sv[0];
	t->peer_fd = sv[1];
	t->ops = &tun_dummy_ops;
	rc = 0;
out:
	return rc;
}

void tun_close(struct tun_dev *t)
{
	/* A zeroed device has fd 0 (stdin) but no ops: ops is the "open" mark. */
	if (!t || !t->ops)
		return;
	if (t->ops->close)
		t->ops->close(t);
	tun_reset(t);
}
