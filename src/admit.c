/* admit.c - under construction */
