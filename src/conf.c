/* conf.c - under construction */
