/* replay_main.c - run every file of a fuzz corpus through the harness's
 * LLVMFuzzerTestOneInput, so ordinary builds (make check) exercise the
 * corpus and crashes found by libFuzzer stay fixed.  Prints TAP. */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : CORPUS_DIR;
	struct dirent **names = NULL;
	int n, ran = 0;

	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		printf("1..0 # SKIP no corpus at %s\n", dir);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		char path[4096], *buf = NULL;
		size_t len = 0;
		if (names[i]->d_name[0] == '.') {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (file_read_all(path, 1 << 20, &buf, &len) == 0) {
			LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
			ran++;
		}
		free(buf);
		free(names[i]);
	}
	free(names);
	printf("1..1\nok 1 - replayed %d corpus inputs from %s\n", ran, dir);
	return 0;
}
