/* regc.c - under construction */
