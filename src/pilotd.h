/* pilotd.h - under construction */
