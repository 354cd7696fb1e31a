/* replay_main.c - run every file of a fuzz corpus through the harness's
 * LLVMFuzzerTestOneInput, so ordinary builds (make check) exercise the
 * corpus and crashes found by libFuzzer stay fixed.  Prints TAP.  The
 * corpus is argv[1], else CORPUS_ROOT/NAME for a program called
 * replay_NAME. */
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
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char def[2048];
	const char *dir = def;
	struct dirent **names = NULL;
	int n, ran = 0;

	if (strncmp(base, "lt-", 3) == 0)
		base += 3;
	if (strncmp(base, "replay_", 7) == 0)
		base += 7;
	snprintf(def, sizeof(def), "%s/%s", CORPUS_ROOT, base);
	if (argc > 1)
		dir = argv[1];

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
