/* fuzz_conf.c - libFuzzer harness for the configuration parser: the input
 * is a config file, parsed against pilotd's real schema and against
 * pilot-rendezvous's. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "pilotd.h"
#include "rdv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The file at \p path against \p schema; what parses must dump. */
static void fz_load(const struct conf_key *schema, void *cfg, char *path)
{
	char err[512];
	char *argv[] = {"fuzz", "--config", path, NULL};

	if (conf_load(schema, cfg, NULL, 3, argv, err, sizeof(err)) == 0) {
		char *dump = conf_dump(schema, cfg);
		free(dump);
	}
	conf_free(schema, cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pilotd_cfg pcfg;
	struct rdv_config rcfg;
	char path[64];
	int fd = memfd_create("fuzz-conf", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(&pcfg, 0, sizeof(pcfg));
	fz_load(pilotd_schema, &pcfg, path);
	memset(&rcfg, 0, sizeof(rcfg));
	fz_load(rdv_schema, &rcfg, path);
	close(fd);
	return 0;
}
