/* etcd_fixture.c - see etcd_fixture.h. */
#include "config.h"

#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "etcd_fixture.h"
#include "log.h"

#define HEALTH_WAIT_MS 10000

uint64_t fixture_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int fixture_tcp_socket(int backlog, int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (backlog >= 0 && listen(fd, backlog) < 0) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

int fixture_free_port(void)
{
	int port = 0, fd = fixture_tcp_socket(-1, &port);

	if (fd < 0)
		return -1;
	close(fd);
	return port;
}

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
	char *buf = arg;
	size_t have = strlen(buf), len = size * n;

	if (have + len < 256) {
		memcpy(buf + have, p, len);
		buf[have + len] = '\0';
	}
	return size * n;
}

/* GET /health until it says "true", for HEALTH_WAIT_MS at most. */
static int wait_healthy(const struct etcd_fixture *f)
{
	char url[96], body[256];
	uint64_t end = fixture_now_ms() + HEALTH_WAIT_MS;
	CURL *c = curl_easy_init();
	int ok = 0;

	if (!c)
		return 0;
	snprintf(url, sizeof(url), "%s/health", f->url);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	while (!ok && fixture_now_ms() < end) {
		body[0] = '\0';
		if (curl_easy_perform(c) == CURLE_OK && strstr(body, "\"true\""))
			ok = 1;
		else
			usleep(100 * 1000);
	}
	curl_easy_cleanup(c);
	return ok;
}

static pid_t spawn_etcd(const struct etcd_fixture *f, int cport, int pport,
			const char *const *extra)
{
	char data[96], log[96], curl[64], purl[64], cluster[96];
	const char *argv[40];
	size_t n = 0;
	pid_t pid;

	snprintf(data, sizeof(data), "%s/data", f->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", f->dir);
	snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", cport);
	snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
	snprintf(cluster, sizeof(cluster), "test=%s", purl);
	if ((pid = fork()) != 0)
		return pid;
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	const char *base[] = {ETCD_BIN, "--name",
			      "test",	"--data-dir",
			      data,	"--listen-client-urls",
			      curl,	"--advertise-client-urls",
			      curl,	"--listen-peer-urls",
			      purl,	"--initial-advertise-peer-urls",
			      purl,	"--initial-cluster",
			      cluster,	"--listen-metrics-urls",
			      ""};
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		argv[n++] = base[i];
	for (; extra && *extra && n < 39; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	execv(ETCD_BIN, (char *const *)argv);
	_exit(127);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int etcd_fixture_start(struct etcd_fixture *f, const char *tag, const char *const *extra)
{
	int cport, pport;

	f->pid = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/%s.XXXXXX", tag);
	if (!mkdtemp(f->dir)) {
		f->dir[0] = '\0';
		return -1;
	}
	cport = fixture_free_port();
	pport = fixture_free_port();
	while (pport == cport)
		pport = fixture_free_port();
	if (cport < 0 || pport < 0)
		return -1;
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", cport);
	if ((f->pid = spawn_etcd(f, cport, pport, extra)) < 0 || !wait_healthy(f)) {
		fprintf(stderr, "%s: etcd did not come up (log in %s/etcd.log)\n", tag, f->dir);
		return -1;
	}
	return 0;
}

void etcd_fixture_stop(struct etcd_fixture *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
		f->pid = -1;
	}
	fixture_rm_tree(f->dir);
	f->dir[0] = '\0';
}

void fixture_rm_tree(const char *dir)
{
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int fixture_skip_without_etcd(const char *prog)
{
	if (access(ETCD_BIN, X_OK) != 0) {
		printf("1..0 # SKIP %s is absent (Debian's etcd-server)\n", ETCD_BIN);
		return 1;
	}
	log_init(prog, LOG_LVL_ERROR, LOG_FMT_TEXT);
	return 0;
}
