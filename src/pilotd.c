/* pilotd.c - under construction */
