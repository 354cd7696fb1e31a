/* etcd_fixture.h - a real single-member etcd on loopback for the unit
 * tests of the etcd client and the registry on etcd: free high ports, its
 * data in a mkdtemp directory, killed by its pid at the end. */
#ifndef PILOT_ETCD_FIXTURE_H
#define PILOT_ETCD_FIXTURE_H

#include <stdint.h>
#include <sys/types.h>

#define ETCD_BIN "/usr/bin/etcd"

struct etcd_fixture {
	pid_t pid;
	char dir[64];
	char url[64]; /* its client URL */
};

uint64_t fixture_now_ms(void);
/** A loopback TCP socket on a free port; listening when \p backlog >= 0. */
int fixture_tcp_socket(int backlog, int *port);
/** A port that was free a moment ago. */
int fixture_free_port(void);
/** Start etcd (extra arguments \p extra, NULL-terminated, may be NULL)
 *  and wait until it is healthy.  \retval 0, or -1 (said on stderr). */
int etcd_fixture_start(struct etcd_fixture *f, const char *tag, const char *const *extra);
void etcd_fixture_stop(struct etcd_fixture *f);
/** Remove the directory tree \p dir (quietly, as far as it goes). */
void fixture_rm_tree(const char *dir);
/** Before a test program runs: 1 when /usr/bin/etcd is absent (a TAP
 *  skip line is printed), else 0 with logging set up for \p prog. */
int fixture_skip_without_etcd(const char *prog);

#endif
