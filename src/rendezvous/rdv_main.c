/* rdv_main.c - pilot-rendezvous(8); everything lives in librdv (rdv.c). */
#include "config.h"

#include "rdv.h"

int main(int argc, char **argv)
{
	return rdv_main(argc, argv);
}
