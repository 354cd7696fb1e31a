/* nl.c - under construction */
