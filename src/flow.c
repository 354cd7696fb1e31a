/* flow.c - under construction */
