/* dp.c - under construction */
